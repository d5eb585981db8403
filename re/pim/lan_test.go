package pim

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// joinsOnLAN counts the Join(S,G) / Prune(S,G) entries routers sent on a
// LAN since mark.
func countJP(r *simRouter, mark int, join bool) int {
	n := 0
	for _, x := range of[SendJoinPrune](r.acts[mark:]) {
		for _, g := range x.Msg.Groups {
			if join {
				n += len(g.Joins)
			} else {
				n += len(g.Prunes)
			}
		}
	}
	return n
}

// TestScenarioLANJoinSuppressionPruneOverride: three routers on one LAN, U
// upstream and D1, D2 downstream joined to the same (S,G) (SSM).
func TestScenarioLANJoinSuppressionPruneOverride(t *testing.T) {
	s := newSim(t)
	srcLAN := s.lan("src", "10.1.0.0/24")
	lanX := s.lan("x", "10.9.0.0/24")
	rcv1 := s.lan("rcv1", "10.21.0.0/24")
	rcv2 := s.lan("rcv2", "10.22.0.0/24")
	u := s.router("U", "10.255.0.1")
	d1 := s.router("D1", "10.255.0.2")
	d2 := s.router("D2", "10.255.0.3")
	s.attach(u, srcLAN, 1, 1)
	ux := s.attach(u, lanX, 1, 1)
	s.attach(d1, lanX, 2, 1)
	s.attach(d2, lanX, 3, 1)
	s.attach(d1, rcv1, 1, 1)
	s.attach(d2, rcv2, 1, 1)
	s.start(11)
	s.advance(10 * time.Second)
	src, grp := a("10.1.0.10"), a("232.1.1.1")
	k := SG{src, grp}

	s.join(rcv1, grp, src, MemberInclude)
	s.join(rcv2, grp, src, MemberInclude)
	require.Contains(t, u.routes[k].OIL, ux.idx, "U forwards onto the LAN")
	id := s.send(srcLAN, src, grp)
	require.Equal(t, 1, s.deliveries(rcv1, id))
	require.Equal(t, 1, s.deliveries(rcv2, id))

	// Join suppression: over ten minutes the two downstream routers send
	// far fewer than the 2 x 10 periodic Joins they would without it.
	m1, m2 := len(d1.acts), len(d2.acts)
	for i := 0; i < 60; i++ {
		s.advance(10 * time.Second)
		require.Equal(t, dsJoin, u.e.sgs[k].ifOf(ux.idx).jp, "U keeps the Join at +%ds", (i+1)*10)
	}
	joins := countJP(d1, m1, true) + countJP(d2, m2, true)
	require.LessOrEqual(t, joins, 14, "join suppression")
	require.GreaterOrEqual(t, joins, 9, "still one Join a period on the LAN")

	// Prune override: D2's receiver leaves, D2 prunes, D1 overrides within
	// the override interval and U never stops forwarding.
	m1 = len(d1.acts)
	s.join(rcv2, grp, src, MemberNone)
	require.Equal(t, dsPrunePending, u.e.sgs[k].ifOf(ux.idx).jp, "U: Prune -> Prune-Pending")
	require.Contains(t, u.routes[k].OIL, ux.idx, "Prune-Pending forwards like Join")
	s.advance(2500 * time.Millisecond)
	require.Equal(t, 1, countJP(d1, m1, true), "D1 overrides the Prune")
	require.Equal(t, dsJoin, u.e.sgs[k].ifOf(ux.idx).jp)
	s.advance(10 * time.Second)
	require.Contains(t, u.routes[k].OIL, ux.idx)
	id = s.send(srcLAN, src, grp)
	require.Equal(t, 1, s.deliveries(rcv1, id))

	// The last receiver leaves: nobody overrides, U prunes the LAN after
	// J/P_Override_Interval and sends a PruneEcho.
	mu := len(u.acts)
	s.join(rcv1, grp, src, MemberNone)
	s.advance(time.Second)
	require.Contains(t, u.routes[k].OIL, ux.idx, "still Prune-Pending")
	s.advance(2 * time.Second)
	require.Empty(t, u.routes[k].OIL, "pruned (the KAT of the directly connected source keeps the entry): %s", u.routeStr(k))
	echo := false
	for _, x := range of[SendJoinPrune](u.acts[mu:]) {
		if x.Msg.UpstreamNeighbor == ux.addr && len(x.Msg.Groups) == 1 && len(x.Msg.Groups[0].Prunes) == 1 {
			echo = true
		}
	}
	require.True(t, echo, "PruneEcho(S,G)")
}

