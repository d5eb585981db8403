package haltest

// Conformance cases: programming and read-back.

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

func testIdempotentSet(t *testing.T, e *env) {
	e.topology()
	before := e.d.Summary()
	e.topology() // every set again, with identical values
	assert.Equal(t, before, e.d.Summary())
	r, err := e.d.Route(hal.SG(Source, Group))
	require.NoError(t, err)
	assert.Equal(t, hal.Route{Key: hal.SG(Source, Group), NH: NHIndirect, RPF: IFLUpstream, Flags: hal.RouteFlagsSG}, r)
}

func testDeleteAbsent(t *testing.T, e *env) {
	e.topology()
	cases := []hal.Op{
		delRoute(hal.SG(SourceOther, Group)),
		delRoute(hal.GroupPrefix(netip.MustParsePrefix("239.0.0.0/8"))),
		delNH(4242),
		delIFL(4242),
	}
	for _, op := range cases {
		n, err := e.d.Apply(context.Background(), []hal.Op{op})
		assert.Equal(t, 0, n, "%s", op)
		assert.ErrorIs(t, err, hal.ErrNotFound, "%s", op)
	}
	// Deleting twice: the second is ErrNotFound.
	e.apply(delRoute(hal.SG(Source, GroupMDisc)))
	_, err := e.d.Apply(context.Background(), []hal.Op{delRoute(hal.SG(Source, GroupMDisc))})
	assert.ErrorIs(t, err, hal.ErrNotFound)
	_, err = e.d.Route(hal.SG(Source, GroupMDisc))
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func testPartialFailure(t *testing.T, e *env) {
	e.topology()
	g1, g2, g3 := netip.MustParseAddr("232.1.0.1"), netip.MustParseAddr("232.1.0.2"), netip.MustParseAddr("232.1.0.3")
	ops := []hal.Op{
		setRoute(hal.Route{Key: hal.SG(Source, g1), NH: NHIndirect, RPF: IFLUpstream, Flags: hal.RouteFlagsSG}),
		setRoute(hal.Route{Key: hal.SG(Source, g2), NH: 999999, RPF: IFLUpstream}), // unknown NH
		setRoute(hal.Route{Key: hal.SG(Source, g3), NH: NHIndirect, RPF: IFLUpstream, Flags: hal.RouteFlagsSG}),
		delNH(NHComp), // still referenced by NHIndirect
		setRoute(hal.Route{Key: hal.SG(SourceOther, g3), NH: hal.NHMDiscardID}),
	}
	n, err := e.d.Apply(context.Background(), ops)
	require.Error(t, err)
	assert.Equal(t, 3, n, "applied count")
	assert.ErrorIs(t, err, hal.ErrNotFound)
	assert.ErrorIs(t, err, hal.ErrInvalid)
	assert.Contains(t, err.Error(), "op 1 ")
	assert.Contains(t, err.Error(), "op 3 ")
	assert.NotContains(t, err.Error(), "op 0 ")
	assert.NotContains(t, err.Error(), "op 2 ")
	for _, k := range []hal.RouteKey{hal.SG(Source, g1), hal.SG(Source, g3), hal.SG(SourceOther, g3)} {
		_, err := e.d.Route(k)
		assert.NoError(t, err, "route %s applied after the failure", k)
	}
	_, err = e.d.Route(hal.SG(Source, g2))
	assert.ErrorIs(t, err, hal.ErrNotFound)
	_, err = e.d.NextHop(NHComp)
	assert.NoError(t, err, "failed delete left the NH in place")
}

func testDependencies(t *testing.T, e *env) {
	e.topology()
	cases := []struct {
		name string
		op   hal.Op
		want error
	}{
		{"route to unknown NH", setRoute(hal.Route{Key: hal.SG(SourceOther, Group), NH: 777}), hal.ErrNotFound},
		{"indirect to unknown target", setNH(hal.NextHop{ID: IndirectBaseTest + 1, Type: hal.NHIndirect, Target: 778}), hal.ErrNotFound},
		{"composite with unknown member", setNH(hal.NextHop{ID: 1200, Type: hal.NHComposite, Members: []hal.NHID{NHDown, 779}}), hal.ErrNotFound},
		{"aggregate with unknown member", setNH(hal.NextHop{ID: 1201, Type: hal.NHAggregate, IFL: IFLAE, Members: []hal.NHID{780}}), hal.ErrNotFound},
		{"unicast on unknown IFL", setNH(hal.NextHop{ID: 1202, Type: hal.NHUnicast, IFL: 4242}), hal.ErrNotFound},
		{"delete composite used by indirect", delNH(NHComp), hal.ErrInvalid},
		{"delete indirect used by route", delNH(NHIndirect), hal.ErrInvalid},
		{"delete unicast used by aggregate", delNH(NHMember1), hal.ErrInvalid},
		{"delete resolve used by 224/4", delNH(hal.NHResolveID), hal.ErrInvalid},
		{"delete IFL used by unicast", delIFL(IFLDown), hal.ErrInvalid},
		{"delete aggregate IFL used by aggregate NH", delIFL(IFLAE), hal.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := e.d.Apply(context.Background(), []hal.Op{c.op})
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, c.want)
			assert.Contains(t, err.Error(), "op 0 ")
		})
	}
	// Deleting in reverse order of creation succeeds and leaves nothing.
	ops := TopologyOps()
	var rev []hal.Op
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		switch op.Kind {
		case hal.OpSetIFL:
			op.Kind = hal.OpDelIFL
		case hal.OpSetNH:
			op.Kind = hal.OpDelNH
		case hal.OpSetRoute:
			op.Kind = hal.OpDelRoute
		}
		rev = append(rev, op)
	}
	e.apply(rev...)
	s := e.d.Summary()
	assert.Zero(t, s.IFLs+s.NHs+s.Routes, "summary after deleting everything: %+v", s)
}

