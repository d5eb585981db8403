package swpfe_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// diffUniverse is the small object space of the differential test: small
// enough that random operations collide (replace, delete referenced,
// dangling references) all the time.
type diffUniverse struct {
	r       *rand.Rand
	sources []netip.Addr
	groups  []netip.Addr
	pfx     []netip.Prefix
}

var (
	diffPhys = []hal.IFLIndex{1, 2, 3, 4, 7}
	diffAggs = map[hal.IFLIndex][]hal.IFLIndex{5: {1, 2}, 6: {3, 4}}
	diffNHs  = []hal.NHID{10, 11, 12, 13, 14, 15, 16, 17, 18, hal.NHResolveID, hal.NHMDiscardID, 20, 21}
)

// The host path of the universe: pe- (8), pd- (9), the router's address
// and a neighbour's.
const (
	diffEncap hal.IFLIndex = 8
	diffDecap hal.IFLIndex = 9
)

var diffAddrs = []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.99")}

func (u *diffUniverse) trap() hal.Trap {
	r := u.r
	t := hal.Trap{ID: hal.TrapID(1 + r.IntN(6))}
	switch r.IntN(4) {
	case 0:
		t.Kind, t.Addr = hal.TrapARP, diffAddrs[r.IntN(2)]
	case 1:
		t.Kind, t.Addr = hal.TrapLocal, diffAddrs[r.IntN(2)]
	case 2:
		t.Kind, t.Proto = hal.TrapProtocol, []uint8{103, 2, 17}[r.IntN(3)]
	default:
		t.Kind, t.Prefix = hal.TrapGroup, []netip.Prefix{netip.MustParsePrefix("224.0.0.0/24"), netip.MustParsePrefix("232.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/24")}[r.IntN(3)]
	}
	if r.IntN(15) == 0 {
		t.ID = 0 // invalid
	}
	return t
}

func (u *diffUniverse) ifl() hal.IFL {
	r := u.r
	switch r.IntN(8) {
	case 0:
		return hal.IFL{Index: diffEncap, Name: "pe-0/0/0.32769", Kind: hal.IFLEncap, Up: r.IntN(4) != 0}
	case 1:
		return hal.IFL{Index: diffDecap, Name: "pd-0/0/0.32768", Kind: hal.IFLDecap, Up: true}
	}
	if r.IntN(3) == 0 {
		idx := hal.IFLIndex(5 + r.IntN(2))
		return hal.IFL{Index: idx, Name: fmt.Sprintf("ae%d.0", idx), Kind: hal.IFLAggregate, Members: diffAggs[idx], Up: true}
	}
	idx := diffPhys[r.IntN(len(diffPhys))]
	ifl := hal.IFL{Index: idx, Name: fmt.Sprintf("xe-0/0/%d.0", idx), Kind: hal.IFLPhysical, Up: r.IntN(5) != 0, MTU: 1500}
	if r.IntN(4) != 0 {
		ifl.MAC = haltest.IFLMAC(idx + hal.IFLIndex(r.IntN(2))*0x100)
	}
	if r.IntN(20) == 0 {
		ifl.Kind = hal.IFLAggregate // kind changes
	}
	return ifl
}

func (u *diffUniverse) nhid() hal.NHID { return diffNHs[u.r.IntN(len(diffNHs))] }

func (u *diffUniverse) nh() hal.NextHop {
	r := u.r
	id := u.nhid()
	switch id {
	case hal.NHResolveID:
		return hal.NextHop{ID: id, Type: hal.NHResolve}
	case hal.NHMDiscardID:
		return hal.NextHop{ID: id, Type: hal.NHMDiscard}
	}
	// Each id mostly keeps a role (so that chains form), sometimes not.
	t := map[hal.NHID]hal.NHType{10: hal.NHUnicast, 11: hal.NHUnicast, 12: hal.NHUnicast, 13: hal.NHUnicast, 18: hal.NHUnicast,
		14: hal.NHAggregate, 15: hal.NHAggregate, 16: hal.NHComposite, 17: hal.NHComposite,
		20: hal.NHIndirect, 21: hal.NHIndirect}[id]
	if r.IntN(10) == 0 {
		t = hal.NHType(1 + r.IntN(7))
	}
	nh := hal.NextHop{ID: id, Type: t}
	switch t {
	case hal.NHUnicast:
		nh.IFL = diffPhys[r.IntN(len(diffPhys))]
		if id == 18 || r.IntN(10) == 0 {
			nh.IFL = []hal.IFLIndex{diffEncap, diffDecap}[r.IntN(2)]
		}
	case hal.NHAggregate:
		nh.IFL = hal.IFLIndex(5 + r.IntN(2))
		for range r.IntN(3) {
			nh.Members = append(nh.Members, u.nhid())
		}
	case hal.NHComposite:
		for range r.IntN(4) {
			nh.Members = append(nh.Members, u.nhid())
		}
	case hal.NHIndirect:
		nh.Target = u.nhid()
	}
	return nh
}

