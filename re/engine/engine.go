// Package engine is the routing engine's owner loop: one goroutine owns the
// forwarding kernel and the protocols' state. Everything that changes them
// reaches it on bounded queues — inputs decoded by the line cards' session
// readers (resolve requests, wrong-interface notifications, route hits,
// punted packets), calls from the CLI and the configuration (Do), and
// timers on the injected clock — and the kernel's events (new sources,
// wrong-interface arrivals, activity, expiry, interface state) are handed
// to the subscribed protocols on the same goroutine after each step.
//
// The loop never does network I/O: the kernel's downloads go to the change
// log (re/changelog), which the line cards' senders follow on their own
// goroutines. IPC keepalives are answered by the sessions themselves.
//
// Concurrency: Post, PostWait, Do, Stats and Subscribe may be called from
// any goroutine; AfterFunc and the functions run by Do and by timers run on
// the loop and may call the kernel and each other freely.
package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/re/kernel"
)

// ErrStopped is returned by Do once the loop has stopped.
var ErrStopped = errors.New("routing engine loop stopped")

// InputKind is the kind of an Input.
type InputKind uint8

// Inputs from the line cards.
const (
	InResolve InputKind = iota
	InWrongInterface
	InHit
	InPunt
	// InCall runs Input.Call on the loop: events of a protocol's own
	// transport (MSDP's sockets) queued behind the cards' inputs.
	InCall
	numInputKinds
)

var inputNames = [numInputKinds]string{"resolve", "wrong-interface", "hit", "punt", "call"}

func (k InputKind) String() string {
	if k < numInputKinds {
		return inputNames[k]
	}
	return fmt.Sprintf("InputKind(%d)", uint8(k))
}

// Input is one decoded message from a line card.
type Input struct {
	Kind    InputKind
	Slot    hal.Slot
	Resolve hal.ResolveRequest // InResolve
	Wrong   hal.WrongInterface // InWrongInterface
	Hit     Hit                // InHit
	Punt    Punt               // InPunt
	Call    func()             // InCall
	at      int64              // enqueue time, clock ns
}

// Hit is a route hit report: packets and bytes since the card's last
// report.
type Hit struct {
	Key            hal.RouteKey
	Packets, Bytes uint64
}

// Punt is a control packet a card sent to the RE (Frame is owned by the
// Input).
type Punt struct {
	Ingress hal.IFLIndex
	Trap    hal.TrapID
	Frame   []byte
}

// Config configures an Engine.
type Config struct {
	Kernel *kernel.Kernel
	Clock  clock.Clock  // nil: clock.Real()
	Logger *slog.Logger // nil: discard
	// Queue bounds the inputs waiting for the loop (0: DefaultQueue).
	Queue int
	// TickInterval is how often the forwarding cache is aged (0: 1 s).
	TickInterval time.Duration
	// OnPunt receives punted control packets on the loop (nil: they are
	// counted and dropped).
	OnPunt func(slot hal.Slot, p Punt)
}

// DefaultQueue bounds the input queue. Resolves arrive at most at the
// cards' throttle (1000/s per card, 12 cards), hits in bursts of one
// message per active route per report; the loop drains ~1M inputs/s, so
// 64k is ~60 ms of work, and a hit reporter that would overrun it waits
// (PostWait) instead of losing cache refreshes.
const DefaultQueue = 1 << 16

// prioQueue bounds the priority path (PostPriority): keepalive and
// hold-timer accounting of protocol sessions, a few per peer per second;
// 4096 is seconds of it for a thousand peers.
const prioQueue = 4096

// drainBatch is how many queued inputs the loop takes per wake-up before
// it hands the kernel's events to the protocols and looks at its timers
// again: large enough to amortise the event hand-off, small enough (~0.3
// ms of work) that a due timer (a PIM hello) waits little.
const drainBatch = 256

