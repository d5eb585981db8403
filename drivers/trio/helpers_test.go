package trio

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// newTestDriver builds a driver recording into rec, with options.
func newTestDriver(t testing.TB, rec *haltest.Recorder, opts map[string]string) *Driver {
	t.Helper()
	if opts == nil {
		opts = map[string]string{}
	}
	cfg := hal.Config{
		Slot:    3,
		Logger:  slog.New(slog.DiscardHandler),
		Upcalls: rec,
		Egress:  rec,
		Now:     func() time.Time { return time.Date(2012, 12, 3, 18, 28, 0, 0, time.UTC) },
		Options: opts,
	}
	d, err := newDriver(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func mustApply(t testing.TB, d hal.Driver, ops ...hal.Op) {
	t.Helper()
	n, err := d.Apply(context.Background(), ops)
	require.NoError(t, err)
	require.Equal(t, len(ops), n)
}

func setIFL(ifl hal.IFL) hal.Op      { return hal.Op{Kind: hal.OpSetIFL, IFL: ifl} }
func setNH(nh hal.NextHop) hal.Op    { return hal.Op{Kind: hal.OpSetNH, NH: nh} }
func setRoute(r hal.Route) hal.Op    { return hal.Op{Kind: hal.OpSetRoute, Route: r} }
func delRoute(k hal.RouteKey) hal.Op { return hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: k}} }
func delNH(id hal.NHID) hal.Op       { return hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: id}} }

func macOf(idx hal.IFLIndex) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, 0x00, 0x00, byte(idx >> 8), byte(idx)}
}

func phys(idx hal.IFLIndex, name string, pfe hal.PFEID) hal.IFL {
	return hal.IFL{Index: idx, Name: name, Kind: hal.IFLPhysical, PFE: pfe, MAC: macOf(idx), MTU: 1500, Up: true}
}

// Seed 003 objects.
var (
	seedSource = netip.MustParseAddr("10.128.1.10")
	seedGroup  = netip.MustParseAddr("232.0.7.1")
)

const (
	seedUpstream  hal.IFLIndex = 331     // ae90.0 (RT-ifl 331), member xe-3/0/0.0
	seedUpMember  hal.IFLIndex = 330     // xe-3/0/0.0
	seedAE        hal.IFLIndex = 332     // ae91.0
	seedM1        hal.IFLIndex = 395     // xe-3/1/0.0, PFE 13
	seedM2        hal.IFLIndex = 400     // xe-3/3/1.0, PFE 15
	seedNHM1      hal.NHID     = 1378    // Unicast seedM1
	seedNHM2      hal.NHID     = 1387    // Unicast seedM2
	seedNHAE      hal.NHID     = 1048583 // Aggregate ae91.0
	seedComposite hal.NHID     = 1173
	seedIndirect  hal.NHID     = 1048590
)

