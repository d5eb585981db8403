package gir

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

var (
	t0   = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	me   = netip.MustParseAddr("10.255.0.2")
	peer = netip.MustParseAddr("10.255.0.9")
	nbr  = netip.MustParseAddr("10.0.12.1")
)

// fx is a controller on a manual clock.
type fx struct {
	t   *testing.T
	c   *Controller
	now time.Time
}

func newFx(t *testing.T, opt Options) *fx {
	return &fx{t: t, c: New(Config{Originator: me}, opt, t0), now: t0}
}

func (f *fx) do(ev Event) []Action {
	f.t.Helper()
	acts, err := f.c.Handle(f.now, ev)
	require.NoError(f.t, err)
	return acts
}

// adv moves the clock by d, firing every deadline on the way in order.
func (f *fx) adv(d time.Duration) []Action {
	end := f.now.Add(d)
	var out []Action
	for {
		next := f.c.NextDeadline()
		if next.IsZero() || next.After(end) {
			break
		}
		if next.After(f.now) {
			f.now = next
		}
		out = append(out, f.c.Advance(f.now)...)
	}
	f.now = end
	return append(out, f.c.Advance(f.now)...)
}

// girs renders the GIR TLVs of the Sends as "start/stop" ("fwd" prefix for
// forwarded ones), and Graceful as "open"/"close".
func girs(t *testing.T, acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			g, ok, err := a.Msg.FindGIR(pimmsg.DefaultGIRType)
			require.NoError(t, err)
			s := "no-gir"
			if ok {
				s = itoa(g.Start) + "/" + itoa(g.Stop)
			}
			if a.Forwarded {
				s = "fwd " + s
			}
			out = append(out, s)
		case Graceful:
			if a.Active {
				out = append(out, "open")
			} else {
				out = append(out, "close")
			}
		}
	}
	return out
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// pfm builds a PFM from the peer with a GIR TLV (start, stop) and extra
// TLVs.
func pfm(t *testing.T, start, stop uint32, extra ...pimmsg.TLV) *pimmsg.PFM {
	tl, err := pimmsg.GIR{Start: start, Stop: stop}.TLV(pimmsg.DefaultGIRType)
	require.NoError(t, err)
	return &pimmsg.PFM{Originator: peer, TLVs: append([]pimmsg.TLV{tl}, extra...)}
}

// rx is a PFM that passes every check: from the neighbour on interface 1,
// the RPF interface towards the peer.
func rx(m *pimmsg.PFM) Received {
	return Received{If: 1, Src: nbr, Msg: m, FromNeighbor: true, ToAllPIMRouters: true, RPFIf: 1, RPFNeighbor: nbr}
}

