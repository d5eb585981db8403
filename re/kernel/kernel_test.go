package kernel

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func sg(s, g string) (netip.Addr, netip.Addr) {
	return netip.MustParseAddr(s), netip.MustParseAddr(g)
}

func TestTwoRoutesShareOneMulticastNH(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	s1, g1 := sg("10.128.1.10", "232.0.7.1")
	s2, g2 := sg("10.128.1.11", "232.0.7.2")
	require.NoError(t, k.JoinBatch([]Join{
		{Source: s1, Group: g1, Upstream: "ae90.0", Downstream: []string{"ae91.0"}},
		{Source: s2, Group: g2, Upstream: "ae90.0", Downstream: []string{"ae91.0"}},
	}))
	nhs := k.NextHops()
	require.Len(t, nhs, 1)
	assert.Equal(t, MulticastNextHop{ID: nhs[0].ID, Refcount: 2, KRefcount: 1, Downstream: []string{"ae91.0"}}, nhs[0])
	out := render(t, func(w *strings.Builder) error { return k.ShowNextHops(w) })
	assert.Contains(t, out, "            2         1 ae91.0\n")
	assert.Len(t, f.sink.batches, 1, "one download per batch")
	ops := f.sink.take()
	// One OIL NH, two composites, two indirects, two routes.
	assert.Len(t, ops, 7)

	require.NoError(t, k.RemoveJoin(s1, g1))
	assert.Equal(t, 1, k.NextHops()[0].Refcount)
	assert.Equal(t, []hal.OpKind{hal.OpDelRoute, hal.OpDelNH, hal.OpDelNH}, opKinds(f.sink.take()))
	require.NoError(t, k.RemoveJoin(s2, g2))
	assert.Empty(t, k.NextHops())
	ops = f.sink.take()
	assert.Equal(t, []hal.OpKind{hal.OpDelRoute, hal.OpDelNH, hal.OpDelNH, hal.OpDelNH}, opKinds(ops))
	assert.Equal(t, nhs[0].ID, ops[3].NH.ID, "the multicast NH goes last")
	f.checkSnapshot(t)
}

func TestJoinChangesOILMakeBeforeBreak(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	j := seedJoin()
	require.NoError(t, k.Join(j))
	first := f.sink.take()
	oil1, comp1, indr := first[0].NH.ID, first[1].NH.ID, first[2].NH.ID

	j.Downstream = []string{"ae101.0"}
	require.NoError(t, k.Join(j))
	ops := f.sink.take()
	require.Equal(t, []hal.OpKind{hal.OpSetNH, hal.OpSetNH, hal.OpSetNH, hal.OpDelNH, hal.OpDelNH}, opKinds(ops))
	assert.Equal(t, []hal.NHID{1048583, 1048586}, ops[0].NH.Members, "new OIL: ae91.0 + ae101.0")
	assert.Equal(t, hal.NHComposite, ops[1].NH.Type)
	assert.Equal(t, hal.NextHop{ID: indr, Type: hal.NHIndirect, Target: ops[1].NH.ID}, ops[2].NH, "indirect repointed")
	assert.Equal(t, comp1, ops[3].NH.ID)
	assert.Equal(t, oil1, ops[4].NH.ID)
	r := k.Routes(seedG)
	require.Len(t, r, 1)
	assert.Equal(t, []string{"ae91.0", "ae101.0"}, r[0].Downstream)

	// Refresh: nothing.
	require.NoError(t, k.Join(j))
	assert.Empty(t, f.sink.take())

	// Upstream change: the route's RPF changes, nothing else.
	j.Upstream = "xe-5/1/0.0"
	require.NoError(t, k.Join(j))
	ops = f.sink.take()
	require.Equal(t, []hal.OpKind{hal.OpSetRoute}, opKinds(ops))
	assert.Equal(t, k.Interfaces()[1].Index, ops[0].Route.RPF) // xe-5/1/0.0 is the 2nd auto index
	lines, _ := k.Journal(0)
	assert.Contains(t, lines[len(lines)-1], "route      change  inet 232.0.7.1,10.128.1.10 ")

	// Prune one, then the last: entry and state go.
	require.NoError(t, k.Prune(seedS, seedG, "ae91.0"))
	assert.Equal(t, []string{"ae101.0"}, k.Routes(seedG)[0].Downstream)
	require.NoError(t, k.Prune(seedS, seedG, "ae101.0"))
	assert.Empty(t, k.Routes(seedG))
	assert.Zero(t, k.Summary().Joins)
	require.ErrorIs(t, k.Prune(seedS, seedG, "ae101.0"), ErrNoJoin)
	f.checkSnapshot(t)
}

