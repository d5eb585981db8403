package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var assertNames2 = [...]string{"NoInfo", "Winner", "Loser"}

// sgForwarding2: as sgForwarding, and also to D3 on if3, so that losing
// the assert on if2 leaves JoinDesired(S,G) and the SPT bit set (the loser
// keeps a metric of its own).
func sgForwarding2(f *fx) {
	sgForwarding(f)
	f.jp(3, fxD3, fxMe3, 210, fxG, js(sgSrc(fxS)), nil)
}

// sgForwarding: we forward (S,G) onto LAN if2 for D1 and the SPT bit is set
// (data arrived on RPF_interface(S) = if1): CouldAssert(S,G,if2).
func sgForwarding(f *fx) {
	f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil)
	f.do(DataActivity{If: 1, Source: fxS, Group: fxG})
}

func sgAssertFrom(f *fx, ifx IfIndex, from [4]byte, m AssertMetric) []Action {
	src := netipFrom4(from)
	return f.do(RecvAssert{If: ifx, Src: src, Msg: Assert{Group: fxG, Source: fxS, Metric: m}})
}

func netipFrom4(b [4]byte) netip.Addr { return netip.AddrFrom4(b) }

var (
	inferior  = AssertMetric{Preference: 10, Metric: 50}
	preferred = AssertMetric{Preference: 10, Metric: 5}
	d2        = [4]byte{10, 2, 0, 3}
	d1        = [4]byte{10, 2, 0, 2}
	u2        = [4]byte{10, 1, 0, 3}
)

func (f *fx) sgAs(ifx IfIndex) uint8 {
	if si := f.sgif(fxK, ifx); si != nil {
		return si.as
	}
	return asNoInfo
}

func (f *fx) gAs(ifx IfIndex) uint8 {
	if gi := f.gif(fxG, ifx); gi != nil {
		return gi.as
	}
	return asNoInfo
}

func sentAsserts(acts []Action) []Assert {
	var out []Assert
	for _, x := range of[SendAssert](acts) {
		out = append(out, x.Msg)
	}
	return out
}

