package fpc

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type manualClock struct{ t time.Time }

func (c *manualClock) Now() time.Time          { return c.t }
func (c *manualClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func sg(i int) (netip.Addr, netip.Addr) {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		netip.AddrFrom4([4]byte{232, byte(i >> 16), byte(i >> 8), byte(i)})
}

// A flood of 100,000 new (S,G)/s for 10 s produces resolve requests at the
// configured rate within 2%.
func TestThrottleFloodRate(t *testing.T) {
	for _, rate := range []int{66, 100, 500, 1000} {
		clk := &manualClock{t: time.Unix(1_000_000, 0)}
		th := NewThrottle(rate, clk.Now)
		th.tokens = 0 // start empty: measure the steady rate, not the burst
		const flood = 100_000
		step := time.Second / flood
		allowed := 0
		for i := 0; i < flood*10; i++ {
			s, g := sg(i)
			if th.Allow(s, g) {
				allowed++
			}
			clk.Advance(step)
		}
		want := float64(rate * 10)
		require.InDelta(t, want, float64(allowed), want*0.02, "rate %d", rate)
		st := th.Stats()
		require.Equal(t, uint64(allowed), st.Allowed)
		require.Equal(t, uint64(flood*10-allowed), st.Throttled+st.Outstanding+st.PendingFull)
	}
}

func TestThrottleOneOutstandingPerSG(t *testing.T) {
	clk := &manualClock{t: time.Unix(1_000_000, 0)}
	th := NewThrottle(1000, clk.Now)
	s, g := sg(1)
	require.True(t, th.Allow(s, g))
	for i := 0; i < 100; i++ {
		clk.Advance(10 * time.Millisecond)
		require.False(t, th.Allow(s, g), "second request while outstanding")
	}
	require.Equal(t, uint64(100), th.Stats().Outstanding)
	// Answered: a new request may go.
	th.Resolved(s, g)
	require.True(t, th.Allow(s, g))
	// Unanswered for PendingTTL: expires.
	clk.Advance(PendingTTL)
	require.True(t, th.Allow(s, g))
	require.Equal(t, uint64(1), th.Stats().Expired)
}

func TestThrottleUnlimitedAndBounded(t *testing.T) {
	clk := &manualClock{t: time.Unix(1_000_000, 0)}
	th := NewThrottle(0, clk.Now)
	th.maxPending = 100
	n := 0
	for i := 0; i < 1000; i++ {
		s, g := sg(i)
		if th.Allow(s, g) {
			n++
		}
	}
	require.Equal(t, 100, n)
	require.Equal(t, uint64(900), th.Stats().PendingFull)
	require.Equal(t, 100, th.Pending())
	clk.Advance(PendingTTL + time.Second)
	s, g := sg(5000)
	require.True(t, th.Allow(s, g))
	require.Equal(t, 1, th.Pending())
	require.False(t, math.IsNaN(float64(th.Rate())))
}

// A packet that missed the route while the RE's answer is being installed
// never sends a second request: in every interleaving of the applier
// (route installed, then Resolved) with a burst of upcalls, exactly one
// request goes out.
func TestThrottleNoSecondRequestWhileInstalling(t *testing.T) {
	s, g := sg(7)
	for round := 0; round < 2000; round++ {
		clk := &manualClock{t: time.Unix(1_000_000, 0)}
		th := NewThrottle(0, clk.Now)
		var routed atomic.Bool
		isRouted := func() bool { return routed.Load() }
		var allowed, stale atomic.Int32
		upcall := func() {
			ok, r := th.AllowUnrouted(s, g, isRouted)
			if ok {
				allowed.Add(1)
			}
			if r {
				stale.Add(1)
			}
		}
		upcall() // the first packet: its request goes out
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // the applier
			defer wg.Done()
			routed.Store(true)
			th.Resolved(s, g)
		}()
		go func() { // packets that looked the route up before it was installed
			defer wg.Done()
			for i := 0; i < 20; i++ {
				upcall()
			}
		}()
		wg.Wait()
		require.EqualValues(t, 1, allowed.Load(), "round %d", round)
		require.Zero(t, th.Pending(), "round %d: nothing outstanding once routed", round)
	}
}