// Engine is the owner loop.
type Engine struct {
	kern  *kernel.Kernel
	clk   clock.Clock
	log   *slog.Logger
	tick  time.Duration
	punt  func(hal.Slot, Punt)
	in    chan Input
	calls chan call
	prio  chan func()
	stop  chan struct{}

	subMu sync.Mutex
	subs  []func([]kernel.Event)

	// Loop-owned.
	timers  timerHeap
	timerID uint64
	events  []kernel.Event

	stats counters
}

type call struct {
	fn   func() error
	done chan error
	at   int64
}

// New returns an engine; Run starts it.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
	}
	return &Engine{
		kern: cfg.Kernel, clk: cfg.Clock, log: cfg.Logger, tick: cfg.TickInterval, punt: cfg.OnPunt,
		in: make(chan Input, cfg.Queue), calls: make(chan call, 64), prio: make(chan func(), prioQueue), stop: make(chan struct{}),
	}
}

// Kernel returns the kernel the loop owns.
func (e *Engine) Kernel() *kernel.Kernel { return e.kern }

// Clock returns the engine's clock.
func (e *Engine) Clock() clock.Clock { return e.clk }

// Post queues an input without blocking; it reports false (and counts the
// drop) when the queue is full. Session readers use it for resolves,
// wrong-interface notifications and punts: the cards retry what is lost.
func (e *Engine) Post(in Input) bool {
	in.at = e.clk.Now().UnixNano()
	select {
	case e.in <- in:
		e.stats.queued[in.Kind].Add(1)
		return true
	default:
		e.stats.dropped[in.Kind].Add(1)
		return false
	}
}

// PostWait queues an input, waiting while the queue is full (route hits:
// losing one would let a busy route's cache entry expire).
func (e *Engine) PostWait(ctx context.Context, in Input) error {
	in.at = e.clk.Now().UnixNano()
	select {
	case e.in <- in:
		e.stats.queued[in.Kind].Add(1)
		return nil
	case <-ctx.Done():
		e.stats.dropped[in.Kind].Add(1)
		return ctx.Err()
	case <-e.stop:
		return ErrStopped
	}
}

// Do runs fn on the loop and returns its error. It waits for a place in
// the call queue and for fn to finish, or for ctx.
func (e *Engine) Do(ctx context.Context, fn func() error) error {
	c := call{fn: fn, done: make(chan error, 1), at: e.clk.Now().UnixNano()}
	select {
	case e.calls <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stop:
		return ErrStopped
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stop:
		return ErrStopped
	}
}

// PostCall queues fn to run on the loop without waiting for it (a session
// reader reporting link state); false when the call queue is full.
func (e *Engine) PostCall(fn func() error) bool {
	c := call{fn: fn, done: make(chan error, 1), at: e.clk.Now().UnixNano()}
	select {
	case e.calls <- c:
		return true
	default:
		e.stats.callsDropped.Add(1)
		return false
	}
}

// PostPriority runs fn on the loop ahead of every other queued input (a
// protocol's keepalive and hold-timer accounting, which bulk work must not
// delay), waiting for room or for ctx.
func (e *Engine) PostPriority(ctx context.Context, fn func()) error {
	select {
	case e.prio <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stop:
		return ErrStopped
	}
}

// Subscribe adds a handler for kernel events; it runs on the loop with
// the events of one step, in order, and must not keep the slice.
func (e *Engine) Subscribe(fn func([]kernel.Event)) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	e.subs = append(e.subs, fn)
}

// Timer is a timer on the loop.
type Timer struct {
	at    time.Time
	id    uint64
	fn    func()
	index int // in the heap; -1 when not armed
}

// Stop disarms the timer (loop only). It reports whether it was armed.
func (e *Engine) Stop(t *Timer) bool {
	if t == nil || t.index < 0 {
		return false
	}
	heap.Remove(&e.timers, t.index)
	t.index = -1
	return true
}