func TestJoinValidation(t *testing.T) {
	f := newFixture(t, Config{})
	for name, tc := range map[string]struct {
		j   Join
		err error
	}{
		"unknown upstream":      {Join{Source: seedS, Group: seedG, Upstream: "ae9.0", Downstream: []string{"ae91.0"}}, ErrUnknownInterface},
		"unknown downstream":    {Join{Source: seedS, Group: seedG, Upstream: "ae90.0", Downstream: []string{"xe-9/0/0.0"}}, hal.ErrNotFound},
		"LAG member downstream": {Join{Source: seedS, Group: seedG, Upstream: "ae90.0", Downstream: []string{"xe-3/1/0.0"}}, hal.ErrInvalid},
		"no downstream":         {Join{Source: seedS, Group: seedG, Upstream: "ae90.0"}, hal.ErrInvalid},
		"link-local group":      {Join{Source: seedS, Group: netip.MustParseAddr("224.0.0.5"), Upstream: "ae90.0", Downstream: []string{"ae91.0"}}, hal.ErrInvalid},
		"unicast group":         {Join{Source: seedS, Group: seedS, Upstream: "ae90.0", Downstream: []string{"ae91.0"}}, hal.ErrInvalid},
		"no source (*,G)":       {Join{Group: seedG, Upstream: "ae90.0", Downstream: []string{"ae91.0"}}, hal.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, f.k.Join(tc.j), tc.err)
		})
	}
	assert.Zero(t, f.k.Summary().Joins)
	assert.Empty(t, f.sink.take())
	// A batch applies the valid joins and reports the others.
	err := f.k.JoinBatch([]Join{seedJoin(), {Source: seedS, Group: seedG2, Upstream: "nope.0", Downstream: []string{"ae91.0"}}})
	require.ErrorIs(t, err, ErrUnknownInterface)
	assert.Equal(t, 1, f.k.Summary().ForwardingRoutes)
}

