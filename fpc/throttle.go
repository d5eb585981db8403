package fpc

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle limits resolve requests of one card, as seed 003 describes:
// a token bucket refilled at Rate per second (66 by default, 100..1000 by
// `set forwarding-options multicast resolve-rate`), and at most one
// outstanding request per (S,G). An outstanding entry is cleared when a
// route for the (S,G) is installed (Resolved) or after PendingTTL, like the
// Linux kernel's unresolved-cache expiry (10 s, REFERENCE.md "Resolve
// contract"). Requests refused are counted, never queued.
//
// Throttle is safe for concurrent use. Its clock is injected.
type Throttle struct {
	mu      sync.Mutex
	now     func() time.Time
	rate    float64
	burst   float64
	tokens  float64
	last    time.Time
	pending map[sgKey]time.Time // (S,G) -> when the request was sent
	stats   ThrottleStats
	// maxPending bounds the outstanding map; beyond it new flows are
	// refused (counted as PendingFull) rather than growing memory.
	maxPending int
	sweepAt    time.Time
}

type sgKey struct{ s, g netip.Addr }

// ThrottleStats counts decisions.
type ThrottleStats struct {
	Allowed     uint64 // requests sent to the RE
	Throttled   uint64 // refused: no token
	Outstanding uint64 // refused: a request for this (S,G) is outstanding
	PendingFull uint64 // refused: outstanding table full
	Expired     uint64 // outstanding entries that timed out
}

// PendingTTL is how long an unanswered resolve blocks new ones for its (S,G).
const PendingTTL = 10 * time.Second

// DefaultResolveRate is the per-card default (seed 003).
const DefaultResolveRate = 66

// NewThrottle returns a throttle with the given rate per second. The burst
// is one second's worth of tokens at most 1 (so rate 66 admits at most 66
// requests in any one-second window, which is what a rate limit means to
// an operator reading `Resolve-Rate 66`).
func NewThrottle(rate int, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	t := &Throttle{now: now, pending: map[sgKey]time.Time{}, maxPending: 1 << 16}
	t.SetRate(rate)
	t.tokens = t.burst
	t.last = now()
	return t
}

// SetRate changes the rate (resolves per second); <= 0 means unlimited.
func (t *Throttle) SetRate(rate int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rate = float64(rate)
	t.burst = float64(rate)
	if t.burst < 1 {
		t.burst = 1
	}
	if t.tokens > t.burst {
		t.tokens = t.burst
	}
}

// Rate returns the configured rate (0 = unlimited).
func (t *Throttle) Rate() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(t.rate)
}

// Allow reports whether a resolve request for (s,g) may be sent now, and if
// so records it as outstanding.
func (t *Throttle) Allow(s, g netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allowLocked(s, g)
}

// AllowUnrouted is Allow for a packet that missed the (S,G) route: routed
// reports whether the route exists now, and is asked under the throttle's
// lock. The applier installs a route before it calls Resolved, so a route
// installed after the packet's lookup either is seen here (routed: nothing
// sent, nothing recorded) or still has its request outstanding; without
// the lock a request answered in between would be sent a second time.
func (t *Throttle) AllowUnrouted(s, g netip.Addr, routed func() bool) (allow, isRouted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if routed() {
		return false, true
	}
	return t.allowLocked(s, g), false
}

func (t *Throttle) allowLocked(s, g netip.Addr) bool {
	now := t.now()
	k := sgKey{s, g}
	if at, ok := t.pending[k]; ok {
		if now.Sub(at) < PendingTTL {
			t.stats.Outstanding++
			return false
		}
		delete(t.pending, k)
		t.stats.Expired++
	}
	if len(t.pending) >= t.maxPending {
		t.sweepLocked(now)
		if len(t.pending) >= t.maxPending {
			t.stats.PendingFull++
			return false
		}
	}
	if t.rate > 0 {
		el := now.Sub(t.last).Seconds()
		if el > 0 {
			t.tokens += el * t.rate
			if t.tokens > t.burst {
				t.tokens = t.burst
			}
		}
		t.last = now
		if t.tokens < 1 {
			t.stats.Throttled++
			return false
		}
		t.tokens--
	}
	t.pending[k] = now
	t.stats.Allowed++
	if now.After(t.sweepAt) {
		t.sweepLocked(now)
	}
	return true
}

// sweepLocked drops expired outstanding entries; at most once per second.
func (t *Throttle) sweepLocked(now time.Time) {
	t.sweepAt = now.Add(time.Second)
	for k, at := range t.pending {
		if now.Sub(at) >= PendingTTL {
			delete(t.pending, k)
			t.stats.Expired++
		}
	}
}

// Resolved clears the outstanding request of (s,g): the RE answered with a
// route (forwarding or mdiscard).
func (t *Throttle) Resolved(s, g netip.Addr) {
	t.mu.Lock()
	delete(t.pending, sgKey{s, g})
	t.mu.Unlock()
}

// Pending returns the number of outstanding requests.
func (t *Throttle) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Stats returns a snapshot of the counters.
func (t *Throttle) Stats() ThrottleStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}