func (u *diffUniverse) key() hal.RouteKey {
	r := u.r
	if r.IntN(4) == 0 {
		return hal.GroupPrefix(u.pfx[r.IntN(len(u.pfx))])
	}
	return hal.SG(u.sources[r.IntN(len(u.sources))], u.groups[r.IntN(len(u.groups))])
}

func (u *diffUniverse) op() hal.Op {
	r := u.r
	switch r.IntN(12) {
	case 10:
		return hal.Op{Kind: hal.OpSetTrap, Trap: u.trap()}
	case 11:
		return hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: hal.TrapID(1 + r.IntN(6))}}
	case 0:
		return hal.Op{Kind: hal.OpSetIFL, IFL: u.ifl()}
	case 1:
		return hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: hal.IFLIndex(1 + r.IntN(9))}}
	case 2, 3:
		return hal.Op{Kind: hal.OpSetNH, NH: u.nh()}
	case 4:
		return hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: u.nhid()}}
	case 5, 6, 7:
		rt := hal.Route{Key: u.key(), NH: u.nhid(), Flags: hal.RouteFlagsSG}
		if r.IntN(3) == 0 {
			rt.RPF = hal.IFLIndex(1 + r.IntN(9))
		}
		return hal.Op{Kind: hal.OpSetRoute, Route: rt}
	default:
		return hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: u.key()}}
	}
}

// base returns operations building every IFL (Up) and a working chain per
// NH role; some fail when the current state forbids them, like any op.
func (u *diffUniverse) base() []hal.Op {
	var ops []hal.Op
	for _, idx := range diffPhys {
		ops = append(ops, hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Kind: hal.IFLPhysical, Up: true, MAC: haltest.IFLMAC(idx)}})
	}
	for idx, m := range diffAggs {
		ops = append(ops, hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Kind: hal.IFLAggregate, Members: m, Up: true}})
	}
	ops = append(ops,
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: diffEncap, Kind: hal.IFLEncap, Up: true}},
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: diffDecap, Kind: hal.IFLDecap, Up: true}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 18, Type: hal.NHUnicast, IFL: diffEncap}},
		hal.Op{Kind: hal.OpSetTrap, Trap: hal.Trap{ID: 1, Kind: hal.TrapARP, Addr: diffAddrs[0]}},
		hal.Op{Kind: hal.OpSetTrap, Trap: hal.Trap{ID: 2, Kind: hal.TrapProtocol, Proto: 103}},
		hal.Op{Kind: hal.OpSetTrap, Trap: hal.Trap{ID: 3, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")}},
	)
	nhs := []hal.NextHop{
		{ID: 10, Type: hal.NHUnicast, IFL: 1}, {ID: 11, Type: hal.NHUnicast, IFL: 2},
		{ID: 12, Type: hal.NHUnicast, IFL: 3}, {ID: 13, Type: hal.NHUnicast, IFL: 7},
		{ID: 14, Type: hal.NHAggregate, IFL: 5, Members: []hal.NHID{10, 11}},
		{ID: 15, Type: hal.NHAggregate, IFL: 6, Members: []hal.NHID{12}},
		{ID: 16, Type: hal.NHComposite, Members: []hal.NHID{14, 13}},
		{ID: 17, Type: hal.NHComposite, Members: []hal.NHID{15, 18, 14, 10}},
		{ID: 20, Type: hal.NHIndirect, Target: 16}, {ID: 21, Type: hal.NHIndirect, Target: 17},
		{ID: hal.NHResolveID, Type: hal.NHResolve}, {ID: hal.NHMDiscardID, Type: hal.NHMDiscard},
	}
	for _, nh := range nhs {
		ops = append(ops, hal.Op{Kind: hal.OpSetNH, NH: nh})
	}
	ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.GroupPrefix(u.pfx[0]), NH: hal.NHResolveID}})
	for i, s := range u.sources {
		for j, g := range u.groups {
			ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, g), NH: []hal.NHID{20, 21}[(i+j)%2]}})
		}
	}
	return ops
}

