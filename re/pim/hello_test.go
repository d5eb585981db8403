package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func hellos(acts []Action, ifx IfIndex) []Hello {
	var out []Hello
	for _, h := range of[SendHello](acts) {
		if h.If == ifx {
			out = append(out, h.Msg)
		}
	}
	return out
}

// TestHelloAndNeighbors covers §4.3.1-§4.3.3.
func TestHelloAndNeighbors(t *testing.T) {
	cfg := Config{Interfaces: []InterfaceConfig{{Index: 1, Name: "ge-0/0/1.0"}}}
	up := func(t *testing.T) (*Engine, []Action) {
		e := mustEngine(t, cfg, newRIB())
		return e, e.Handle(t0, InterfaceUp{If: 1, Addr: a("10.1.0.1"), Prefixes: []netip.Prefix{p("10.1.0.0/24")}})
	}
	t.Run("hello: interface up -> first Hello within Triggered_Hello_Delay, then every Hello_Period", func(t *testing.T) {
		e, acts := up(t)
		require.Empty(t, hellos(acts, 1), "not at once")
		next := e.NextDeadline()
		require.True(t, !next.Before(t0) && next.Before(t0.Add(5*time.Second)), "%v", next)
		acts = e.Advance(next)
		h := hellos(acts, 1)
		require.Len(t, h, 1)
		require.Equal(t, Hello{Holdtime: 105, HasDRPriority: true, DRPriority: 1, HasGenID: true, GenID: e.ifs[1].genID,
			HasLANPruneDelay: true, PropagationDelay: 500, OverrideInterval: 2000}, h[0])
		require.Empty(t, hellos(e.Advance(next.Add(29*time.Second)), 1))
		require.Len(t, hellos(e.Advance(next.Add(30*time.Second)), 1), 1)
	})
	t.Run("hello: lost (no line card yet) -> triggered Hello within Triggered_Hello_Delay, not after Hello_Period", func(t *testing.T) {
		e, _ := up(t)
		first := e.NextDeadline()
		require.Len(t, hellos(e.Advance(first), 1), 1) // sent, but went nowhere
		now := first.Add(2 * time.Second)
		require.Empty(t, hellos(e.Handle(now, HelloLost{If: 1}), 1), "not at once")
		next := e.NextDeadline()
		require.True(t, !next.Before(now) && next.Before(now.Add(5*time.Second)), "%v", next.Sub(now))
		h := hellos(e.Advance(next), 1)
		require.Len(t, h, 1)
		require.Equal(t, e.ifs[1].genID, h[0].GenID, "the same generation: nothing restarted")
		require.Len(t, hellos(e.Advance(next.Add(30*time.Second)), 1), 1, "then every Hello_Period again")
		// On an interface that is down (or unknown) it does nothing.
		e.Handle(next.Add(31*time.Second), InterfaceDown{If: 1})
		require.Empty(t, e.Handle(next.Add(32*time.Second), HelloLost{If: 1}))
		require.Empty(t, e.Handle(next.Add(32*time.Second), HelloLost{If: 9}))
	})
	t.Run("hello: hello-interval 10 -> holdtime 35", func(t *testing.T) {
		c := cfg
		c.Interfaces = []InterfaceConfig{{Index: 1, Name: "x", HelloInterval: 10 * time.Second}}
		e := mustEngine(t, c, newRIB())
		e.Handle(t0, InterfaceUp{If: 1, Addr: a("10.1.0.1")})
		h := hellos(e.Advance(t0.Add(5*time.Second)), 1)
		require.Equal(t, uint16(35), h[0].Holdtime)
	})
	t.Run("hello: new neighbour -> triggered Hello within Triggered_Hello_Delay", func(t *testing.T) {
		e, _ := up(t)
		e.Advance(t0.Add(5 * time.Second))
		now := t0.Add(10 * time.Second)
		e.Handle(now, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(1)})
		d := e.NextDeadline().Sub(now)
		require.True(t, d >= 0 && d < 5*time.Second, "%v", d)
		require.Equal(t, uint64(1), e.Stats().NeighborsUp)
	})
	t.Run("hello: GenID change -> triggered Hello, neighbour kept", func(t *testing.T) {
		e, _ := up(t)
		e.Advance(t0.Add(5 * time.Second))
		now := t0.Add(10 * time.Second)
		e.Handle(now, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(1)})
		e.Advance(now.Add(5 * time.Second))
		now = now.Add(6 * time.Second)
		e.Handle(now, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(2)})
		d := e.NextDeadline().Sub(now)
		require.True(t, d >= 0 && d < 5*time.Second, "%v", d)
		require.Len(t, e.ifs[1].nbrs, 1)
		require.Equal(t, uint64(1), e.Stats().GenIDChanges)
	})
	t.Run("hello: holdtime 0 (goodbye) -> neighbour removed at once", func(t *testing.T) {
		e, _ := up(t)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(1)})
		e.Handle(t0.Add(time.Second), RecvHello{If: 1, Src: a("10.1.0.2"), Msg: Hello{Holdtime: 0}})
		require.Empty(t, e.ifs[1].nbrs)
	})
	t.Run("hello: neighbour liveness timer expires -> neighbour removed", func(t *testing.T) {
		e, _ := up(t)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(1)})
		e.Advance(t0.Add(104 * time.Second))
		require.Len(t, e.ifs[1].nbrs, 1)
		e.Advance(t0.Add(105 * time.Second))
		require.Empty(t, e.ifs[1].nbrs)
		require.Equal(t, uint64(1), e.Stats().NeighborTimeouts)
	})
	t.Run("hello: holdtime 0xffff -> neighbour never expires", func(t *testing.T) {
		e, _ := up(t)
		h := fxHello(1)
		h.Holdtime = 0xffff
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		e.Advance(t0.Add(100 * time.Hour))
		require.Len(t, e.ifs[1].nbrs, 1)
	})
	t.Run("DR election: the highest DR priority wins", func(t *testing.T) {
		e, _ := up(t)
		h := fxHello(1)
		h.DRPriority = 0 // lower than our 1, higher address
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.9"), Msg: h})
		require.Equal(t, a("10.1.0.1"), e.ifs[1].dr)
		h.DRPriority = 5
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		require.Equal(t, a("10.1.0.2"), e.ifs[1].dr)
	})
	t.Run("DR election: equal priorities -> the highest address wins", func(t *testing.T) {
		e, _ := up(t)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.9"), Msg: fxHello(1)})
		require.Equal(t, a("10.1.0.9"), e.ifs[1].dr)
	})
	t.Run("DR election: a neighbour without the DR Priority option -> priorities ignored, highest address", func(t *testing.T) {
		e, _ := up(t)
		h := fxHello(1)
		h.DRPriority = 100
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		require.Equal(t, a("10.1.0.2"), e.ifs[1].dr)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.5"), Msg: Hello{Holdtime: 105}})
		require.Equal(t, a("10.1.0.5"), e.ifs[1].dr)
	})
	t.Run("DR election: the DR leaves -> re-elected", func(t *testing.T) {
		e, _ := up(t)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.9"), Msg: fxHello(1)})
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.9"), Msg: Hello{Holdtime: 0}})
		require.Equal(t, a("10.1.0.1"), e.ifs[1].dr)
		require.True(t, e.iAmDR(1))
	})
	t.Run("LAN prune delay: every neighbour advertises it -> the largest values count", func(t *testing.T) {
		e, _ := up(t)
		h := fxHello(1)
		h.PropagationDelay, h.OverrideInterval = 1000, 3000
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		f := e.ifs[1]
		require.Equal(t, int64(1000*time.Millisecond), f.effectivePropagation())
		require.Equal(t, int64(3000*time.Millisecond), f.effectiveOverride())
		require.Equal(t, int64(4000*time.Millisecond), f.jpOverride())
	})
	t.Run("LAN prune delay: one neighbour without it -> the RFC defaults (0.5 s + 2.5 s)", func(t *testing.T) {
		e, _ := up(t)
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: fxHello(1)})
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.3"), Msg: Hello{Holdtime: 105}})
		require.Equal(t, int64(3*time.Second), e.ifs[1].jpOverride())
	})
	t.Run("LAN prune delay: every neighbour sets T -> join suppression disabled", func(t *testing.T) {
		e, _ := up(t)
		h := fxHello(1)
		h.TBit = true
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		require.False(t, e.ifs[1].suppressionEnabled())
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.3"), Msg: fxHello(1)})
		require.True(t, e.ifs[1].suppressionEnabled())
	})
	t.Run("hello: interface down -> goodbye Hello (holdtime 0)", func(t *testing.T) {
		e, _ := up(t)
		e.Advance(t0.Add(5 * time.Second))
		acts := e.Handle(t0.Add(6*time.Second), InterfaceDown{If: 1})
		h := hellos(acts, 1)
		require.Len(t, h, 1)
		require.Equal(t, uint16(0), h[0].Holdtime)
	})
	t.Run("hello: DR priority reconfigured -> triggered Hello with the new priority", func(t *testing.T) {
		e, _ := up(t)
		e.Advance(t0.Add(5 * time.Second))
		c := cfg
		c.Interfaces = []InterfaceConfig{{Index: 1, Name: "ge-0/0/1.0", DRPriority: 200}}
		acts, err := e.SetConfig(t0.Add(6*time.Second), c)
		require.NoError(t, err)
		h := hellos(acts, 1)
		require.Len(t, h, 1)
		require.Equal(t, uint32(200), h[0].DRPriority)
	})
	t.Run("hello: a Hello goes out before any other message on the interface", func(t *testing.T) {
		e := mustEngine(t, Config{Interfaces: cfg.Interfaces, StaticRPs: []StaticRP{{Addr: fxRP}}},
			RPFLookupFunc(func(netip.Addr) RPF { return RPF{Iface: 1, NextHop: a("10.1.0.2")} }))
		e.Handle(t0, InterfaceUp{If: 1, Addr: a("10.1.0.1")})
		h := fxHello(1)
		h.DRPriority = 0 // we are DR
		e.Handle(t0, RecvHello{If: 1, Src: a("10.1.0.2"), Msg: h})
		acts := e.Handle(t0, Membership{If: 1, Group: fxG, Mode: MemberInclude})
		require.GreaterOrEqual(t, len(acts), 2)
		_, isHello := acts[0].(SendHello)
		require.True(t, isHello, dump(acts))
		require.Len(t, of[SendJoinPrune](acts), 1)
	})
}

// TestGenIDChangeResendsJoins: "RPF'(*,G) GenID changes" -> JT = t_override:
// a restarted upstream gets our Joins within the override interval.
func TestGenIDChangeResendsJoins(t *testing.T) {
	f := newFx(t, nil)
	starJoined(f)
	sgJoined(f)
	f.do(RecvHello{If: 1, Src: fxU, Msg: fxHello(77)})
	acts := f.adv(2 * time.Second)
	require.Equal(t, []string{"if1->10.1.0.2 J (*,239.1.1.1)", "if1->10.1.0.2 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
}
