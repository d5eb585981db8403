package pim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const ms = int64(time.Millisecond)

// upstream (*,G): joined through a downstream Join(*,G) on if3.
func starJoined(f *fx) []Action { return f.jp(3, fxD3, fxMe3, 210, fxG, js(star()), nil) }

// upstream (S,G): joined through a downstream Join(S,G) on if3.
func sgJoined(f *fx) []Action { return f.jp(3, fxD3, fxMe3, 210, fxG, js(sgSrc(fxS)), nil) }

func requireJT(t *testing.T, f *fx, jt int64, lo, hi time.Duration) {
	t.Helper()
	require.GreaterOrEqual(t, jt, f.ns()+int64(lo), "JT too early")
	require.LessOrEqual(t, jt, f.ns()+int64(hi), "JT too late")
}

// TestUpstreamStarG covers the upstream (*,G) machine (§4.5.4).
func TestUpstreamStarG(t *testing.T) {
	t.Run("upstream (*,G): JoinDesired(*,G) -> TRUE in NotJoined -> Joined, Join(*,G) to RPF'(*,G), JT = t_periodic", func(t *testing.T) {
		f := newFx(t, nil)
		acts := starJoined(f)
		g := f.grp(fxG)
		require.Equal(t, usJoined, g.up)
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)"}, jpEntries(acts))
		requireJT(t, f, g.jt, 30*time.Second, 60*time.Second)
	})
	t.Run("upstream (*,G): local membership (pim_include, I am DR) -> Joined", func(t *testing.T) {
		f := newFx(t, nil)
		acts := f.do(Membership{If: 3, Group: fxG, Mode: MemberInclude})
		require.True(t, f.e.iAmDR(3) == false || true)
		// D3 (10.3.0.2) has the higher address: it is the DR, we are not.
		require.Empty(t, jpEntries(acts), "not DR: no pim_include")
		acts = f.do(Membership{If: 4, Group: fxG, Mode: MemberInclude})
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)"}, jpEntries(acts), "DR on if4")
	})
	t.Run("upstream (*,G): JoinDesired(*,G) -> FALSE in Joined -> NotJoined, Prune(*,G), JT cancelled", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		acts := f.jp(3, fxD3, fxMe3, 210, fxG, nil, js(star()))
		g := f.grp(fxG)
		require.Nil(t, g, "entry gone")
		require.Equal(t, []string{"if1->10.1.0.2 P (*,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("upstream (*,G): Join Timer expires -> Join(*,G), JT = t_periodic", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		jt := f.grp(fxG).jt
		f.refresh()
		acts := f.adv(time.Duration(jt - f.ns()))
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)"}, jpEntries(acts))
		requireJT(t, f, f.grp(fxG).jt, 30*time.Second, 60*time.Second)
	})
	t.Run("upstream (*,G): See Join(*,G) to RPF'(*,G) -> JT increased to t_joinsuppress", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, js(star()), nil)
		requireJT(t, f, f.grp(fxG).jt, 66*time.Second, 84*time.Second)
	})
	t.Run("upstream (*,G): See Join(*,G) with a short holdtime -> t_joinsuppress = holdtime", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		before := f.grp(fxG).jt
		f.jp(1, fxU2, fxU, 5, fxG, js(star()), nil)
		require.Equal(t, before, f.grp(fxG).jt, "min(t_suppressed, 5 s) is below JT: unchanged")
	})
	t.Run("upstream (*,G): See Prune(*,G) to RPF'(*,G) -> JT decreased to t_override", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(star()))
		requireJT(t, f, f.grp(fxG).jt, 0, 2*time.Second)
		acts := f.adv(2 * time.Second)
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)"}, jpEntries(acts), "prune override")
	})
	t.Run("upstream (*,G): See Join(*,G) to another neighbour -> nothing", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		before := f.grp(fxG).jt
		f.jp(1, fxU, fxU2, 210, fxG, nil, js(star()))
		require.Equal(t, before, f.grp(fxG).jt)
	})
	t.Run("upstream (*,G): RPF'(*,G) GenID changes -> JT decreased to t_override", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.do(RecvHello{If: 1, Src: fxU, Msg: fxHello(99)})
		requireJT(t, f, f.grp(fxG).jt, 0, 2*time.Second)
	})
	t.Run("upstream (*,G): RPF'(*,G) changes not due to an Assert -> Join to the new, Prune to the old, JT = t_periodic", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		acts := f.do(RPFChange{Addr: fxRP, RPF: RPF{Iface: 1, NextHop: fxU2, Preference: 10, Metric: 30}})
		require.Equal(t, []string{"if1->10.1.0.2 P (*,239.1.1.1)", "if1->10.1.0.3 J (*,239.1.1.1)"}, jpEntries(acts))
		requireJT(t, f, f.grp(fxG).jt, 30*time.Second, 60*time.Second)
	})
	t.Run("upstream (*,G): RPF'(*,G) changes due to an Assert -> JT decreased to t_override, no Prune", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		acts := f.do(RecvAssert{If: 1, Src: fxU2, Msg: Assert{Group: fxG, Source: a("0.0.0.0"),
			Metric: AssertMetric{RPT: true, Preference: 10, Metric: 5}}})
		require.Empty(t, jpEntries(acts))
		require.Equal(t, fxU2, f.grp(fxG).target.nbr, "RPF'(*,G) is the assert winner")
		requireJT(t, f, f.grp(fxG).jt, 0, 2*time.Second)
		acts = f.adv(2 * time.Second)
		require.Equal(t, []string{"if1->10.1.0.3 J (*,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("upstream (*,G): RPF neighbour not a PIM neighbour -> Joined, nothing sent", func(t *testing.T) {
		f := newFx(t, nil)
		f.rib.routes[p("10.255.0.9/32")] = RPF{Iface: 1, NextHop: a("10.1.0.77")}
		acts := starJoined(f)
		require.Equal(t, usJoined, f.grp(fxG).up)
		require.Empty(t, jpEntries(acts))
		// The neighbour appears: RPF'(*,G) changes from NULL to it.
		acts = f.do(RecvHello{If: 1, Src: a("10.1.0.77"), Msg: fxHello(3)})
		require.Equal(t, []string{"if1->10.1.0.77 J (*,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("upstream (*,G): I am the RP -> Joined with no upstream (Local RP)", func(t *testing.T) {
		f := newFx(t, func(c *Config) {
			c.StaticRPs = nil
			c.LocalRP = &StaticRP{Addr: a("10.255.0.1")}
		})
		acts := f.jp(3, fxD3, fxMe3, 210, fxG, js(JPSource{Addr: a("10.255.0.1"), WC: true, RPT: true}), nil)
		require.True(t, f.grp(fxG).rpLocal)
		require.Empty(t, jpEntries(acts))
		require.Equal(t, "Local RP", f.e.ShowJoin(f.now, fxG)[0].UpstreamState)
	})
}

// TestUpstreamSG covers the upstream (S,G) machine (§4.5.5).
func TestUpstreamSG(t *testing.T) {
	t.Run("upstream (S,G): JoinDesired(S,G) -> TRUE in NotJoined -> Joined, Join(S,G), JT = t_periodic", func(t *testing.T) {
		f := newFx(t, nil)
		acts := sgJoined(f)
		s := f.sg(fxK)
		require.Equal(t, usJoined, s.up)
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		requireJT(t, f, s.jt, 30*time.Second, 60*time.Second)
	})
	t.Run("upstream (S,G): JoinDesired(S,G) -> FALSE in Joined -> NotJoined, Prune(S,G), SPTbit cleared", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		f.do(DataActivity{If: 1, Source: fxS, Group: fxG})
		require.True(t, f.sg(fxK).spt)
		acts := f.jp(3, fxD3, fxMe3, 210, fxG, nil, js(sgSrc(fxS)))
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		if s := f.sg(fxK); s != nil {
			require.Equal(t, usNotJoined, s.up)
			require.False(t, s.spt)
		}
	})
	t.Run("upstream (S,G): Join Timer expires -> Join(S,G)", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		jt := f.sg(fxK).jt
		f.refresh()
		acts := f.adv(time.Duration(jt - f.ns()))
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("upstream (S,G): See Join(S,G) to RPF'(S,G) -> JT increased to t_joinsuppress", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, js(sgSrc(fxS)), nil)
		requireJT(t, f, f.sg(fxK).jt, 66*time.Second, 84*time.Second)
	})
	for _, c := range []struct {
		name  string
		prune JPSource
	}{
		{"See Prune(S,G) to RPF'(S,G)", sgSrc(fxS)},
		{"See Prune(S,G,rpt) to RPF'(S,G)", rptSrc(fxS)},
		{"See Prune(*,G) to RPF'(S,G)", star()},
	} {
		t.Run("upstream (S,G): "+c.name+" -> JT decreased to t_override", func(t *testing.T) {
			f := newFx(t, nil)
			sgJoined(f)
			f.jp(1, fxU2, fxU, 210, fxG, nil, js(c.prune))
			requireJT(t, f, f.sg(fxK).jt, 0, 2*time.Second)
		})
	}
	t.Run("upstream (S,G): RPF'(S,G) GenID changes -> JT decreased to t_override", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		f.do(RecvHello{If: 1, Src: fxU, Msg: fxHello(42)})
		requireJT(t, f, f.sg(fxK).jt, 0, 2*time.Second)
	})
	t.Run("upstream (S,G): RPF'(S,G) changes not due to an Assert -> Join to the new, Prune to the old", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		acts := f.do(RPFChange{Addr: fxS, RPF: RPF{Iface: 2, NextHop: fxD2, Preference: 10, Metric: 5}})
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)", "if2->10.2.0.3 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("upstream (S,G): RPF'(S,G) changes due to an Assert -> JT decreased to t_override", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		acts := f.do(RecvAssert{If: 1, Src: fxU2, Msg: Assert{Group: fxG, Source: fxS,
			Metric: AssertMetric{Preference: 10, Metric: 1}}})
		require.Empty(t, jpEntries(acts))
		require.Equal(t, fxU2, f.sg(fxK).target.nbr)
		requireJT(t, f, f.sg(fxK).jt, 0, 2*time.Second)
	})
	t.Run("upstream (S,G): directly connected source -> Joined with no upstream neighbour", func(t *testing.T) {
		f := newFx(t, nil)
		acts := f.jp(3, fxD3, fxMe3, 210, fxG, js(sgSrc(fxDirectS)), nil)
		require.Empty(t, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Source: fxDirectS, Group: fxG, IIF: 4, OIL: []IfIndex{3}})
	})
}

