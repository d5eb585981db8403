package haltest

// Conformance cases: the packet path.

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// checkForwarded asserts that out is in, rewritten correctly for its egress.
func checkForwarded(t *testing.T, in []byte, out Output) {
	t.Helper()
	pi, po := MustParse(in), MustParse(out.Frame)
	assert.Equal(t, len(in), len(out.Frame), "length")
	assert.Equal(t, pi.TTL-1, po.TTL, "TTL decremented")
	assert.True(t, po.ChecksumOK, "IPv4 checksum valid after rewrite")
	assert.Equal(t, MulticastMAC(pi.Group).String(), po.DstMAC.String(), "destination MAC from group")
	assert.Equal(t, IFLMAC(out.Egress).String(), po.SrcMAC.String(), "source MAC of egress IFL")
	assert.Equal(t, pi.Source, po.Source)
	assert.Equal(t, pi.Group, po.Group)
	assert.Equal(t, pi.L4, po.L4, "payload unchanged")
	assert.Equal(t, in[14+12:], out.Frame[14+12:], "bytes after the checksum unchanged")
}

func testForward(t *testing.T, e *env) {
	e.needOutputs()
	e.topology()
	in := Frame(Source, Group, 64, 100, nil)
	orig := slices.Clone(in)
	e.send(IFLUpstream, in)
	assert.Equal(t, orig, in, "input frame not modified")
	outs := e.collect(2)
	byEgress := map[hal.IFLIndex]int{}
	for _, o := range outs {
		byEgress[o.Egress]++
		checkForwarded(t, orig, o)
	}
	assert.Len(t, outs, 2, "one copy per OIL member: %v", byEgress)
	assert.Equal(t, 1, byEgress[IFLDown], "unicast member")
	assert.Equal(t, 1, byEgress[IFLMember1]+byEgress[IFLMember2], "exactly one aggregate member")
	assert.Empty(t, e.rec.Resolves())
	assert.Empty(t, e.rec.WrongInterfaces())
	assert.Empty(t, e.rec.Punts())
}

func testLAG(t *testing.T, e *env) {
	e.needOutputs()
	e.topology()
	// 64 flows: the chance that a reasonable hash puts all of them on one
	// member of two is 2^-63.
	const flows = 64
	var ops []hal.Op
	var srcs []netip.Addr
	for i := range flows {
		s := netip.AddrFrom4([4]byte{10, 1, byte(i / 8), byte(i*37 + 1)})
		srcs = append(srcs, s)
		ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, Group), NH: NHIndirect, Flags: hal.RouteFlagsSG}))
	}
	e.apply(ops...)
	for _, s := range srcs {
		// Two frames of each flow, in two batches.
		e.send(IFLUpstream, Frame(s, Group, 9, 20, nil))
		e.send(IFLUpstream, Frame(s, Group, 9, 20, nil))
	}
	outs := e.collect(4 * flows)
	require.Len(t, outs, 4*flows)
	member := map[netip.Addr]map[hal.IFLIndex]int{}
	for _, o := range outs {
		p := MustParse(o.Frame)
		if member[p.Source] == nil {
			member[p.Source] = map[hal.IFLIndex]int{}
		}
		member[p.Source][o.Egress]++
	}
	used := map[hal.IFLIndex]bool{}
	// The OIL {ae91.0 (2 Up members), xe-2/0/0.0} has 2 sublists; every
	// driver picks the member by hal/flow.go's rule.
	ae := []hal.IFLIndex{IFLMember1, IFLMember2}
	for _, s := range srcs {
		m := member[s]
		assert.Equal(t, 2, m[IFLDown], "flow %v on the unicast member", s)
		assert.Equal(t, 2, m[IFLMember1]+m[IFLMember2], "flow %v: two frames on the aggregate", s)
		assert.False(t, m[IFLMember1] > 0 && m[IFLMember2] > 0, "flow %v split over both members", s)
		want := ae[hal.EgressMember(s, Group, 2, len(ae))]
		assert.Equal(t, 2, m[want], "flow %v leaves by member %d (hal.EgressMember): %v", s, want, m)
		for idx := range m {
			used[idx] = true
		}
	}
	assert.True(t, used[IFLMember1] && used[IFLMember2], "both aggregate members used over %d flows", flows)
}

