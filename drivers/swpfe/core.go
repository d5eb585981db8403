package swpfe

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// TxFunc receives forwarded (rewritten) frames for one physical egress IFL.
// The frames live in driver-owned scratch buffers that are valid only for
// the duration of the call: copy them (or write them to a ring) before
// returning. It is called on the forwarding goroutine and must not block.
type TxFunc func(egress hal.IFLIndex, frames [][]byte)

// Core is the FIB and forwarding engine shared by the software drivers:
// swpfe wraps it with cfg.Egress, afpacket with AF_PACKET rings. Core
// implements the programming, read-back and counter half of hal.Driver
// (Apply, Route, Lookup, NextHop, IFL, WalkRoutes, IFLCounters, Summary,
// Close); the packet half is Forward and Send with a caller-supplied TxFunc.
//
// Concurrency: Apply calls are serialised by the caller; Forward, Send and
// the read-back methods may run concurrently with Apply and with each
// other. The packet path takes no lock: routes live in a concurrent hash
// table with atomic per-entry fields, next hops are resolved ahead of time
// into immutable egress plans published through atomic pointers, and the
// IFL table is a copy-on-write snapshot. A packet racing with Apply sees
// each route either before or after an operation, never a torn plan.
type Core struct {
	log     *slog.Logger
	upcalls hal.Upcalls
	now     func() time.Time
	closed  atomic.Bool

	// mu serialises Apply and Close and guards st; read-back of next hops
	// and Summary take it for reading.
	mu sync.RWMutex
	st state

	ifls  atomic.Pointer[iflMap]        // published IFL views
	sg    sgFIB                         // (S,G) routes
	pfx   atomic.Pointer[[]prefixRoute] // group prefix routes, longest first
	traps atomic.Pointer[hal.TrapTable] // host-path traps (nil: none)

	pool scratchPool // for Forward and Send
}

