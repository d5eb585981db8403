package pim

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimshow"
)

// bob is the router of seed 003: the source 10.128.1.10 is directly
// connected on ae90.0, Patrick (10.128.1.2) is downstream on ae91.0.
func bob(t *testing.T) (*Engine, *fakeRIB) {
	rib := newRIB()
	rib.routes[p("10.128.1.8/29")] = RPF{Iface: 331}
	rib.routes[p("10.128.1.0/30")] = RPF{Iface: 332}
	rib.routes[p("10.200.0.0/16")] = RPF{Iface: 332, NextHop: a("10.128.1.2"), Preference: 10, Metric: 2}
	cfg := Config{Interfaces: []InterfaceConfig{{Index: 331, Name: "ae90.0"}, {Index: 332, Name: "ae91.0"}}}
	e := mustEngine(t, cfg, rib)
	e.Handle(t0, InterfaceUp{If: 331, Addr: a("10.128.1.9"), Prefixes: []netip.Prefix{p("10.128.1.8/29")}})
	e.Handle(t0, InterfaceUp{If: 332, Addr: a("10.128.1.1"), Prefixes: []netip.Prefix{p("10.128.1.0/30")}})
	e.Handle(t0, patrickHello)
	return e, rib
}

var patrickHello = RecvHello{If: 332, Src: a("10.128.1.2"), Msg: Hello{Holdtime: 105, HasGenID: true, GenID: 7}}

const seedJoin = `Instance: PIM.master Family: INET
R = Rendezvous Point Tree, S = Sparse, W = Wildcard

Group: 232.0.7.1
    Source: 10.128.1.10
    Flags: sparse
    Upstream interface: ae90.0
    Upstream neighbor: Direct
    Upstream state: Local Source
    Keepalive timeout:
    Uptime: 03:34:03
    Downstream neighbors:
        Interface: ae91.0
            10.128.1.2 State: Join Flags: S Timeout: 178
            Uptime: 03:34:03 Time since last Join: 00:00:01

`

// TestSeed003ShowPimJoinExtensive reproduces seed 003's `show pim join
// 232.0.7.1 extensive` on Bob: Patrick's (S,G) join (holdtime 180, one per
// minute) for a directly connected source, with traffic flowing.
func TestSeed003ShowPimJoinExtensive(t *testing.T) {
	e, _ := bob(t)
	src, grp := a("10.128.1.10"), a("232.0.7.1")
	start := t0.Add(time.Second)
	now := start
	end := start.Add(3*time.Hour + 34*time.Minute + 3*time.Second)
	join := JoinPrune{UpstreamNeighbor: a("10.128.1.1"), Holdtime: 180,
		Groups: []JPGroup{{Group: grp, Joins: []JPSource{{Addr: src}}}}}
	var acts []Action
	for now.Before(end.Add(-1500 * time.Millisecond)) {
		acts = append(acts, e.Advance(now)...)
		e.Handle(now, patrickHello)
		acts = append(acts, e.Handle(now, RecvJoinPrune{If: 332, Src: a("10.128.1.2"), Msg: join})...)
		acts = append(acts, e.Handle(now, DataActivity{If: 331, Source: src, Group: grp})...)
		now = now.Add(time.Minute)
		if now.After(end.Add(-1500 * time.Millisecond)) {
			now = end.Add(-1500 * time.Millisecond)
			e.Handle(now, RecvJoinPrune{If: 332, Src: a("10.128.1.2"), Msg: join})
			break
		}
	}
	e.Advance(end)
	var b strings.Builder
	pimshow.RenderJoin(&b, e.ShowJoin(end, grp), true)
	require.Equal(t, seedJoin, b.String())

	// The kernel contribution: upstream ae90.0, OIL ae91.0, no register
	// (SSM).
	r := of[Route](acts)
	require.NotEmpty(t, r)
	require.Equal(t, Route{Source: src, Group: grp, IIF: 331, OIL: []IfIndex{332}}, r[len(r)-1])

	var brief strings.Builder
	pimshow.RenderJoin(&brief, e.ShowJoin(end, grp), false)
	require.Equal(t, "Instance: PIM.master Family: INET\nR = Rendezvous Point Tree, S = Sparse, W = Wildcard\n\n"+
		"Group: 232.0.7.1\n    Source: 10.128.1.10\n    Flags: sparse\n    Upstream interface: ae90.0\n\n", brief.String())
}

// TestSeed003ResolveNoState: seed 003 "Example: Sender sends an unknown
// multicast stream (10.128.1.10,232.0.8.1)": no PIM entry, the source is
// directly connected, so Bob only installs mdiscard (no Prune); `show pim
// join 232.0.8.1` stays empty.
func TestSeed003ResolveNoState(t *testing.T) {
	e, _ := bob(t)
	src, grp := a("10.128.1.10"), a("232.0.8.1")
	res, acts := e.Resolve(t0.Add(time.Minute), src, grp, 331)
	require.True(t, res.Discard)
	require.False(t, res.Pruned)
	require.Equal(t, IfIndex(331), res.Route.IIF, "mdiscard with the arrival interface as RPF")
	require.Empty(t, of[SendJoinPrune](acts), "no Prune towards a directly connected source")
	require.Empty(t, e.ShowJoin(t0.Add(time.Minute), grp))
	var b strings.Builder
	pimshow.RenderJoin(&b, e.ShowJoin(t0.Add(time.Minute), grp), true)
	require.Equal(t, "Instance: PIM.master Family: INET\nR = Rendezvous Point Tree, S = Sparse, W = Wildcard\n\n", b.String())
}

// TestSeed003ResolveRemoteSource: the same with a source behind Patrick: an
// (S,G) Prune goes upstream, then mdiscard.
func TestSeed003ResolveRemoteSource(t *testing.T) {
	e, _ := bob(t)
	now := t0.Add(10 * time.Second)
	e.Advance(now) // our Hello has gone out
	src, grp := a("10.200.1.1"), a("232.0.8.1")
	res, acts := e.Resolve(now, src, grp, 332)
	require.True(t, res.Discard)
	require.True(t, res.Pruned)
	require.Equal(t, []string{"if332->10.128.1.2 P (10.200.1.1,232.0.8.1)"}, jpEntries(acts))
	require.Equal(t, uint64(1), e.Stats().ResolvePrunes)
}

// TestSeed003ResolveWithState: "Kernel first checks if a PIM entry is
// available for this (S;G)": the join state answers the resolve, and
// survives the forwarding-cache expiry (nothing in PIM depends on it).
func TestSeed003ResolveWithState(t *testing.T) {
	e, _ := bob(t)
	src, grp := a("10.128.1.10"), a("232.0.7.1")
	join := JoinPrune{UpstreamNeighbor: a("10.128.1.1"), Holdtime: 210,
		Groups: []JPGroup{{Group: grp, Joins: []JPSource{{Addr: src}}}}}
	for i := 0; i < 10; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		e.Advance(now)
		e.Handle(now, patrickHello)
		e.Handle(now, RecvJoinPrune{If: 332, Src: a("10.128.1.2"), Msg: join})
	}
	// 9 minutes later, well past a 360 s cache lifetime, a packet resolves.
	res, _ := e.Resolve(t0.Add(9*time.Minute+30*time.Second), src, grp, 331)
	require.False(t, res.Discard)
	require.Equal(t, Route{Source: src, Group: grp, IIF: 331, OIL: []IfIndex{332}}, res.Route)
}