func testRPF(t *testing.T, e *env) {
	e.topology()
	e.send(IFLOther, Frame(Source, Group, 64, 10, nil))
	ok := e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.WrongInterfaces()) >= 1 })
	require.True(t, ok, "OnWrongInterface raised")
	assert.Equal(t, []hal.WrongInterface{{Ingress: IFLOther, Expected: IFLUpstream, Source: Source, Group: Group}}, e.rec.WrongInterfaces())
	assert.True(t, e.await(func() bool { return e.counters(IFLOther).RPFFail == 1 }))
	assert.Equal(t, uint64(1), e.counters(IFLOther).RPFFail)
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0), "nothing forwarded")
	}
	// A route without RPF IFL accepts any ingress.
	e.apply(setRoute(hal.Route{Key: hal.SG(Source, Group), NH: NHIndirect, Flags: hal.RouteFlagsSG}))
	e.send(IFLOther, Frame(Source, Group, 64, 10, nil))
	if e.canObserveOutputs() {
		assert.Len(t, e.collect(2), 2)
	}
	assert.Len(t, e.rec.WrongInterfaces(), 1)
}

func testRPFAggregate(t *testing.T, e *env) {
	e.needOutputs()
	e.topology()
	// Traffic from ae91.0 arriving on its member xe-3/1/0.0.
	g := netip.MustParseAddr("232.0.7.2")
	e.apply(
		setNH(hal.NextHop{ID: 1500, Type: hal.NHComposite, Members: []hal.NHID{NHDown}}),
		setNH(hal.NextHop{ID: IndirectBaseTest + 3, Type: hal.NHIndirect, Target: 1500}),
		setRoute(hal.Route{Key: hal.SG(Source, g), NH: IndirectBaseTest + 3, RPF: IFLAE, Flags: hal.RouteFlagsSG}),
	)
	e.send(IFLMember1, Frame(Source, g, 64, 10, nil))
	outs := e.collect(1)
	require.Len(t, outs, 1)
	assert.Equal(t, IFLDown, outs[0].Egress)
	assert.Empty(t, e.rec.WrongInterfaces())
}

func testResolve(t *testing.T, e *env) {
	e.topology()
	e.send(IFLUpstream, Frame(Source, GroupNoSG, 64, 10, nil))
	ok := e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.Resolves()) >= 1 })
	require.True(t, ok, "OnResolve raised")
	assert.Equal(t, []hal.ResolveRequest{{NH: hal.NHResolveID, Ingress: IFLUpstream, Source: Source, Group: GroupNoSG}}, e.rec.Resolves())
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).Resolve == 1 }))
	assert.Equal(t, uint64(1), e.counters(IFLUpstream).Resolve)
	st, found := e.routeStat(hal.GroupPrefix(Prefix224))
	require.True(t, found)
	assert.Equal(t, uint64(1), st.Counters.Packets, "224/4 route counted the hit")
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
	}
}

func testMDiscard(t *testing.T, e *env) {
	e.topology()
	e.send(IFLUpstream, Frame(Source, GroupMDisc, 64, 10, nil), Frame(Source, GroupMDisc, 64, 10, nil))
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).Discard == 2 }))
	assert.Equal(t, uint64(2), e.counters(IFLUpstream).Discard)
	e.settle()
	assert.Empty(t, e.rec.Resolves())
	assert.Empty(t, e.rec.WrongInterfaces())
	assert.Empty(t, e.rec.Punts())
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
	}
}

