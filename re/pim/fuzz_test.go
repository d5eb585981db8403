package pim

import (
	"net/netip"
	"testing"
	"time"
)

// fuzzReader turns fuzz bytes into values.
type fuzzReader struct {
	b []byte
}

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	x := r.b[0]
	r.b = r.b[1:]
	return x
}

func (r *fuzzReader) u16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

// addr draws from a small pool that includes the awkward cases: invalid,
// unspecified, multicast, link-local, IPv6, our own addresses.
func (r *fuzzReader) addr() netip.Addr {
	pool := []netip.Addr{{}, a("0.0.0.0"), a("224.0.0.13"), a("224.0.0.5"), a("239.1.1.1"), a("232.1.1.1"),
		a("10.1.0.1"), a("10.1.0.2"), a("10.1.0.3"), a("10.2.0.2"), a("10.3.0.2"), a("10.9.1.1"), a("10.4.0.10"),
		a("10.255.0.9"), a("10.255.0.1"), a("ff0e::1"), a("2001:db8::1"), a("255.255.255.255")}
	return pool[int(r.byte())%len(pool)]
}

func (r *fuzzReader) src() JPSource {
	f := r.byte()
	return JPSource{Addr: r.addr(), WC: f&1 != 0, RPT: f&2 != 0}
}

func (r *fuzzReader) event() Event {
	ifx := IfIndex(r.byte() % 6) // includes 0 and unknown 5
	switch r.byte() % 16 {
	case 0:
		return RecvHello{If: ifx, Src: r.addr(), Msg: Hello{Holdtime: r.u16(), HasDRPriority: r.byte()&1 != 0,
			DRPriority: uint32(r.byte()), HasGenID: true, GenID: uint32(r.byte() % 3), HasLANPruneDelay: r.byte()&1 != 0,
			TBit: r.byte()&1 != 0, PropagationDelay: r.u16(), OverrideInterval: r.u16(), Addresses: []netip.Addr{r.addr()}}}
	case 1, 2:
		g := JPGroup{Group: r.addr()}
		for i := byte(0); i < r.byte()%4; i++ {
			g.Joins = append(g.Joins, r.src())
		}
		for i := byte(0); i < r.byte()%4; i++ {
			g.Prunes = append(g.Prunes, r.src())
		}
		return RecvJoinPrune{If: ifx, Src: r.addr(), Msg: JoinPrune{UpstreamNeighbor: r.addr(), Holdtime: r.u16(), Groups: []JPGroup{g}}}
	case 3:
		return RecvAssert{If: ifx, Src: r.addr(), Msg: Assert{Group: r.addr(), Source: r.addr(),
			Metric: AssertMetric{RPT: r.byte()&1 != 0, Preference: uint32(r.u16()), Metric: uint32(r.u16())}}}
	case 4:
		return RecvRegister{Src: r.addr(), Dst: r.addr(), Msg: Register{Source: r.addr(), Group: r.addr(), Null: r.byte()&1 != 0, Border: r.byte()&1 != 0}}
	case 5:
		return RecvRegisterStop{Src: r.addr(), Dst: r.addr(), Msg: RegisterStop{Group: r.addr(), Source: r.addr()}}
	case 6:
		return RecvBootstrap{If: ifx, Src: r.addr(), Dst: r.addr(), Msg: Bootstrap{FragmentTag: r.u16(), HashMaskLen: r.byte(),
			Priority: r.byte(), BSR: r.addr(), NoForward: r.byte()&1 != 0, Groups: []BSMGroup{{
				Prefix: netip.PrefixFrom(r.addr(), int(r.byte()%40)), RPCount: r.byte(),
				RPs: []BSMRP{{Addr: r.addr(), Holdtime: r.u16(), Priority: r.byte(), SBit: r.byte()&1 != 0}}}}}}
	case 7:
		return RecvCRPAdv{Src: r.addr(), Dst: r.addr(), Msg: CRPAdv{RP: r.addr(), Priority: r.byte(), Holdtime: r.u16(),
			Groups: []netip.Prefix{netip.PrefixFrom(r.addr(), int(r.byte()%40))}, SBit: r.byte()&1 != 0}}
	case 8:
		return Membership{If: ifx, Group: r.addr(), Source: r.addr(), Mode: MembershipMode(r.byte() % 4)}
	case 9:
		return NewSource{If: ifx, Source: r.addr(), Group: r.addr()}
	case 10:
		return WrongInterface{If: ifx, Source: r.addr(), Group: r.addr()}
	case 11:
		return DataActivity{If: ifx, Source: r.addr(), Group: r.addr()}
	case 12:
		return RPFChange{Addr: r.addr(), RPF: RPF{Iface: ifx, NextHop: r.addr(), Preference: uint32(r.byte()), Metric: uint32(r.byte())}}
	case 13:
		return GracefulWindow{Active: r.byte()&1 != 0}
	case 14:
		if r.byte()&1 == 0 {
			return InterfaceDown{If: ifx}
		}
		return InterfaceUp{If: ifx, Addr: r.addr(), Prefixes: []netip.Prefix{netip.PrefixFrom(r.addr(), int(r.byte()%33))}}
	default:
		return ClearJoin{Group: r.addr()}
	}
}

// FuzzEngine feeds arbitrary event sequences (odd addresses, unknown
// interfaces, absurd holdtimes) to an engine: nothing may panic and the
// internal invariants must hold after every call.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{0, 0, 7, 0, 105, 1, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6})
	f.Add([]byte("join prune assert register bootstrap"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fx := newFx(t, func(c *Config) {
			c.BSR = &BSRCandidate{Addr: a("10.255.0.1"), Priority: 1}
			c.CandidateRP = &CandidateRP{Addr: a("10.255.0.1"), SBit: true}
		})
		r := &fuzzReader{b: data}
		for len(r.b) > 0 {
			ev := r.event()
			fx.do(ev)
			fx.adv(time.Duration(r.byte()) * 200 * time.Millisecond)
			checkInvariants(t, fx.e)
		}
		fx.adv(10 * time.Minute)
		checkInvariants(t, fx.e)
		if n := fx.e.Stats().TimerStalls; n != 0 {
			t.Fatalf("%d timer stalls", n)
		}
		if _, err := fx.e.Export(fx.now); err != nil {
			t.Fatal(err)
		}
	})
}
