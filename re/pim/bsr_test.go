package pim

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimshow"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// TestScenarioBootstrap: R1 - R2 - R3 in a line. R1 and R2 are candidate
// BSRs (R2 preferred) and candidate RPs: R1 for 224/4 with the S-bit (the
// MSDP server of seed 001), R2 for 239/8. Every router learns the same
// RP-set; RP(G) follows the longest range; the MSDP server is R1.
func TestScenarioBootstrap(t *testing.T) {
	s := newSim(t)
	l12 := s.lan("l12", "10.12.0.0/24")
	l23 := s.lan("l23", "10.23.0.0/24")
	r1 := s.router("R1", "10.255.0.1")
	r2 := s.router("R2", "10.255.0.2")
	r3 := s.router("R3", "10.255.0.3")
	s.attach(r1, l12, 1, 1)
	s.attach(r2, l12, 2, 1)
	s.attach(r2, l23, 2, 1)
	s.attach(r3, l23, 3, 1)
	r1.cfg.BSR = &BSRCandidate{Addr: r1.lo, Priority: 10}
	r1.cfg.CandidateRP = &CandidateRP{Addr: r1.lo, Priority: 250, SBit: true}
	r2.cfg.BSR = &BSRCandidate{Addr: r2.lo, Priority: 20}
	r2.cfg.CandidateRP = &CandidateRP{Addr: r2.lo, Priority: 100, Groups: []netip.Prefix{p("239.0.0.0/8")}}
	s.start(21)
	s.advance(5 * time.Minute)

	for _, r := range s.routers {
		bi := r.e.ShowBootstrap(s.now)
		require.Equal(t, r2.lo, bi.BSR, "%s's BSR", r.name)
		rp, _, ok := r.e.RP(a("239.1.1.1"), s.now)
		require.True(t, ok, r.name)
		require.Equal(t, r2.lo, rp, "%s: 239/8 beats 224/4", r.name)
		rp, _, _ = r.e.RP(a("230.1.1.1"), s.now)
		require.Equal(t, r1.lo, rp, r.name)
		srv, ok := r.e.MSDPServer(s.now)
		require.True(t, ok, r.name)
		require.Equal(t, r1.lo, srv.RP, "%s: the MSDP server is the S-bit C-RP", r.name)
	}
	require.Equal(t, "Elected", r2.e.ShowBootstrap(s.now).State)
	require.Equal(t, "Candidate", r1.e.ShowBootstrap(s.now).State)
	require.Equal(t, "InEligible", r3.e.ShowBootstrap(s.now).State)
	_, local, _ := r2.e.RP(a("239.1.1.1"), s.now)
	require.True(t, local, "R2 knows it is RP(239.1.1.1)")

	var b strings.Builder
	pimshow.RenderRPs(&b, r3.e.ShowRPs(s.now), false)
	require.Contains(t, b.String(), "10.255.0.2      bootstrap   sparse      150 ")
	require.Contains(t, b.String(), " 239.0.0.0/8\n")
	b.Reset()
	pimshow.RenderBootstrap(&b, r1.e.ShowBootstrap(s.now))
	require.Contains(t, b.String(), "10.255.0.2               20 10.255.0.1               10 Candidate")

	// R2 leaves: its interfaces go down (goodbyes). R1 takes over after
	// BS_Timeout and its rand_override, and the RP-set loses R2's C-RP when
	// its holdtime runs out.
	for _, f := range r2.ifs {
		s.push(r2, InterfaceDown{If: f.idx})
	}
	s.run()
	s.advance(10 * time.Minute)
	require.Equal(t, "Elected", r1.e.ShowBootstrap(s.now).State)
	rp, _, _ := r1.e.RP(a("239.1.1.1"), s.now)
	require.Equal(t, r1.lo, rp)
}

func TestBootstrapUnicastToNewNeighbor(t *testing.T) {
	// A DR with an RP-set unicasts the BSM (No-Forward) to a new neighbour
	// (RFC 5059 §3.3).
	f := newFx(t, nil)
	f.rib.routes[p("10.255.0.77/32")] = RPF{Iface: 1, NextHop: fxU}
	m := Bootstrap{FragmentTag: 1, HashMaskLen: 30, Priority: 5, BSR: a("10.255.0.77"),
		Groups: []BSMGroup{{Prefix: p("239.0.0.0/8"), RPCount: 1, RPs: []BSMRP{{Addr: fxRP, Holdtime: 150, Priority: 1}}}}}
	acts := f.do(RecvBootstrap{If: 1, Src: fxU, Dst: AllPIMRouters, Msg: m})
	fw := of[SendBootstrap](acts)
	require.Len(t, fw, 3, "forwarded on every other interface: %s", dump(acts))
	for _, x := range fw {
		require.NotEqual(t, IfIndex(1), x.If)
	}
	require.Len(t, f.e.rps.Bootstrap(), 1)
	// A new neighbour on if4, where we are DR.
	acts = f.do(RecvHello{If: 4, Src: a("10.4.0.1"), Msg: fxHello(1)})
	acts = append(acts, f.do(RecvHello{If: 4, Src: a("10.4.0.0"), Msg: fxHello(1)})...)
	var uni []SendBootstrap
	for _, x := range of[SendBootstrap](acts) {
		if x.Dst != AllPIMRouters {
			uni = append(uni, x)
		}
	}
	require.NotEmpty(t, uni)
	require.True(t, uni[0].Msg.NoForward)

	// A BSM from the wrong interface fails the RPF check.
	acts = f.do(RecvBootstrap{If: 2, Src: fxD1, Dst: AllPIMRouters, Msg: m})
	require.Empty(t, of[SendBootstrap](acts))
	require.Equal(t, uint64(1), f.e.Stats().RxBSRNotRPFIf)
}

func TestStaticRPPriorityAndLocal(t *testing.T) {
	f := newFx(t, func(c *Config) {
		c.StaticRPs = []StaticRP{{Addr: fxRP}, {Addr: a("10.255.0.8"), Groups: []netip.Prefix{p("239.1.0.0/16")}}}
	})
	rp, local, ok := f.e.RP(fxG, f.now)
	require.True(t, ok)
	require.False(t, local)
	require.Equal(t, a("10.255.0.8"), rp, "longest group range")
	_, _, ok = f.e.RP(fxSSM, f.now)
	require.False(t, ok, "no RP in the SSM range")
	var b strings.Builder
	pimshow.RenderRPs(&b, f.e.ShowRPs(f.now), false)
	require.Equal(t, "Instance: PIM.master\n\naddress-family INET\n"+
		"RP address      Type        Mode   Holdtime Timeout Groups Group prefixes\n"+
		"10.255.0.8      static      sparse      150    None      0 239.1.0.0/16\n"+
		"10.255.0.9      static      sparse      150    None      0 224.0.0.0/4\n", b.String())
	require.Equal(t, rpset.OriginStatic, f.e.RPSet()[0].Origin)
}
