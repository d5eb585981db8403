package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sptTopology:
//
//	src LAN -- R1 --(L12, cost 2)-- R2 (RP) --(L23)-- R3 -- rcv LAN
//	            \--(L14)-- R4 --(L43)--------------/
//
// R3 reaches the RP through R2 and the source through R4, so the SPT and
// the RP tree differ at R3.
type sptNet struct {
	*sim
	r1, r2, r3, r4     *simRouter
	srcLAN, rcvLAN     *simLAN
	l12, l23, l14, l43 *simLAN
	src, grp, rp       netip.Addr
}

func newSPTNet(t testing.TB, mod func(*sptNet)) *sptNet {
	s := newSim(t)
	n := &sptNet{sim: s, src: a("10.1.0.10"), grp: a("239.1.1.1"), rp: a("10.255.0.2")}
	n.srcLAN = s.lan("src", "10.1.0.0/24")
	n.rcvLAN = s.lan("rcv", "10.3.0.0/24")
	n.l12 = s.lan("l12", "10.12.0.0/24")
	n.l23 = s.lan("l23", "10.23.0.0/24")
	n.l14 = s.lan("l14", "10.14.0.0/24")
	n.l43 = s.lan("l43", "10.43.0.0/24")
	n.r1 = s.router("R1", "10.255.0.1")
	n.r2 = s.router("R2", "10.255.0.2")
	n.r3 = s.router("R3", "10.255.0.3")
	n.r4 = s.router("R4", "10.255.0.4")
	s.attach(n.r1, n.srcLAN, 1, 1)
	s.attach(n.r1, n.l12, 1, 2)
	s.attach(n.r1, n.l14, 1, 1)
	s.attach(n.r2, n.l12, 2, 2)
	s.attach(n.r2, n.l23, 2, 1)
	s.attach(n.r3, n.l23, 3, 1)
	s.attach(n.r3, n.l43, 3, 1)
	s.attach(n.r3, n.rcvLAN, 3, 1)
	s.attach(n.r4, n.l14, 4, 1)
	s.attach(n.r4, n.l43, 4, 1)
	for _, r := range s.routers {
		r.cfg.StaticRPs = []StaticRP{{Addr: n.rp}}
	}
	n.r2.cfg.LocalRP = &StaticRP{Addr: n.rp}
	n.r2.cfg.StaticRPs = nil
	if mod != nil {
		mod(n)
	}
	s.start(7)
	s.advance(10 * time.Second) // hellos
	return n
}

func TestScenarioRPTRegisterSPTSwitchover(t *testing.T) {
	n := newSPTNet(t, nil)
	k := SG{n.src, n.grp}
	star := SG{Group: n.grp}

	// Neighbours are up everywhere.
	require.Len(t, n.r3.e.ifs[1].nbrs, 1)
	require.Len(t, n.r1.e.ifs[2].nbrs, 1)

	// A receiver behind R3: R3 joins the RP tree towards R2.
	n.join(n.rcvLAN, n.grp, netip.Addr{}, MemberInclude)
	require.Equal(t, "iif=1 oil=[3] reg=false decap=false gnew=0", n.r3.routeStr(star), "R3 (*,G)")
	require.Equal(t, "iif=0 oil=[2] reg=false decap=false gnew=0", n.r2.routeStr(star), "RP (*,G)")
	require.Equal(t, "none", n.r1.routeStr(star))

	// The first packet: R1 (DR) registers, the RP decapsulates down the
	// RP tree, R3 forwards it and switches to the SPT (joins via R4).
	id := n.send(n.srcLAN, n.src, n.grp)
	require.Equal(t, 1, n.deliveries(n.rcvLAN, id), "first packet via register + RPT")
	require.True(t, n.r1.routes[k].Register, "R1 registers: %s", n.r1.routeStr(k))
	require.Equal(t, "iif=1 oil=[2] reg=false decap=true gnew=0", n.r2.routeStr(k), "RP decapsulates")
	require.Equal(t, "iif=1 oil=[3] reg=false decap=false gnew=0", n.r3.routeStr(k), "R3 on the RPT, SPT pending")
	require.Contains(t, n.r4.routes, k, "R4 got R3's (S,G) join")

	// More packets: the SPT delivers, R3 sets the SPT bit on the wrong
	// interface event, prunes S off the RP tree; the RP stops forwarding
	// and sends Register-Stop.
	for i := 0; i < 5; i++ {
		n.send(n.srcLAN, n.src, n.grp)
		n.advance(100 * time.Millisecond)
	}
	require.Equal(t, "iif=2 oil=[3] reg=false decap=false gnew=0", n.r3.routeStr(k), "R3 on the SPT")
	require.True(t, n.r3.e.sgs[k].spt)
	require.Equal(t, rptPruned, n.r3.e.sgs[k].rpt, "R3 prunes (S,G,rpt)")
	require.Equal(t, dsPrune, n.r2.e.sgs[k].ifOf(2).rpt, "RP has (S,G,rpt) Prune on L23")
	require.Empty(t, n.r2.routes[k].OIL, "RP forwards nothing for S: %s", n.r2.routeStr(k))
	require.Equal(t, regPrune, n.r1.e.sgs[k].reg, "R1 got Register-Stop")
	require.False(t, n.r1.routes[k].Register)
	require.Equal(t, "iif=1 oil=[3] reg=false decap=false gnew=0", n.r1.routeStr(k), "R1 forwards only to R4")

	// Steady state: every packet reaches the receiver exactly once.
	for i := 0; i < 10; i++ {
		id := n.send(n.srcLAN, n.src, n.grp)
		require.Equal(t, 1, n.deliveries(n.rcvLAN, id), "packet %d", i)
		n.advance(time.Second)
	}

	// Minutes later (periodic joins, null-registers, register-stops) the
	// state holds and traffic keeps flowing once.
	for i := 0; i < 30; i++ {
		n.advance(10 * time.Second)
		id := n.send(n.srcLAN, n.src, n.grp)
		require.Equal(t, 1, n.deliveries(n.rcvLAN, id), "packet at +%ds", (i+1)*10)
	}
	require.Equal(t, "iif=2 oil=[3] reg=false decap=false gnew=0", n.r3.routeStr(k))
	nulls := 0
	for _, x := range of[SendRegister](n.r1.acts) {
		if x.Msg.Null {
			nulls++
		}
	}
	require.Greater(t, nulls, 0, "R1 probes with Null-Registers")

	// The receiver leaves: everything is pruned back.
	n.join(n.rcvLAN, n.grp, netip.Addr{}, MemberNone)
	n.advance(5 * time.Second)
	require.Empty(t, n.r3.routes[k].OIL)
	require.NotContains(t, n.r2.routes, star)
}

