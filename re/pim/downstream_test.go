package pim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dsKind abstracts the (*,G) and (S,G) downstream machines, which have the
// same table (RFC 7761 §4.5.1, §4.5.2).
type dsKind struct {
	name  string
	src   JPSource
	state func(f *fx, ifx IfIndex) uint8
	timer func(f *fx, ifx IfIndex) (et, ppt int64)
	echo  string
}

var dsKinds = []dsKind{
	{name: "(*,G)", src: star(),
		state: func(f *fx, ifx IfIndex) uint8 { return f.gjp(fxG, ifx) },
		timer: func(f *fx, ifx IfIndex) (int64, int64) {
			if gi := f.gif(fxG, ifx); gi != nil {
				return gi.et, gi.ppt
			}
			return 0, 0
		},
		echo: "(*,239.1.1.1)"},
	{name: "(S,G)", src: sgSrc(fxS),
		state: func(f *fx, ifx IfIndex) uint8 { return f.sgjp(fxK, ifx) },
		timer: func(f *fx, ifx IfIndex) (int64, int64) {
			if si := f.sgif(fxK, ifx); si != nil {
				return si.et, si.ppt
			}
			return 0, 0
		},
		echo: "(10.9.1.1,239.1.1.1)"},
}

func (k dsKind) join(f *fx, ifx IfIndex, from uint8, hold uint16) []Action {
	src, me := fxD1, fxMe2
	if ifx == 3 {
		src, me = fxD3, fxMe3
	}
	_ = from
	return f.jp(ifx, src, me, hold, fxG, js(k.src), nil)
}

func (k dsKind) prune(f *fx, ifx IfIndex) []Action {
	src, me := fxD1, fxMe2
	if ifx == 3 {
		src, me = fxD3, fxMe3
	}
	return f.jp(ifx, src, me, 210, fxG, nil, js(k.src))
}

