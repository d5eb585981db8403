package haltest

// Conformance cases: the host path (traps, register encapsulation and
// decapsulation interfaces, link state).

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

func runHostPath(t *testing.T, mk func(*testing.T) *env) {
	t.Run("traps of each kind", func(t *testing.T) { testTrapKinds(t, mk(t)) })
	t.Run("trap precedence", func(t *testing.T) { testTrapPrecedence(t, mk(t)) })
	t.Run("ARP for another address is not trapped", func(t *testing.T) { testARPNotLocal(t, mk(t)) })
	t.Run("unicast not for the router is dropped", func(t *testing.T) { testUnicastNotLocal(t, mk(t)) })
	t.Run("trap programming and delete", func(t *testing.T) { testTrapDelete(t, mk(t)) })
	t.Run("encapsulation interface punts once per packet", func(t *testing.T) { testEncap(t, mk(t)) })
	t.Run("decapsulation interface is an ingress", func(t *testing.T) { testDecap(t, mk(t)) })
	t.Run("link state", func(t *testing.T) { testLinkState(t, mk(t)) })
}

// punts returns the recorded punts of frames among sent (drivers with real
// ports may also punt what the kernel of a neighbour sends).
func (e *env) punts(sent ...[]byte) []Punt {
	return slices.DeleteFunc(e.rec.Punts(), func(p Punt) bool {
		return !slices.ContainsFunc(sent, func(f []byte) bool { return bytes.Equal(f, p.Frame) })
	})
}

// waitPunts waits until n punts of frames among sent were recorded.
func (e *env) waitPunts(n int, sent ...[]byte) []Punt {
	e.t.Helper()
	e.rec.WaitFor(e.timeout(), func(*Recorder) bool { return len(e.punts(sent...)) >= n })
	e.settle()
	return e.punts(sent...)
}

// unicastFrame builds an IPv4 packet of protocol proto from NeighborAddr to
// dst, addressed to the ingress IFL's MAC.
func unicastFrame(proto uint8, dst netip.Addr, ttl uint8) []byte {
	return BuildFrame(FrameSpec{Source: NeighborAddr, Group: dst, DstMAC: IFLMAC(IFLUpstream), TTL: ttl, Proto: proto, Payload: 24})
}

func testTrapKinds(t *testing.T, e *env) {
	e.topology()
	e.apply(TrapOps()...)
	nbrMAC := IFLMAC(999)
	frames := []struct {
		name  string
		frame []byte
		trap  hal.TrapID
	}{
		{"ARP request for the router", ARPFrame(1, nbrMAC, NeighborAddr, RouterAddr), TrapARPRouter},
		{"ARP reply to the router", ARPFrame(2, nbrMAC, NeighborAddr, RouterAddr), TrapARPRouter},
		{"TCP to the router (MSDP)", unicastFrame(6, RouterAddr, 64), TrapLocalRouter},
		{"ICMP echo to the router", unicastFrame(1, RouterAddr, 1), TrapLocalRouter},
		{"PIM hello", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: ProtoPIM, Payload: 30}), TrapPIM},
		{"IGMP report", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("232.1.1.1"), TTL: 1, Proto: ProtoIGMP, Payload: 8}), TrapIGMP},
		{"OSPF hello to 224.0.0.5", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.5"), TTL: 1, Proto: 89, Payload: 44}), TrapLinkLocal},
	}
	var sent [][]byte
	for _, f := range frames {
		sent = append(sent, f.frame)
	}
	e.send(IFLUpstream, sent...)
	punts := e.waitPunts(len(frames), sent...)
	require.Len(t, punts, len(frames))
	for i, f := range frames {
		assert.Equal(t, IFLUpstream, punts[i].Ingress, f.name)
		assert.Equal(t, f.trap, punts[i].Trap, f.name)
		assert.Equal(t, f.frame, punts[i].Frame, "%s: punted as received", f.name)
	}
	assert.Empty(t, e.rec.Resolves(), "trapped packets are not looked up")
	assert.Empty(t, e.rec.WrongInterfaces())
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0), "trapped packets are not forwarded")
	}
}