// NewCore returns an empty Core. cfg.Upcalls receives punts, resolve
// requests and RPF failures; cfg.Now (default time.Now) is read once per
// forwarded batch to stamp route LastUsed; cfg.Egress is not used.
func NewCore(cfg hal.Config) *Core {
	c := &Core{log: cfg.Logger, upcalls: cfg.Upcalls, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.upcalls == nil {
		c.upcalls = nopUpcalls{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.st.init()
	c.sg.init()
	c.ifls.Store(&iflMap{})
	c.pfx.Store(&[]prefixRoute{})
	return c
}

type nopUpcalls struct{}

func (nopUpcalls) OnResolve(hal.ResolveRequest)            {}
func (nopUpcalls) OnWrongInterface(hal.WrongInterface)     {}
func (nopUpcalls) OnPunt(hal.IFLIndex, hal.TrapID, []byte) {}
func (nopUpcalls) OnLinkState(hal.LinkState)               {}

// Apply implements hal.Driver.Apply. All changes of a batch are resolved
// into egress plans and published together at its end; routes become
// visible as they are applied (each route is one atomic update).
func (c *Core) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return 0, hal.ErrClosed
	}
	b := c.st.beginBatch()
	applied, err := hal.ApplyEach(ctx, ops, func(_ int, op *hal.Op) error { return c.applyLocked(b, op) })
	c.publishLocked(b)
	if err != nil {
		c.log.Debug("swpfe: batch with failures", "ops", len(ops), "applied", applied, "err", err)
	}
	return applied, err
}

// Route implements hal.Driver.Route.
func (c *Core) Route(key hal.RouteKey) (hal.Route, error) {
	if c.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	k, err := normalizeKey(key)
	if err != nil {
		return hal.Route{}, err
	}
	var e *routeEntry
	if k.IsSG() {
		e = c.sg.find(sgKey(k.Source, k.Group))
	} else {
		g := be32(k.Group)
		for _, p := range *c.pfx.Load() {
			if p.group == g && p.e.plen == k.PrefixLen {
				e = p.e
				break
			}
		}
	}
	if e == nil {
		return hal.Route{}, fmt.Errorf("route %s: %w", k, hal.ErrNotFound)
	}
	return e.route(), nil
}

// Lookup implements hal.Driver.Lookup with the packet path's lookup.
func (c *Core) Lookup(source, group netip.Addr) (hal.Route, error) {
	if c.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	if source.Is4() && group.Is4() {
		if e := c.lookup(be32(source), be32(group)); e != nil {
			return e.route(), nil
		}
	}
	return hal.Route{}, fmt.Errorf("lookup %v,%v: %w", source, group, hal.ErrNotFound)
}

// NextHop implements hal.Driver.NextHop.
func (c *Core) NextHop(id hal.NHID) (hal.NextHop, error) {
	if c.closed.Load() {
		return hal.NextHop{}, hal.ErrClosed
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.st.nhs[id]
	if !ok {
		return hal.NextHop{}, fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	nh := o.nh
	nh.Members = slices.Clone(nh.Members)
	return nh, nil
}

// IFL implements hal.Driver.IFL.
func (c *Core) IFL(index hal.IFLIndex) (hal.IFL, error) {
	if c.closed.Load() {
		return hal.IFL{}, hal.ErrClosed
	}
	v := c.ifls.Load().get(index)
	if v == nil {
		return hal.IFL{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	ifl := v.ifl
	ifl.Members = slices.Clone(ifl.Members)
	ifl.MAC = slices.Clone(ifl.MAC)
	return ifl, nil
}

// WalkRoutes implements hal.Driver.WalkRoutes: group prefix routes first
// (longest first), then (S,G) routes in table order. It walks a snapshot
// without locks; routes changed during the walk may or may not be seen.
func (c *Core) WalkRoutes(fn func(hal.Route, hal.RouteStat) bool) {
	if c.closed.Load() {
		return
	}
	for _, p := range *c.pfx.Load() {
		if !fn(p.e.route(), p.e.stat()) {
			return
		}
	}
	c.sg.walk(func(e *routeEntry) bool { return fn(e.route(), e.stat()) })
}

// WalkHits implements hal.HitWalker: like WalkRoutes, but only routes whose
// last hit is at or after since, and without building the others.
func (c *Core) WalkHits(since time.Time, fn func(hal.Route, hal.RouteStat) bool) {
	if c.closed.Load() {
		return
	}
	t := since.UnixNano()
	for _, p := range *c.pfx.Load() {
		if p.e.last.Load() >= t && !fn(p.e.route(), p.e.stat()) {
			return
		}
	}
	c.sg.walk(func(e *routeEntry) bool {
		if e.last.Load() < t {
			return true
		}
		return fn(e.route(), e.stat())
	})
}

// IFLCounters implements hal.Driver.IFLCounters.
func (c *Core) IFLCounters(index hal.IFLIndex) (hal.IFLCounters, error) {
	if c.closed.Load() {
		return hal.IFLCounters{}, hal.ErrClosed
	}
	v := c.ifls.Load().get(index)
	if v == nil {
		return hal.IFLCounters{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	return v.ctr.snapshot(), nil
}

// AddIFLCounters adds delta to the counters of index. Drivers built on Core
// use it for what happens outside the core, e.g. afpacket counting
// QueueFull when a TX ring is full.
func (c *Core) AddIFLCounters(index hal.IFLIndex, delta hal.IFLCounters) error {
	if c.closed.Load() {
		return hal.ErrClosed
	}
	v := c.ifls.Load().get(index)
	if v == nil {
		return fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	v.ctr.add(delta)
	return nil
}

// Summary implements hal.Driver.Summary.
func (c *Core) Summary() hal.Summary {
	s := hal.Summary{NHsByType: map[hal.NHType]int{}}
	if c.closed.Load() {
		return s
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	s.IFLs = len(c.st.ifls)
	s.NHs = len(c.st.nhs)
	s.Routes = c.sg.live + len(c.st.pfx)
	for _, o := range c.st.nhs {
		s.NHsByType[o.nh.Type]++
	}
	return s
}

// Forward runs a batch of frames received on ingress through the packet
// path (parse, punt, lookup, RPF, resolve/discard, TTL, replication,
// rewrite) and hands the copies to tx, batched per physical egress IFL.
// frames stay owned by the caller and are not modified. Upcalls are made on
// the calling goroutine. It returns ErrClosed after Close and ErrNotFound
// for an unknown ingress IFL; per-frame problems are counted, not returned.
// Scratch buffers come from a free list; a goroutine that forwards continuously
// can use a Worker instead.
func (c *Core) Forward(ingress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	s := c.pool.get()
	err := c.forward(s, ingress, frames, tx)
	c.pool.put(s)
	return err
}

// Send transmits frames out of egress unchanged (hal.Driver.Transmit): a
// physical IFL that is Up sends them itself, an aggregate through its first
// Up member; otherwise they are counted as PortDown. tx receives copies in
// driver-owned buffers; Tx counters are updated.
func (c *Core) Send(egress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	s := c.pool.get()
	err := c.send(s, egress, frames, tx)
	c.pool.put(s)
	return err
}

// Worker is a forwarding context owning its scratch buffers, for a
// goroutine that forwards continuously (e.g. one per receive ring). A Worker
// is not safe for concurrent use; different Workers are.
type Worker struct {
	c *Core
	s *scratch
}

// NewWorker returns a Worker of c.
func (c *Core) NewWorker() *Worker { return &Worker{c: c, s: newScratch()} }

// Forward is Core.Forward with the Worker's buffers.
func (w *Worker) Forward(ingress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	return w.c.forward(w.s, ingress, frames, tx)
}

// Send is Core.Send with the Worker's buffers.
func (w *Worker) Send(egress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	return w.c.send(w.s, egress, frames, tx)
}

// SetOption implements hal.Tunable. The software core has no options of
// its own: every key is accepted and ignored.
func (c *Core) SetOption(key, value string) error {
	if c.closed.Load() {
		return hal.ErrClosed
	}
	return nil
}

// Closed reports whether Close was called.
func (c *Core) Closed() bool { return c.closed.Load() }

// Close implements hal.Driver.Close: afterwards every method returns
// ErrClosed. The tables are released; a Forward already running finishes
// on the snapshot it loaded. Close is idempotent and starts no goroutines,
// so it has none to stop.
func (c *Core) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Swap(true) {
		return nil
	}
	c.st.init()
	c.sg.init()
	c.ifls.Store(&iflMap{})
	c.pfx.Store(&[]prefixRoute{})
	c.traps.Store(nil)
	return nil
}

// Traps returns the programmed host-path traps, sorted by id.
func (c *Core) Traps() []hal.Trap { return c.traps.Load().Traps() }

// SetLinkState implements hal.LinkSetter for the ports of a Core: a port
// that is down keeps its place in the aggregate member choice and its
// copies and transmitted frames count PortDown. The change is published to
// the packet path before the upcall reports it.
func (c *Core) SetLinkState(idx hal.IFLIndex, up bool) error {
	changed, err := func() (bool, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed.Load() {
			return false, hal.ErrClosed
		}
		o := c.st.ifls[idx]
		if o == nil {
			return false, fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
		}
		if o.ifl.Kind != hal.IFLPhysical {
			return false, fmt.Errorf("ifl %d is %s, not a port: %w", idx, o.ifl.Kind, hal.ErrInvalid)
		}
		if o.operDown == !up {
			return false, nil
		}
		o.operDown = !up
		b := c.st.beginBatch()
		b.iflsChanged = true
		for id := range o.users {
			b.markDirty(id)
		}
		c.publishLocked(b)
		return true, nil
	}()
	if changed {
		c.upcalls.OnLinkState(hal.LinkState{IFL: idx, Up: up})
	}
	return err
}