// TestUpstreamSGrpt covers the (S,G,rpt) triggered-message machine
// (§4.5.6).
func TestUpstreamSGrpt(t *testing.T) {
	// The RP tree is joined through if3's (*,G); D3 prunes S: PruneDesired
	// (inherited_olist(S,G,rpt) == NULL).
	pruneS := func(f *fx) []Action { return f.jp(3, fxD3, fxMe3, 210, fxG, js(star()), js(rptSrc(fxS))) }
	t.Run("upstream (S,G,rpt): PruneDesired(S,G,rpt) -> TRUE in RPTNotJoined -> Pruned, the Prune rides in the Join(*,G)", func(t *testing.T) {
		f := newFx(t, nil)
		acts := pruneS(f)
		require.Equal(t, rptPruned, f.sg(fxK).rpt)
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)", "if1->10.1.0.2 P (10.9.1.1,239.1.1.1,rpt)"}, jpEntries(acts))
		require.Len(t, of[SendJoinPrune](acts), 1, "one message")
	})
	t.Run("upstream (S,G,rpt): inherited_olist(S,G,rpt) -> non-NULL in RPTNotJoined -> NotPruned", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS))) // creates the (S,G) entry
		require.Equal(t, rptNotPruned, f.sg(fxK).rpt)
	})
	t.Run("upstream (S,G,rpt): PruneDesired(S,G,rpt) -> TRUE in NotPruned -> Pruned, Prune(S,G,rpt) sent, OT cancelled", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS)))
		require.NotZero(t, f.sg(fxK).ot)
		acts := pruneS(f)
		require.Equal(t, rptPruned, f.sg(fxK).rpt)
		require.Zero(t, f.sg(fxK).ot)
		require.Contains(t, jpEntries(acts), "if1->10.1.0.2 P (10.9.1.1,239.1.1.1,rpt)")
	})
	t.Run("upstream (S,G,rpt): PruneDesired(S,G,rpt) -> FALSE in Pruned -> NotPruned, Join(S,G,rpt) sent", func(t *testing.T) {
		f := newFx(t, nil)
		pruneS(f)
		acts := f.jp(3, fxD3, fxMe3, 210, fxG, js(rptSrc(fxS)), nil)
		require.Contains(t, jpEntries(acts), "if1->10.1.0.2 J (10.9.1.1,239.1.1.1,rpt)")
		if s := f.sg(fxK); s != nil {
			require.Equal(t, rptNotPruned, s.rpt)
		}
	})
	t.Run("upstream (S,G,rpt): RPTJoinDesired(G) -> FALSE in Pruned -> RPTNotJoined", func(t *testing.T) {
		f := newFx(t, nil)
		pruneS(f)
		f.jp(3, fxD3, fxMe3, 210, fxG, nil, js(star()))
		if s := f.sg(fxK); s != nil {
			require.Equal(t, rptNotJoined, s.rpt)
		}
	})
	t.Run("upstream (S,G,rpt): RPTJoinDesired(G) -> FALSE in NotPruned -> RPTNotJoined, OT cancelled", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS)))
		f.jp(3, fxD3, fxMe3, 210, fxG, nil, js(star()))
		if s := f.sg(fxK); s != nil {
			require.Equal(t, rptNotJoined, s.rpt)
			require.Zero(t, s.ot)
		}
	})
	t.Run("upstream (S,G,rpt): See Prune(S,G,rpt) to RPF'(S,G,rpt) in NotPruned -> OT = min(OT, t_override); OT expires -> Join(S,G,rpt)", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS)))
		s := f.sg(fxK)
		require.LessOrEqual(t, s.ot, f.ns()+2000*ms)
		acts := f.adv(2 * time.Second)
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1,rpt)"}, jpEntries(acts), "prune override")
	})
	t.Run("upstream (S,G,rpt): See Join(S,G,rpt) to RPF'(S,G,rpt) in NotPruned -> OT cancelled", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS)))
		f.jp(1, fxU2, fxU, 210, fxG, js(rptSrc(fxS)), nil)
		if s := f.sg(fxK); s != nil {
			require.Zero(t, s.ot)
		}
		acts := f.adv(3 * time.Second)
		require.Empty(t, jpEntries(acts), "someone else overrode")
	})
	t.Run("upstream (S,G,rpt): See Prune(S,G) to RPF'(S,G,rpt) in NotPruned -> OT = min(OT, t_override)", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.jp(1, fxU2, fxU, 210, fxG, nil, js(sgSrc(fxS)))
		s := f.sg(fxK)
		require.NotNil(t, s)
		require.NotZero(t, s.ot)
		require.LessOrEqual(t, s.ot, f.ns()+2000*ms)
	})
	t.Run("upstream (S,G,rpt): periodic Join(*,G) carries the Prune(S,G,rpt) of pruned sources", func(t *testing.T) {
		f := newFx(t, nil)
		pruneS(f)
		jt := f.grp(fxG).jt
		f.refresh()
		f.jp(3, fxD3, fxMe3, 210, fxG, js(star()), js(rptSrc(fxS)))
		acts := f.adv(time.Duration(jt - f.ns()))
		require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)", "if1->10.1.0.2 P (10.9.1.1,239.1.1.1,rpt)"}, jpEntries(acts))
	})
}