func testTTL(t *testing.T, e *env) {
	e.topology()
	e.send(IFLUpstream, Frame(Source, Group, 1, 10, nil), Frame(Source, Group, 0, 10, nil))
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).TTLExpiry == 2 }))
	assert.Equal(t, uint64(2), e.counters(IFLUpstream).TTLExpiry)
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
		// TTL 2 still goes out, with TTL 1.
		e.send(IFLUpstream, Frame(Source, Group, 2, 10, nil))
		outs := e.collect(2)
		require.Len(t, outs, 2)
		assert.Equal(t, uint8(1), MustParse(outs[0].Frame).TTL)
	}
}

func testPunt(t *testing.T, e *env) {
	e.topology()
	e.apply(TrapOps()...)
	frames := [][]byte{
		BuildFrame(FrameSpec{Source: Source, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: ProtoPIM, Payload: 30}),
		BuildFrame(FrameSpec{Source: Source, Group: netip.MustParseAddr("224.0.0.22"), TTL: 1, Proto: ProtoIGMP, Payload: 8}),
		BuildFrame(FrameSpec{Source: Source, Group: Group, TTL: 64, Proto: ProtoPIM, Payload: 30}), // PIM to a routed group
		BuildFrame(FrameSpec{Source: Source, Group: Group, TTL: 64, Proto: ProtoIGMP, Payload: 8}),
		Frame(Source, netip.MustParseAddr("224.0.0.251"), 255, 40, nil), // mDNS: link-local group
	}
	e.send(IFLOther, frames...)
	ok := e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.Punts()) >= len(frames) })
	require.True(t, ok, "OnPunt raised for every control frame")
	punts := e.rec.Punts()
	require.Len(t, punts, len(frames))
	traps := []hal.TrapID{TrapPIM, TrapIGMP, TrapPIM, TrapIGMP, TrapLinkLocal}
	for i, p := range punts {
		assert.Equal(t, IFLOther, p.Ingress)
		assert.Equal(t, traps[i], p.Trap, "punt %d's trap", i)
		assert.Equal(t, frames[i], p.Frame, "punt %d is the frame as received", i)
	}
	assert.Empty(t, e.rec.WrongInterfaces(), "punts skip the RPF check")
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
	}
}

func testNoRoute(t *testing.T, e *env) {
	e.topology()
	e.apply(delRoute(hal.GroupPrefix(Prefix224)))
	e.send(IFLUpstream, Frame(Source, GroupNoSG, 64, 10, nil), Frame(Source, netip.MustParseAddr("10.2.2.2"), 64, 10, nil))
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).NoRoute == 2 }))
	assert.Equal(t, uint64(2), e.counters(IFLUpstream).NoRoute)
	e.settle()
	assert.Empty(t, e.rec.Resolves())
}

func testMalformed(t *testing.T, e *env) {
	e.topology()
	good := Frame(Source, Group, 64, 10, nil)
	mut := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	frames := [][]byte{
		{},
		good[:20], // shorter than Ethernet + IPv4
		mut(func(b []byte) []byte { b[12] = 0x08; b[13] = 0x06; return b }), // ARP ethertype
		mut(func(b []byte) []byte { b[14] = 0x65; return b }),               // version 6
		mut(func(b []byte) []byte { b[14] = 0x44; return b }),               // IHL 4
		mut(func(b []byte) []byte { b[14] = 0x4f; return b }),               // IHL 15 > total length
		mut(func(b []byte) []byte { b[16], b[17] = 0xff, 0xff; return b }),  // total length > frame
		mut(func(b []byte) []byte { b[16], b[17] = 0, 10; return b }),       // total length < IHL
	}
	e.send(IFLUpstream, frames...)
	want := uint64(len(frames))
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).Malformed == want }))
	c := e.counters(IFLUpstream)
	assert.Equal(t, want, c.Malformed)
	assert.Equal(t, want, c.RxPackets, "malformed frames are received")
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
	}
}