func TestResolvePaths(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	other := netip.MustParseAddr("232.9.9.9")
	req := func(ingress hal.IFLIndex, s, g netip.Addr) hal.ResolveRequest {
		return hal.ResolveRequest{NH: hal.NHResolveID, Ingress: ingress, Source: s, Group: g}
	}

	// Existing route: filtered, nothing downloaded.
	f.sink.take()
	res := k.Resolve(3, req(331, seedS, seedG))
	assert.Equal(t, ResolveExisting, res.Action)
	assert.Equal(t, hal.RouteFlagsSG, res.Route.Flags)
	assert.Empty(t, f.sink.take())

	// Unknown ingress: error, not attributed.
	assert.Equal(t, ResolveError, k.Resolve(3, req(9999, seedS, other)).Action)
	assert.EqualValues(t, 1, k.UnattributedStatistics().ResolveError)
	// Link-local: filtered; bad source: error.
	assert.Equal(t, ResolveFiltered, k.Resolve(3, req(331, seedS, netip.MustParseAddr("224.0.0.13"))).Action)
	assert.Equal(t, ResolveError, k.Resolve(3, req(331, netip.MustParseAddr("232.1.1.1"), other)).Action)

	// No join: mdiscard with RPF = ingress; a LAG member counts on its
	// aggregate.
	res = k.Resolve(3, req(390, seedS, other))
	assert.Equal(t, ResolveDiscard, res.Action)
	assert.Equal(t, hal.IFLIndex(331), res.Route.RPF)
	r := k.Routes(other)
	require.Len(t, r, 1)
	assert.Equal(t, "Pruned", r[0].ForwardingState)
	assert.Equal(t, "ae90.0", r[0].Upstream)

	// A join for the discarded (S,G) replaces mdiscard (route change).
	f.sink.take()
	require.NoError(t, k.Join(Join{Source: seedS, Group: other, Upstream: "ae90.0", Downstream: []string{"ae101.0"}}))
	ops := f.sink.take()
	require.Equal(t, hal.OpSetRoute, ops[len(ops)-1].Kind)
	assert.Equal(t, hal.RouteFlagsSG, ops[len(ops)-1].Route.Flags)
	lines, _ := k.Journal(0)
	assert.Contains(t, lines[len(lines)-1], "route      change  inet 232.9.9.9,10.128.1.10 tid=0 plen=64 type=user flags=0x800e nh=indr")
	assert.Equal(t, 0, k.Summary().DiscardRoutes)

	// Join state whose upstream is gone (no RPF route): Resolve no route
	// and mdiscard.
	k.ClearCache()
	var list []Interface
	for _, i := range seedInterfaces() {
		if i.Name != "xe-5/1/0.0" {
			list = append(list, i)
		}
	}
	g3 := netip.MustParseAddr("232.3.3.3")
	require.NoError(t, k.Join(Join{Source: seedS, Group: g3, Upstream: "xe-5/1/0.0", Downstream: []string{"ae91.0"}}))
	_, err := k.SetInterfaces(list)
	require.NoError(t, err)
	res = k.Resolve(3, req(331, seedS, g3))
	assert.Equal(t, ResolveDiscard, res.Action)

	st := statsOf(t, k, "ae90.0")
	assert.EqualValues(t, 2, st.KernelResolve) // other and g3
	assert.EqualValues(t, 2, st.ResolveFiltered)
	assert.EqualValues(t, 1, st.ResolveError)
	assert.EqualValues(t, 1, st.ResolveNoRoute)
	f.checkSnapshot(t)
}

func statsOf(t *testing.T, k *Kernel, name string) InterfaceStatistics {
	t.Helper()
	for _, s := range k.Statistics() {
		if s.Interface == name {
			return s
		}
	}
	t.Fatalf("no statistics for %s", name)
	return InterfaceStatistics{}
}

func TestWrongInterface(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	k.WrongInterface(3, 340, 331, seedS, seedG) // on ae101.0
	k.WrongInterface(3, 340, 331, seedS, seedG)
	k.WrongInterface(3, 340, 331, seedS, seedG2) // no route
	k.WrongInterface(3, 331, 331, seedS, seedG)  // is the RPF: error
	k.WrongInterface(3, 9999, 331, seedS, seedG) // unknown
	st := statsOf(t, k, "ae101.0")
	assert.EqualValues(t, 2, st.Mismatch)
	assert.EqualValues(t, 1, st.MismatchNoRoute)
	assert.EqualValues(t, 1, statsOf(t, k, "ae90.0").MismatchError)
	assert.EqualValues(t, 1, k.UnattributedStatistics().MismatchError)
	assert.EqualValues(t, 2, k.Routes(seedG)[0].WrongIncoming)
}