func testTrapPrecedence(t *testing.T, e *env) {
	e.topology()
	e.apply(TrapOps()...)
	e.apply(
		// A local trap for an address inside the group trap's prefix,
		// and a second, wider group trap with a higher id.
		setTrap(hal.Trap{ID: 20, Kind: hal.TrapLocal, Addr: netip.MustParseAddr("224.0.0.9")}),
		setTrap(hal.Trap{ID: 30, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/16")}),
		// A second PIM trap with a higher id never wins.
		setTrap(hal.Trap{ID: 40, Kind: hal.TrapProtocol, Proto: ProtoPIM}),
	)
	cases := []struct {
		name  string
		frame []byte
		trap  hal.TrapID
	}{
		{"PIM register to the router: protocol before local", unicastFrame(ProtoPIM, RouterAddr, 64), TrapPIM},
		{"PIM to a link-local group: protocol before group", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: ProtoPIM}), TrapPIM},
		{"RIP to 224.0.0.9: local before group", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.9"), TTL: 1, Proto: ProtoUDP, Payload: 24}), 20},
		{"224.0.0.251: the lower group id", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.251"), TTL: 1, Proto: ProtoUDP, Payload: 24}), TrapLinkLocal},
		{"224.0.1.1: only the wider group", BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.1.1"), TTL: 8, Proto: ProtoUDP, Payload: 24}), 30},
	}
	var sent [][]byte
	for _, c := range cases {
		sent = append(sent, c.frame)
	}
	e.send(IFLOther, sent...)
	punts := e.waitPunts(len(cases), sent...)
	require.Len(t, punts, len(cases))
	for i, c := range cases {
		assert.Equal(t, c.trap, punts[i].Trap, c.name)
		assert.Equal(t, IFLOther, punts[i].Ingress, c.name)
	}
}

func testARPNotLocal(t *testing.T, e *env) {
	e.topology()
	e.apply(TrapOps()...)
	other := netip.MustParseAddr("10.128.1.77")
	f := ARPFrame(1, IFLMAC(999), NeighborAddr, other)
	e.send(IFLUpstream, f)
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).NoRoute == 1 }), "counted as NoRoute")
	e.settle()
	assert.Empty(t, e.punts(f), "not punted")
	c := e.counters(IFLUpstream)
	assert.Equal(t, uint64(1), c.NoRoute)
	assert.Zero(t, c.Malformed, "a valid ARP frame is not malformed")
	// An ARP frame that is not Ethernet/IPv4 ARP is malformed.
	bad := slices.Clone(f)
	bad[EthHeaderLen+4] = 8 // hardware address length
	e.send(IFLUpstream, bad)
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).Malformed == 1 }))
	assert.Empty(t, e.punts(bad))
}

func testUnicastNotLocal(t *testing.T, e *env) {
	e.topology()
	e.apply(TrapOps()...)
	other := netip.MustParseAddr("10.9.9.9")
	frames := [][]byte{unicastFrame(6, other, 64), unicastFrame(17, other, 64), unicastFrame(1, netip.MustParseAddr("10.128.1.3"), 64)}
	e.send(IFLUpstream, frames...)
	want := uint64(len(frames))
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).NoRoute == want }))
	e.settle()
	assert.Equal(t, want, e.counters(IFLUpstream).NoRoute)
	assert.Empty(t, e.punts(frames...))
	assert.Empty(t, e.rec.Resolves(), "unicast never reaches the multicast lookup")
	if e.canObserveOutputs() {
		assert.Empty(t, e.collect(0))
	}
	// Without the local trap, a packet to the router is not punted
	// either: only traps send packets to the host.
	e.apply(delTrap(TrapLocalRouter))
	f := unicastFrame(6, RouterAddr, 64)
	e.send(IFLUpstream, f)
	assert.True(t, e.await(func() bool { return e.counters(IFLUpstream).NoRoute == want+1 }))
	assert.Empty(t, e.punts(f))
}

func testTrapDelete(t *testing.T, e *env) {
	e.topology()
	hello := BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: ProtoPIM, Payload: 30})
	// No trap: a PIM hello is multicast like any other and hits 224/4.
	e.send(IFLUpstream, hello)
	assert.True(t, e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.Resolves()) == 1 }), "untrapped multicast is looked up")
	assert.Empty(t, e.punts(hello))

	e.apply(TrapOps()...)
	e.apply(TrapOps()...) // set is idempotent
	e.send(IFLUpstream, hello)
	require.Len(t, e.waitPunts(1, hello), 1)

	e.apply(delTrap(TrapPIM))
	hello2 := slices.Clone(hello)
	hello2[len(hello2)-1] ^= 0xff // tell the punts apart
	e.send(IFLUpstream, hello2)
	// Still trapped, by the link-local group trap now.
	p := e.waitPunts(1, hello2)
	require.Len(t, p, 1)
	assert.Equal(t, TrapLinkLocal, p[0].Trap)

	// Deleting an absent trap fails; invalid traps fail; neither
	// disturbs the others.
	n, err := e.d.Apply(t.Context(), []hal.Op{
		delTrap(TrapPIM),
		setTrap(hal.Trap{ID: 0, Kind: hal.TrapProtocol, Proto: 1}),
		setTrap(hal.Trap{ID: hal.TrapEncap, Kind: hal.TrapProtocol, Proto: 1}),
		setTrap(hal.Trap{ID: 50, Kind: hal.TrapARP}),
		setTrap(hal.Trap{ID: 51, Kind: 77}),
		delTrap(TrapLinkLocal),
	})
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, err, hal.ErrNotFound)
	assert.ErrorIs(t, err, hal.ErrInvalid)
	hello3 := slices.Clone(hello)
	hello3[len(hello3)-2] ^= 0xff
	e.send(IFLUpstream, hello3)
	assert.True(t, e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.Resolves()) == 2 }), "no trap left for the hello")
	e.settle()
	assert.Empty(t, e.punts(hello3))
}

