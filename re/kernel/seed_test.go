package kernel

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// seedFixture replays seed 003: ids are steered so that the OIL NH is
// 1048584, the composite 1173 and the indirect 1048590, as in the seed.
func seedFixture(t *testing.T) *fixture {
	f := newFixture(t, Config{})
	f.k.mu.Lock()
	f.k.big.next = 1048584
	for id := hal.NHID(1048585); id < 1048590; id++ {
		if !f.k.big.isUsed(id) {
			require.NoError(t, f.k.big.reserve(id))
		}
	}
	f.k.small.next = 1173
	f.k.mu.Unlock()
	return f
}

func seedJoin() Join {
	return Join{Source: seedS, Group: seedG, Upstream: "ae90.0", Downstream: []string{"ae91.0"}, Protocol: "PIM"}
}

func render(t *testing.T, fn func(w *strings.Builder) error) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, fn(&b))
	return b.String()
}

func TestSeedJoinInstallsChain(t *testing.T) {
	f := seedFixture(t)
	k := f.k
	_, next := k.Journal(0)
	require.NoError(t, k.Join(seedJoin()))

	lines, _ := k.Journal(next)
	assert.Equal(t, []string{
		"[15:23:31] rpd      P    nexthop    add     inet nh=mcrt flags=0x0 idx=1048584 ifidx=0 filteridx=0",
		"[15:23:31] rpd      P    NH-comp    add     nh=comp idx=1173 refcnt=0, af=inet, tid=0 hw_token=0 fn=multicast comp=1048583, derv=1378,1387,",
		"[15:23:31] rpd      P    nexthop    add     inet nh=indr flags=0x4 idx=1048590 ifidx=0 filteridx=0",
		"[15:23:31] rpd      P    route      add     inet 232.0.7.1,10.128.1.10 tid=0 plen=64 type=user flags=0x800e nh=indr nhflags=0x4 nhidx=1048590 rt_nhiflist = 0 altfwdnhidx=0 filtidx=0",
	}, lines)

	ops := f.sink.take()
	assert.Equal(t, []hal.Op{
		{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 1048584, Type: hal.NHComposite, Members: []hal.NHID{1048583}}},
		{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 1173, Type: hal.NHComposite, Members: []hal.NHID{1048583}}},
		{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 1048590, Type: hal.NHIndirect, Target: 1173}},
		{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(seedS, seedG), NH: 1048590, RPF: 331, Flags: 0x800e}},
	}, ops)

	// The PFE view of seed 003: 1048583 Aggreg. ifl 332 ae91.0 with
	// 1378 (ifl 395, PFE 13) and 1387 (ifl 400, PFE 15).
	f.sink.mu.Lock()
	agg := f.sink.model.nhs[1048583]
	x1 := f.sink.model.ifls[395]
	x2 := f.sink.model.ifls[400]
	f.sink.mu.Unlock()
	assert.Equal(t, hal.NextHop{ID: 1048583, Type: hal.NHAggregate, IFL: 332, Members: []hal.NHID{1378, 1387}}, agg)
	assert.Equal(t, hal.PFEID(13), x1.PFE)
	assert.Equal(t, hal.PFEID(15), x2.PFE)

	assert.Equal(t, "Family: INET\n"+
		"ID          Refcount KRefcount Downstream interface\n"+
		"1048584            1         1 ae91.0\n",
		render(t, func(w *strings.Builder) error { return k.ShowNextHops(w) }))

	f.clock.Advance(11 * time.Second)
	assert.Equal(t, `Instance: master Family: INET

Group: 232.0.7.1
    Source: 10.128.1.10/32
    Upstream interface: ae90.0
    Downstream interface list:
        ae91.0
    Session description: Source specific multicast
    Statistics: 0 kBps, 0 pps, 0 packets
    Next-hop ID: 1048590
    Upstream protocol: PIM
    Route state: Active
    Forwarding state: Forwarding
    Cache lifetime/timeout: 349 seconds
    Wrong incoming interface notifications: 0
    Uptime: 00:00:11

`, render(t, func(w *strings.Builder) error { return k.ShowRoute(w, seedG, false, true) }))

	f.clock.Advance(162 * time.Second) // Age: 2:53
	out := render(t, func(w *strings.Builder) error { return k.ShowRouteTable(w, true) })
	_, sg, ok := strings.Cut(out, "\n\n")
	require.True(t, ok, out)
	assert.Equal(t, `232.0.7.1.10.128.1.10/64(1 entry, 1 announced)
        *PIM    Preference: 105
                Next hop type: Multicast (IPv4) Composite, Next hop index: 1048590
                Address: `+nhAddress(1048590)+`
                Next-hop reference count: 2
                State: <Active Int Ext>
                Local AS: 65000
                Age: 2:53
                Task: PIM.master
                Announcement bits (1): 0-KRT
                AS path: I
                AS path: Recorded
`, sg)
	f.checkSnapshot(t)
}