func TestOriginatorRemoval(t *testing.T) {
	f := newFx(t, Options{})
	t.Run("removal: 3 copies 1 s apart with the remaining time, then every 60 s until stop", func(t *testing.T) {
		acts := f.do(Enable{Start: 10 * time.Second, Stop: 300 * time.Second})
		require.Equal(t, []string{"10/300"}, girs(t, acts))
		require.Equal(t, ModeRemoval, f.c.Mode())
		require.Equal(t, []string{"9/299"}, girs(t, f.adv(time.Second)))
		require.Equal(t, []string{"8/298"}, girs(t, f.adv(time.Second)))
		// Our own window opens at +10 s: the engine's too.
		require.Equal(t, []string{"open"}, girs(t, f.adv(8*time.Second)))
		require.Equal(t, []string{"0/240"}, girs(t, f.adv(50*time.Second)))
		require.Equal(t, []string{"0/180", "0/120", "0/60"}, girs(t, f.adv(180*time.Second)))
		require.Equal(t, []string{"close"}, girs(t, f.adv(60*time.Second)), "at stop the window closes, nothing is sent")
		require.Equal(t, ModeMaintenance, f.c.Mode())
		require.True(t, f.c.NextDeadline().IsZero())
		require.Empty(t, f.adv(time.Hour), "in maintenance after the window: silent")
		require.Equal(t, uint64(7), f.c.Stats().Originated)
	})
	t.Run("insertion: 0/N at once (window open), then 0/0 three times when N has passed", func(t *testing.T) {
		acts := f.do(Disable{Stop: 30 * time.Second})
		require.Equal(t, []string{"0/30", "open"}, girs(t, acts))
		require.Equal(t, ModeInsertion, f.c.Mode())
		require.Equal(t, []string{"0/29", "0/28"}, girs(t, f.adv(2*time.Second)))
		require.Equal(t, []string{"0/0", "close"}, girs(t, f.adv(28*time.Second)))
		require.Equal(t, ModeNormal, f.c.Mode())
		require.Equal(t, []string{"0/0", "0/0"}, girs(t, f.adv(2*time.Second)))
		require.True(t, f.c.NextDeadline().IsZero())
	})
	t.Run("disable stop 0: fully operational at once", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(Enable{Start: 0, Stop: 100 * time.Second})
		f.adv(5 * time.Second)
		acts := f.do(Disable{})
		require.Equal(t, []string{"0/0", "close"}, girs(t, acts))
	})
	t.Run("refused requests", func(t *testing.T) {
		_, err := f.c.Handle(f.now, Disable{Stop: time.Second})
		require.ErrorIs(t, err, ErrNotInMaintenance)
		_, err = f.c.Handle(f.now, Enable{Start: 20 * time.Second, Stop: 10 * time.Second})
		require.ErrorIs(t, err, ErrInvalid)
		_, err = f.c.Handle(f.now, Enable{Start: 0, Stop: 0})
		require.ErrorIs(t, err, ErrInvalid)
		g := New(Config{}, Options{}, t0)
		_, err = g.Handle(t0, Enable{Start: time.Second, Stop: 2 * time.Second})
		require.ErrorIs(t, err, ErrNoOriginator)
	})
	t.Run("the GIR TLV is transitive, of the configured type, with our originator", func(t *testing.T) {
		g := New(Config{Originator: me, TLVType: 31000, Copies: 1}, Options{}, t0)
		acts, err := g.Handle(t0, Enable{Start: time.Second, Stop: 2 * time.Second, Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}})
		require.NoError(t, err)
		require.Len(t, acts, 1)
		m := acts[0].(Send).Msg
		require.Equal(t, me, m.Originator)
		require.False(t, m.NoForward)
		require.Len(t, m.TLVs, 1)
		require.True(t, m.TLVs[0].Transitive)
		require.Equal(t, uint16(31000), m.TLVs[0].Type)
		gg, err := pimmsg.ParseGIR(m.TLVs[0])
		require.NoError(t, err)
		require.Equal(t, pimmsg.GIR{Start: 1, Stop: 2, Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}, gg)
	})
}