// encapTopology adds the pe- and pd- interfaces and a route whose OIL is
// ae91.0, xe-2/0/0.0 and pe- (twice: two NHs on it, as a badly merged OIL
// would have).
func encapTopology(e *env, g netip.Addr) {
	e.topology()
	e.apply(
		setIFL(hal.IFL{Index: IFLEncap, Name: "pe-0/0/0.32769", Kind: hal.IFLEncap, Up: true}),
		setIFL(hal.IFL{Index: IFLDecap, Name: "pd-0/0/0.32768", Kind: hal.IFLDecap, Up: true}),
		setNH(hal.NextHop{ID: NHEncap, Type: hal.NHUnicast, IFL: IFLEncap}),
		setNH(hal.NextHop{ID: NHEncap + 1, Type: hal.NHUnicast, IFL: IFLEncap}),
		setNH(hal.NextHop{ID: 1700, Type: hal.NHComposite, Members: []hal.NHID{NHAE, NHEncap, NHDown, NHEncap + 1}}),
		setNH(hal.NextHop{ID: IndirectBaseTest + 7, Type: hal.NHIndirect, Target: 1700}),
		setRoute(hal.Route{Key: hal.SG(Source, g), NH: IndirectBaseTest + 7, RPF: IFLUpstream, Flags: hal.RouteFlagsSG}),
	)
}

func testEncap(t *testing.T, e *env) {
	g := netip.MustParseAddr("232.0.7.9")
	encapTopology(e, g)
	var sent [][]byte
	for i := range 3 {
		sent = append(sent, BuildFrame(FrameSpec{Source: Source, Group: g, TTL: 64, ID: uint16(i), Payload: 100}))
	}
	e.send(IFLUpstream, sent...)
	punts := e.waitPunts(3, sent...)
	require.Len(t, punts, 3, "one punt per packet")
	for i, p := range punts {
		assert.Equal(t, hal.TrapEncap, p.Trap)
		assert.Equal(t, IFLUpstream, p.Ingress, "punted with the packet's ingress")
		assert.Equal(t, sent[i], p.Frame, "the packet as received")
	}
	assert.True(t, e.await(func() bool { return e.counters(IFLEncap).TxPackets == 3 }))
	assert.Equal(t, uint64(3), e.counters(IFLEncap).TxPackets, "counted on pe-")
	if e.canObserveOutputs() {
		outs := e.collect(6)
		require.Len(t, outs, 6, "the other OIL members still get their copy")
		by := map[hal.IFLIndex]int{}
		for _, o := range outs {
			by[o.Egress]++
		}
		assert.Equal(t, 3, by[IFLDown])
		assert.Equal(t, 3, by[IFLMember1]+by[IFLMember2])
	}
	// pe- has no port: Transmit on it (or pd-) is refused.
	f := Frame(Source, g, 1, 10, nil)
	assert.ErrorIs(t, e.d.Transmit(IFLEncap, [][]byte{f}), hal.ErrInvalid)
	assert.ErrorIs(t, e.d.Transmit(IFLDecap, [][]byte{f}), hal.ErrInvalid)
	// A next hop on pd- is refused.
	_, err := e.d.Apply(t.Context(), []hal.Op{setNH(hal.NextHop{ID: 1701, Type: hal.NHUnicast, IFL: IFLDecap})})
	assert.ErrorIs(t, err, hal.ErrInvalid)
	// pe- down: no punt, PortDown on it.
	e.apply(setIFL(hal.IFL{Index: IFLEncap, Name: "pe-0/0/0.32769", Kind: hal.IFLEncap, Up: false}))
	more := BuildFrame(FrameSpec{Source: Source, Group: g, TTL: 64, ID: 9, Payload: 100})
	e.send(IFLUpstream, more)
	assert.True(t, e.await(func() bool { return e.counters(IFLEncap).PortDown >= 1 }))
	assert.Empty(t, e.punts(more))
}