// TestScenarioSPTThresholdInfinity: with `spt-threshold infinity` at the
// last-hop router, R3 stays on the RP tree; the RP joins the source tree
// and stops the registers; traffic flows R1 -> R2 -> R3 once.
func TestScenarioSPTThresholdInfinity(t *testing.T) {
	n := newSPTNet(t, func(n *sptNet) { n.r3.cfg.SPTThresholdInfinity = true })
	k := SG{n.src, n.grp}
	n.join(n.rcvLAN, n.grp, netip.Addr{}, MemberInclude)
	for i := 0; i < 20; i++ {
		id := n.send(n.srcLAN, n.src, n.grp)
		require.Equal(t, 1, n.deliveries(n.rcvLAN, id), "packet %d", i)
		n.advance(500 * time.Millisecond)
	}
	require.NotContains(t, n.r3.routes, k, "no (S,G) state at R3: %s", n.r3.routeStr(k))
	require.NotContains(t, n.r4.routes, k, "nobody joined through R4")
	require.Equal(t, "iif=1 oil=[2] reg=false decap=false gnew=0", n.r2.routeStr(k), "the RP forwards natively")
	require.True(t, n.r2.e.sgs[k].spt)
	require.Equal(t, regPrune, n.r1.e.sgs[k].reg, "registers stopped")
	for i := 0; i < 10; i++ {
		n.advance(time.Minute)
		id := n.send(n.srcLAN, n.src, n.grp)
		require.Equal(t, 1, n.deliveries(n.rcvLAN, id), "after %d min", i+1)
	}
}

// TestScenarioSSM: an (S,G) receiver in the SSM range joins the source
// tree directly: no RP, no register.
func TestScenarioSSM(t *testing.T) {
	n := newSPTNet(t, nil)
	g := a("232.1.2.3")
	k := SG{n.src, g}
	n.join(n.rcvLAN, g, n.src, MemberInclude)
	require.Equal(t, "iif=2 oil=[3] reg=false decap=false gnew=0", n.r3.routeStr(k), "R3 joins towards the source via R4")
	for i := 0; i < 5; i++ {
		id := n.send(n.srcLAN, n.src, g)
		require.Equal(t, 1, n.deliveries(n.rcvLAN, id))
	}
	require.Empty(t, of[SendRegister](n.r1.acts))
	require.NotContains(t, n.r2.routes, k, "the RP is not involved")
	for _, x := range of[Route](n.r1.acts) {
		require.False(t, x.Register)
	}
}