func (u *diffUniverse) frame() []byte {
	r := u.r
	s := u.sources[r.IntN(len(u.sources))]
	g := u.groups[r.IntN(len(u.groups))]
	ttl := []uint8{0, 1, 2, 64, 64, 64}[r.IntN(6)]
	switch r.IntN(16) {
	case 12, 13:
		return haltest.ARPFrame(uint16(1+r.IntN(3)), haltest.IFLMAC(99), s, diffAddrs[r.IntN(2)])
	case 14, 15:
		return haltest.BuildFrame(haltest.FrameSpec{Source: s, Group: diffAddrs[r.IntN(2)], TTL: ttl, Proto: []uint8{6, 103, 17}[r.IntN(3)], Payload: 10})
	case 0:
		return haltest.BuildFrame(haltest.FrameSpec{Source: s, Group: g, TTL: ttl, Proto: haltest.ProtoPIM, Payload: 10})
	case 1:
		return haltest.Frame(s, netip.MustParseAddr("224.0.0.5"), 1, 10, nil)
	case 2:
		f := haltest.Frame(s, g, ttl, 10, nil)
		return f[:r.IntN(len(f))]
	case 3:
		return haltest.Frame(s, netip.MustParseAddr("10.9.9.9"), ttl, 10, nil)
	}
	return haltest.Frame(s, g, ttl, r.IntN(64), nil)
}

var opIndexRE = regexp.MustCompile(`op (\d+) `)

// errShape summarises an Apply error: the failed op indexes and which
// sentinels it matches.
func errShape(err error) string {
	if err == nil {
		return "<nil>"
	}
	idx := opIndexRE.FindAllString(err.Error(), -1)
	var sent []string
	for _, s := range []error{hal.ErrNotFound, hal.ErrInvalid, hal.ErrExists, hal.ErrNotSupported, hal.ErrClosed, context.Canceled} {
		if errors.Is(err, s) {
			sent = append(sent, s.Error())
		}
	}
	return fmt.Sprint(idx, sent)
}

type diffSide struct {
	d   hal.Driver
	rec *haltest.Recorder
}

func sortedOutputs(r *haltest.Recorder) []haltest.Output {
	o := r.Outputs()
	slices.SortStableFunc(o, func(a, b haltest.Output) int {
		if c := cmp.Compare(a.Egress, b.Egress); c != 0 {
			return c
		}
		return bytes.Compare(a.Frame, b.Frame)
	})
	return o
}

// TestDifferentialAgainstFake applies the same random operations and
// frames to swpfe and to the naive haltest.Fake and requires identical
// results: Apply outcomes, read-back, lookups, counters, upcalls and
// forwarded frames (both choose aggregate members by hal/flow.go's rule).
func TestDifferentialAgainstFake(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 4
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runDifferential(t, uint64(seed)) })
	}
}