// TestScenarioLANAssert: U1 and U2 both forward onto LAN Y (U2 for a local
// receiver as DR, U1 for D's join); the Assert elects U2 (higher address,
// equal metrics), U1 stops forwarding and D re-targets its Joins to U2.
func TestScenarioLANAssert(t *testing.T) {
	s := newSim(t)
	srcLAN := s.lan("src", "10.1.0.0/24")
	lanY := s.lan("y", "10.9.0.0/24")
	rcv := s.lan("rcv", "10.31.0.0/24")
	u1 := s.router("U1", "10.255.0.1")
	u2 := s.router("U2", "10.255.0.2")
	d := s.router("D", "10.255.0.3")
	s.attach(u1, srcLAN, 1, 1)
	s.attach(u2, srcLAN, 2, 1)
	u1y := s.attach(u1, lanY, 1, 1)
	u2y := s.attach(u2, lanY, 2, 1)
	dy := s.attach(d, lanY, 3, 1)
	s.attach(d, rcv, 1, 1)
	u2.cfg.Interfaces[1].DRPriority = 10 // U2 is DR on Y
	s.start(5)
	s.advance(10 * time.Second)
	require.Equal(t, u2y.addr, u2.e.ifs[u2y.idx].dr)
	src, grp := a("10.1.0.10"), a("232.1.1.1")
	k := SG{src, grp}

	s.join(lanY, grp, src, MemberInclude) // a receiver on Y: U2 (DR) forwards
	s.join(rcv, grp, src, MemberInclude)  // D joins through its RPF neighbour U1
	require.Equal(t, u1y.addr, d.e.sgs[k].target.nbr, "D's RPF neighbour is U1")
	require.Contains(t, u1.routes[k].OIL, u1y.idx)
	require.Contains(t, u2.routes[k].OIL, u2y.idx)

	// The first packets are duplicated on Y; the Assert follows.
	first := s.send(srcLAN, src, grp)
	require.Equal(t, 2, s.deliveries(lanY, first), "duplicate before the assert")
	s.advance(5 * time.Second)
	require.Equal(t, asWinner, u2.e.sgs[k].ifOf(u2y.idx).as, "U2 wins (higher address)")
	require.Equal(t, asLoser, u1.e.sgs[k].ifOf(u1y.idx).as, "U1 loses")
	require.Equal(t, u2y.addr, u1.e.sgs[k].ifOf(u1y.idx).winner.Addr)
	require.Empty(t, u1.routes[k].OIL, "the loser stops forwarding: %s", u1.routeStr(k))
	require.Equal(t, u2y.addr, d.e.sgs[k].target.nbr, "D's RPF' is the assert winner")
	require.Equal(t, asLoser, d.e.sgs[k].ifOf(dy.idx).as, "D tracks the winner")

	for i := 0; i < 5; i++ {
		id := s.send(srcLAN, src, grp)
		require.Equal(t, 1, s.deliveries(lanY, id), "packet %d on Y", i)
		require.Equal(t, 1, s.deliveries(rcv, id), "packet %d at D's receiver", i)
		s.advance(time.Second)
	}
	// D's Joins now go to U2.
	mark := len(d.acts)
	s.advance(70 * time.Second)
	var targets []string
	for _, x := range of[SendJoinPrune](d.acts[mark:]) {
		targets = append(targets, x.Msg.UpstreamNeighbor.String())
	}
	require.NotEmpty(t, targets)
	require.True(t, !slices.Contains(targets, u1y.addr.String()), "no Join to the loser: %v", targets)

	// The winner refreshes its Assert before Assert_Time runs out; the
	// state holds for many assert periods while traffic flows.
	for i := 0; i < 8; i++ {
		s.advance(60 * time.Second)
		id := s.send(srcLAN, src, grp)
		require.Equal(t, 1, s.deliveries(lanY, id), "after %d min", i+1)
	}
	// D's Join state at U1 has expired, so U1 no longer tracks the assert
	// (AssertTrackingDesired -> FALSE, A5) and does not forward onto Y.
	si := u1.e.sgs[k].ifOf(u1y.idx)
	require.Equal(t, asNoInfo, si.as, "U1 stopped tracking the assert")
	require.Equal(t, dsNoInfo, si.jp, "D's Join at U1 expired")
	require.Empty(t, u1.routes[k].OIL)
}