func testPortDown(t *testing.T, e *env) {
	e.topology()
	g := netip.MustParseAddr("232.0.7.3")
	e.apply(
		setNH(hal.NextHop{ID: 1600, Type: hal.NHUnicast, IFL: IFLDead}),
		setNH(hal.NextHop{ID: 1601, Type: hal.NHUnicast, IFL: IFLDead}),
		setNH(hal.NextHop{ID: 1602, Type: hal.NHAggregate, IFL: IFLAEDead, Members: []hal.NHID{1601}}),
		setNH(hal.NextHop{ID: 1603, Type: hal.NHComposite, Members: []hal.NHID{1600, 1602, NHDown}}),
		setNH(hal.NextHop{ID: IndirectBaseTest + 4, Type: hal.NHIndirect, Target: 1603}),
		setRoute(hal.Route{Key: hal.SG(Source, g), NH: IndirectBaseTest + 4, RPF: IFLUpstream, Flags: hal.RouteFlagsSG}),
	)
	e.send(IFLUpstream, Frame(Source, g, 64, 10, nil))
	assert.True(t, e.await(func() bool {
		return e.counters(IFLDead).PortDown == 1 && e.counters(IFLAEDead).PortDown == 1
	}))
	assert.Equal(t, uint64(1), e.counters(IFLDead).PortDown, "unicast to a down port")
	assert.Equal(t, uint64(1), e.counters(IFLAEDead).PortDown, "aggregate without an Up member")
	if e.canObserveOutputs() {
		outs := e.collect(1)
		require.Len(t, outs, 1)
		assert.Equal(t, IFLDown, outs[0].Egress)
	}
	// Bringing the port up makes it forward.
	for _, ifl := range TopologyIFLs() {
		if ifl.Index == IFLDead {
			ifl.Up = true
			e.apply(hal.Op{Kind: hal.OpSetIFL, IFL: ifl})
		}
	}
	e.send(IFLUpstream, Frame(Source, g, 64, 10, nil))
	if e.canObserveOutputs() {
		outs := e.collect(4)
		assert.Len(t, outs, 4)
	}
}