// TestAssertSG covers the (S,G) assert machine (§4.6.1).
func TestAssertSG(t *testing.T) {
	sec := int64(time.Second)
	cases := []struct {
		name  string
		ifx   IfIndex
		setup func(f *fx)
		event func(f *fx) []Action
		want  uint8
		check func(t *testing.T, f *fx, acts []Action)
	}{
		{name: "Receive Inferior Assert with RPTbit clear and CouldAssert(S,G,I) in NoInfo -> Winner (A1): Assert sent, AT = Assert_Time - Assert_Override_Interval",
			ifx: 2, setup: sgForwarding,
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, inferior) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) {
				as := sentAsserts(acts)
				require.Len(t, as, 1)
				require.Equal(t, AssertMetric{Preference: 10, Metric: 20, Addr: fxMe2}, as[0].Metric)
				require.Equal(t, f.ns()+177*sec, f.sgif(fxK, 2).at)
			}},
		{name: "Receive Assert with RPTbit set and CouldAssert(S,G,I) in NoInfo -> Winner (A1)",
			ifx: 2, setup: sgForwarding,
			event: func(f *fx) []Action {
				return sgAssertFrom(f, 2, d2, AssertMetric{RPT: true, Preference: 1, Metric: 1})
			},
			want: asWinner},
		{name: "An (S,G) data packet arrives on I and CouldAssert(S,G,I) in NoInfo -> Winner (A1)",
			ifx: 2, setup: sgForwarding,
			event: func(f *fx) []Action { return f.do(WrongInterface{If: 2, Source: fxS, Group: fxG}) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) { require.Len(t, sentAsserts(acts), 1) }},
		{name: "Receive Acceptable Assert with RPTbit clear and AssTrDes(S,G,I) in NoInfo -> Loser (A6): winner stored, AT = Assert_Time, I leaves the olist",
			ifx: 2, setup: sgForwarding,
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, preferred) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) {
				si := f.sgif(fxK, 2)
				require.Equal(t, f.ns()+180*sec, si.at)
				require.Equal(t, AssertMetric{Preference: 10, Metric: 5, Addr: fxD2}, si.winner)
				require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 1})
				require.Empty(t, sentAsserts(acts))
			}},
		{name: "Receive Acceptable Assert on RPF_interface(S) with the upstream Joined in NoInfo -> Loser (A6), SPTbit set",
			ifx: 1, setup: func(f *fx) { f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil) },
			event: func(f *fx) []Action {
				require.False(t, f.sg(fxK).spt)
				return sgAssertFrom(f, 1, u2, AssertMetric{Preference: 10, Metric: 19})
			},
			want: asLoser,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.True(t, f.sg(fxK).spt)
				require.Equal(t, fxU2, f.sg(fxK).target.nbr, "RPF'(S,G) is the winner")
			}},
		{name: "Receive any Assert without CouldAssert(S,G,I) (no SPT bit: my metric is infinite) and AssTrDes in NoInfo -> Loser (A6)",
			ifx: 2, setup: func(f *fx) { f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil) }, // no SPT bit
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, inferior) },
			want:  asLoser},
		{name: "Receive an AssertCancel in NoInfo -> NoInfo",
			ifx: 2, setup: func(f *fx) { f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, InfiniteAssertMetric) },
			want:  asNoInfo},
		{name: "Receive Assert on an interface without AssTrDes(S,G,I) or CouldAssert in NoInfo -> NoInfo",
			ifx: 4, setup: sgForwarding,
			event: func(f *fx) []Action { return sgAssertFrom(f, 4, [4]byte{10, 4, 0, 9}, preferred) },
			want:  asNoInfo},
		{name: "Losing the assert on the only downstream interface: JoinDesired(S,G) -> FALSE, Prune(S,G) upstream",
			ifx: 2, setup: sgForwarding,
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, preferred) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
			}},
		{name: "Assert Timer expires in Winner -> Winner (A3): Assert re-sent",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, inferior) },
			event: func(f *fx) []Action {
				f.refresh()
				f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil)
				f.do(DataActivity{If: 1, Source: fxS, Group: fxG})
				return f.adv(177 * time.Second)
			},
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) { require.Len(t, sentAsserts(acts), 1) }},
		{name: "Receive Inferior Assert in Winner -> Winner (A3): Assert sent",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, inferior) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d1, inferior) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) { require.Len(t, sentAsserts(acts), 1) }},
		{name: "Receive Preferred Assert in Winner -> Loser (A2)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, inferior) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d1, preferred) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) { require.Equal(t, fxD1, f.sgif(fxK, 2).winner.Addr) }},
		{name: "CouldAssert(S,G,I) -> FALSE in Winner -> NoInfo (A4): AssertCancel sent",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, inferior) },
			event: func(f *fx) []Action {
				f.jp(2, fxD1, fxMe2, 210, fxG, nil, js(sgSrc(fxS)))
				return f.adv(2500 * time.Millisecond)
			},
			want: asNoInfo,
			check: func(t *testing.T, f *fx, acts []Action) {
				as := sentAsserts(acts)
				require.Len(t, as, 1)
				require.True(t, as[0].Metric.IsInfinite(), "AssertCancel")
			}},
		{name: "Receive Preferred Assert in Loser -> Loser (A2) with the new winner",
			ifx: 2, setup: func(f *fx) { sgForwarding2(f); sgAssertFrom(f, 2, d2, AssertMetric{Preference: 10, Metric: 10}) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d1, preferred) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) { require.Equal(t, fxD1, f.sgif(fxK, 2).winner.Addr) }},
		{name: "Receive Acceptable Assert from the current winner in Loser -> Loser (A2), AT restarted",
			ifx: 2, setup: func(f *fx) {
				sgForwarding2(f)
				sgAssertFrom(f, 2, d2, preferred)
				f.adv(100 * time.Second)
				f.refresh()
			},
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, preferred) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) { require.Equal(t, f.ns()+180*sec, f.sgif(fxK, 2).at) }},
		{name: "Receive Inferior Assert from the current winner in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding2(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, inferior) },
			want:  asNoInfo},
		{name: "Receive AssertCancel from the current winner in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action { return sgAssertFrom(f, 2, d2, InfiniteAssertMetric) },
			want:  asNoInfo},
		{name: "Assert Timer expires in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action {
				for i := 0; i < 6; i++ {
					f.refresh()
					f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil)
					f.do(DataActivity{If: 1, Source: fxS, Group: fxG})
					f.adv(30 * time.Second)
				}
				return nil
			},
			want: asNoInfo},
		{name: "Current winner's neighbour liveness timer expires in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action {
				return f.do(RecvHello{If: 2, Src: fxD2, Msg: Hello{Holdtime: 0}}) // goodbye
			},
			want: asNoInfo},
		{name: "AssertTrackingDesired(S,G,I) -> FALSE in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action {
				f.jp(2, fxD1, fxMe2, 210, fxG, nil, js(sgSrc(fxS)))
				return f.adv(3 * time.Second)
			},
			want: asNoInfo},
		{name: "my_assert_metric -> better than the winner's in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding2(f); sgAssertFrom(f, 2, d2, AssertMetric{Preference: 10, Metric: 15}) },
			event: func(f *fx) []Action {
				return f.do(RPFChange{Addr: fxS, RPF: RPF{Iface: 1, NextHop: fxU, Preference: 10, Metric: 1}})
			},
			want: asNoInfo},
		{name: "RPF_interface(S) stops being I in Loser -> NoInfo (A5)",
			ifx: 1, setup: func(f *fx) {
				f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil)
				sgAssertFrom(f, 1, u2, AssertMetric{Preference: 10, Metric: 19})
			},
			event: func(f *fx) []Action {
				return f.do(RPFChange{Addr: fxS, RPF: RPF{Iface: 3, NextHop: fxD3, Preference: 10, Metric: 20}})
			},
			want: asNoInfo},
		{name: "Receive Join(S,G) on I in Loser -> NoInfo (A5)",
			ifx: 2, setup: func(f *fx) { sgForwarding(f); sgAssertFrom(f, 2, d2, preferred) },
			event: func(f *fx) []Action { return f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil) },
			want:  asNoInfo},
	}
	for _, c := range cases {
		t.Run("assert (S,G): "+c.name, func(t *testing.T) {
			f := newFx(t, nil)
			if c.setup != nil {
				c.setup(f)
			}
			acts := c.event(f)
			require.Equal(t, assertNames2[c.want], assertNames2[f.sgAs(c.ifx)], "state\n%s", dump(acts))
			if c.check != nil {
				c.check(t, f, acts)
			}
		})
	}
}