func TestReceiver(t *testing.T) {
	t.Run("accepted: forwarded on the other interfaces, the engine's window opens at start and closes at stop", func(t *testing.T) {
		f := newFx(t, Options{})
		acts := f.do(rx(pfm(t, 10, 60)))
		require.Equal(t, []string{"fwd 10/60"}, girs(t, acts))
		require.Equal(t, pim.IfIndex(1), acts[0].(Send).In)
		require.Equal(t, nbr, acts[0].(Send).From)
		require.Equal(t, peer, acts[0].(Send).Msg.Originator)
		require.Empty(t, f.adv(9*time.Second))
		require.Equal(t, []string{"open"}, girs(t, f.adv(time.Second)))
		require.Empty(t, f.adv(49*time.Second))
		require.Equal(t, []string{"close"}, girs(t, f.adv(time.Second)))
		st := f.c.Stats()
		require.Equal(t, Stats{Received: 1, Accepted: 1, Forwarded: 1, WindowsLearned: 1, WindowsOpened: 1, WindowsExpired: 1, GracefulOpened: 1}, st)
	})
	for _, tc := range []struct {
		name string
		ev   func(Received) Received
		want Stats
	}{
		{"dropped: our own originator", func(r Received) Received { r.Msg.Originator = me; return r }, Stats{Received: 1, DropOwn: 1}},
		{"dropped: an address of ours", func(r Received) Received { r.Local = true; return r }, Stats{Received: 1, DropOwn: 1}},
		{"dropped: not from a PIM neighbour", func(r Received) Received { r.FromNeighbor = false; return r }, Stats{Received: 1, DropNotNeighbor: 1}},
		{"dropped: not the RPF interface towards the originator", func(r Received) Received { r.RPFIf = 2; return r }, Stats{Received: 1, DropRPF: 1}},
		{"dropped: the RPF interface but not the RPF neighbour (a LAN)", func(r Received) Received { r.RPFNeighbor = netip.MustParseAddr("10.0.12.7"); return r }, Stats{Received: 1, DropRPF: 1}},
		{"dropped: not to ALL-PIM-ROUTERS", func(r Received) Received { r.ToAllPIMRouters = false; return r }, Stats{Received: 1, DropNotAllPIM: 1}},
		{"dropped: an administrative boundary", func(r Received) Received { r.Boundary = true; return r }, Stats{Received: 1, DropBoundary: 1}},
		{"dropped: no route to the originator", func(r Received) Received { r.RPFIf = 0; return r }, Stats{Received: 1, DropRPF: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx(t, Options{})
			require.Empty(t, f.do(tc.ev(rx(pfm(t, 0, 60)))))
			require.Equal(t, tc.want, f.c.Stats())
			require.Empty(t, f.c.Status(f.now).Learned)
		})
	}
	t.Run("duplicate: same originator and content within the interval -> neither applied nor forwarded", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(rx(pfm(t, 0, 300)))
		f.adv(10 * time.Second)
		require.Empty(t, f.do(rx(pfm(t, 0, 300))))
		require.Equal(t, uint64(1), f.c.Stats().Duplicates)
		require.Equal(t, t0.Add(300*time.Second), f.c.Status(f.now).Learned[0].Stop, "not re-anchored")
		f.adv(51 * time.Second)
		require.Equal(t, []string{"fwd 0/300"}, girs(t, f.do(rx(pfm(t, 0, 300)))), "after the interval it is news again")
		require.Equal(t, f.now.Add(300*time.Second), f.c.Status(f.now).Learned[0].Stop)
	})
	t.Run("the originator's copies carry the remaining time: accepted, forwarded, the same window", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(rx(pfm(t, 10, 300)))
		f.adv(time.Second)
		require.Equal(t, []string{"fwd 9/299"}, girs(t, f.do(rx(pfm(t, 9, 299)))))
		w := f.c.Status(f.now).Learned[0]
		require.Equal(t, t0.Add(10*time.Second), w.Start)
		require.Equal(t, t0.Add(300*time.Second), w.Stop)
		require.Equal(t, uint64(1), w.Refreshes)
	})
	t.Run("a window already started keeps its start (\"if not already started\"); the latest stop wins", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(rx(pfm(t, 5, 100)))
		require.Equal(t, []string{"open"}, girs(t, f.adv(6*time.Second)))
		acts := f.do(rx(pfm(t, 20, 50)))
		require.Equal(t, []string{"fwd 20/50"}, girs(t, acts), "no close: still open")
		w := f.c.Status(f.now).Learned[0]
		require.Equal(t, t0.Add(5*time.Second), w.Start)
		require.Equal(t, f.now.Add(50*time.Second), w.Stop)
		require.True(t, w.Open)
	})
	t.Run("0/0: fully operational closes that originator's window", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(rx(pfm(t, 0, 300)))
		f.adv(time.Second)
		require.Equal(t, []string{"fwd 0/0", "close"}, girs(t, f.do(rx(pfm(t, 0, 0)))))
		require.Empty(t, f.c.Status(f.now).Learned)
		require.Equal(t, uint64(1), f.c.Stats().WindowsClosed)
	})
	t.Run("N bit: within a minute of PIM starting applied (no RPF check), not forwarded; later dropped", func(t *testing.T) {
		f := newFx(t, Options{})
		m := pfm(t, 0, 30)
		m.NoForward = true
		r := rx(m)
		r.RPFIf = 2
		require.Equal(t, []string{"open"}, girs(t, f.do(r)))
		require.Equal(t, uint64(1), f.c.Stats().NoForwardBit)
		f.adv(NoForwardWindow + time.Second)
		m = pfm(t, 0, 60)
		m.Originator, m.NoForward = netip.MustParseAddr("10.255.0.8"), true
		require.Empty(t, f.do(rx(m)))
		require.Equal(t, uint64(1), f.c.Stats().DropNoForward)
	})
	t.Run("forwarding keeps transitive TLVs and drops unknown non-transitive ones", func(t *testing.T) {
		f := newFx(t, Options{})
		m := pfm(t, 0, 30, pimmsg.TLV{Type: 1, Value: []byte{1, 2}}, pimmsg.TLV{Transitive: true, Type: 77, Value: []byte{3}})
		acts := f.do(rx(m))
		fw := acts[0].(Send).Msg
		require.Len(t, fw.TLVs, 2)
		require.Equal(t, uint16(pimmsg.DefaultGIRType), fw.TLVs[0].Type)
		require.Equal(t, pimmsg.TLV{Transitive: true, Type: 77, Value: []byte{3}}, fw.TLVs[1])
		only := &pimmsg.PFM{Originator: netip.MustParseAddr("10.255.0.7"), TLVs: []pimmsg.TLV{{Type: 1, Value: []byte{9}}}}
		require.Empty(t, f.do(rx(only)))
		st := f.c.Stats()
		require.Equal(t, uint64(1), st.NothingToForward)
		require.Equal(t, uint64(1), st.NoGIR)
	})
	t.Run("a PFM of another implementation without our TLV is flooded when transitive", func(t *testing.T) {
		f := newFx(t, Options{})
		m := &pimmsg.PFM{Originator: peer, TLVs: []pimmsg.TLV{{Transitive: true, Type: 9, Value: []byte{1}}}}
		require.Equal(t, []string{"fwd no-gir"}, girs(t, f.do(rx(m))))
	})
	t.Run("malformed or invalid windows are counted, not applied, and still flooded", func(t *testing.T) {
		f := newFx(t, Options{})
		bad := &pimmsg.PFM{Originator: peer, TLVs: []pimmsg.TLV{{Transitive: true, Type: pimmsg.DefaultGIRType, Value: []byte{0, 0, 0, 1, 0}}}}
		acts := f.do(rx(bad))
		require.Len(t, acts, 1)
		require.True(t, acts[0].(Send).Forwarded)
		require.Equal(t, []string{"fwd 20/10"}, girs(t, f.do(rx(pfm(t, 20, 10)))))
		require.Equal(t, []string{"fwd 20/0"}, girs(t, f.do(rx(pfm(t, 20, 0)))))
		st := f.c.Stats()
		require.Equal(t, uint64(1), st.MalformedGIR)
		require.Equal(t, uint64(2), st.InvalidWindow)
		require.Empty(t, f.c.Status(f.now).Learned)
	})
	t.Run("a peer's huge window is clamped to a day", func(t *testing.T) {
		f := newFx(t, Options{})
		f.do(rx(pfm(t, 0, 0xffffffff)))
		require.Equal(t, t0.Add(MaxWindow), f.c.Status(f.now).Learned[0].Stop)
	})
}