// AfterFunc runs fn on the loop after d (loop only: from Do, a timer or an
// event handler). Timers due at the same time run in the order armed.
func (e *Engine) AfterFunc(d time.Duration, fn func()) *Timer {
	e.timerID++
	t := &Timer{at: e.clk.Now().Add(d), id: e.timerID, fn: fn}
	heap.Push(&e.timers, t)
	return t
}

// Run runs the loop until ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.stop)
	var tickFn func()
	tickFn = func() {
		if e.kern != nil {
			e.kern.Expire(e.clk.Now())
		}
		e.AfterFunc(e.tick, tickFn)
	}
	e.AfterFunc(e.tick, tickFn)
	wake := e.clk.NewTimer(-1)
	defer wake.Stop()
	for {
		e.runPriority()
		e.runDue()
		e.deliver()
		if len(e.timers) > 0 {
			wake.Reset(max(0, e.timers[0].at.Sub(e.clk.Now())))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake.C():
		case in := <-e.in:
			e.handle(in)
			for range drainBatch - 1 {
				select {
				case in := <-e.in:
					e.handle(in)
					continue
				default:
				}
				break
			}
		case c := <-e.calls:
			e.stats.wait(waitCall, e.clk.Now().UnixNano()-c.at)
			c.done <- e.safeCall(c.fn)
		case fn := <-e.prio:
			e.stats.prio.Add(1)
			_ = e.safeCall(func() error { fn(); return nil })
		}
		wake.Stop()
	}
}

// safeCall runs fn, turning a panic into an error so that a bad command
// cannot take the routing engine down.
func (e *Engine) safeCall(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.stats.panics.Add(1)
			e.log.Error("routing engine call panicked", "panic", r)
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return fn()
}

// runPriority runs what is queued on the priority path.
func (e *Engine) runPriority() {
	for {
		select {
		case fn := <-e.prio:
			e.stats.prio.Add(1)
			_ = e.safeCall(func() error { fn(); return nil })
		default:
			return
		}
	}
}

func (e *Engine) runDue() {
	now := e.clk.Now()
	for len(e.timers) > 0 && !e.timers[0].at.After(now) {
		t := heap.Pop(&e.timers).(*Timer)
		t.index = -1
		e.stats.timers.Add(1)
		if d := now.Sub(t.at); d > 0 {
			e.stats.wait(waitTimer, int64(d))
		}
		_ = e.safeCall(func() error { t.fn(); return nil })
	}
}

func (e *Engine) handle(in Input) {
	e.stats.wait(waitInput, e.clk.Now().UnixNano()-in.at)
	e.stats.handled[in.Kind].Add(1)
	if e.kern == nil && in.Kind != InCall {
		return
	}
	switch in.Kind {
	case InResolve:
		e.kern.Resolve(in.Slot, in.Resolve)
	case InWrongInterface:
		w := in.Wrong
		e.kern.WrongInterface(in.Slot, w.Ingress, w.Expected, w.Source, w.Group)
	case InHit:
		e.kern.Traffic(in.Hit.Key, in.Hit.Packets, in.Hit.Bytes)
	case InCall:
		if in.Call != nil {
			_ = e.safeCall(func() error { in.Call(); return nil })
		}
	case InPunt:
		if e.punt == nil {
			e.stats.puntsDropped.Add(1)
			return
		}
		_ = e.safeCall(func() error { e.punt(in.Slot, in.Punt); return nil })
	}
}

// deliver hands the kernel's events of the last step to the subscribers.
func (e *Engine) deliver() {
	if e.kern == nil {
		return
	}
	e.events = e.kern.TakeEvents(e.events[:0])
	if len(e.events) == 0 {
		return
	}
	e.stats.events.Add(uint64(len(e.events)))
	e.subMu.Lock()
	subs := e.subs
	e.subMu.Unlock()
	for _, fn := range subs {
		_ = e.safeCall(func() error { fn(e.events); return nil })
	}
	clear(e.events)
}

type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].id < h[j].id
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// Wait classes for queue-wait statistics.
const (
	waitInput = iota
	waitCall
	waitTimer
	numWaits
)