// starForwarding: we forward (*,G) onto LAN if2 for D1: CouldAssert(*,G,if2).
func starForwarding(f *fx) { f.jp(2, fxD1, fxMe2, 210, fxG, js(star()), nil) }

func starAssertFrom(f *fx, from [4]byte, m AssertMetric) []Action {
	m.RPT = true
	return f.do(RecvAssert{If: 2, Src: netipFrom4(from), Msg: Assert{Group: fxG, Source: netip.AddrFrom4([4]byte{}), Metric: m}})
}

// TestAssertStarG covers the (*,G) assert machine (§4.6.2).
func TestAssertStarG(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fx)
		event func(f *fx) []Action
		want  uint8
		check func(t *testing.T, f *fx, acts []Action)
	}{
		{name: "Receive Inferior Assert with RPTbit set and CouldAssert(*,G,I) in NoInfo -> Winner (A1)",
			setup: starForwarding,
			event: func(f *fx) []Action { return starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) {
				as := sentAsserts(acts)
				require.Len(t, as, 1)
				require.True(t, as[0].Metric.RPT)
				require.Equal(t, uint32(30), as[0].Metric.Metric, "rpt_assert_metric: the metric to the RP")
			}},
		{name: "Data arrives for G on I and CouldAssert(*,G,I) in NoInfo -> Winner (A1), the Assert names the source",
			setup: starForwarding,
			event: func(f *fx) []Action { return f.do(WrongInterface{If: 2, Source: a("10.9.7.7"), Group: fxG}) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) {
				as := sentAsserts(acts)
				require.Len(t, as, 1)
				require.Equal(t, a("10.9.7.7"), as[0].Source)
			}},
		{name: "Receive Acceptable Assert with RPTbit set and AssTrDes(*,G,I) in NoInfo -> Loser (A2), I leaves the olist",
			setup: starForwarding,
			event: func(f *fx) []Action { return starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Contains(t, of[RouteDelete](acts), RouteDelete{Group: fxG}, dump(acts))
			}},
		{name: "Assert Timer expires in Winner -> Winner (A3)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			event: func(f *fx) []Action {
				f.refresh()
				starForwarding(f)
				return f.adv(177 * time.Second)
			},
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) { require.Len(t, sentAsserts(acts), 1) }},
		{name: "Receive Inferior Assert in Winner -> Winner (A3)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			event: func(f *fx) []Action { return starAssertFrom(f, d1, AssertMetric{Preference: 10, Metric: 99}) },
			want:  asWinner,
			check: func(t *testing.T, f *fx, acts []Action) { require.Len(t, sentAsserts(acts), 1) }},
		{name: "Receive Preferred Assert in Winner -> Loser (A2)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			event: func(f *fx) []Action { return starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 1}) },
			want:  asLoser},
		{name: "CouldAssert(*,G,I) -> FALSE in Winner -> NoInfo (A4): AssertCancel(*,G) sent",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			event: func(f *fx) []Action {
				f.jp(2, fxD1, fxMe2, 210, fxG, nil, js(star()))
				return f.adv(2500 * time.Millisecond)
			},
			want: asNoInfo,
			check: func(t *testing.T, f *fx, acts []Action) {
				as := sentAsserts(acts)
				require.Len(t, as, 1)
				require.True(t, as[0].Metric.IsInfinite())
				require.True(t, as[0].Source.IsUnspecified())
			}},
		{name: "Receive Preferred Assert in Loser -> Loser (A2)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action { return starAssertFrom(f, d1, AssertMetric{Preference: 10, Metric: 2}) },
			want:  asLoser,
			check: func(t *testing.T, f *fx, acts []Action) { require.Equal(t, fxD1, f.gif(fxG, 2).winner.Addr) }},
		{name: "Receive Inferior Assert from the current winner in Loser -> NoInfo (A5)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action { return starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 99}) },
			want:  asNoInfo},
		{name: "Receive Join(*,G) on I in Loser -> NoInfo (A5)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action { return f.jp(2, fxD1, fxMe2, 210, fxG, js(star()), nil) },
			want:  asNoInfo},
		{name: "Current winner's neighbour liveness timer expires in Loser -> NoInfo (A5)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action { return f.do(RecvHello{If: 2, Src: fxD2, Msg: Hello{Holdtime: 0}}) },
			want:  asNoInfo},
		{name: "Assert Timer expires in Loser -> NoInfo (A5)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action {
				f.refresh()
				f.adv(90 * time.Second)
				f.refresh()
				return f.adv(90 * time.Second)
			},
			want: asNoInfo},
		{name: "AssertTrackingDesired(*,G,I) -> FALSE in Loser -> NoInfo (A5)",
			setup: func(f *fx) { starForwarding(f); starAssertFrom(f, d2, AssertMetric{Preference: 10, Metric: 3}) },
			event: func(f *fx) []Action {
				f.jp(2, fxD1, fxMe2, 210, fxG, nil, js(star()))
				return f.adv(3 * time.Second)
			},
			want: asNoInfo},
	}
	for _, c := range cases {
		t.Run("assert (*,G): "+c.name, func(t *testing.T) {
			f := newFx(t, nil)
			c.setup(f)
			acts := c.event(f)
			require.Equal(t, assertNames2[c.want], assertNames2[f.gAs(2)], "state\n%s", dump(acts))
			if c.check != nil {
				c.check(t, f, acts)
			}
		})
	}
}

