// Package clock is the time source injected into the routing engine and
// the protocols: Real in the daemons, Fake in tests, so that protocol
// timers are driven deterministically (STYLE.md: "the clock ... injected").
//
// Concurrency: both implementations are safe for concurrent use. A Fake's
// timers fire from Advance, on the caller's goroutine, by a non-blocking
// send on the timer's channel (capacity 1), like time.Timer.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer when d < 0, else one that fires
	// once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer, as time.Timer.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Reset stops the timer and starts it again for d.
	Reset(d time.Duration)
	// Stop stops the timer; it reports whether it was running.
	Stop() bool
}

// Real is the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer {
	if d < 0 {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return realTimer{t}
	}
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop() bool            { return r.t.Stop() }

// Fake is a manual clock for tests.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	// waiters are woken whenever a timer is armed (BlockUntil).
	armed chan struct{}
}

// NewFake returns a fake clock at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, armed: make(chan struct{})} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer driven by Advance.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	if d >= 0 {
		t.Reset(d)
	}
	return t
}

// Advance moves the time forward by d and fires, in time order, every
// timer due at or before the new time. It returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	// The deadlines are read under the lock: a fired timer may be Reset
	// by its owner as soon as the lock is released.
	type firing struct {
		c  chan time.Time
		at time.Time
	}
	var due []firing
	keep := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(now) {
			due = append(due, firing{t.c, t.at})
			t.active = false
		} else {
			keep = append(keep, t)
		}
	}
	f.timers = keep
	f.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		select {
		case t.c <- t.at:
		default:
		}
	}
	return now
}

// Timers returns the number of armed timers.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// Armed returns a channel closed the next time a timer is armed, so that a
// test can wait until the code under test is waiting on the clock.
func (f *Fake) Armed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed
}

type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	at     time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	f := t.f
	f.mu.Lock()
	t.stopLocked()
	t.at = f.now.Add(d)
	t.active = true
	f.timers = append(f.timers, t)
	close(f.armed)
	f.armed = make(chan struct{})
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	if !t.active {
		return false
	}
	t.active = false
	for i, x := range t.f.timers {
		if x == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			break
		}
	}
	return true
}