func runDifferential(t *testing.T, seed uint64) {
	u := &diffUniverse{r: rand.New(rand.NewPCG(seed, 0xd1ff))}
	for i := range 4 {
		u.sources = append(u.sources, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
	}
	for i := range 4 {
		u.groups = append(u.groups, netip.AddrFrom4([4]byte{232, byte(i % 2), 0, byte(i + 1)}))
	}
	u.pfx = []netip.Prefix{
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("232.0.0.0/8"),
		netip.MustParsePrefix("232.1.0.0/16"), netip.MustParsePrefix("232.0.0.3/32"),
	}
	clock := haltest.NewClock(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	mk := func(fake bool) diffSide {
		rec := haltest.NewRecorder()
		cfg := hal.Config{Upcalls: rec, Egress: rec, Now: clock.Now}
		if fake {
			f := haltest.NewFake(cfg)
			return diffSide{f, rec}
		}
		d, err := swpfe.New(t.Context(), cfg)
		require.NoError(t, err)
		return diffSide{d, rec}
	}
	ref, sw := mk(true), mk(false)
	defer ref.d.Close()
	defer sw.d.Close()

	var applied, outputs, upcalls int
	defer func() { t.Logf("applied %d ops, %d outputs, %d upcalls", applied, outputs, upcalls) }()
	for step := range 300 {
		ops := make([]hal.Op, 1+u.r.IntN(6))
		for i := range ops {
			ops[i] = u.op()
		}
		if step%100 == 0 {
			// Regularly lay down a full forwarding topology so that
			// random changes start from working chains.
			ops = append(u.base(), ops...)
		}
		n1, e1 := ref.d.Apply(t.Context(), ops)
		n2, e2 := sw.d.Apply(t.Context(), ops)
		applied += n1
		require.Equal(t, n1, n2, "step %d applied; ops %v; fake %v; swpfe %v", step, ops, e1, e2)
		require.Equal(t, errShape(e1), errShape(e2), "step %d ops %v\nfake: %v\nswpfe: %v", step, ops, e1, e2)

		require.Equal(t, ref.d.Summary(), sw.d.Summary(), "step %d summary", step)
		for _, s := range append(u.sources, netip.MustParseAddr("10.7.7.7")) {
			for _, g := range append(u.groups, netip.MustParseAddr("232.1.2.3"), netip.MustParseAddr("239.0.0.1")) {
				r1, err1 := ref.d.Lookup(s, g)
				r2, err2 := sw.d.Lookup(s, g)
				require.Equal(t, r1, r2, "step %d lookup %v,%v", step, s, g)
				require.Equal(t, err1 == nil, err2 == nil)
				r1, err1 = ref.d.Route(hal.SG(s, g))
				r2, err2 = sw.d.Route(hal.SG(s, g))
				require.Equal(t, r1, r2)
				require.Equal(t, err1 == nil, err2 == nil)
			}
		}
		for _, id := range diffNHs {
			n1, err1 := ref.d.NextHop(id)
			n2, err2 := sw.d.NextHop(id)
			require.Equal(t, n1, n2, "step %d nh %d", step, id)
			require.Equal(t, err1 == nil, err2 == nil)
		}

		// A port's link state, sometimes.
		if u.r.IntN(4) == 0 {
			idx, up := hal.IFLIndex(1+u.r.IntN(9)), u.r.IntN(2) == 0
			e1 := ref.d.(hal.LinkSetter).SetLinkState(idx, up)
			e2 := sw.d.(hal.LinkSetter).SetLinkState(idx, up)
			require.Equal(t, errShape(e1), errShape(e2), "step %d link state of %d", step, idx)
			require.Equal(t, ref.rec.LinkStates(), sw.rec.LinkStates(), "step %d link states", step)
		}

		// Traffic on a random ingress (including unknown ones).
		frames := make([][]byte, 1+u.r.IntN(8))
		for i := range frames {
			frames[i] = u.frame()
		}
		ingress := hal.IFLIndex(1 + u.r.IntN(9))
		clock.Advance(time.Second)
		ie1 := ref.d.Input(ingress, frames)
		ie2 := sw.d.Input(ingress, frames)
		require.Equal(t, errShape(ie1), errShape(ie2), "step %d input", step)
		require.Equal(t, sortedOutputs(ref.rec), sortedOutputs(sw.rec), "step %d outputs of %d frames on %d", step, len(frames), ingress)
		require.Equal(t, ref.rec.Punts(), sw.rec.Punts(), "step %d punts", step)
		require.Equal(t, ref.rec.Resolves(), sw.rec.Resolves(), "step %d resolves", step)
		require.Equal(t, ref.rec.WrongInterfaces(), sw.rec.WrongInterfaces(), "step %d wrong ifs", step)
		outputs += len(sw.rec.Outputs())
		upcalls += len(sw.rec.Punts()) + len(sw.rec.Resolves()) + len(sw.rec.WrongInterfaces())
		ref.rec.Reset()
		sw.rec.Reset()
		for idx := hal.IFLIndex(1); idx <= 9; idx++ {
			c1, err1 := ref.d.IFLCounters(idx)
			c2, err2 := sw.d.IFLCounters(idx)
			require.Equal(t, c1, c2, "step %d counters of %d", step, idx)
			require.Equal(t, err1 == nil, err2 == nil)
		}
		require.Equal(t, walk(ref.d), walk(sw.d), "step %d route stats", step)
	}
}

func walk(d hal.Driver) map[hal.RouteKey]string {
	m := map[hal.RouteKey]string{}
	d.WalkRoutes(func(r hal.Route, s hal.RouteStat) bool {
		m[r.Key] = fmt.Sprint(r, s.Counters, s.LastUsed.UnixNano())
		return true
	})
	return m
}