// TestDownstreamJoinPrune covers every cell of the downstream (*,G) and
// (S,G) per-interface state machines.
func TestDownstreamJoinPrune(t *testing.T) {
	sec := int64(time.Second)
	cases := []struct {
		name  string
		ifx   IfIndex
		setup func(f *fx, k dsKind)
		event func(f *fx, k dsKind) []Action
		want  uint8
		check func(t *testing.T, f *fx, k dsKind, acts []Action)
	}{
		{name: "Join received in NoInfo -> Join, expiry timer = holdtime", ifx: 2,
			event: func(f *fx, k dsKind) []Action { return k.join(f, 2, 0, 210) },
			want:  dsJoin,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				et, ppt := k.timer(f, 2)
				require.Equal(t, f.ns()+210*sec, et)
				require.Zero(t, ppt)
			}},
		{name: "Join received in Join -> Join, expiry timer raised to a longer holdtime", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 100); f.adv(10 * time.Second) },
			event: func(f *fx, k dsKind) []Action { return k.join(f, 2, 0, 210) },
			want:  dsJoin,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				et, _ := k.timer(f, 2)
				require.Equal(t, f.ns()+210*sec, et)
			}},
		{name: "Join received in Join -> Join, expiry timer kept when the holdtime is shorter", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 210) },
			event: func(f *fx, k dsKind) []Action { f.adv(time.Second); return k.join(f, 2, 0, 30) },
			want:  dsJoin,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				et, _ := k.timer(f, 2)
				require.Equal(t, f.ns()-sec+210*sec, et)
			}},
		{name: "Join received in Prune-Pending -> Join, prune-pending timer cancelled", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 210); k.prune(f, 2) },
			event: func(f *fx, k dsKind) []Action { return k.join(f, 2, 0, 210) },
			want:  dsJoin,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				_, ppt := k.timer(f, 2)
				require.Zero(t, ppt)
			}},
		{name: "Prune received in NoInfo -> NoInfo", ifx: 2,
			event: func(f *fx, k dsKind) []Action { return k.prune(f, 2) },
			want:  dsNoInfo},
		{name: "Prune received in Join on a LAN -> Prune-Pending, prune-pending timer = J/P_Override_Interval", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 210) },
			event: func(f *fx, k dsKind) []Action { return k.prune(f, 2) },
			want:  dsPrunePending,
			check: func(t *testing.T, f *fx, k dsKind, acts []Action) {
				_, ppt := k.timer(f, 2)
				require.Equal(t, f.ns()+2500*int64(time.Millisecond), ppt)
				require.Empty(t, jpEntries(acts), "Prune-Pending still forwards: nothing upstream yet")
			}},
		{name: "Prune received in Join with one neighbour -> prune-pending timer zero, expires at once -> NoInfo", ifx: 3,
			setup: func(f *fx, k dsKind) { k.join(f, 3, 0, 210) },
			event: func(f *fx, k dsKind) []Action { return k.prune(f, 3) },
			want:  dsNoInfo,
			check: func(t *testing.T, f *fx, k dsKind, acts []Action) {
				for _, e := range jpEntries(acts) {
					require.NotContains(t, e, "->10.3.0.1", "no PruneEcho on a point-to-point link")
				}
			}},
		{name: "Prune received in Prune-Pending -> Prune-Pending, timer unchanged", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 210); k.prune(f, 2); f.adv(time.Second) },
			event: func(f *fx, k dsKind) []Action { return k.prune(f, 2) },
			want:  dsPrunePending,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				_, ppt := k.timer(f, 2)
				require.Equal(t, f.ns()+1500*int64(time.Millisecond), ppt)
			}},
		{name: "Prune-pending timer expires in Prune-Pending -> NoInfo, PruneEcho sent", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 210); k.prune(f, 2) },
			event: func(f *fx, k dsKind) []Action { return f.adv(2500 * time.Millisecond) },
			want:  dsNoInfo,
			check: func(t *testing.T, f *fx, k dsKind, acts []Action) {
				require.Contains(t, jpEntries(acts), "if2->10.2.0.1 P "+k.echo, "PruneEcho")
			}},
		{name: "Expiry timer expires in Join -> NoInfo", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 30) },
			event: func(f *fx, k dsKind) []Action { f.refresh(); return f.adv(30 * time.Second) },
			want:  dsNoInfo},
		{name: "Expiry timer expires in Prune-Pending -> NoInfo", ifx: 2,
			setup: func(f *fx, k dsKind) { k.join(f, 2, 0, 2); k.prune(f, 2) },
			event: func(f *fx, k dsKind) []Action { return f.adv(2 * time.Second) },
			want:  dsNoInfo},
		{name: "Join with holdtime 0xffff never expires", ifx: 2,
			event: func(f *fx, k dsKind) []Action { return k.join(f, 2, 0, 0xffff) },
			want:  dsJoin,
			check: func(t *testing.T, f *fx, k dsKind, _ []Action) {
				for i := 0; i < 10; i++ {
					f.refresh()
					f.adv(time.Hour / 2)
				}
				require.Equal(t, dsJoin, k.state(f, 2))
			}},
	}
	for _, k := range dsKinds {
		for _, c := range cases {
			t.Run(fmt.Sprintf("downstream %s: %s", k.name, c.name), func(t *testing.T) {
				f := newFx(t, nil)
				if c.setup != nil {
					c.setup(f, k)
				}
				acts := c.event(f, k)
				require.Equal(t, dsNames[c.want], dsNames[k.state(f, c.ifx)], "state\n%s", dump(acts))
				if c.check != nil {
					c.check(t, f, k, acts)
				}
			})
		}
	}
}

func TestDownstreamStarGRPMismatch(t *testing.T) {
	f := newFx(t, nil)
	f.jp(2, fxD1, fxMe2, 210, fxG, js(JPSource{Addr: a("10.255.0.99"), WC: true, RPT: true}), nil)
	require.Equal(t, dsNoInfo, f.gjp(fxG, 2), "downstream (*,G): a Join naming another RP is dropped")
	require.Equal(t, uint64(1), f.e.Stats().RPMismatch)
}

func TestDownstreamJoinFromNonNeighbor(t *testing.T) {
	f := newFx(t, nil)
	f.jp(2, a("10.2.0.99"), fxMe2, 210, fxG, js(star()), nil)
	require.Equal(t, dsNoInfo, f.gjp(fxG, 2), "a Join/Prune from a non-neighbour is discarded (§4.5)")
	require.Equal(t, uint64(1), f.e.Stats().NeighborUnknown)
}

func TestDownstreamSSMStarGIgnored(t *testing.T) {
	f := newFx(t, nil)
	f.jp(2, fxD1, fxMe2, 210, fxSSM, js(JPSource{Addr: fxRP, WC: true, RPT: true}, rptSrc(fxS)), nil)
	require.Nil(t, f.grp(fxSSM), "SSM: no (*,G) or (S,G,rpt) state (§4.8)")
	require.Equal(t, uint64(2), f.e.Stats().RxJPSparseForSSM)
}