// TestAssertMetricOrder checks the assert_metric comparison of §4.6.1.
func TestAssertMetricOrder(t *testing.T) {
	x := AssertMetric{Preference: 10, Metric: 20, Addr: a("10.0.0.1")}
	require.True(t, x.Better(AssertMetric{RPT: true, Preference: 1, Metric: 1, Addr: a("10.0.0.9")}), "RPT bit clear wins")
	require.True(t, x.Better(AssertMetric{Preference: 11, Metric: 1, Addr: a("10.0.0.9")}), "lower preference wins")
	require.True(t, x.Better(AssertMetric{Preference: 10, Metric: 21, Addr: a("10.0.0.9")}), "lower metric wins")
	require.True(t, x.Better(AssertMetric{Preference: 10, Metric: 20, Addr: a("9.0.0.1")}), "higher address wins")
	require.False(t, x.Better(x))
	require.True(t, InfiniteAssertMetric.IsInfinite())
	require.True(t, x.Better(InfiniteAssertMetric))
}

func TestAssertStarGRPFInterfaceChange(t *testing.T) {
	f := newFx(t, nil)
	starJoined(f) // RPF_interface(RP) = if1
	f.jp(1, fxU2, fxU, 210, fxG, nil, nil)
	f.do(RecvAssert{If: 1, Src: fxU2, Msg: Assert{Group: fxG, Source: a("0.0.0.0"), Metric: AssertMetric{RPT: true, Preference: 10, Metric: 5}}})
	require.Equal(t, asLoser, f.gAs(1), "(*,G) loser on the RPF interface")
	f.do(RPFChange{Addr: fxRP, RPF: RPF{Iface: 2, NextHop: fxD2, Preference: 10, Metric: 30}})
	require.Equal(t, asNoInfo, f.gAs(1), "assert (*,G): RPF_interface(RP(G)) stops being I in Loser -> NoInfo (A5)")
}
