package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var fxDK = SG{fxDirectS, fxG}

var regNames2 = [...]string{"NoInfo", "Join", "Join-Pending", "Prune"}

func (f *fx) reg() uint8 {
	if s := f.sg(fxDK); s != nil {
		return s.reg
	}
	return regNoInfo
}

// newSource: the first packet of the directly connected source on if4,
// where this router is DR (no neighbour).
func newSource(f *fx) []Action { return f.do(NewSource{If: 4, Source: fxDirectS, Group: fxG}) }

func regStop(f *fx, src netip.Addr) []Action {
	return f.do(RecvRegisterStop{Src: fxRP, Dst: fxMe1, Msg: RegisterStop{Group: fxG, Source: src}})
}

// TestRegisterDR covers the DR's register state machine (§4.4.1).
func TestRegisterDR(t *testing.T) {
	sec := int64(time.Second)
	cases := []struct {
		name  string
		mod   func(*Config)
		setup func(f *fx)
		event func(f *fx) []Action
		want  uint8
		check func(t *testing.T, f *fx, acts []Action)
	}{
		{name: "CouldRegister -> TRUE in NoInfo -> Join, register tunnel added",
			event: newSource,
			want:  regJoin,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Contains(t, of[Route](acts), Route{Source: fxDirectS, Group: fxG, IIF: 4, Register: true, RegisterRP: fxRP})
				require.Equal(t, f.ns()+210*sec, f.sg(fxDK).kat, "KAT started by the directly connected source")
			}},
		{name: "Register-Stop received in Join -> Prune, tunnel removed, RST = rand(0.5, 1.5) * 60 s - 5 s",
			setup: func(f *fx) { newSource(f) },
			event: func(f *fx) []Action { return regStop(f, fxDirectS) },
			want:  regPrune,
			check: func(t *testing.T, f *fx, acts []Action) {
				rst := f.sg(fxDK).rst
				require.GreaterOrEqual(t, rst, f.ns()+25*sec)
				require.Less(t, rst, f.ns()+85*sec)
				require.Contains(t, of[Route](acts), Route{Source: fxDirectS, Group: fxG, IIF: 4})
			}},
		{name: "Register-Stop timer expires in Prune -> Join-Pending, Null-Register sent, RST = Register_Probe_Time",
			setup: func(f *fx) { newSource(f); regStop(f, fxDirectS) },
			event: func(f *fx) []Action {
				f.do(DataActivity{If: 4, Source: fxDirectS, Group: fxG})
				return f.adv(time.Duration(f.sg(fxDK).rst - f.ns()))
			},
			want: regJoinPending,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Equal(t, []SendRegister{{Src: fxMe1, Dst: fxRP, Msg: Register{Source: fxDirectS, Group: fxG, Null: true}}}, of[SendRegister](acts))
				require.Equal(t, f.ns()+5*sec, f.sg(fxDK).rst)
			}},
		{name: "Register-Stop received in Join-Pending -> Prune",
			setup: func(f *fx) {
				newSource(f)
				regStop(f, fxDirectS)
				f.do(DataActivity{If: 4, Source: fxDirectS, Group: fxG})
				f.adv(time.Duration(f.sg(fxDK).rst - f.ns()))
			},
			event: func(f *fx) []Action { return regStop(f, fxDirectS) },
			want:  regPrune},
		{name: "Register-Stop timer expires in Join-Pending -> Join, tunnel added back",
			setup: func(f *fx) {
				newSource(f)
				regStop(f, fxDirectS)
				f.do(DataActivity{If: 4, Source: fxDirectS, Group: fxG})
				f.adv(time.Duration(f.sg(fxDK).rst - f.ns()))
			},
			event: func(f *fx) []Action { return f.adv(5 * time.Second) },
			want:  regJoin,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Contains(t, of[Route](acts), Route{Source: fxDirectS, Group: fxG, IIF: 4, Register: true, RegisterRP: fxRP})
			}},
		{name: "CouldRegister -> FALSE (Keepalive Timer expires) in Join -> NoInfo",
			setup: func(f *fx) { newSource(f) },
			event: func(f *fx) []Action { return f.adv(210 * time.Second) },
			want:  regNoInfo,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Contains(t, of[RouteDelete](acts), RouteDelete{Source: fxDirectS, Group: fxG})
			}},
		{name: "CouldRegister -> FALSE (another router becomes DR) in Prune -> NoInfo",
			setup: func(f *fx) { newSource(f); regStop(f, fxDirectS) },
			event: func(f *fx) []Action { return f.do(RecvHello{If: 4, Src: a("10.4.0.2"), Msg: fxHello(5)}) },
			want:  regNoInfo},
		{name: "RP changed in Prune -> Join, RST cancelled",
			setup: func(f *fx) { newSource(f); regStop(f, fxDirectS) },
			event: func(f *fx) []Action {
				cfg := f.e.Config()
				cfg.StaticRPs = []StaticRP{{Addr: a("10.255.0.8")}}
				acts, err := f.e.SetConfig(f.now, cfg)
				require.NoError(t, err)
				return acts
			},
			want: regJoin,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Zero(t, f.sg(fxDK).rst)
				require.Contains(t, of[Route](acts), Route{Source: fxDirectS, Group: fxG, IIF: 4, Register: true, RegisterRP: a("10.255.0.8")})
			}},
		{name: "Register-Stop(*,G) stops every source of G",
			setup: func(f *fx) { newSource(f); f.do(NewSource{If: 4, Source: a("10.4.0.11"), Group: fxG}) },
			event: func(f *fx) []Action { return regStop(f, a("0.0.0.0")) },
			want:  regPrune,
			check: func(t *testing.T, f *fx, acts []Action) {
				require.Equal(t, regPrune, f.sg(SG{a("10.4.0.11"), fxG}).reg)
			}},
		{name: "SSM group: no register",
			event: func(f *fx) []Action { return f.do(NewSource{If: 4, Source: fxDirectS, Group: fxSSM}) },
			want:  regNoInfo},
		{name: "this router is the RP: no register",
			mod:   func(c *Config) { c.StaticRPs = nil; c.LocalRP = &StaticRP{Addr: a("10.255.0.1")} },
			event: newSource,
			want:  regNoInfo},
	}
	for _, c := range cases {
		t.Run("register: "+c.name, func(t *testing.T) {
			f := newFx(t, c.mod)
			if c.setup != nil {
				c.setup(f)
			}
			acts := c.event(f)
			require.Equal(t, regNames2[c.want], regNames2[f.reg()], "state\n%s", dump(acts))
			if c.check != nil {
				c.check(t, f, acts)
			}
		})
	}
}