func TestCacheLifetime(t *testing.T) {
	f := newFixture(t, Config{CacheTimeout: 6 * time.Minute})
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	key := hal.SG(seedS, seedG)

	f.clock.Advance(200 * time.Second)
	k.Traffic(key, 100, 150000)
	assert.EqualValues(t, 360, k.Routes(seedG)[0].CacheLifetime)
	f.clock.Advance(2 * time.Second)
	k.Traffic(key, 200, 300000) // rate window 2 s
	r := k.Routes(seedG)[0]
	assert.EqualValues(t, 100, r.PPS)
	assert.EqualValues(t, 150, r.KBps)
	assert.EqualValues(t, 300, r.Packets)
	assert.Zero(t, k.Expire(f.clock.Advance(359*time.Second)))
	assert.EqualValues(t, 0, k.Routes(seedG)[0].PPS, "stale rate reads 0")

	// A shorter timeout applies to installed entries.
	require.NoError(t, k.SetCacheTimeout(time.Minute))
	assert.Equal(t, 1, k.Expire(f.clock.Now()))
	require.Error(t, k.SetCacheTimeout(0))

	// mdiscard entries age too.
	k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG2})
	assert.Zero(t, k.Expire(f.clock.Advance(59*time.Second)))
	assert.Equal(t, 1, k.Expire(f.clock.Advance(time.Second)))
	assert.Zero(t, k.Summary().DiscardRoutes)
	assert.Equal(t, 1, k.Summary().Joins)
	f.checkSnapshot(t)
}

func TestClearCache(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG2})
	f.sink.take()
	assert.Equal(t, 2, k.ClearCache())
	assert.Len(t, f.sink.batches, 1, "one download")
	ops := f.sink.take()
	assert.Len(t, ops, 5) // 2 routes, indirect, composite, OIL
	assert.Equal(t, 1, k.Summary().Joins)
	assert.Empty(t, k.Routes(netip.Addr{}))
	// The next packet resolves again.
	assert.Equal(t, ResolveForwarding, k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG}).Action)
	f.checkSnapshot(t)
}

func TestSetInterfaces(t *testing.T) {
	t.Run("seed objects in dependency order", func(t *testing.T) {
		var got []hal.Op
		k := New(Config{Sink: SinkFunc(func(ops []hal.Op) { got = append(got, ops...) })})
		ops, err := k.SetInterfaces(seedInterfaces())
		require.NoError(t, err)
		m := newPFEModel()
		require.NoError(t, m.apply(got))
		assert.Equal(t, got[len(got)-len(ops):], ops)
		ifs := k.Interfaces()
		assert.Equal(t, InterfaceState{Name: "xe-5/0/0.0", Index: 300, NH: 1000, Kind: "physical", PFE: 20, MAC: "02:05:86:00:01:2c", Up: true, Admin: true, Link: true}, ifs[0])
		assert.Equal(t, InterfaceState{Name: "ae91.0", Index: 332, NH: 1048583, Kind: "aggregate", Members: []string{"xe-3/1/0.0", "xe-3/3/1.0"}, MAC: "02:05:86:00:01:4c", Up: true, Admin: true, Link: true}, ifs[3])
		assert.Equal(t, "ae91.0", ifs[6].Aggregate)
		assert.Equal(t, "02:05:86:00:01:4c", ifs[6].MAC, "members use the aggregate's MAC")
		// Same config again: nothing to download.
		ops, err = k.SetInterfaces(seedInterfaces())
		require.NoError(t, err)
		assert.Empty(t, ops)
	})
	t.Run("invalid configurations change nothing", func(t *testing.T) {
		f := newFixture(t, Config{})
		before := f.k.Interfaces()
		for name, list := range map[string][]Interface{
			"bad name":        {{Name: "lo0.0"}},
			"duplicate":       {{Name: "xe-1/0/0.0"}, {Name: "xe-1/0/0"}},
			"missing LAG":     {{Name: "xe-1/0/0.0", LAG: "ae7"}},
			"LAG on ae":       {{Name: "ae1.0", LAG: "ae2"}, {Name: "ae2.0"}},
			"duplicate index": {{Name: "xe-1/0/0.0", Index: 5}, {Name: "xe-1/0/1.0", Index: 5}},
			"reserved NH":     {{Name: "xe-1/0/0.0", NH: 983}},
			"bad PIC":         {{Name: "xe-1/4/0.0"}},
		} {
			_, err := f.k.SetInterfaces(list)
			require.Error(t, err, name)
		}
		assert.Equal(t, before, f.k.Interfaces())
		assert.Empty(t, f.sink.take())
	})
	t.Run("removing an OIL interface rebuilds entries", func(t *testing.T) {
		f := newFixture(t, Config{})
		k := f.k
		j := seedJoin()
		j.Downstream = []string{"ae91.0", "ae101.0"}
		require.NoError(t, k.Join(j))
		// Drop ae101.0 (and its member); move xe-3/3/1.0 out of ae91.
		var list []Interface
		for _, i := range seedInterfaces() {
			switch i.Name {
			case "ae101.0", "xe-4/0/0.0":
				continue
			case "xe-3/3/1.0":
				i.LAG = ""
			}
			list = append(list, i)
		}
		_, err := k.SetInterfaces(list)
		require.NoError(t, err)
		r := k.Routes(seedG)
		require.Len(t, r, 1)
		assert.Equal(t, []string{"ae91.0"}, r[0].Downstream)
		nhs := k.NextHops()
		require.Len(t, nhs, 1)
		assert.Equal(t, 1, nhs[0].Refcount)
		f.checkSnapshot(t)
		// Put it back: the join state still names ae101.0.
		_, err = k.SetInterfaces(seedInterfaces())
		require.NoError(t, err)
		assert.Equal(t, []string{"ae91.0", "ae101.0"}, k.Routes(seedG)[0].Downstream)
		f.checkSnapshot(t)
		// Renumber ae90.0: the route follows the new RPF index.
		list = seedInterfaces()
		list[0].Index = 333
		_, err = k.SetInterfaces(list)
		require.NoError(t, err)
		assert.Equal(t, "ae90.0", k.Routes(seedG)[0].Upstream)
		f.checkSnapshot(t)
	})
}