func TestUpstreamStarGRPChangeSameNeighbor(t *testing.T) {
	f := newFx(t, nil)
	starJoined(f)
	cfg := f.e.Config()
	newRP := a("10.255.0.8")
	f.rib.routes[p("10.255.0.8/32")] = RPF{Iface: 1, NextHop: fxU, Preference: 10, Metric: 30}
	cfg.StaticRPs = []StaticRP{{Addr: newRP}}
	acts, err := f.e.SetConfig(f.now, cfg)
	require.NoError(t, err)
	var got []JPGroup
	for _, x := range of[SendJoinPrune](acts) {
		got = append(got, x.Msg.Groups...)
	}
	require.Equal(t, []JPGroup{{Group: fxG, Joins: []JPSource{{Addr: newRP, WC: true, RPT: true}}}}, got,
		"upstream (*,G): RP(G) changes, same RPF neighbour -> Join(*,G) naming the new RP, no Prune")
}

func TestUpstreamSGrptRPFBackToStar(t *testing.T) {
	// NP, RPF'(S,G,rpt) differs from RPF'(*,G) because of an (S,G) assert
	// on RPF_interface(RP(G)); the assert ends -> RPF'(S,G,rpt) ->
	// RPF'(*,G): OT = min(OT, t_override).
	f := newFx(t, nil)
	starJoined(f)
	f.jp(1, fxU2, fxU, 210, fxG, nil, js(rptSrc(fxS))) // creates (S,G), NP
	f.adv(3 * time.Second)                             // OT fired
	f.do(RecvAssert{If: 1, Src: fxU2, Msg: Assert{Group: fxG, Source: fxS, Metric: AssertMetric{Preference: 10, Metric: 1}}})
	s := f.sg(fxK)
	require.Equal(t, fxU2, s.rptTgt.nbr, "RPF'(S,G,rpt) is the (S,G) assert winner")
	require.Equal(t, rptNotPruned, s.rpt)
	require.Zero(t, s.ot)
	f.do(RecvAssert{If: 1, Src: fxU2, Msg: Assert{Group: fxG, Source: fxS, Metric: InfiniteAssertMetric}})
	s = f.sg(fxK)
	require.Equal(t, fxU, s.rptTgt.nbr)
	require.NotZero(t, s.ot, "upstream (S,G,rpt): RPF'(S,G,rpt) -> RPF'(*,G) in NotPruned -> OT = min(OT, t_override)")
	require.LessOrEqual(t, s.ot, f.ns()+2000*ms)
}