// IndirectBaseTest is an indirect NH id the topology does not use.
const IndirectBaseTest = hal.IndirectBase + 100

func testInvalid(t *testing.T, e *env) {
	e.topology()
	cases := []struct {
		name string
		op   hal.Op
	}{
		{"IFL index 0", hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 0, Kind: hal.IFLPhysical}}},
		{"IFL bad kind", hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 900, Kind: 9}}},
		{"NH id 0", setNH(hal.NextHop{ID: 0, Type: hal.NHDiscard})},
		{"NH bad type", setNH(hal.NextHop{ID: 901, Type: 99})},
		{"unicast on aggregate IFL", setNH(hal.NextHop{ID: 902, Type: hal.NHUnicast, IFL: IFLAE})},
		{"indirect to indirect", setNH(hal.NextHop{ID: IndirectBaseTest + 2, Type: hal.NHIndirect, Target: NHIndirect})},
		{"composite with composite member", setNH(hal.NextHop{ID: 903, Type: hal.NHComposite, Members: []hal.NHID{NHComp}})},
		{"route in another table", setRoute(hal.Route{Key: hal.RouteKey{Table: 7, Group: Group, Source: Source, PrefixLen: 64}, NH: NHIndirect})},
		{"(S,G) with a unicast group", setRoute(hal.Route{Key: hal.SG(Source, netip.MustParseAddr("10.0.0.1")), NH: NHIndirect})},
		{"prefix longer than 32", setRoute(hal.Route{Key: hal.RouteKey{Table: hal.TableInet1, Group: Group, PrefixLen: 40}, NH: NHIndirect})},
		{"referenced NH changes type", setNH(hal.NextHop{ID: NHComp, Type: hal.NHDiscard})},
		{"unicast becomes a composite of itself", setNH(hal.NextHop{ID: 1700, Type: hal.NHComposite, Members: []hal.NHID{1700}})},
		{"unicast becomes an aggregate of itself", setNH(hal.NextHop{ID: 1700, Type: hal.NHAggregate, IFL: IFLAE, Members: []hal.NHID{1700}})},
	}
	e.apply(setNH(hal.NextHop{ID: 1700, Type: hal.NHUnicast, IFL: IFLDown}))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := e.d.Apply(context.Background(), []hal.Op{c.op})
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, hal.ErrInvalid)
		})
	}
}

func testCancelled(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := e.d.Apply(ctx, TopologyOps())
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, context.Canceled)
}

// testReplace changes objects in place and checks forwarding follows.
func testReplace(t *testing.T, e *env) {
	e.topology()
	// The composite loses the aggregate; the route moves RPF; an IFL
	// changes its MAC.
	mac := IFLMAC(0x777)
	ifls := TopologyIFLs()
	var down hal.IFL
	for _, ifl := range ifls {
		if ifl.Index == IFLDown {
			down = ifl
		}
	}
	down.MAC = mac
	e.apply(
		setNH(hal.NextHop{ID: NHComp, Type: hal.NHComposite, Members: []hal.NHID{NHDown}}),
		setRoute(hal.Route{Key: hal.SG(Source, Group), NH: NHIndirect, RPF: IFLOther, Flags: hal.RouteFlagsSG}),
		hal.Op{Kind: hal.OpSetIFL, IFL: down},
	)
	nh, err := e.d.NextHop(NHComp)
	require.NoError(t, err)
	assert.Equal(t, []hal.NHID{NHDown}, nh.Members)
	// The aggregate is no longer referenced by the composite: deletable.
	e.apply(delNH(NHAE))
	if !e.canObserveOutputs() {
		return
	}
	e.send(IFLOther, Frame(Source, Group, 64, 32, nil))
	outs := e.collect(1)
	require.Len(t, outs, 1)
	assert.Equal(t, IFLDown, outs[0].Egress)
	assert.Equal(t, mac, MustParse(outs[0].Frame).SrcMAC)
}

