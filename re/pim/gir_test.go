package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sgOnSPT: (S,G) joined through U on if1 for D3, SPT bit set.
func sgOnSPT(f *fx) {
	sgJoined(f)
	f.do(DataActivity{If: 1, Source: fxS, Group: fxG})
}

func TestGracefulRPF(t *testing.T) {
	toD3 := RPFChange{Addr: fxS, RPF: RPF{Iface: 2, NextHop: fxD2, Preference: 10, Metric: 10}}
	t.Run("graceful: outside a window an RPF change is immediate (Join new, Prune old)", func(t *testing.T) {
		f := newFx(t, nil)
		sgOnSPT(f)
		acts := f.do(toD3)
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)", "if2->10.2.0.3 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 2, OIL: []IfIndex{3}})
	})
	t.Run("graceful: inside a window -> Join the new upstream only, keep accepting on the old interface", func(t *testing.T) {
		f := newFx(t, nil)
		sgOnSPT(f)
		f.do(GracefulWindow{Active: true})
		acts := f.do(toD3)
		require.Equal(t, []string{"if2->10.2.0.3 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 1, GracefulNew: 2, OIL: []IfIndex{3}})
		je := f.e.ShowJoin(f.now, fxG)[0]
		require.NotNil(t, je.Graceful)
		require.Equal(t, "ge-0/0/1.0", je.Graceful.OldInterface)

		// Periodic Joins keep both upstreams alive.
		f.refresh()
		acts = f.adv(61 * time.Second)
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)", "if2->10.2.0.3 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))

		// Traffic shows up on the new path (an RPF failure there): switch,
		// prune the old upstream.
		acts = f.do(WrongInterface{If: 2, Source: fxS, Group: fxG})
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 2, OIL: []IfIndex{3}})
		require.Nil(t, f.sg(fxK).gir)
		st := f.e.Stats()
		require.Equal(t, uint64(1), st.GracefulStarted)
		require.Equal(t, uint64(1), st.GracefulByTraffic)
	})
	t.Run("graceful: a new upstream on the same interface -> both joined, the old pruned after GracefulSameIfDelay", func(t *testing.T) {
		f := newFx(t, nil)
		sgOnSPT(f)
		f.do(GracefulWindow{Active: true})
		acts := f.do(RPFChange{Addr: fxS, RPF: RPF{Iface: 1, NextHop: fxU2, Preference: 10, Metric: 10}})
		require.Equal(t, []string{"if1->10.1.0.3 J (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		acts = f.adv(9 * time.Second)
		require.Empty(t, jpEntries(acts))
		acts = f.adv(time.Second)
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
	})
	t.Run("graceful: closing the window completes the pending change", func(t *testing.T) {
		f := newFx(t, nil)
		sgOnSPT(f)
		f.do(GracefulWindow{Active: true})
		f.do(toD3)
		acts := f.do(GracefulWindow{Active: false})
		require.Equal(t, []string{"if1->10.1.0.2 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Source: fxS, Group: fxG, IIF: 2, OIL: []IfIndex{3}})
	})
	t.Run("graceful: the RPF comes back before traffic moved -> pending change dropped, the intermediate pruned", func(t *testing.T) {
		f := newFx(t, nil)
		sgOnSPT(f)
		f.do(GracefulWindow{Active: true})
		f.do(toD3)
		acts := f.do(RPFChange{Addr: fxS, RPF: RPF{Iface: 1, NextHop: fxU, Preference: 10, Metric: 20}})
		require.Equal(t, []string{"if1->10.1.0.2 J (10.9.1.1,239.1.1.1)", "if2->10.2.0.3 P (10.9.1.1,239.1.1.1)"}, jpEntries(acts))
		require.Nil(t, f.sg(fxK).gir)
	})
	t.Run("graceful: an entry not forwarding yet (no SPT bit) changes at once", func(t *testing.T) {
		f := newFx(t, nil)
		sgJoined(f)
		f.do(GracefulWindow{Active: true})
		acts := f.do(toD3)
		require.Len(t, jpEntries(acts), 2)
	})
	t.Run("graceful: (*,G) -> Join(*,G) to the new upstream, the RP tree keeps the old interface until traffic arrives", func(t *testing.T) {
		f := newFx(t, nil)
		starJoined(f)
		f.do(GracefulWindow{Active: true})
		acts := f.do(RPFChange{Addr: fxRP, RPF: RPF{Iface: 2, NextHop: fxD2, Preference: 10, Metric: 10}})
		require.Equal(t, []string{"if2->10.2.0.3 J (*,239.1.1.1)"}, jpEntries(acts))
		require.Contains(t, of[Route](acts), Route{Group: fxG, IIF: 1, GracefulNew: 2, OIL: []IfIndex{3}})
		acts = f.do(WrongInterface{If: 2, Source: a("10.9.5.5"), Group: fxG})
		require.Contains(t, jpEntries(acts), "if1->10.1.0.2 P (*,239.1.1.1)")
		require.Contains(t, of[Route](acts), Route{Group: fxG, IIF: 2, OIL: []IfIndex{3}})
	})
}

// triangle: the source behind A, the receiver behind C; C reaches the
// source through B (cheap) or D (expensive). B goes into maintenance: its
// links become expensive and C's RPF moves to D. Control messages take
// 30 ms a hop; a packet leaves the source every 10 ms.
func runTriangle(t *testing.T, graceful bool) (lost, dup int) {
	s := newSim(t)
	s.ctlDelay = 30 * time.Millisecond
	src := s.lan("src", "10.1.0.0/24")
	rcv := s.lan("rcv", "10.3.0.0/24")
	lab := s.lan("ab", "10.12.0.0/24")
	lbc := s.lan("bc", "10.23.0.0/24")
	lad := s.lan("ad", "10.14.0.0/24")
	ldc := s.lan("dc", "10.43.0.0/24")
	ra := s.router("A", "10.255.0.1")
	rb := s.router("B", "10.255.0.2")
	rc := s.router("C", "10.255.0.3")
	rd := s.router("D", "10.255.0.4")
	s.attach(ra, src, 1, 1)
	s.attach(ra, lab, 1, 1)
	s.attach(ra, lad, 1, 3)
	bab := s.attach(rb, lab, 2, 1)
	bbc := s.attach(rb, lbc, 2, 1)
	s.attach(rc, lbc, 3, 1)
	s.attach(rc, ldc, 3, 3)
	s.attach(rc, rcv, 3, 1)
	s.attach(rd, lad, 4, 3)
	s.attach(rd, ldc, 4, 3)
	s.start(3)
	s.advance(10 * time.Second)
	S, G := a("10.1.0.10"), a("232.7.7.7")
	s.join(rcv, G, S, MemberInclude)
	s.advance(time.Second)
	var ids []int
	send := func(d time.Duration) {
		for end := s.now.Add(d); s.now.Before(end); {
			ids = append(ids, s.send(src, S, G))
			s.advance(10 * time.Millisecond)
		}
	}
	send(time.Second)
	require.Equal(t, 1, s.deliveries(rcv, ids[len(ids)-1]), "flowing through B")
	if graceful {
		for _, r := range s.routers {
			s.push(r, GracefulWindow{Active: true})
		}
		s.run()
	}
	// Maintenance: B's links get expensive; every router's RIB changes.
	bab.cost, bbc.cost = 100, 100
	for _, r := range s.routers {
		for _, f := range r.ifs {
			if f.lan == lab || f.lan == lbc {
				f.cost = 100
			}
		}
	}
	s.computeRIBs()
	for _, r := range s.routers {
		s.push(r, RIBChange{Prefix: netip.MustParsePrefix("0.0.0.0/0")})
	}
	s.run()
	send(3 * time.Second)
	require.Equal(t, 1, s.deliveries(rcv, ids[len(ids)-1]), "flowing through D")
	k := SG{S, G}
	require.Equal(t, IfIndex(2), rc.routes[k].IIF, "C takes the traffic from D: %s", rc.routeStr(k))
	require.Empty(t, rb.routes[k].OIL, "B pruned: %s", rb.routeStr(k))
	for _, id := range ids {
		switch n := s.deliveries(rcv, id); {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	return lost, dup
}

// TestScenarioGracefulRPFChange (issue #16): with the graceful window open
// the receiver loses no packet across the RPF change; without it, the same
// change loses the packets sent while D's branch is being built.
func TestScenarioGracefulRPFChange(t *testing.T) {
	lost, dup := runTriangle(t, true)
	require.Zero(t, lost, "graceful RPF change: no loss")
	require.Zero(t, dup, "and no duplicates")
	lostPlain, _ := runTriangle(t, false)
	require.Greater(t, lostPlain, 0, "an immediate RPF change loses packets while the new branch is built")
	t.Logf("packets lost at the receiver: graceful %d, immediate %d", lost, lostPlain)
}