// TestDownstreamSGrpt covers the downstream (S,G,rpt) machine (§4.5.3).
func TestDownstreamSGrpt(t *testing.T) {
	sec := int64(time.Second)
	joinStar := func(f *fx, ifx IfIndex) { // keep (*,G) joined on ifx
		src, me := fxD1, fxMe2
		if ifx == 3 {
			src, me = fxD3, fxMe3
		}
		f.jp(ifx, src, me, 210, fxG, js(star()), nil)
	}
	msg := func(f *fx, ifx IfIndex, hold uint16, joins, prunes []JPSource) []Action {
		src, me := fxD1, fxMe2
		if ifx == 3 {
			src, me = fxD3, fxMe3
		}
		return f.jp(ifx, src, me, hold, fxG, joins, prunes)
	}
	toPrune := func(f *fx) { joinStar(f, 3); msg(f, 3, 210, js(star()), js(rptSrc(fxS))) }
	toPP := func(f *fx) { joinStar(f, 2); msg(f, 2, 210, js(star()), js(rptSrc(fxS))) }
	cases := []struct {
		name  string
		ifx   IfIndex
		setup func(f *fx)
		event func(f *fx) []Action
		want  uint8
		check func(t *testing.T, f *fx)
	}{
		{name: "Prune(S,G,rpt) received in NoInfo -> Prune-Pending, prune-pending and expiry timers started", ifx: 2,
			setup: func(f *fx) { joinStar(f, 2) },
			event: func(f *fx) []Action { return msg(f, 2, 200, js(star()), js(rptSrc(fxS))) },
			want:  dsPrunePending,
			check: func(t *testing.T, f *fx) {
				si := f.sgif(fxK, 2)
				require.Equal(t, f.ns()+2500*int64(time.Millisecond), si.rpp)
				require.Equal(t, f.ns()+200*sec, si.ret)
			}},
		{name: "Prune(S,G,rpt) received in NoInfo with one neighbour -> Prune at once", ifx: 3,
			setup: func(f *fx) { joinStar(f, 3) },
			event: func(f *fx) []Action { return msg(f, 3, 210, js(star()), js(rptSrc(fxS))) },
			want:  dsPrune},
		{name: "Join(*,G) received in NoInfo -> NoInfo", ifx: 2,
			event: func(f *fx) []Action { return msg(f, 2, 210, js(star()), nil) },
			want:  dsNoInfo},
		{name: "Join(S,G,rpt) received in NoInfo -> NoInfo", ifx: 2,
			event: func(f *fx) []Action { return msg(f, 2, 210, js(rptSrc(fxS)), nil) },
			want:  dsNoInfo},
		{name: "Join(*,G) received in Prune, no Prune(S,G,rpt) in the message -> PruneTmp -> End of Message -> NoInfo", ifx: 3,
			setup: toPrune,
			event: func(f *fx) []Action { return msg(f, 3, 210, js(star()), nil) },
			want:  dsNoInfo},
		{name: "Join(*,G) then Prune(S,G,rpt) in one message in Prune -> PruneTmp -> Prune, expiry timer restarted", ifx: 3,
			setup: func(f *fx) { toPrune(f); f.adv(10 * time.Second) },
			event: func(f *fx) []Action { return msg(f, 3, 210, js(star()), js(rptSrc(fxS))) },
			want:  dsPrune,
			check: func(t *testing.T, f *fx) { require.Equal(t, f.ns()+210*sec, f.sgif(fxK, 3).ret) }},
		{name: "Join(S,G,rpt) received in Prune -> NoInfo", ifx: 3,
			setup: toPrune,
			event: func(f *fx) []Action { return msg(f, 3, 210, js(rptSrc(fxS)), nil) },
			want:  dsNoInfo},
		{name: "Prune(S,G,rpt) received in Prune -> Prune, expiry timer raised", ifx: 3,
			setup: func(f *fx) { toPrune(f); f.adv(time.Second) },
			event: func(f *fx) []Action { return msg(f, 3, 210, nil, js(rptSrc(fxS))) },
			want:  dsPrune,
			check: func(t *testing.T, f *fx) { require.Equal(t, f.ns()+210*sec, f.sgif(fxK, 3).ret) }},
		{name: "Expiry timer expires in Prune -> NoInfo", ifx: 3,
			setup: func(f *fx) { joinStar(f, 3); msg(f, 3, 20, js(star()), js(rptSrc(fxS))) },
			event: func(f *fx) []Action { joinStar(f, 3); return f.adv(20 * time.Second) },
			want:  dsNoInfo},
		{name: "Join(*,G) received in Prune-Pending, no Prune(S,G,rpt) -> Prune-Pending-Tmp -> End of Message -> NoInfo", ifx: 2,
			setup: toPP,
			event: func(f *fx) []Action { return msg(f, 2, 210, js(star()), nil) },
			want:  dsNoInfo},
		{name: "Join(*,G) then Prune(S,G,rpt) in Prune-Pending -> Prune-Pending-Tmp -> Prune-Pending", ifx: 2,
			setup: toPP,
			event: func(f *fx) []Action { return msg(f, 2, 210, js(star()), js(rptSrc(fxS))) },
			want:  dsPrunePending},
		{name: "Join(S,G,rpt) received in Prune-Pending -> NoInfo, timers cancelled", ifx: 2,
			setup: toPP,
			event: func(f *fx) []Action { return msg(f, 2, 210, js(rptSrc(fxS)), nil) },
			want:  dsNoInfo,
			check: func(t *testing.T, f *fx) {
				if si := f.sgif(fxK, 2); si != nil {
					require.Zero(t, si.rpp)
					require.Zero(t, si.ret)
				}
			}},
		{name: "Prune(S,G,rpt) received in Prune-Pending -> Prune-Pending", ifx: 2,
			setup: func(f *fx) { toPP(f); f.adv(time.Second) },
			event: func(f *fx) []Action { return msg(f, 2, 210, nil, js(rptSrc(fxS))) },
			want:  dsPrunePending,
			check: func(t *testing.T, f *fx) {
				require.Equal(t, f.ns()+1500*int64(time.Millisecond), f.sgif(fxK, 2).rpp, "PPT not restarted")
			}},
		{name: "Prune-pending timer expires in Prune-Pending -> Prune", ifx: 2,
			setup: toPP,
			event: func(f *fx) []Action { return f.adv(2500 * time.Millisecond) },
			want:  dsPrune},
		{name: "Expiry timer expires in Prune-Pending -> NoInfo", ifx: 2,
			setup: func(f *fx) { joinStar(f, 2); msg(f, 2, 1, js(star()), js(rptSrc(fxS))) },
			event: func(f *fx) []Action { return f.adv(time.Second) },
			want:  dsNoInfo},
	}
	for _, c := range cases {
		t.Run("downstream (S,G,rpt): "+c.name, func(t *testing.T) {
			f := newFx(t, nil)
			if c.setup != nil {
				c.setup(f)
			}
			acts := c.event(f)
			require.Equal(t, dsNames[c.want], dsNames[f.rptjp(fxK, c.ifx)], "state\n%s", dump(acts))
			if c.check != nil {
				c.check(t, f)
			}
		})
	}
}

