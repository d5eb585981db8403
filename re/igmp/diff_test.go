package igmp_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// naiveGroup is a deliberately plain model of one group record: the
// tables of RFC 3376 §6.4.1/§6.4.2 written as set algebra over explicit
// X/Y/A sets, timer expiry replayed lazily in deadline order (§6.3, §6.5),
// and the querier's timer lowering of §6.6.3 ("Send Q(G)", "Send
// Q(G,S)"). It ignores retransmissions (they do not change timers).
type naiveGroup struct {
	exclude bool
	gt      time.Time
	src     map[netip.Addr]time.Time // zero: timer 0 (the Y list)
	querier bool
	gmi     time.Duration
	lmqt    time.Duration
}

type set map[netip.Addr]bool

func setOf(l []netip.Addr) set {
	s := set{}
	for _, a := range l {
		s[a] = true
	}
	return s
}

func (m *naiveGroup) x(now time.Time) set {
	s := set{}
	for a, t := range m.src {
		if t.After(now) {
			s[a] = true
		}
	}
	return s
}

func (m *naiveGroup) y(now time.Time) set {
	s := set{}
	for a, t := range m.src {
		if !t.After(now) {
			s[a] = true
		}
	}
	return s
}

func minus(a, b set) set {
	s := set{}
	for k := range a {
		if !b[k] {
			s[k] = true
		}
	}
	return s
}

func inter(a, b set) set {
	s := set{}
	for k := range a {
		if b[k] {
			s[k] = true
		}
	}
	return s
}

// expire replays every timer expiry up to now, earliest first.
func (m *naiveGroup) expire(now time.Time) {
	for {
		var at time.Time
		found := false
		consider := func(t time.Time) {
			if !t.IsZero() && !t.After(now) && (!found || t.Before(at)) {
				at, found = t, true
			}
		}
		if m.exclude {
			consider(m.gt)
		}
		for _, t := range m.src {
			consider(t)
		}
		if !found {
			return
		}
		for a, t := range m.src {
			if t.Equal(at) {
				if m.exclude {
					m.src[a] = time.Time{}
				} else {
					delete(m.src, a)
				}
			}
		}
		if m.exclude && m.gt.Equal(at) {
			m.exclude, m.gt = false, time.Time{}
			for a, t := range m.src {
				if !t.After(at) {
					delete(m.src, a)
				}
			}
		}
	}
}

func (m *naiveGroup) lowerSources(now time.Time, s set) {
	if !m.querier {
		return
	}
	for a := range s {
		if t, ok := m.src[a]; ok && t.After(now.Add(m.lmqt)) {
			m.src[a] = now.Add(m.lmqt)
		}
	}
}

func (m *naiveGroup) apply(now time.Time, typ igmpmsg.RecordType, list []netip.Addr) {
	m.expire(now)
	b := setOf(list)
	gmi := now.Add(m.gmi)
	if !m.exclude {
		a := set{}
		for k := range m.src {
			a[k] = true
		}
		switch typ {
		case igmpmsg.ModeIsInclude, igmpmsg.AllowNewSources:
			for k := range b {
				m.src[k] = gmi
			}
		case igmpmsg.BlockOldSources:
			m.lowerSources(now, inter(a, b))
		case igmpmsg.ChangeToInclude:
			for k := range b {
				m.src[k] = gmi
			}
			m.lowerSources(now, minus(a, b))
		case igmpmsg.ModeIsExclude, igmpmsg.ChangeToExclude:
			for k := range minus(a, b) {
				delete(m.src, k)
			}
			for k := range minus(b, a) {
				m.src[k] = time.Time{}
			}
			m.exclude, m.gt = true, gmi
			if typ == igmpmsg.ChangeToExclude {
				m.lowerSources(now, inter(a, b))
			}
		}
		return
	}
	x, y := m.x(now), m.y(now)
	switch typ {
	case igmpmsg.ModeIsInclude, igmpmsg.AllowNewSources:
		for k := range b {
			m.src[k] = gmi
		}
	case igmpmsg.BlockOldSources:
		for k := range minus(minus(b, x), y) {
			m.src[k] = m.gt
		}
		m.lowerSources(now, minus(b, y))
	case igmpmsg.ChangeToInclude:
		for k := range b {
			m.src[k] = gmi
		}
		m.lowerSources(now, minus(x, b))
		if m.querier && m.gt.After(now.Add(m.lmqt)) {
			m.gt = now.Add(m.lmqt)
		}
	case igmpmsg.ModeIsExclude, igmpmsg.ChangeToExclude:
		newT := gmi
		if typ == igmpmsg.ChangeToExclude {
			newT = m.gt
		}
		for k := range minus(minus(b, x), y) {
			m.src[k] = newT
		}
		for k := range minus(x, b) {
			delete(m.src, k)
		}
		for k := range minus(y, b) {
			delete(m.src, k)
		}
		if typ == igmpmsg.ChangeToExclude {
			m.lowerSources(now, minus(b, y))
		}
		m.gt = gmi
	}
}