// seedOps programs seed 003: ae91.0 = xe-3/1/0.0 + xe-3/3/1.0, composite
// 1173 over aggregate 1048583, indirect 1048590, the (S,G) route with RPF
// ae90.0, 224/4 -> Resolve 983 and mdiscard 35.
func seedOps() []hal.Op {
	return []hal.Op{
		setIFL(phys(seedUpMember, "xe-3/0/0.0", 12)),
		setIFL(hal.IFL{Index: seedUpstream, Name: "ae90.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{seedUpMember}, MAC: macOf(seedUpstream), MTU: 1500, Up: true}),
		setIFL(phys(seedM1, "xe-3/1/0.0", 13)),
		setIFL(phys(seedM2, "xe-3/3/1.0", 15)),
		setIFL(hal.IFL{Index: seedAE, Name: "ae91.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{seedM1, seedM2}, MAC: macOf(seedAE), MTU: 1500, Up: true}),
		setNH(hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}),
		setNH(hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}),
		setNH(hal.NextHop{ID: seedNHM1, Type: hal.NHUnicast, IFL: seedM1}),
		setNH(hal.NextHop{ID: seedNHM2, Type: hal.NHUnicast, IFL: seedM2}),
		setNH(hal.NextHop{ID: seedNHAE, Type: hal.NHAggregate, IFL: seedAE, Members: []hal.NHID{seedNHM1, seedNHM2}}),
		setNH(hal.NextHop{ID: seedComposite, Type: hal.NHComposite, Members: []hal.NHID{seedNHAE}}),
		setNH(hal.NextHop{ID: seedIndirect, Type: hal.NHIndirect, Target: seedComposite}),
		setRoute(hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}),
		setRoute(hal.Route{Key: hal.SG(seedSource, seedGroup), NH: seedIndirect, RPF: seedUpstream, Flags: hal.RouteFlagsSG}),
		setRoute(hal.Route{Key: hal.SG(seedSource, netip.MustParseAddr("232.0.8.1")), NH: hal.NHMDiscardID, RPF: seedUpstream, Flags: hal.RouteFlagsMDiscard}),
	}
}

// oil is a random outgoing interface list: unicast entries and aggregates
// over physical IFLs spread on PFEs, plus an ingress IFL.
type oil struct {
	ingress    hal.IFL
	ifls       []hal.IFL // physical egress IFLs and aggregate IFLs
	entries    []oilEntry
	composite  hal.NHID
	indirect   hal.NHID
	ops        []hal.Op
	egressPFEs map[hal.PFEID]bool
}

type oilEntry struct {
	nh      hal.NHID
	agg     bool
	ifl     hal.IFLIndex   // unicast: the port; aggregate: the aggregate IFL
	members []hal.IFLIndex // aggregate: member ports in member order
}

// randomOIL builds an OIL of 1..maxIFLs physical ports on PFEs 0..pfes-1,
// some grouped into aggregates of 1..8 members, an ingress port on a random
// PFE (which may host OIL members) and a random composite id. When downP >
// 0, ports are down with that probability.
func randomOIL(r *rand.Rand, maxIFLs, pfes int, downP float64) *oil {
	o := &oil{egressPFEs: map[hal.PFEID]bool{}}
	n := 1 + r.IntN(maxIFLs)
	nextIFL := hal.IFLIndex(1000)
	nextNH := hal.NHID(2000)
	o.ingress = phys(900, "xe-in", hal.PFEID(r.IntN(pfes)))
	o.ops = append(o.ops, setIFL(o.ingress))
	port := func() hal.IFL {
		p := hal.PFEID(r.IntN(pfes))
		ifl := phys(nextIFL, "xe-port", p)
		if r.Float64() < 0.2 {
			ifl.MAC = nil // keeps the frame's source MAC
		}
		if downP > 0 && r.Float64() < downP {
			ifl.Up = false
		}
		nextIFL++
		o.ifls = append(o.ifls, ifl)
		o.ops = append(o.ops, setIFL(ifl))
		return ifl
	}
	var members []hal.NHID
	for left := n; left > 0; {
		if r.IntN(3) == 0 { // an aggregate
			k := min(left, 1+r.IntN(8))
			left -= k
			e := oilEntry{agg: true}
			var mnh []hal.NHID
			for range k {
				p := port()
				e.members = append(e.members, p.Index)
				o.ops = append(o.ops, setNH(hal.NextHop{ID: nextNH, Type: hal.NHUnicast, IFL: p.Index}))
				mnh = append(mnh, nextNH)
				nextNH++
			}
			ae := hal.IFL{Index: nextIFL, Name: "ae-x.0", Kind: hal.IFLAggregate, Members: e.members, MAC: macOf(nextIFL), Up: true}
			nextIFL++
			o.ifls = append(o.ifls, ae)
			o.ops = append(o.ops, setIFL(ae))
			e.ifl, e.nh = ae.Index, nextNH
			o.ops = append(o.ops, setNH(hal.NextHop{ID: nextNH, Type: hal.NHAggregate, IFL: ae.Index, Members: mnh}))
			nextNH++
			o.entries = append(o.entries, e)
			members = append(members, e.nh)
			continue
		}
		left--
		p := port()
		e := oilEntry{nh: nextNH, ifl: p.Index}
		o.ops = append(o.ops, setNH(hal.NextHop{ID: nextNH, Type: hal.NHUnicast, IFL: p.Index}))
		nextNH++
		o.entries = append(o.entries, e)
		members = append(members, e.nh)
	}
	o.composite = hal.NHID(100 + r.IntN(100000))
	o.indirect = hal.IndirectBase + 77
	o.ops = append(o.ops,
		setNH(hal.NextHop{ID: o.composite, Type: hal.NHComposite, Members: members}),
		setNH(hal.NextHop{ID: o.indirect, Type: hal.NHIndirect, Target: o.composite}),
		setNH(hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}),
		setRoute(hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}),
	)
	return o
}

func (o *oil) route(s, g netip.Addr, rpf hal.IFLIndex) hal.Op {
	return setRoute(hal.Route{Key: hal.SG(s, g), NH: o.indirect, RPF: rpf, Flags: hal.RouteFlagsSG})
}

func (o *oil) iflByIndex(idx hal.IFLIndex) hal.IFL {
	for _, ifl := range o.ifls {
		if ifl.Index == idx {
			return ifl
		}
	}
	if idx == o.ingress.Index {
		return o.ingress
	}
	panic("unknown ifl")
}

// expect is the naive reference of the LAG rule (REFERENCE.md decision 3),
// written independently of LAGRule: N = the largest number of Up members of
// any aggregate (1 without LAG), sublist j = FlowHash mod N, and each
// aggregate leaves by its Up member j mod n. It returns the ports that get
// a copy (down unicast ports included: they count PortDown), in nh-list
// order, and the aggregates without Up member.
func (o *oil) expect(s, g netip.Addr) (ports []hal.IFLIndex, dead []hal.IFLIndex) {
	up := func(idx hal.IFLIndex) bool { return o.iflByIndex(idx).Up }
	n := 1
	for _, e := range o.entries {
		if e.agg {
			k := 0
			for _, m := range e.members {
				if up(m) {
					k++
				}
			}
			n = max(n, k)
		}
	}
	j := int(FlowHash(s, g) % uint32(n))
	for _, e := range o.entries {
		if !e.agg {
			ports = append(ports, e.ifl)
			continue
		}
		var ups []hal.IFLIndex
		for _, m := range e.members {
			if up(m) {
				ups = append(ups, m)
			}
		}
		if len(ups) == 0 {
			dead = append(dead, e.ifl)
			continue
		}
		ports = append(ports, ups[j%len(ups)])
	}
	return ports, dead
}

// countingEgress counts copies per egress IFL without keeping frames: the
// benchmark sink.
type countingEgress struct {
	frames atomic.Uint64
}

func (c *countingEgress) Output(_ hal.IFLIndex, frames [][]byte) {
	c.frames.Add(uint64(len(frames)))
}

// nopUpcalls ignores upcalls.
type nopUpcalls struct{}

func (nopUpcalls) OnResolve(hal.ResolveRequest)            {}
func (nopUpcalls) OnWrongInterface(hal.WrongInterface)     {}
func (nopUpcalls) OnPunt(hal.IFLIndex, hal.TrapID, []byte) {}
func (nopUpcalls) OnLinkState(hal.LinkState)               {}

func sortedIFLs(s []hal.IFLIndex) []hal.IFLIndex {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
