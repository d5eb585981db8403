package pim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// randomWorld drives one engine (interfaces 1-3 with neighbours) with random
// but valid events.
type randomWorld struct {
	rng    *rand.Rand
	now    time.Time
	nbrs   map[IfIndex][]netip.Addr
	groups []netip.Addr
	srcs   []netip.Addr
	rp     netip.Addr
}

func newRandomWorld(seed uint64) (*randomWorld, Config, *fakeRIB) {
	w := &randomWorld{rng: rand.New(rand.NewPCG(seed, 99)), now: t0, nbrs: map[IfIndex][]netip.Addr{},
		rp: a("10.255.0.9")}
	w.groups = []netip.Addr{a("239.1.1.1"), a("239.1.1.2"), a("232.1.1.1")}
	w.srcs = []netip.Addr{a("10.1.0.10"), a("10.2.0.20"), a("10.3.0.30")}
	cfg := Config{RouterAddresses: []netip.Addr{a("10.255.0.1")}, StaticRPs: []StaticRP{{Addr: w.rp}}}
	rib := newRIB()
	for i := 1; i <= 3; i++ {
		idx := IfIndex(i)
		cfg.Interfaces = append(cfg.Interfaces, InterfaceConfig{Index: idx, Name: fmt.Sprintf("ge-0/0/%d.0", i)})
		w.nbrs[idx] = []netip.Addr{a(fmt.Sprintf("10.%d.0.2", i)), a(fmt.Sprintf("10.%d.0.3", i))}
		rib.routes[p(fmt.Sprintf("10.%d.0.0/24", i))] = RPF{Iface: idx}
	}
	rib.routes[p("10.255.0.9/32")] = RPF{Iface: 2, NextHop: a("10.2.0.2"), Preference: 10, Metric: 3}
	rib.routes[p("10.9.0.0/16")] = RPF{Iface: 3, NextHop: a("10.3.0.3"), Preference: 10, Metric: 5}
	w.srcs = append(w.srcs, a("10.9.1.1"))
	return w, cfg, rib
}

func (w *randomWorld) pick(n int) int { return w.rng.IntN(n) }

// next returns the next event and how far to advance the clock first.
func (w *randomWorld) next() (time.Duration, Event) {
	idx := IfIndex(1 + w.pick(3))
	nb := w.nbrs[idx][w.pick(2)]
	g := w.groups[w.pick(len(w.groups))]
	s := w.srcs[w.pick(len(w.srcs))]
	d := time.Duration(w.pick(4000)) * time.Millisecond
	my := a(fmt.Sprintf("10.%d.0.1", idx))
	switch w.pick(14) {
	case 0, 1:
		return d, RecvHello{If: idx, Src: nb, Msg: Hello{Holdtime: uint16(105 * (w.pick(5)/4*-1 + 1)), HasDRPriority: true,
			DRPriority: uint32(w.pick(3)), HasGenID: true, GenID: uint32(w.pick(3)), HasLANPruneDelay: w.pick(2) == 0,
			PropagationDelay: 500, OverrideInterval: 2500}}
	case 2, 3:
		jp := JoinPrune{UpstreamNeighbor: my, Holdtime: 210}
		if w.pick(4) == 0 {
			jp.UpstreamNeighbor = w.nbrs[idx][0]
		}
		grp := JPGroup{Group: g}
		srcs := []JPSource{{Addr: w.rp, WC: true, RPT: true}, {Addr: s, RPT: true}, {Addr: s}}
		for i := 0; i < 1+w.pick(3); i++ {
			x := srcs[w.pick(3)]
			if w.pick(2) == 0 {
				grp.Joins = append(grp.Joins, x)
			} else {
				grp.Prunes = append(grp.Prunes, x)
			}
		}
		jp.Groups = []JPGroup{grp}
		return d, RecvJoinPrune{If: idx, Src: nb, Msg: jp}
	case 4:
		return d, RecvAssert{If: idx, Src: nb, Msg: Assert{Group: g, Source: s, Metric: AssertMetric{RPT: w.pick(2) == 0,
			Preference: uint32(w.pick(20)), Metric: uint32(w.pick(10))}}}
	case 5:
		return d, Membership{If: idx, Group: g, Source: []netip.Addr{{}, s}[w.pick(2)], Mode: MembershipMode(w.pick(3))}
	case 6:
		return d, NewSource{If: idx, Source: s, Group: g}
	case 7:
		return d, WrongInterface{If: idx, Source: s, Group: g}
	case 8:
		return d, DataActivity{If: IfIndex(w.pick(4)), Source: s, Group: g}
	case 9:
		return d, RecvRegisterStop{Src: w.rp, Dst: a("10.255.0.1"), Msg: RegisterStop{Group: g, Source: s}}
	case 10:
		rpf := RPF{Iface: IfIndex(1 + w.pick(3))}
		rpf.NextHop = w.nbrs[rpf.Iface][w.pick(2)]
		return d, RPFChange{Addr: []netip.Addr{s, w.rp}[w.pick(2)], RPF: rpf}
	case 11:
		return d, GracefulWindow{Active: w.pick(2) == 0}
	case 12:
		return time.Duration(w.pick(90)) * time.Second, nil
	default:
		return d, RecvRegister{Src: a("10.7.0.7"), Dst: a("10.255.0.1"), Msg: Register{Source: s, Group: g, Null: w.pick(2) == 0}}
	}
}