func testDecap(t *testing.T, e *env) {
	g := netip.MustParseAddr("232.0.7.10")
	encapTopology(e, netip.MustParseAddr("232.0.7.9"))
	e.apply(setRoute(hal.Route{Key: hal.SG(Source, g), NH: NHIndirect, RPF: IFLDecap, Flags: hal.RouteFlagsSG}))
	in := Frame(Source, g, 64, 50, nil)
	// What the RP injects with Forward: input on pd-, forwarded down the
	// route's OIL.
	e.send(IFLDecap, in)
	if e.canObserveOutputs() {
		outs := e.collect(2)
		require.Len(t, outs, 2)
		for _, o := range outs {
			checkForwarded(t, in, o)
		}
	}
	assert.True(t, e.await(func() bool { return e.counters(IFLDecap).RxPackets == 1 }))
	assert.Equal(t, uint64(1), e.counters(IFLDecap).RxPackets)
	assert.Empty(t, e.rec.WrongInterfaces(), "RPF is pd-")
	// The same flow arriving on a port fails RPF.
	e.send(IFLUpstream, in)
	assert.True(t, e.rec.WaitFor(e.timeout(), func(r *Recorder) bool { return len(r.WrongInterfaces()) == 1 }))
	assert.Equal(t, []hal.WrongInterface{{Ingress: IFLUpstream, Expected: IFLDecap, Source: Source, Group: g}}, e.rec.WrongInterfaces())
	// A trapped packet on pd- is punted with pd- as ingress.
	e.apply(TrapOps()...)
	hello := BuildFrame(FrameSpec{Source: NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: ProtoPIM, Payload: 30})
	e.send(IFLDecap, hello)
	p := e.waitPunts(1, hello)
	require.Len(t, p, 1)
	assert.Equal(t, IFLDecap, p[0].Ingress)
}

func testLinkState(t *testing.T, e *env) {
	ls, ok := e.d.(hal.LinkSetter)
	if !ok {
		t.Skip("driver has real ports (no hal.LinkSetter); its own tests cover link state")
	}
	e.topology()
	require.NoError(t, ls.SetLinkState(IFLDown, false))
	assert.Equal(t, []hal.LinkState{{IFL: IFLDown, Up: false}}, e.rec.LinkStates())
	require.NoError(t, ls.SetLinkState(IFLDown, false))
	assert.Len(t, e.rec.LinkStates(), 1, "no report without a change")

	in := Frame(Source, Group, 64, 100, nil)
	e.send(IFLUpstream, in)
	if e.canObserveOutputs() {
		outs := e.collect(1)
		require.Len(t, outs, 1, "only the aggregate's copy leaves")
		assert.Contains(t, []hal.IFLIndex{IFLMember1, IFLMember2}, outs[0].Egress)
	}
	assert.True(t, e.await(func() bool { return e.counters(IFLDown).PortDown == 1 }))
	assert.Equal(t, uint64(1), e.counters(IFLDown).PortDown)
	assert.Zero(t, e.counters(IFLDown).TxPackets)
	require.NoError(t, e.d.Transmit(IFLDown, [][]byte{in}))
	assert.Equal(t, uint64(2), e.counters(IFLDown).PortDown, "a down port does not transmit")

	// The member choice of the aggregate does not change with a member's
	// operational state (the RE reprograms the aggregate): its copy is
	// dropped.
	want := []hal.IFLIndex{IFLMember1, IFLMember2}[hal.EgressMember(Source, Group, 2, 2)]
	require.NoError(t, ls.SetLinkState(want, false))
	e.send(IFLUpstream, in)
	assert.True(t, e.await(func() bool { return e.counters(want).PortDown == 1 }))

	// A reprogrammed IFL keeps its port's state.
	for _, ifl := range TopologyIFLs() {
		if ifl.Index == IFLDown {
			e.apply(setIFL(ifl))
		}
	}
	require.NoError(t, ls.SetLinkState(IFLDown, true))
	require.NoError(t, ls.SetLinkState(want, true))
	assert.Equal(t, []hal.LinkState{{IFL: IFLDown, Up: false}, {IFL: want, Up: false}, {IFL: IFLDown, Up: true}, {IFL: want, Up: true}}, e.rec.LinkStates())
	if e.canObserveOutputs() {
		e.collect(0)
		before := len(e.outputs())
		e.send(IFLUpstream, in)
		assert.Len(t, e.collect(before+2), before+2, "both copies leave again")
	}
	assert.ErrorIs(t, ls.SetLinkState(4242, false), hal.ErrNotFound)
	assert.ErrorIs(t, ls.SetLinkState(IFLAE, false), hal.ErrInvalid, "an aggregate has no port of its own")
}