func testReadBack(t *testing.T, e *env) {
	e.topology()
	for _, want := range TopologyRoutes() {
		got, err := e.d.Route(want.Key)
		require.NoError(t, err, want.Key)
		assert.Equal(t, want, got)
	}
	for _, op := range TopologyOps() {
		switch op.Kind {
		case hal.OpSetNH:
			got, err := e.d.NextHop(op.NH.ID)
			require.NoError(t, err)
			assert.Equal(t, op.NH.ID, got.ID)
			assert.Equal(t, op.NH.Type, got.Type)
			assert.Equal(t, op.NH.IFL, got.IFL)
			assert.Equal(t, op.NH.Target, got.Target)
			assert.Equal(t, len(op.NH.Members), len(got.Members))
			if len(op.NH.Members) > 0 {
				assert.Equal(t, op.NH.Members, got.Members)
			}
		case hal.OpSetIFL:
			got, err := e.d.IFL(op.IFL.Index)
			require.NoError(t, err)
			w := op.IFL
			assert.Equal(t, []any{w.Index, w.Name, w.Kind, w.PFE, w.MTU, w.Up, w.Addr, w.MAC.String()},
				[]any{got.Index, got.Name, got.Kind, got.PFE, got.MTU, got.Up, got.Addr, got.MAC.String()})
			assert.Equal(t, len(w.Members), len(got.Members))
			if len(w.Members) > 0 {
				assert.Equal(t, w.Members, got.Members)
			}
		}
	}
	_, err := e.d.NextHop(4242)
	assert.ErrorIs(t, err, hal.ErrNotFound)
	_, err = e.d.IFL(4242)
	assert.ErrorIs(t, err, hal.ErrNotFound)
	_, err = e.d.Route(hal.SG(SourceOther, Group))
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func testLookup(t *testing.T, e *env) {
	e.topology()
	r, err := e.d.Lookup(Source, Group)
	require.NoError(t, err)
	assert.Equal(t, hal.SG(Source, Group), r.Key)
	assert.Equal(t, NHIndirect, r.NH)

	r, err = e.d.Lookup(SourceOther, Group) // no (S,G) for this source
	require.NoError(t, err)
	assert.Equal(t, hal.GroupPrefix(Prefix224), r.Key)
	assert.Equal(t, hal.NHResolveID, r.NH)

	// A more specific prefix wins over 224/4.
	p232 := netip.MustParsePrefix("232.0.0.0/8")
	p232_0_9 := netip.MustParsePrefix("232.0.9.0/24")
	e.apply(
		setRoute(hal.Route{Key: hal.GroupPrefix(p232), NH: hal.NHMDiscardID, Flags: hal.RouteFlagsMDiscard}),
		setRoute(hal.Route{Key: hal.GroupPrefix(p232_0_9), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}),
	)
	r, err = e.d.Lookup(SourceOther, Group)
	require.NoError(t, err)
	assert.Equal(t, hal.GroupPrefix(p232), r.Key)
	r, err = e.d.Lookup(SourceOther, GroupNoSG)
	require.NoError(t, err)
	assert.Equal(t, hal.GroupPrefix(p232_0_9), r.Key)
	r, err = e.d.Lookup(Source, Group) // exact still wins
	require.NoError(t, err)
	assert.Equal(t, hal.SG(Source, Group), r.Key)
	r, err = e.d.Lookup(SourceOther, netip.MustParseAddr("239.1.1.1"))
	require.NoError(t, err)
	assert.Equal(t, hal.GroupPrefix(Prefix224), r.Key)

	_, err = e.d.Lookup(Source, netip.MustParseAddr("10.9.9.9"))
	assert.ErrorIs(t, err, hal.ErrNotFound)
	e.apply(delRoute(hal.GroupPrefix(Prefix224)))
	_, err = e.d.Lookup(SourceOther, netip.MustParseAddr("239.1.1.1"))
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func testWalkSummary(t *testing.T, e *env) {
	s := e.d.Summary()
	assert.Zero(t, s.IFLs+s.NHs+s.Routes)
	e.topology()
	s = e.d.Summary()
	assert.Equal(t, len(TopologyIFLs()), s.IFLs)
	assert.Equal(t, 8, s.NHs)
	assert.Equal(t, 3, s.Routes)
	assert.Equal(t, map[hal.NHType]int{
		hal.NHResolve: 1, hal.NHMDiscard: 1, hal.NHUnicast: 3, hal.NHAggregate: 1,
		hal.NHComposite: 1, hal.NHIndirect: 1,
	}, s.NHsByType)

	var keys []hal.RouteKey
	e.d.WalkRoutes(func(r hal.Route, st hal.RouteStat) bool {
		keys = append(keys, r.Key)
		assert.Equal(t, r.Key, st.Key)
		assert.Zero(t, st.Counters)
		assert.True(t, st.LastUsed.IsZero())
		return true
	})
	var want []hal.RouteKey
	for _, r := range TopologyRoutes() {
		want = append(want, r.Key)
	}
	assert.ElementsMatch(t, want, keys)

	n := 0
	e.d.WalkRoutes(func(hal.Route, hal.RouteStat) bool { n++; return false })
	assert.Equal(t, 1, n, "WalkRoutes stops when fn returns false")
}