var waitNames = [numWaits]string{"input", "call", "timer"}

// waitBuckets: bucket i counts waits in [2^(i-1), 2^i) µs; bucket 0 is
// < 1 µs and the last is everything from ~1 s.
const waitBuckets = 22

type counters struct {
	queued       [numInputKinds]atomic.Uint64
	dropped      [numInputKinds]atomic.Uint64
	handled      [numInputKinds]atomic.Uint64
	events       atomic.Uint64
	timers       atomic.Uint64
	panics       atomic.Uint64
	puntsDropped atomic.Uint64
	callsDropped atomic.Uint64
	prio         atomic.Uint64
	waits        [numWaits][waitBuckets]atomic.Uint64
	maxWait      [numWaits]atomic.Int64
}

func (c *counters) wait(class int, ns int64) {
	if ns < 0 {
		ns = 0
	}
	us := uint64(ns / 1000)
	b := 0
	for us > 0 && b < waitBuckets-1 {
		us >>= 1
		b++
	}
	c.waits[class][b].Add(1)
	for {
		m := c.maxWait[class].Load()
		if ns <= m || c.maxWait[class].CompareAndSwap(m, ns) {
			break
		}
	}
}

// WaitStats are queue-wait percentiles of one class (upper bounds of
// power-of-two buckets).
type WaitStats struct {
	Count uint64        `json:"count"`
	P50   time.Duration `json:"p50"`
	P99   time.Duration `json:"p99"`
	P999  time.Duration `json:"p999"`
	Max   time.Duration `json:"max"`
}

// Stats are the loop's counters.
type Stats struct {
	Queued       map[string]uint64    `json:"queued"`
	Dropped      map[string]uint64    `json:"dropped"`
	Handled      map[string]uint64    `json:"handled"`
	QueueDepth   int                  `json:"queue-depth"`
	QueueCap     int                  `json:"queue-capacity"`
	Events       uint64               `json:"events"`
	Timers       uint64               `json:"timers-run"`
	Panics       uint64               `json:"panics"`
	PuntsDropped uint64               `json:"punts-dropped"`
	CallsDropped uint64               `json:"calls-dropped"`
	Priority     uint64               `json:"priority-run"`
	Wait         map[string]WaitStats `json:"queue-wait"`
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Queued: map[string]uint64{}, Dropped: map[string]uint64{}, Handled: map[string]uint64{},
		QueueDepth: len(e.in), QueueCap: cap(e.in), Events: e.stats.events.Load(), Timers: e.stats.timers.Load(),
		Panics: e.stats.panics.Load(), PuntsDropped: e.stats.puntsDropped.Load(), CallsDropped: e.stats.callsDropped.Load(), Priority: e.stats.prio.Load(), Wait: map[string]WaitStats{},
	}
	for k := InputKind(0); k < numInputKinds; k++ {
		s.Queued[k.String()] = e.stats.queued[k].Load()
		s.Dropped[k.String()] = e.stats.dropped[k].Load()
		s.Handled[k.String()] = e.stats.handled[k].Load()
	}
	for c := range numWaits {
		var counts [waitBuckets]uint64
		var total uint64
		for b := range waitBuckets {
			counts[b] = e.stats.waits[c][b].Load()
			total += counts[b]
		}
		ws := WaitStats{Count: total, Max: time.Duration(e.stats.maxWait[c].Load())}
		pct := func(p float64) time.Duration {
			if total == 0 {
				return 0
			}
			want := uint64(p*float64(total) + 0.5)
			var acc uint64
			for b := range waitBuckets {
				acc += counts[b]
				if acc >= want {
					if b == 0 {
						return time.Microsecond
					}
					return time.Duration(1<<b) * time.Microsecond
				}
			}
			return ws.Max
		}
		ws.P50, ws.P99, ws.P999 = pct(0.5), pct(0.99), pct(0.999)
		s.Wait[waitNames[c]] = ws
	}
	return s
}