func TestJournalRing(t *testing.T) {
	f := newFixture(t, Config{JournalSize: 8})
	k := f.k
	_, next := k.Journal(0)
	require.NoError(t, k.Join(seedJoin()))
	lines, n2 := k.Journal(next)
	assert.Len(t, lines, 4)
	assert.Equal(t, next+4, n2)
	lines, n3 := k.Journal(n2)
	assert.Empty(t, lines)
	assert.Equal(t, n2, n3)
	for i := range 10 {
		g := netip.AddrFrom4([4]byte{232, 1, 0, byte(i)})
		k.Resolve(1, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: g})
	}
	lines, n4 := k.Journal(0)
	assert.Len(t, lines, 8, "bounded")
	assert.Equal(t, n3+10, n4)
	assert.Contains(t, lines[7], "inet 232.1.0.9,10.128.1.10 ")
}

func TestIDPool(t *testing.T) {
	p := newIDPool("t", 10, 13)
	var got []hal.NHID
	for range 4 {
		id, err := p.alloc()
		require.NoError(t, err)
		got = append(got, id)
	}
	assert.Equal(t, []hal.NHID{10, 11, 12, 13}, got)
	_, err := p.alloc()
	require.ErrorIs(t, err, hal.ErrTableFull)
	p.free(11)
	p.free(12)
	id, _ := p.alloc()
	assert.Equal(t, hal.NHID(11), id, "reused only after the wrap")
	p.free(13)
	id, _ = p.alloc()
	assert.Equal(t, hal.NHID(12), id, "lazy: continue after the last id handed out")
	require.ErrorIs(t, p.reserve(12), hal.ErrExists)
	assert.Equal(t, p.inUse, p.count())

	// Freed ids are not reused before the wrap.
	q := newIDPool("q", 100, 1000)
	a, _ := q.alloc()
	q.free(a)
	b, _ := q.alloc()
	assert.NotEqual(t, a, b)
	// Full words are skipped.
	r := newIDPool("r", 0, 255)
	for range 200 {
		_, err := r.alloc()
		require.NoError(t, err)
	}
	r.free(150)
	r.next = 0
	id, err = r.alloc()
	require.NoError(t, err)
	assert.Equal(t, hal.NHID(150), id)
}

