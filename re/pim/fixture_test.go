package pim

import (
	"net/netip"
	"testing"
	"time"
)

// The table tests run one engine with four interfaces:
//
//	if1 upstream LAN 10.1.0.0/24, neighbours U 10.1.0.2 and U2 10.1.0.3
//	if2 downstream LAN 10.2.0.0/24, neighbours D1 10.2.0.2 and D2 10.2.0.3
//	if3 downstream point-to-point 10.3.0.0/30, neighbour D3 10.3.0.2
//	if4 source LAN 10.4.0.0/24, no neighbour (directly connected sources)
//
// Sources in 10.9.0.0/16 and the RP 10.255.0.9 are reached through U.
// All neighbours send the LAN Prune Delay option (500 ms / 2000 ms), so
// J/P_Override_Interval is 2.5 s and t_override at most 2 s.
var (
	fxU, fxU2    = a("10.1.0.2"), a("10.1.0.3")
	fxD1, fxD2   = a("10.2.0.2"), a("10.2.0.3")
	fxD3         = a("10.3.0.2")
	fxMe1, fxMe2 = a("10.1.0.1"), a("10.2.0.1")
	fxMe3, fxMe4 = a("10.3.0.1"), a("10.4.0.1")
	fxS          = a("10.9.1.1")
	fxDirectS    = a("10.4.0.10")
	fxG          = a("239.1.1.1")
	fxSSM        = a("232.1.1.1")
	fxRP         = a("10.255.0.9")
	fxK          = SG{fxS, fxG}
)

type fx struct {
	t   *testing.T
	e   *Engine
	rib *fakeRIB
	now time.Time
}

func fxHello(genID uint32) Hello {
	return Hello{Holdtime: 105, HasDRPriority: true, DRPriority: 1, HasGenID: true, GenID: genID,
		HasLANPruneDelay: true, PropagationDelay: 500, OverrideInterval: 2000}
}

func newFx(t *testing.T, mod func(*Config)) *fx {
	rib := newRIB()
	rib.routes[p("10.1.0.0/24")] = RPF{Iface: 1}
	rib.routes[p("10.2.0.0/24")] = RPF{Iface: 2}
	rib.routes[p("10.3.0.0/30")] = RPF{Iface: 3}
	rib.routes[p("10.4.0.0/24")] = RPF{Iface: 4}
	rib.routes[p("10.9.0.0/16")] = RPF{Iface: 1, NextHop: fxU, Preference: 10, Metric: 20}
	rib.routes[p("10.255.0.9/32")] = RPF{Iface: 1, NextHop: fxU, Preference: 10, Metric: 30}
	cfg := Config{
		RouterAddresses: []netip.Addr{a("10.255.0.1")},
		Interfaces: []InterfaceConfig{{Index: 1, Name: "ge-0/0/1.0"}, {Index: 2, Name: "ge-0/0/2.0"},
			{Index: 3, Name: "ge-0/0/3.0"}, {Index: 4, Name: "ge-0/0/4.0"}},
		StaticRPs: []StaticRP{{Addr: fxRP}},
	}
	if mod != nil {
		mod(&cfg)
	}
	f := &fx{t: t, e: mustEngine(t, cfg, rib), rib: rib, now: t0}
	f.do(InterfaceUp{If: 1, Addr: fxMe1, Prefixes: []netip.Prefix{p("10.1.0.0/24")}})
	f.do(InterfaceUp{If: 2, Addr: fxMe2, Prefixes: []netip.Prefix{p("10.2.0.0/24")}})
	f.do(InterfaceUp{If: 3, Addr: fxMe3, Prefixes: []netip.Prefix{p("10.3.0.0/30")}})
	f.do(InterfaceUp{If: 4, Addr: fxMe4, Prefixes: []netip.Prefix{p("10.4.0.0/24")}})
	for _, n := range []struct {
		ifx IfIndex
		a   netip.Addr
	}{{1, fxU}, {1, fxU2}, {2, fxD1}, {2, fxD2}, {3, fxD3}} {
		f.do(RecvHello{If: n.ifx, Src: n.a, Msg: fxHello(1)})
	}
	f.adv(6 * time.Second) // our Hellos are out
	return f
}

func (f *fx) do(ev Event) []Action { return f.e.Handle(f.now, ev) }

func (f *fx) adv(d time.Duration) []Action {
	f.now = f.now.Add(d)
	return f.e.Advance(f.now)
}

// refresh keeps the neighbours alive (a Hello from each) without advancing.
func (f *fx) refresh() {
	for _, n := range []struct {
		ifx IfIndex
		a   netip.Addr
	}{{1, fxU}, {1, fxU2}, {2, fxD1}, {2, fxD2}, {3, fxD3}} {
		f.do(RecvHello{If: n.ifx, Src: n.a, Msg: fxHello(1)})
	}
}

func (f *fx) ns() int64 { return nanos(f.now) }

// jp sends a Join/Prune from src on ifx addressed to upstream.
func (f *fx) jp(ifx IfIndex, src, upstream netip.Addr, hold uint16, g netip.Addr, joins, prunes []JPSource) []Action {
	return f.do(RecvJoinPrune{If: ifx, Src: src, Msg: JoinPrune{UpstreamNeighbor: upstream, Holdtime: hold,
		Groups: []JPGroup{{Group: g, Joins: joins, Prunes: prunes}}}})
}

func star() JPSource                  { return JPSource{Addr: fxRP, WC: true, RPT: true} }
func sgSrc(s netip.Addr) JPSource     { return JPSource{Addr: s} }
func rptSrc(s netip.Addr) JPSource    { return JPSource{Addr: s, RPT: true} }
func js(x ...JPSource) []JPSource     { return x }
func (f *fx) grp(g netip.Addr) *group { return f.e.groups[g] }
func (f *fx) sg(k SG) *sgEntry        { return f.e.sgs[k] }

func (f *fx) gif(g netip.Addr, ifx IfIndex) *gIf {
	if gr := f.grp(g); gr != nil {
		return gr.ifOf(ifx)
	}
	return nil
}

func (f *fx) sgif(k SG, ifx IfIndex) *sgIf {
	if s := f.sg(k); s != nil {
		return s.ifOf(ifx)
	}
	return nil
}

func (f *fx) gjp(g netip.Addr, ifx IfIndex) uint8 {
	if gi := f.gif(g, ifx); gi != nil {
		return gi.jp
	}
	return dsNoInfo
}

func (f *fx) sgjp(k SG, ifx IfIndex) uint8 {
	if si := f.sgif(k, ifx); si != nil {
		return si.jp
	}
	return dsNoInfo
}

func (f *fx) rptjp(k SG, ifx IfIndex) uint8 {
	if si := f.sgif(k, ifx); si != nil {
		return si.rpt
	}
	return dsNoInfo
}

// downstream state names for messages.
var dsNames = [...]string{"NoInfo", "Join", "Prune-Pending", "Prune", "PruneTmp", "Prune-Pending-Tmp"}
