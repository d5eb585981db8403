package msdpnet

import (
	"context"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp"
)

// Host runs one engine and its transport in one owner goroutine: a
// minimal stand-in for the routing engine's protocol loop (which hosts
// every protocol in a single goroutine the same way), used by tests,
// benchmarks and the interop harness. The loop serves Urgent before
// anything else and runs the engine's timers between any two events, so
// that a long queue of SAs delays a KeepAlive by one event at most.
type Host struct {
	e     *msdp.Engine
	t     *Transport
	pim   func(msdp.Action)
	calls chan call
	acts  []msdp.Action
	// Trace, if set before Run, is called on the owner goroutine after
	// each event (ev nil for the engine's timers) with the actions it
	// produced and the time it was handled: measurements and debugging.
	// acts is reused afterwards.
	Trace func(ev msdp.Event, acts []msdp.Action, at time.Time)
	// Standby, if set before Run, keeps the engine a standby (non-stop
	// routing's backup): Run does not start its peers; Start does.
	Standby bool
}

type call struct {
	fn   func(e *msdp.Engine, now time.Time) []msdp.Action
	done chan struct{}
}

// NewHost pairs an engine with a transport. pim receives the actions
// meant for PIM (JoinSource, SourceGone, DeliverData) on the owner
// goroutine; nil drops them.
func NewHost(e *msdp.Engine, t *Transport, pim func(msdp.Action)) *Host {
	if pim == nil {
		pim = func(msdp.Action) {}
	}
	return &Host{e: e, t: t, pim: pim, calls: make(chan call)}
}

// Do runs fn on the owner goroutine (a CLI command, a PIM event) and
// carries out the actions it returns; it returns once fn has run, or
// with ctx's error.
func (h *Host) Do(ctx context.Context, fn func(e *msdp.Engine, now time.Time) []msdp.Action) error {
	c := call{fn: fn, done: make(chan struct{})}
	select {
	case h.calls <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Host) apply(acts []msdp.Action) {
	h.t.Apply(acts)
	for _, a := range acts {
		switch a.(type) {
		case msdp.JoinSource, msdp.SourceGone, msdp.DeliverData:
			h.pim(a)
		}
	}
}

func (h *Host) handle(ev msdp.Event) {
	now := time.Now()
	h.acts = h.e.Handle(now, ev, h.acts[:0])
	h.apply(h.acts)
	if h.Trace != nil {
		h.Trace(ev, h.acts, now)
	}
}

// Start starts the engine's peers (after a Standby Run).
func (h *Host) Start(ctx context.Context) error {
	return h.Do(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { return e.Start(now, nil) })
}

// Run starts the engine's peers (unless Standby) and serves until ctx is
// cancelled.
func (h *Host) Run(ctx context.Context) error {
	if !h.Standby {
		h.apply(h.e.Start(time.Now(), nil))
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Priority path first: hold-timer accounting and paced sends.
	urgent:
		for {
			select {
			case ev := <-h.t.Urgent():
				h.handle(ev)
			default:
				break urgent
			}
		}
		now := time.Now()
		if dl := h.e.NextDeadline(); !dl.IsZero() && !now.Before(dl) {
			h.acts = h.e.Expire(now, h.acts[:0])
			h.apply(h.acts)
			if h.Trace != nil {
				h.Trace(nil, h.acts, now)
			}
			continue
		}
		wait := time.Hour
		if dl := h.e.NextDeadline(); !dl.IsZero() {
			wait = dl.Sub(now)
		}
		timer.Reset(wait)
		select {
		case ev := <-h.t.Urgent():
			h.handle(ev)
		case ev := <-h.t.Events():
			h.handle(ev)
		case <-timer.C:
		case c := <-h.calls:
			h.acts = c.fn(h.e, time.Now())
			h.apply(h.acts)
			h.acts = h.acts[:0]
			close(c.done)
		case <-ctx.Done():
			return ctx.Err()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