func TestSeedExpiryAndResolve(t *testing.T) {
	f := seedFixture(t)
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	f.sink.take()
	_, next := k.Journal(0)

	// No traffic: the entry goes after 360 s, the join stays.
	assert.Zero(t, k.Expire(f.clock.Advance(359*time.Second)))
	f.clock.Advance(time.Second)
	assert.Equal(t, 1, k.Tick())
	assert.Empty(t, render(t, func(w *strings.Builder) error { return k.ShowRoute(w, seedG, false, false) }))
	assert.Equal(t, 1, k.Summary().Joins)
	assert.Zero(t, k.Summary().ForwardingRoutes)

	lines, next := k.Journal(next)
	at := f.clock.Now().Format("15:04:05")
	assert.Equal(t, []string{
		"[" + at + "] rpd      P    route      delete  inet 232.0.7.1,10.128.1.10 tid=0 plen=64 type=user flags=0x818e nh=indr nhflags=0x4 nhidx=1048590 rt_nhiflist = 0 altfwdnhidx=0 filtidx=0",
		"[" + at + "] rpd      P    nexthop    delete  inet nh=indr flags=0x6 idx=1048590 ifidx=0 filteridx=0",
		"[" + at + "] rpd      P    NH-comp    delete  nh=comp idx=1173 refcnt=0, af=inet, tid=0 hw_token=0 fn=multicast comp=1048583, derv=1378,1387,",
		"[" + at + "] rpd      P    nexthop    delete  inet nh=mcrt flags=0x2 idx=1048584 ifidx=0 filteridx=0",
	}, lines)
	assert.Equal(t, []hal.OpKind{hal.OpDelRoute, hal.OpDelNH, hal.OpDelNH, hal.OpDelNH}, opKinds(f.sink.take()))

	// A periodic join refresh does not bring the entry back.
	require.NoError(t, k.Join(seedJoin()))
	assert.Empty(t, f.sink.take())

	// The stream starts again: FPC 3 resolves on ae90.0 (ifl 331).
	res := k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, Source: seedS, Group: seedG})
	assert.Equal(t, ResolveForwarding, res.Action)
	lines, next = k.Journal(next)
	require.Len(t, lines, 4)
	assert.Contains(t, lines[1], "NH-comp    add     nh=comp idx=1174 ")
	assert.Contains(t, lines[3], "route      add     inet 232.0.7.1,10.128.1.10 tid=0 plen=64 type=user flags=0x800e nh=indr nhflags=0x4 nhidx=")

	// Traffic keeps it alive past the timeout.
	k.Traffic(hal.SG(seedS, seedG), 9156666, 11964471000)
	assert.Zero(t, k.Expire(f.clock.Advance(300*time.Second)))
	k.Traffic(hal.SG(seedS, seedG), 1, 1000)
	assert.Zero(t, k.Expire(f.clock.Advance(300*time.Second)))
	assert.Equal(t, 1, k.Summary().ForwardingRoutes)

	assert.Equal(t, `Instance: master Family: INET
Interface: ae90.0
    Routing protocol:          PIM   Mismatch error:               0
    Mismatch:                    0   Mismatch no route:            0
    Kernel resolve:              1   Routing notify:               0
    Resolve no route:            0   Resolve error:                0
    Resolve filtered:            0   Notify filtered:              0
    In kbytes:            11964472   In packets:             9156667
    Out kbytes:                  0   Out packets:                  0
`, statsBlock(render(t, func(w *strings.Builder) error { return k.ShowStatistics(w) }), "ae90.0"))

	// An unknown stream from the same source: mdiscard (seed 003, §4).
	res = k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, Source: seedS, Group: seedG2})
	assert.Equal(t, ResolveDiscard, res.Action)
	assert.Equal(t, hal.Route{Key: hal.SG(seedS, seedG2), NH: hal.NHMDiscardID, RPF: 331, Flags: 0x000e}, res.Route)
	lines, _ = k.Journal(next)
	assert.Equal(t, "["+f.clock.Now().Format("15:04:05")+"] rpd      P    route      add     inet 232.0.8.1,10.128.1.10 tid=0 plen=64 type=user flags=0xe nh=mdsc nhflags=0x0 nhidx=35 rt_nhiflist = 0 altfwdnhidx=0 filtidx=0",
		lines[len(lines)-1])
	f.checkSnapshot(t)
}

// statsBlock keeps the header and the block of one interface of `show
// multicast statistics`.
func statsBlock(s, ifName string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l == "Interface: "+ifName+"\n" && i+8 <= len(lines) {
			return lines[0] + strings.Join(lines[i:i+8], "")
		}
	}
	return s
}

func opKinds(ops []hal.Op) []hal.OpKind {
	out := make([]hal.OpKind, len(ops))
	for i, op := range ops {
		out[i] = op.Kind
	}
	return out
}