// TestDownstreamOlist: the (S,G,rpt) Prune takes S out of what the
// interface inherits from (*,G) (inherited_olist(S,G,rpt), §4.1.6).
func TestDownstreamOlist(t *testing.T) {
	f := newFx(t, nil)
	f.jp(3, fxD3, fxMe3, 210, fxG, js(star()), nil)
	acts := f.jp(2, fxD1, fxMe2, 210, fxG, js(star()), nil)
	require.Contains(t, of[Route](acts), Route{Group: fxG, IIF: 1, OIL: []IfIndex{2, 3}})
	acts = f.jp(3, fxD3, fxMe3, 210, fxG, js(star()), js(rptSrc(fxS)))
	require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 1, OIL: []IfIndex{2}}, dump(acts))
}

func TestInterfaceDownClearsDownstreamState(t *testing.T) {
	f := newFx(t, nil)
	f.jp(3, fxD3, fxMe3, 210, fxG, js(star(), sgSrc(fxS)), nil)
	f.jp(2, fxD1, fxMe2, 210, fxG, js(star()), nil)
	acts := f.do(InterfaceDown{If: 3})
	require.Equal(t, dsNoInfo, f.gjp(fxG, 3))
	require.Contains(t, of[Route](acts), Route{Group: fxG, IIF: 1, OIL: []IfIndex{2}})
	require.Contains(t, jpEntries(acts), "if1->10.1.0.2 P (10.9.1.1,239.1.1.1)", "nothing downstream for (S,G) any more")
}