// TestRegisterRP covers packet_arrives_on_rp_tunnel (§4.4.2).
func TestRegisterRP(t *testing.T) {
	sec := int64(time.Second)
	rpMod := func(c *Config) { c.StaticRPs = nil; c.LocalRP = &StaticRP{Addr: a("10.255.0.1")} }
	me := a("10.255.0.1")
	dr := a("10.7.0.7")
	reg := func(f *fx, null bool) []Action {
		return f.do(RecvRegister{Src: dr, Dst: me, Msg: Register{Source: fxS, Group: fxG, Null: null}})
	}
	rpStar := func(f *fx) { f.jp(3, fxD3, fxMe3, 210, fxG, js(JPSource{Addr: me, WC: true, RPT: true}), nil) }
	t.Run("RP: Register for a group this router is not the RP of -> Register-Stop", func(t *testing.T) {
		f := newFx(t, nil) // RP is 10.255.0.9, not us
		acts := f.do(RecvRegister{Src: dr, Dst: me, Msg: Register{Source: fxS, Group: fxG}})
		require.Equal(t, []SendRegisterStop{{Src: me, Dst: dr, Msg: RegisterStop{Group: fxG, Source: fxS}}}, of[SendRegisterStop](acts))
		require.Nil(t, f.sg(fxK))
	})
	t.Run("RP: Register to an address that is not ours -> dropped silently", func(t *testing.T) {
		f := newFx(t, rpMod)
		acts := f.do(RecvRegister{Src: dr, Dst: a("10.99.0.1"), Msg: Register{Source: fxS, Group: fxG}})
		require.Empty(t, acts)
	})
	t.Run("RP: Register with downstream (*,G) state -> decapsulate down the RP tree, KAT = Keepalive_Period, Join(S,G) towards S", func(t *testing.T) {
		f := newFx(t, rpMod)
		rpStar(f)
		acts := reg(f, false)
		require.Empty(t, of[SendRegisterStop](acts))
		require.Equal(t, f.ns()+210*sec, f.sg(fxK).kat)
		require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 1, OIL: []IfIndex{3}, Decap: true})
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Equal(t, "Local RP, Join to Source", f.e.ShowJoin(f.now, fxG)[1].UpstreamState)
	})
	t.Run("RP: Register with no downstream state -> Register-Stop, KAT = RP_Keepalive_Period", func(t *testing.T) {
		f := newFx(t, rpMod)
		acts := reg(f, false)
		require.Len(t, of[SendRegisterStop](acts), 1)
		require.Equal(t, f.ns()+185*sec, f.sg(fxK).kat)
		require.Empty(t, jpEntries(acts))
	})
	t.Run("RP: Register with the SPT bit set -> Register-Stop, no decapsulation", func(t *testing.T) {
		f := newFx(t, rpMod)
		rpStar(f)
		reg(f, false)
		f.do(DataActivity{If: 1, Source: fxS, Group: fxG}) // native traffic on the SPT
		require.True(t, f.sg(fxK).spt)
		acts := reg(f, false)
		require.Len(t, of[SendRegisterStop](acts), 1)
		require.False(t, f.e.sgRoute(f.sg(fxK)).Decap)
	})
	t.Run("RP: Null-Register -> nothing to decapsulate", func(t *testing.T) {
		f := newFx(t, rpMod)
		rpStar(f)
		acts := reg(f, true)
		require.False(t, f.e.sgRoute(f.sg(fxK)).Decap)
		require.Empty(t, of[SendRegisterStop](acts))
	})
	t.Run("RP: an MSDP-learned source with (*,G) receivers -> KAT started, Join(S,G) towards S", func(t *testing.T) {
		f := newFx(t, rpMod)
		rpStar(f)
		acts := f.do(RemoteSource{Source: fxS, Group: fxG})
		require.Equal(t, f.ns()+210*sec, f.sg(fxK).kat)
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.EqualValues(t, 1, f.e.Stats().RemoteSources)
	})
	t.Run("not the RP: an MSDP-learned source is ignored", func(t *testing.T) {
		f := newFx(t, nil)
		acts := f.do(RemoteSource{Source: fxS, Group: fxG})
		require.Empty(t, acts)
		require.Nil(t, f.sg(fxK))
	})
	t.Run("RP: Register for an SSM group -> Register-Stop", func(t *testing.T) {
		f := newFx(t, rpMod)
		acts := f.do(RecvRegister{Src: dr, Dst: me, Msg: Register{Source: fxS, Group: fxSSM}})
		require.Len(t, of[SendRegisterStop](acts), 1)
	})
}