func TestRenderers(t *testing.T) {
	t.Run("next-hops continuation lines", func(t *testing.T) {
		out := render(t, func(w *strings.Builder) error {
			return RenderNextHops(w, []MulticastNextHop{
				{ID: 47640, Refcount: 21, KRefcount: 6, Downstream: []string{"vtep.32770", "vtep.32772", "vtep.32771"}},
				{ID: 47018, Refcount: 3, KRefcount: 1, Downstream: []string{"vtep.32770"}},
			})
		})
		assert.Equal(t, `Family: INET
ID          Refcount KRefcount Downstream interface
47640             21         6 vtep.32770
                               vtep.32772
                               vtep.32771
47018              3         1 vtep.32770
`, out)
	})
	t.Run("statistics capture layout", func(t *testing.T) {
		out := render(t, func(w *strings.Builder) error {
			return RenderStatistics(w, []InterfaceStatistics{{Interface: "xe-1/1/0.0", RoutingProtocol: "PIM", IfStats: IfStats{
				Mismatch: 11786, MismatchNoRoute: 3, KernelResolve: 323210,
				InBytes: 100127811000, InPackets: 1164651571, OutBytes: 10827919000, OutPackets: 80039321,
			}}})
		})
		assert.Equal(t, `Instance: master Family: INET
Interface: xe-1/1/0.0
    Routing protocol:          PIM   Mismatch error:               0
    Mismatch:                11786   Mismatch no route:            3
    Kernel resolve:         323210   Routing notify:               0
    Resolve no route:            0   Resolve error:                0
    Resolve filtered:            0   Notify filtered:              0
    In kbytes:           100127811   In packets:          1164651571
    Out kbytes:           10827919   Out packets:           80039321
`, out)
	})
	t.Run("route table brief and multicast route detail", func(t *testing.T) {
		f := newFixture(t, Config{})
		k := f.k
		require.NoError(t, k.Join(seedJoin()))
		k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG2})
		f.clock.Advance(10*time.Minute + 9*time.Second)
		assert.Equal(t, `inet.1: 3 destinations, 3 routes (3 active, 0 holddown, 0 hidden)
+ = Active Route, - = Last Active, * = Both

224.0.0.0/4        *[Multicast/180] 00:10:09
                      MultiResolve
232.0.7.1,10.128.1.10/64*[PIM/105] 00:10:09
                      Multicast (IPv4) Composite
232.0.8.1,10.128.1.10/64*[Multicast/180] 00:10:09
                      MultiDiscard
`, render(t, func(w *strings.Builder) error { return k.ShowRouteTable(w, false) }))
		assert.Equal(t, `Instance: master Family: INET

Group: 232.0.7.1
    Source: 10.128.1.10/32
    Upstream interface: ae90.0
    Downstream interface list:
        ae91.0
    Session description: Source specific multicast
    Statistics: 0 kBps, 0 pps, 0 packets
    Next-hop ID: `+itoa(k.Routes(seedG)[0].NextHopID)+`
    Upstream protocol: PIM

Group: 232.0.8.1
    Source: 10.128.1.10/32
    Upstream interface: ae90.0
    Session description: Source specific multicast
    Statistics: 0 kBps, 0 pps, 0 packets
    Next-hop ID: 0
    Upstream protocol: Multicast

`, render(t, func(w *strings.Builder) error { return k.ShowRoute(w, netip.Addr{}, true, false) }))
		brief := render(t, func(w *strings.Builder) error { return k.ShowRoute(w, seedG, false, false) })
		assert.Equal(t, "Instance: master Family: INET\n\nGroup: 232.0.7.1\n    Source: 10.128.1.10/32\n    Upstream interface: ae90.0\n    Downstream interface list:\n        ae91.0\n\n", brief)
		detail := render(t, func(w *strings.Builder) error { return k.ShowRouteTable(w, true) })
		assert.True(t, strings.HasPrefix(detail, "inet.1: 3 destinations, 3 routes (3 active, 0 holddown, 0 hidden)\n224.0.0.0/4 (1 entry, 1 announced)\n        *Multicast Preference: 180\n                Next hop type: MultiResolve, Next hop index: 983\n"), detail)
	})
	t.Run("durations", func(t *testing.T) {
		assert.Equal(t, "00:00:11", clock(11*time.Second))
		assert.Equal(t, "2d 23:27:55", clock(71*time.Hour+27*time.Minute+55*time.Second))
		assert.Equal(t, "1w1d 00:00:01", clock(8*24*time.Hour+time.Second))
		assert.Equal(t, "2:53", age(173*time.Second))
		assert.Equal(t, "1:02:03", age(time.Hour+2*time.Minute+3*time.Second))
		assert.Equal(t, "1d 0:00:00", age(24*time.Hour))
	})
	t.Run("session descriptions", func(t *testing.T) {
		for g, want := range map[string]string{
			"232.0.7.1": "Source specific multicast", "233.1.2.3": "GLOP Block",
			"239.192.1.1": "Organisational Local Scope", "225.1.1.10": "Unknown",
		} {
			assert.Equal(t, want, SessionDescription(netip.MustParseAddr(g)), g)
		}
	})
}

