package perf

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
)

// topoSpec is the in-memory topology of one point:
//
//	xe-0/0/0.0 (PFE 0, ingress, RPF of every route)
//	OIL entry i (i < Fanout): a physical port, or aggregate aeI.0 of LAG
//	  member ports; port j sits on PFE 4 + j mod PFEs (FPC 1 up), so with
//	  PFEs = 8 a fan-out of 16 spans 8 egress PFEs, 2 ports each
//	unicast NH per port, aggregate NH per aggregate
//	per flow f: route G_f.S_f/64 -> indirect -> composite(OIL), or with
//	  ChainShared one indirect and composite for every route
//	224/4 -> Resolve 983 (what the RE installs by default)
type topoSpec struct {
	Fanout, Flows, LAG, PFEs int
	Chain                    string
}

// ID plan: ports 1000+j, aggregates 500+i (IFL) and 20000+i (NH), unicast
// NHs 10000+j, per-flow composites 30000+f (below hal.IndirectBase for up to
// maxFlows flows: the small id pool of re/kernel), indirects
// hal.IndirectBase+1+f.
const (
	ingressIFL   hal.IFLIndex = 10
	portIFL0     hal.IFLIndex = 1000
	aggIFL0      hal.IFLIndex = 500
	unicastNH0   hal.NHID     = 10000
	aggNH0       hal.NHID     = 20000
	compositeNH0 hal.NHID     = 30000
)

// ports is the number of physical egress ports.
func (t *topoSpec) ports() int { return t.Fanout * max(1, t.LAG) }

func (t *topoSpec) composites() int {
	if t.Chain == ChainShared {
		return 1
	}
	return t.Flows
}

func (t *topoSpec) nhCount() int {
	n := 1 + t.ports() + 2*t.composites()
	if t.LAG > 0 {
		n += t.Fanout
	}
	return n
}

func (t *topoSpec) iflCount() int {
	n := 1 + t.ports()
	if t.LAG > 0 {
		n += t.Fanout
	}
	return n
}

// portPFE is the PFE of egress port j.
func (t *topoSpec) portPFE(j int) hal.PFEID { return hal.PFEID(4 + j%t.PFEs) }

// portName is the Junos name of egress port j: xe-FPC/PIC/N.
func (t *topoSpec) portName(j int) string {
	p := t.portPFE(j)
	return fmt.Sprintf("xe-%d/%d/%d", p/4, p%4, j/t.PFEs)
}

func macOf(idx hal.IFLIndex) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x6d, 0x78, byte(idx >> 16), byte(idx >> 8), byte(idx)}
}

// flowSG returns the (S,G) of flow f: sources 10.x.y.z, groups 232.1.y.z.
func flowSG(f int) (netip.Addr, netip.Addr) {
	s := netip.AddrFrom4([4]byte{10, byte(f >> 16), byte(f >> 8), byte(f)})
	g := netip.AddrFrom4([4]byte{232, 1, byte(f >> 8), byte(f)})
	return s, g
}

// topo is a built topology.
type topo struct {
	spec   topoSpec
	ops    []hal.Op
	egress []hal.IFLIndex // physical egress ports
	names  []string       // their physical names, for Ports
}

func buildTopo(t topoSpec) *topo {
	tp := &topo{spec: t}
	ops := make([]hal.Op, 0, t.iflCount()+t.nhCount()+t.Flows+2)
	ops = append(ops,
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ingressIFL, Name: "xe-0/0/0.0", Kind: hal.IFLPhysical, PFE: 0, MAC: macOf(ingressIFL), MTU: 1500, Up: true}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}},
	)
	members := make([]hal.NHID, 0, t.Fanout)
	port := 0
	addPort := func() hal.NHID {
		j := port
		port++
		idx := portIFL0 + hal.IFLIndex(j)
		name := t.portName(j)
		tp.egress = append(tp.egress, idx)
		tp.names = append(tp.names, name)
		nh := unicastNH0 + hal.NHID(j)
		ops = append(ops,
			hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: name + ".0", Kind: hal.IFLPhysical, PFE: t.portPFE(j), MAC: macOf(idx), MTU: 1500, Up: true}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: nh, Type: hal.NHUnicast, IFL: idx}})
		return nh
	}
	for i := range t.Fanout {
		if t.LAG == 0 {
			members = append(members, addPort())
			continue
		}
		var ifls []hal.IFLIndex
		var nhs []hal.NHID
		for range t.LAG {
			nhs = append(nhs, addPort())
			ifls = append(ifls, tp.egress[len(tp.egress)-1])
		}
		idx := aggIFL0 + hal.IFLIndex(i)
		nh := aggNH0 + hal.NHID(i)
		ops = append(ops,
			hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: fmt.Sprintf("ae%d.0", i), Kind: hal.IFLAggregate, Members: ifls, MAC: macOf(idx), MTU: 1500, Up: true}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: nh, Type: hal.NHAggregate, IFL: idx, Members: nhs}})
		members = append(members, nh)
	}
	for c := range t.composites() {
		ops = append(ops,
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: compositeNH0 + hal.NHID(c), Type: hal.NHComposite, Members: members}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.IndirectBase + 1 + hal.NHID(c), Type: hal.NHIndirect, Target: compositeNH0 + hal.NHID(c)}})
	}
	for f := range t.Flows {
		s, g := flowSG(f)
		c := f
		if t.Chain == ChainShared {
			c = 0
		}
		ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, g), NH: hal.IndirectBase + 1 + hal.NHID(c), RPF: ingressIFL, Flags: hal.RouteFlagsSG}})
	}
	tp.ops = ops
	return tp
}

// trafficFor builds the input batches of a point: one frame per flow of
// size-4 bytes (the FCS is not in memory), TTL 64, the flows in a fixed
// pseudo-random order so that consecutive packets hit unrelated routes,
// cut into batches that cycle through every flow.
func trafficFor(flows, size, batch int) [][][]byte {
	frames := make([][]byte, flows)
	for f := range flows {
		s, g := flowSG(f)
		frames[f] = fpc.BuildFrame(s, g, size-4, 64, uint16(f))
	}
	rng := rand.New(rand.NewPCG(0x6d78, 0x66776400))
	rng.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
	nb := (flows + batch - 1) / batch
	out := make([][][]byte, nb)
	k := 0
	for b := range out {
		out[b] = make([][]byte, batch)
		for i := range out[b] {
			out[b][i] = frames[k%flows]
			k++
		}
	}
	return out
}