// RFC 8364 §3.3: at most Max_PFM_Message_Rate originated a minute, at
// least Min_PFM_Message_Gap apart; a copy due earlier waits.
func TestOriginationRate(t *testing.T) {
	f := newFx(t, Options{})
	require.Equal(t, []string{"10/300"}, girs(t, f.do(Enable{Start: 10 * time.Second, Stop: 300 * time.Second})))
	f.adv(500 * time.Millisecond)
	// A new request half a second later: its first copy waits for the gap.
	require.Empty(t, girs(t, f.do(Enable{Start: 20 * time.Second, Stop: 300 * time.Second})))
	require.Equal(t, []string{"20/300"}, girs(t, f.adv(500*time.Millisecond)), "20/300: the remaining time when it goes")
	require.Equal(t, []string{"19/299", "18/298"}, girs(t, f.adv(2*time.Second)))
	// An insertion now: our own window opens at once, the copy waits for
	// the gap; six have gone within the minute after two more, and the
	// third copy waits until the first of them is a minute old.
	require.Equal(t, []string{"open"}, girs(t, f.do(Disable{Stop: 120 * time.Second})))
	require.Equal(t, []string{"0/119"}, girs(t, f.adv(time.Second)))
	require.Equal(t, []string{"0/118"}, girs(t, f.adv(time.Second)))
	require.Empty(t, girs(t, f.adv(54*time.Second)), "six in a minute: the third copy waits")
	require.Equal(t, []string{"0/63"}, girs(t, f.adv(2*time.Second)), "a minute after the first")
	require.Positive(t, f.c.Stats().RateLimited)
}

func TestOverlappingWindows(t *testing.T) {
	f := newFx(t, Options{})
	a := pfm(t, 10, 100)
	b := pfm(t, 50, 200)
	b.Originator = netip.MustParseAddr("10.255.0.8")
	f.do(rx(a))
	f.do(rx(b))
	require.Equal(t, []string{"open"}, girs(t, f.adv(10*time.Second)), "A opens")
	require.Empty(t, f.adv(40*time.Second), "B opens: already open")
	require.Empty(t, f.adv(50*time.Second), "A ends at 100 s: B keeps it open")
	require.Len(t, f.c.Status(f.now).Learned, 1)
	require.Equal(t, []string{"close"}, girs(t, f.adv(100*time.Second)), "B ends at 200 s")

	// Our own window and a learned one.
	f.do(rx(pfm(t, 0, 30)))
	acts := f.do(Enable{Start: 0, Stop: 60 * time.Second})
	require.Equal(t, []string{"0/60"}, girs(t, acts))
	f.adv(30 * time.Second)
	require.True(t, f.c.Active(), "ours still open")
	require.Contains(t, girs(t, f.adv(30*time.Second)), "close")
}