func testCounters(t *testing.T, e *env) {
	e.topology()
	f := Frame(Source, Group, 64, 100, nil)
	e.clock.Advance(time.Hour)
	used := e.clock.Now()
	e.send(IFLUpstream, f, f)
	e.send(IFLUpstream, f)
	n := uint64(len(f))
	assert.True(t, e.await(func() bool { return e.counters(IFLDown).TxPackets == 3 }))
	in := e.counters(IFLUpstream)
	assert.Equal(t, uint64(3), in.RxPackets)
	assert.Equal(t, 3*n, in.RxBytes)
	out := e.counters(IFLDown)
	assert.Equal(t, uint64(3), out.TxPackets)
	assert.Equal(t, 3*n, out.TxBytes)
	m1, m2 := e.counters(IFLMember1), e.counters(IFLMember2)
	assert.Equal(t, uint64(3), m1.TxPackets+m2.TxPackets, "aggregate member tx")

	st, found := e.routeStat(hal.SG(Source, Group))
	require.True(t, found)
	assert.Equal(t, hal.Counters{Packets: 3, Bytes: 3 * n}, st.Counters)
	assert.False(t, st.LastUsed.IsZero(), "LastUsed set")
	assert.False(t, st.LastUsed.Before(used), "LastUsed %v from the driver clock (>= %v)", st.LastUsed, used)
	assert.False(t, st.LastUsed.After(e.clock.Now()))
	st, found = e.routeStat(hal.SG(Source, GroupMDisc))
	require.True(t, found)
	assert.True(t, st.LastUsed.IsZero(), "unused route has zero LastUsed")
	assert.Zero(t, st.Counters)

	_, err := e.d.IFLCounters(4242)
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func testUnknownIngress(t *testing.T, e *env) {
	if e.opts.Send != nil {
		t.Skip("driver injects through Options.Send")
	}
	e.topology()
	err := e.d.Input(4242, [][]byte{Frame(Source, Group, 64, 10, nil)})
	if errors.Is(err, hal.ErrNotSupported) {
		t.Skip("driver cannot inject")
	}
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func testTransmit(t *testing.T, e *env) {
	e.needOutputs()
	e.topology()
	f := Frame(Source, Group, 1, 30, IFLMAC(IFLDown))
	orig := slices.Clone(f)
	require.NoError(t, e.d.Transmit(IFLDown, [][]byte{f}))
	assert.Equal(t, orig, f, "caller's frame untouched")
	outs := e.collect(1)
	require.Len(t, outs, 1)
	assert.Equal(t, IFLDown, outs[0].Egress)
	assert.Equal(t, orig, outs[0].Frame, "transmitted unchanged")
	assert.True(t, e.await(func() bool { return e.counters(IFLDown).TxPackets == 1 }))
	assert.Equal(t, uint64(1), e.counters(IFLDown).TxPackets)

	require.NoError(t, e.d.Transmit(IFLAE, [][]byte{f}))
	outs = e.collect(2)
	require.Len(t, outs, 2)
	assert.Contains(t, []hal.IFLIndex{IFLMember1, IFLMember2}, outs[1].Egress, "aggregate sends through a member")
	assert.Equal(t, orig, outs[1].Frame)

	assert.ErrorIs(t, e.d.Transmit(4242, [][]byte{f}), hal.ErrNotFound)
}

func testConcurrent(t *testing.T, e *env) {
	e.topology()
	const rounds = 200
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g := netip.MustParseAddr("232.5.0.1")
		for i := 0; ctx.Err() == nil; i++ {
			s := netip.AddrFrom4([4]byte{10, 5, byte(i >> 8), byte(i)})
			ops := []hal.Op{setRoute(hal.Route{Key: hal.SG(s, g), NH: NHIndirect, RPF: IFLUpstream, Flags: hal.RouteFlagsSG})}
			if i%2 == 1 {
				ops = append(ops, delRoute(hal.SG(netip.AddrFrom4([4]byte{10, 5, byte((i - 1) >> 8), byte(i - 1)}), g)))
			}
			ops = append(ops, setNH(hal.NextHop{ID: NHComp, Type: hal.NHComposite, Members: []hal.NHID{NHAE, NHDown}[:1+i%2]}))
			if _, err := e.d.Apply(context.Background(), ops); err != nil {
				t.Errorf("apply: %v", err)
				return
			}
		}
	}()
	sent := [2]int{}
	for w, ingress := range []hal.IFLIndex{IFLUpstream, IFLOther} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				f := Frame(Source, Group, 64, 10, nil)
				g := Frame(netip.AddrFrom4([4]byte{10, 5, 0, byte(i)}), netip.MustParseAddr("232.5.0.1"), 64, 10, nil)
				var err error
				if e.opts.Send != nil {
					e.opts.Send(t, e.d, ingress, [][]byte{f, g})
				} else {
					err = e.d.Input(ingress, [][]byte{f, g})
				}
				if errors.Is(err, hal.ErrNotSupported) {
					return
				}
				if err != nil {
					t.Errorf("input: %v", err)
					return
				}
				sent[w] += 2
			}
		}()
	}
	// Read-back concurrently too.
	for range 50 {
		_, _ = e.d.Lookup(Source, Group)
		e.d.WalkRoutes(func(hal.Route, hal.RouteStat) bool { return true })
		_ = e.d.Summary()
	}
	time.Sleep(10 * time.Millisecond)
	cancel()
	wg.Wait()
	if sent[0] == 0 {
		return
	}
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).RxPackets == uint64(sent[0]) }))
	assert.Equal(t, uint64(sent[0]), e.counters(IFLUpstream).RxPackets)
	assert.Equal(t, uint64(sent[1]), e.counters(IFLOther).RxPackets)
}