func (m *naiveGroup) membership(now time.Time) []igmp.Membership {
	m.expire(now)
	var srcs []netip.Addr
	mode := igmp.Include
	if m.exclude {
		mode = igmp.Exclude
		for a := range m.y(now) {
			srcs = append(srcs, a)
		}
	} else {
		for a := range m.src {
			srcs = append(srcs, a)
		}
	}
	if !m.exclude && len(srcs) == 0 {
		return []igmp.Membership{}
	}
	slices.SortFunc(srcs, netip.Addr.Compare)
	return []igmp.Membership{{Group: g1, Mode: mode, Sources: srcs}}
}

// TestDifferentialAgainstNaiveModel runs random IGMPv3 record sequences
// with random gaps through the state machine (driven by NextDeadline as an
// owner would) and the naive model, as querier and as non-querier, and
// compares the membership after every event.
func TestDifferentialAgainstNaiveModel(t *testing.T) {
	pool := []netip.Addr{s1, s2, s3, ip("10.1.1.4")}
	types := []igmpmsg.RecordType{igmpmsg.ModeIsInclude, igmpmsg.ModeIsExclude, igmpmsg.ChangeToInclude,
		igmpmsg.ChangeToExclude, igmpmsg.AllowNewSources, igmpmsg.BlockOldSources}
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x16d9))
		querier := seed%2 == 0
		s := newIface(t, baseConfig())
		m := &naiveGroup{src: map[netip.Addr]time.Time{}, querier: querier, gmi: 260 * time.Second, lmqt: 2 * time.Second}
		now := t0
		drive := func(until time.Time, ev igmp.Event) {
			for {
				next, ok := s.NextDeadline()
				if !ok || next.After(until) {
					break
				}
				s.Step(next, igmp.Tick{})
			}
			s.Step(until, ev)
		}
		drive(now, igmp.Start{})
		var trace []string
		for i := 0; i < 80; i++ {
			// Gaps: often short (inside LMQT and retransmissions), sometimes
			// past the group membership interval.
			switch rng.IntN(4) {
			case 0:
				now = now.Add(time.Duration(rng.IntN(6)) * 500 * time.Millisecond)
			case 1, 2:
				now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
			default:
				now = now.Add(time.Duration(200+rng.IntN(100)) * time.Second)
			}
			if !querier {
				// Keep a lower-addressed querier present (S flag set, so no
				// timer updates of §6.6.1).
				drive(now, from(lower, generalQuery(2, 125)))
			}
			typ := types[rng.IntN(len(types))]
			var list []netip.Addr
			for _, a := range pool {
				if rng.IntN(2) == 0 {
					list = append(list, a)
				}
			}
			trace = append(trace, fmt.Sprintf("%v %v %v", now.Sub(t0), typ, list))
			drive(now, from(host, v3(rec(typ, g1, list...))))
			m.apply(now, typ, list)
			want := m.membership(now)
			got := s.Memberships()
			if len(got) == 0 {
				got = []igmp.Membership{}
			}
			require.Equal(t, want, got, "seed %d (querier %v) step %d at %v: %v %v\ntrace: %v", seed, querier, i, now.Sub(t0), typ, list, trace)
		}
	}
}

// TestReplayIsDeterministic: the same events at the same times give the
// same actions, on the original and on a Clone taken half way (what a
// backup routing engine replaying the event log relies on).
func TestReplayIsDeterministic(t *testing.T) {
	type timed struct {
		at time.Time
		ev igmp.Event
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var events []timed
	now := t0
	events = append(events, timed{now, igmp.Start{}})
	groups := []netip.Addr{g1, ip("239.1.1.2"), ip("239.1.1.3"), ssmG}
	for i := 0; i < 400; i++ {
		now = now.Add(time.Duration(rng.IntN(40000)) * time.Millisecond)
		var ev igmp.Event
		g := groups[rng.IntN(len(groups))]
		switch rng.IntN(8) {
		case 0:
			ev = from(host, &igmpmsg.Report{Version: uint8(1 + rng.IntN(2)), Group: g})
		case 1:
			ev = from(host, &igmpmsg.Leave{Group: g})
		case 2:
			ev = from(lower, generalQuery(2, 125))
		case 3:
			ev = igmp.Tick{}
		default:
			typ := igmpmsg.RecordType(1 + rng.IntN(6))
			ev = from(host, v3(rec(typ, g, s1, s2), rec(igmpmsg.AllowNewSources, groups[rng.IntN(len(groups))], s3)))
		}
		events = append(events, timed{now, ev})
	}
	run := func(s *igmp.Interface, evs []timed) []string {
		var log []string
		for _, e := range evs {
			for {
				next, ok := s.NextDeadline()
				if !ok || next.After(e.at) {
					break
				}
				for _, a := range s.Step(next, igmp.Tick{}) {
					log = append(log, next.String()+" "+a.String())
				}
			}
			for _, a := range s.Step(e.at, e.ev) {
				log = append(log, e.at.String()+" "+a.String())
			}
		}
		return log
	}
	a := newIface(t, baseConfig())
	b := newIface(t, baseConfig())
	la := run(a, events)
	require.Greater(t, len(la), 100, "the sequence exercises queries and memberships")
	require.Equal(t, la, run(b, events))

	c := newIface(t, baseConfig())
	run(c, events[:200])
	d := c.Clone()
	require.Equal(t, c.State(), d.State())
	require.Equal(t, run(c, events[200:]), run(d, events[200:]))
	require.Equal(t, c.Memberships(), d.Memberships())
}