func itoa(id hal.NHID) string { return strconv.FormatUint(uint64(id), 10) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestReplayIntoHaltestFake feeds every download of a busy scenario to the
// shared fake driver, which must accept all of it.
func TestReplayIntoHaltestFake(t *testing.T) {
	fake := haltest.NewFake(hal.Config{Slot: 3, Logger: testLogger(t), Upcalls: &haltest.Recorder{}})
	var applyErr error
	sink := SinkFunc(func(ops []hal.Op) {
		if _, err := fake.Apply(context.Background(), ops); err != nil && applyErr == nil {
			applyErr = err
		}
	})
	c := &manualClock{t: time.Date(2012, 12, 3, 15, 23, 31, 0, time.UTC)}
	k := New(Config{Sink: sink, Now: c.Now})
	_, err := k.SetInterfaces(seedInterfaces())
	require.NoError(t, err)
	require.NoError(t, k.Join(seedJoin()))
	j := seedJoin()
	j.Group = seedG2
	j.Downstream = []string{"ae91.0", "ae101.0", "xe-5/0/0.0"}
	require.NoError(t, k.Join(j))
	k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: netip.MustParseAddr("232.5.5.5")})
	require.NoError(t, k.Prune(seedS, seedG2, "ae101.0"))
	k.Expire(c.Advance(time.Hour))
	k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG})
	require.NoError(t, applyErr)
	r, err := fake.Lookup(seedS, seedG)
	require.NoError(t, err)
	assert.Equal(t, hal.RouteFlagsSG, r.Flags)

	// A fresh fake fed the snapshot ends up with the same routes.
	fresh := haltest.NewFake(hal.Config{Slot: 4, Logger: testLogger(t), Upcalls: &haltest.Recorder{}})
	require.NoError(t, k.Export().OpsTo(3, func(ops []hal.Op) error {
		_, err := fresh.Apply(context.Background(), ops)
		return err
	}))
	assert.Equal(t, fake.Summary(), fresh.Summary())
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				g := netip.AddrFrom4([4]byte{232, byte(w), 0, byte(i)})
				switch i % 4 {
				case 0:
					_ = k.Join(Join{Source: seedS, Group: g, Upstream: "ae90.0", Downstream: []string{"ae91.0"}})
				case 1:
					k.Resolve(hal.Slot(w), hal.ResolveRequest{Ingress: 331, Source: seedS, Group: g})
				case 2:
					k.Traffic(hal.SG(seedS, g), 1, 100)
					k.Tick()
				case 3:
					var b strings.Builder
					_ = k.ShowRoute(&b, netip.Addr{}, true, true)
					_ = k.ShowNextHops(&b)
					_ = k.ShowStatistics(&b)
					_ = k.ShowRouteTable(&b, true)
					k.Journal(0)
				}
			}
		}()
	}
	wg.Wait()
	f.checkSnapshot(t)
}