func TestSourcePrefixes(t *testing.T) {
	have := netip.MustParsePrefix("10.1.0.0/24")
	state := map[netip.Prefix]bool{}
	f := newFx(t, Options{HasState: func(p netip.Prefix) bool { return state[p] }})
	withSources := func(start, stop uint32, src ...netip.Prefix) *pimmsg.PFM {
		tl, err := pimmsg.GIR{Start: start, Stop: stop, Sources: src}.TLV(pimmsg.DefaultGIRType)
		require.NoError(t, err)
		return &pimmsg.PFM{Originator: peer, TLVs: []pimmsg.TLV{tl}}
	}
	t.Run("no state for an advertised source: not in graceful mode (still flooded)", func(t *testing.T) {
		require.Equal(t, []string{"fwd 0/30"}, girs(t, f.do(rx(withSources(0, 30, have)))))
		st := f.c.Status(f.now)
		require.False(t, st.Learned[0].Relevant)
		require.False(t, st.Graceful)
		require.Equal(t, uint64(1), f.c.Stats().NotRelevant)
	})
	t.Run("state for one: the refresh puts us in graceful mode", func(t *testing.T) {
		state[have] = true
		f.adv(time.Second)
		require.Equal(t, []string{"fwd 0/29", "open"}, girs(t, f.do(rx(withSources(0, 29, netip.MustParsePrefix("10.9.0.0/16"), have)))))
	})
	t.Run("evaluated when the window opens", func(t *testing.T) {
		g := newFx(t, Options{HasState: func(p netip.Prefix) bool { return state[p] }})
		state[have] = false
		g.do(rx(withSources(10, 30, have)))
		state[have] = true
		require.Equal(t, []string{"open"}, girs(t, g.adv(10*time.Second)))
	})
}

// TestOriginatorToReceivers runs an originator and two receivers in a
// chain (O -> A -> B), with the first copy lost between A and B: B still
// learns the window from the second copy, anchored where A's is.
func TestOriginatorToReceivers(t *testing.T) {
	o := New(Config{Originator: me}, Options{}, t0)
	a := New(Config{Originator: netip.MustParseAddr("10.255.0.10")}, Options{}, t0)
	b := New(Config{Originator: netip.MustParseAddr("10.255.0.11")}, Options{}, t0)
	now := t0
	deliver := func(acts []Action, to *Controller, drop bool) []Action {
		var out []Action
		for _, x := range acts {
			if s, ok := x.(Send); ok && !drop {
				got, err := to.Handle(now, rx(s.Msg))
				require.NoError(t, err)
				out = append(out, got...)
			}
		}
		return out
	}
	acts, err := o.Handle(now, Enable{Start: 10 * time.Second, Stop: 120 * time.Second})
	require.NoError(t, err)
	deliver(deliver(acts, a, false), b, true) // lost on the way to B
	require.Empty(t, b.Status(now).Learned)
	now = now.Add(time.Second)
	deliver(deliver(o.Advance(now), a, false), b, false)
	wa, wb := a.Status(now).Learned[0], b.Status(now).Learned[0]
	require.Equal(t, t0.Add(10*time.Second), wa.Start)
	require.Equal(t, wa.Start, wb.Start)
	require.Equal(t, wa.Stop, wb.Stop)
	require.Equal(t, t0.Add(120*time.Second), wb.Stop)
	require.Equal(t, me, wb.Originator)
}

func TestStatusJSONFields(t *testing.T) {
	f := newFx(t, Options{})
	f.do(Enable{Start: 5 * time.Second, Stop: 50 * time.Second})
	f.do(rx(pfm(t, 1, 20)))
	st := f.c.Status(f.now)
	require.Equal(t, "removal", st.Local.Mode)
	require.Equal(t, t0.Add(5*time.Second), st.Local.WindowStart)
	require.Equal(t, t0.Add(time.Second), st.Local.NextAnnouncement)
	require.Equal(t, uint16(pimmsg.DefaultGIRType), st.TLVType)
	require.Equal(t, 60.0, st.Interval)
	require.Len(t, st.Learned, 1)
	require.Equal(t, 1.0, st.Learned[0].StartsInSec)
	require.Equal(t, 20.0, st.Learned[0].StopsInSec)
}