func actionsJSON(t *testing.T, acts []Action) string {
	t.Helper()
	var out []string
	for _, x := range acts {
		b, err := json.Marshal(x)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%T%s", x, b))
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// step feeds one event (or a timer advance) and returns the actions.
func step(e *Engine, now time.Time, ev Event) []Action {
	if ev == nil {
		return e.Advance(now)
	}
	acts := e.Advance(now)
	return append(acts, e.Handle(now, ev)...)
}

// TestSnapshotReplay: export after random events, import into a fresh
// engine (through JSON), feed both the same events: same actions, and the
// same snapshot at the end.
func TestSnapshotReplay(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w, cfg, rib := newRandomWorld(seed)
			ea, err := New(cfg, Options{Seed: [2]uint64{seed, 5}, RPF: rib}, w.now)
			require.NoError(t, err)
			for i := 1; i <= 3; i++ {
				ea.Handle(w.now, InterfaceUp{If: IfIndex(i), Addr: a(fmt.Sprintf("10.%d.0.1", i)), Prefixes: []netip.Prefix{p(fmt.Sprintf("10.%d.0.0/24", i))}})
			}
			for i := 0; i < 300; i++ {
				d, ev := w.next()
				w.now = w.now.Add(d)
				step(ea, w.now, ev)
			}
			sn, err := ea.Export(w.now)
			require.NoError(t, err)
			raw, err := json.Marshal(sn)
			require.NoError(t, err)
			var back Snapshot
			require.NoError(t, json.Unmarshal(raw, &back))

			eb, err := New(cfg, Options{Seed: [2]uint64{777, 888}, RPF: rib}, w.now)
			require.NoError(t, err)
			require.NoError(t, eb.Import(&back))
			require.Equal(t, ea.NextDeadline(), eb.NextDeadline())
			for i := 0; i < 300; i++ {
				d, ev := w.next()
				w.now = w.now.Add(d)
				aa, ab := step(ea, w.now, ev), step(eb, w.now, ev)
				require.Equal(t, actionsJSON(t, aa), actionsJSON(t, ab), "event %d: %T %+v", i, ev, ev)
			}
			s1, _ := ea.Export(w.now)
			s2, _ := eb.Export(w.now)
			j1, _ := json.Marshal(s1)
			j2, _ := json.Marshal(s2)
			require.JSONEq(t, string(j1), string(j2))
		})
	}
}
