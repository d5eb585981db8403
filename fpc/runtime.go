// Package fpc is the line-card runtime: it connects to the RE over the IPC,
// registers its slot, applies the RE's downloads (IFLs, next hops, routes,
// host-path traps) to a PFE driver through the HAL, turns the driver's
// upcalls into resolve-addr-requests (throttled per card), wrong-interface
// notifications, punted packets (policed per trap, hostpath.go) and link
// state, sends what the RE injects (out of a port, or into the PFE as if
// received), reports route hit counters so that the RE can refresh its
// forwarding cache, and serves the vty.
//
// A card knows every RE address it was given (Config.RE, comma-separated)
// and follows the one that accepts its registration as master; a refusal
// (not master, slot in use, anything) is retried with backoff, forever,
// while the card keeps forwarding with what it has (issue #11: line cards
// never give up).
//
// Priorities on the session: punts and link state go on the session's
// control lane (ipc.Session.SendControl), ahead of resolve requests and
// hit reports; injects from the RE are handled on the session's read
// goroutine as soon as they are decoded, never queued behind the download
// applier.
//
// The runtime does not know which driver it runs: it receives a
// hal.Constructor. After a reconnect the RE replays its whole state between
// resync-begin and resync-end; the runtime keeps forwarding with what it has,
// re-applies every object (set operations are idempotent) and then deletes
// what the replay did not mention (mark and sweep), so routes that are still
// valid are never removed.
//
// Concurrency: Run owns every goroutine (session, applier, sender, stats
// reporter, traffic generators) and returns after they have all stopped.
// Upcalls arrive on driver goroutines and only touch the throttle, the host
// path and bounded queues. Vty handlers may run concurrently with
// everything else.
package fpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// Config configures a runtime.
type Config struct {
	Slot hal.Slot
	// RE is the host:port of the RE, or several, comma-separated (both
	// routing engines): the card tries each in turn and follows the one
	// that accepts it as master.
	RE         string
	DriverName string
	NewDriver  hal.Constructor
	// Ports binds physical interface names to driver resources.
	Ports   map[string]string
	Options map[string]string
	Logger  *slog.Logger
	Now     func() time.Time
	// StatsInterval is how often route hit counters are reported (1 s).
	StatsInterval time.Duration
	// KeepaliveInterval and DeadAfter tune the IPC session (1 s, 3).
	KeepaliveInterval time.Duration
	DeadAfter         int
	// BackoffMin/BackoffMax bound the reconnect backoff (100 ms, 5 s).
	BackoffMin, BackoffMax time.Duration
	// PFEs is the number of PFEs of the card (4).
	PFEs int
	// HostPath bounds the host path (nil: DefaultHostPathLimits).
	HostPath *HostPathLimits
}

// Runtime is one FPC.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	drv      hal.Driver
	throttle *Throttle
	egress   *egressSink

	applyq chan item
	outq   chan ipc.Message
	sess   atomic.Pointer[ipc.Session]
	host   *hostPath

	res    []string               // RE addresses, in the order tried
	master atomic.Pointer[string] // the RE followed now (nil: none)
	refuse refusalLog             // rate-limited refusal logging

	linkMu sync.Mutex
	links  map[hal.IFLIndex]bool // ports' operational state as reported by the driver

	mu     sync.Mutex // guards the shadow state below
	shadow shadowState

	// hitsMu guards lastHits: the counters last reported per route.
	hitsMu   sync.Mutex
	lastHits map[hal.RouteKey]hal.Counters

	wrongMu   sync.Mutex
	wrongLast map[sgKey]time.Time

	token     atomic.Uint32
	stats     runtimeStats
	connected atomic.Bool
	connects  atomic.Uint64
	reGen     atomic.Uint32

	trafficMu sync.Mutex
	traffic   map[int]context.CancelFunc
	trafficID int
	wg        sync.WaitGroup
	runCtx    context.Context
}

// runtimeStats are counters of the runtime itself.
type runtimeStats struct {
	OpsApplied     atomic.Uint64
	OpsFailed      atomic.Uint64
	ResolveSent    atomic.Uint64
	ResolveDropped atomic.Uint64 // queue full or no session
	ResolveStale   atomic.Uint64 // the (S,G) route was installed meanwhile
	WrongIIFSent   atomic.Uint64
	WrongIIFLimit  atomic.Uint64 // rate-limited (one per (S,G) per 3 s)
	Injected       atomic.Uint64 // injects sent out of a port (Transmit)
	InjectFwd      atomic.Uint64 // injects forwarded as received (Input)
	InjectFailed   atomic.Uint64
	LinkSent       atomic.Uint64 // link state messages sent to the RE
	LinkDropped    atomic.Uint64 // link state not sent (no session, lane full): resent on reconnect
	Refusals       atomic.Uint64 // registrations an RE refused
	Resyncs        atomic.Uint64
	Swept          atomic.Uint64
	HitReports     atomic.Uint64
}

type shadowState struct {
	gen     uint32
	resync  bool
	ifls    map[hal.IFLIndex]ifShadow
	byName  map[string]hal.IFLIndex
	nhs     map[hal.NHID]nhShadow
	routes  map[hal.RouteKey]uint32
	traps   map[hal.TrapID]trapShadow
	options map[string]string
}

type trapShadow struct {
	gen  uint32
	trap hal.Trap
}

type ifShadow struct {
	gen  uint32
	name string
}
type nhShadow struct {
	gen uint32
	typ hal.NHType
}

type itemKind uint8

const (
	itemOp itemKind = iota
	itemResyncBegin
	itemResyncEnd
	itemConfig
)

type item struct {
	kind  itemKind
	op    hal.Op
	gen   uint32
	key   string
	value string
}

// Queue bounds. applyQueue holds downloads between the IPC reader and the
// applier: 64k ops is one second of downloads at the 100k/s route-install
// goal with headroom, and ~10 MB worst case. outQueue holds upcall messages
// (resolves, punts): at the 1000/s maximum resolve rate it is 4 s of slack.
const (
	applyQueue = 1 << 16
	outQueue   = 4096
	applyBatch = 4096
)

// WrongIIFInterval rate-limits wrong-interface notifications per (S,G), as
// the Linux kernel does (one per 3 s; REFERENCE.md "Resolve contract").
const WrongIIFInterval = 3 * time.Second

// New creates the runtime and its driver.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if !cfg.Slot.Valid() {
		return nil, fmt.Errorf("fpc: slot %d out of range 0..%d", cfg.Slot, hal.MaxSlot)
	}
	if cfg.NewDriver == nil {
		return nil, errors.New("fpc: no driver constructor")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.PFEs <= 0 {
		cfg.PFEs = 4
	}
	lim := DefaultHostPathLimits()
	if cfg.HostPath != nil {
		lim = *cfg.HostPath
	}
	var res []string
	for _, a := range strings.Split(cfg.RE, ",") {
		if a = strings.TrimSpace(a); a != "" {
			res = append(res, a)
		}
	}
	if len(res) == 0 {
		return nil, errors.New("fpc: no RE address")
	}
	r := &Runtime{
		cfg:       cfg,
		log:       cfg.Logger.With("slot", cfg.Slot),
		throttle:  NewThrottle(DefaultResolveRate, cfg.Now),
		egress:    newEgressSink(),
		applyq:    make(chan item, applyQueue),
		outq:      make(chan ipc.Message, outQueue),
		res:       res,
		links:     map[hal.IFLIndex]bool{},
		wrongLast: map[sgKey]time.Time{},
		lastHits:  map[hal.RouteKey]hal.Counters{},
		traffic:   map[int]context.CancelFunc{},
		shadow: shadowState{
			gen:     1,
			ifls:    map[hal.IFLIndex]ifShadow{},
			byName:  map[string]hal.IFLIndex{},
			nhs:     map[hal.NHID]nhShadow{},
			routes:  map[hal.RouteKey]uint32{},
			traps:   map[hal.TrapID]trapShadow{},
			options: map[string]string{},
		},
	}
	// Before the driver exists: its packet path may punt at once.
	r.host = newHostPath(lim, cfg.Now, r.sendControl)
	drv, err := cfg.NewDriver(ctx, hal.Config{
		Slot:    cfg.Slot,
		Logger:  r.log.With("driver", cfg.DriverName),
		Upcalls: (*upcalls)(r),
		Egress:  r.egress,
		Now:     cfg.Now,
		Ports:   cfg.Ports,
		Options: cfg.Options,
	})
	if err != nil {
		return nil, fmt.Errorf("fpc: driver %s: %w", cfg.DriverName, err)
	}
	r.drv = drv
	return r, nil
}

// Driver returns the driver (for tests and the vty).
func (r *Runtime) Driver() hal.Driver { return r.drv }

// Throttle returns the resolve throttle.
func (r *Runtime) Throttle() *Throttle { return r.throttle }

// Connected reports whether a session with the RE is up.
func (r *Runtime) Connected() bool { return r.connected.Load() }

// TNPAddr is this card's TNP address.
func (r *Runtime) TNPAddr() ipc.TNPAddr { return ipc.FPCAddr(r.cfg.Slot) }

// Run connects to the RE (reconnecting with backoff) and runs until ctx is
// done. It closes the driver before returning.
func (r *Runtime) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.runCtx = ctx
	r.wg.Add(4)
	go func() { defer r.wg.Done(); r.runApplier(ctx) }()
	go func() { defer r.wg.Done(); r.runSender(ctx) }()
	go func() { defer r.wg.Done(); r.runStats(ctx) }()
	go func() { defer r.wg.Done(); r.runHostPath(ctx) }()
	connErr := r.runConnect(ctx)
	cancel()
	r.wg.Wait()
	if err := r.drv.Close(); err != nil {
		return fmt.Errorf("fpc: close driver: %w", err)
	}
	return connErr
}

// runConnect dials the REs, registers and runs sessions until ctx is done.
// It tries the addresses in turn, starting with the one it followed last;
// a failed attempt (no answer, a refusal of any kind) moves to the next
// address, and after a whole round of failures it waits (backoff, doubled
// per round up to BackoffMax). It never gives up: a refused registration
// is retried like a lost connection, and the driver keeps forwarding with
// what it has meanwhile.
func (r *Runtime) runConnect(ctx context.Context) error {
	backoff := r.cfg.BackoffMin
	idx, failed := 0, 0
	for ctx.Err() == nil {
		addr := r.res[idx]
		start := time.Now()
		err := r.session(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 10*time.Second {
			// The session was healthy for a while: start over with the
			// same RE, at the shortest backoff.
			backoff, failed = r.cfg.BackoffMin, 0
			r.log.Warn("RE session ended; reconnecting", "re", addr, "err", err)
			continue
		}
		if errors.Is(err, ipc.ErrRejected) {
			r.stats.Refusals.Add(1)
		}
		r.refuse.log(r.log, r.cfg.Now(), addr, err)
		idx = (idx + 1) % len(r.res)
		if failed++; failed < len(r.res) {
			continue // try the next RE at once
		}
		failed = 0
		r.log.Debug("no RE accepted this card; waiting", "backoff", backoff, "res", len(r.res))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.BackoffMax)
	}
	return nil
}

// refusalLog logs each kind of failed attempt (the RE's refusal code, or
// unreachable, per address) at most once a minute, with the number
// suppressed meanwhile: a card retrying every few seconds against a backup
// RE, or a dead one, must not fill the log.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]refusalEntry
}

type refusalEntry struct {
	at         time.Time
	suppressed int
}

// refusalLogInterval is how often one kind of refusal is logged.
const refusalLogInterval = time.Minute

func (l *refusalLog) log(log *slog.Logger, now time.Time, addr string, err error) {
	key := addr + " " + refusalReason(err)
	l.mu.Lock()
	if l.last == nil {
		l.last = map[string]refusalEntry{}
	}
	e, seen := l.last[key]
	if seen && now.Sub(e.at) < refusalLogInterval {
		e.suppressed++
		l.last[key] = e
		l.mu.Unlock()
		return
	}
	l.last[key] = refusalEntry{at: now}
	l.mu.Unlock()
	if errors.Is(err, ipc.ErrRejected) {
		log.Warn("RE refused the registration; retrying with backoff", "re", addr, "err", err, "suppressed", e.suppressed)
		return
	}
	log.Warn("no session with the RE; retrying with backoff", "re", addr, "err", err, "suppressed", e.suppressed)
}

// refusalReason names the kind of a failed attempt: the ack code's name
// for a refusal, "unreachable" for anything else (no answer, a session
// that failed before it was established).
func refusalReason(err error) string {
	var re *rejectedError
	if errors.As(err, &re) {
		return re.code.String()
	}
	return "unreachable"
}

// rejectedError carries the ack code of a refused registration.
type rejectedError struct {
	code ipc.AckCode
	err  error
}

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

// Master returns the address of the RE the card follows now ("" when it
// has no session).
func (r *Runtime) Master() string {
	if p := r.master.Load(); p != nil {
		return *p
	}
	return ""
}

func (r *Runtime) register() *ipc.Register {
	reg := &ipc.Register{
		Slot:   uint16(r.cfg.Slot),
		Addr:   r.TNPAddr(),
		Driver: r.cfg.DriverName,
	}
	for pic := 0; pic < r.cfg.PFEs; pic++ {
		reg.PFEs = append(reg.PFEs, hal.PFEOf(int(r.cfg.Slot), pic))
	}
	names := make([]string, 0, len(r.cfg.Ports))
	for n := range r.cfg.Ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		reg.Ports = append(reg.Ports, ipc.Port{IFL: n, Resource: r.cfg.Ports[n]})
	}
	return reg
}

func (r *Runtime) session(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := d.DialContext(dctx, "tcp", addr)
	dcancel()
	if err != nil {
		return fmt.Errorf("dial RE %s: %w", addr, err)
	}
	ack, err := ipc.ClientHandshake(conn, r.register(), 5*time.Second)
	if err != nil {
		conn.Close()
		err = fmt.Errorf("register slot %d with RE %s: %w", r.cfg.Slot, addr, err)
		if ack != nil {
			err = &rejectedError{code: ack.Error, err: err}
		}
		return err
	}
	ka := r.cfg.KeepaliveInterval
	if ka == 0 && ack.Keepalive > 0 {
		ka = ack.Keepalive
	}
	s := ipc.NewSession(conn, ipc.SessionConfig{
		Local:             r.TNPAddr(),
		Peer:              ipc.TNPMaster,
		KeepaliveInterval: ka,
		DeadAfter:         r.cfg.DeadAfter,
		Handler:           func(m ipc.Message) { r.handle(ctx, m) },
		Logger:            r.log,
	})
	r.sess.Store(s)
	r.master.Store(&addr)
	r.connected.Store(true)
	r.connects.Add(1)
	r.log.Info("registered with RE; following it as master", "re", addr, "tnp", r.TNPAddr())
	err = s.Run(ctx)
	r.connected.Store(false)
	r.sess.CompareAndSwap(s, nil)
	r.master.Store(nil)
	return err
}

// handle runs on the session's read goroutine: it queues downloads for the
// applier, blocking when the queue is full (backpressure on the TCP
// stream, not memory growth), and sends injects at once (inject).
func (r *Runtime) handle(ctx context.Context, m ipc.Message) {
	var it item
	switch v := m.(type) {
	case *ipc.ResyncBegin:
		it = item{kind: itemResyncBegin, gen: v.Generation}
	case *ipc.ResyncEnd:
		it = item{kind: itemResyncEnd, gen: v.Generation}
	case *ipc.ConfigSet:
		it = item{kind: itemConfig, key: v.Key, value: v.Value}
	case *ipc.Inject:
		// Ahead of the downloads queued for the applier.
		r.inject(v)
		return
	default:
		op, ok := ipc.OpFromMessage(m)
		if !ok {
			r.log.Warn("unexpected message from RE", "header", m.Header().String())
			return
		}
		it = item{kind: itemOp, op: op}
	}
	select {
	case r.applyq <- it:
	case <-ctx.Done():
	}
}

// runApplier applies downloads in batches: it blocks for the first item and
// then drains what is queued (up to applyBatch) into one Apply call.
func (r *Runtime) runApplier(ctx context.Context) {
	ops := make([]hal.Op, 0, applyBatch)
	flush := func() {
		if len(ops) == 0 {
			return
		}
		r.applyOps(ctx, ops)
		ops = ops[:0]
		// A batch takes milliseconds: let the goroutines the host path
		// and the session woke meanwhile run now rather than at the
		// scheduler's next 10 ms preemption (punt latency during a
		// download, BenchmarkPuntDuringDownload).
		runtime.Gosched()
	}
	for {
		var it item
		select {
		case <-ctx.Done():
			return
		case it = <-r.applyq:
		}
		for {
			if it.kind == itemOp {
				ops = append(ops, it.op)
			} else {
				flush()
				r.control(ctx, it)
			}
			if len(ops) >= applyBatch {
				flush()
			}
			select {
			case it = <-r.applyq:
				continue
			default:
			}
			break
		}
		flush()
	}
}

func (r *Runtime) applyOps(ctx context.Context, ops []hal.Op) {
	n, err := r.drv.Apply(ctx, ops)
	r.stats.OpsApplied.Add(uint64(n))
	if err != nil {
		r.stats.OpsFailed.Add(uint64(len(ops) - n))
		r.log.Warn("apply failed", "applied", n, "of", len(ops), "err", err)
	}
	r.mu.Lock()
	gen := r.shadow.gen
	trapsChanged := false
	for _, op := range ops {
		switch op.Kind {
		case hal.OpSetIFL:
			if old, ok := r.shadow.ifls[op.IFL.Index]; ok && old.name != op.IFL.Name {
				delete(r.shadow.byName, old.name)
			}
			r.shadow.ifls[op.IFL.Index] = ifShadow{gen: gen, name: op.IFL.Name}
			r.shadow.byName[op.IFL.Name] = op.IFL.Index
		case hal.OpDelIFL:
			if old, ok := r.shadow.ifls[op.IFL.Index]; ok {
				delete(r.shadow.byName, old.name)
			}
			delete(r.shadow.ifls, op.IFL.Index)
		case hal.OpSetNH:
			r.shadow.nhs[op.NH.ID] = nhShadow{gen: gen, typ: op.NH.Type}
		case hal.OpDelNH:
			delete(r.shadow.nhs, op.NH.ID)
		case hal.OpSetRoute:
			r.shadow.routes[op.Route.Key] = gen
		case hal.OpDelRoute:
			delete(r.shadow.routes, op.Route.Key)
			r.hitsMu.Lock()
			delete(r.lastHits, op.Route.Key)
			r.hitsMu.Unlock()
		case hal.OpSetTrap:
			r.shadow.traps[op.Trap.ID] = trapShadow{gen: gen, trap: op.Trap}
			trapsChanged = true
		case hal.OpDelTrap:
			delete(r.shadow.traps, op.Trap.ID)
			trapsChanged = true
		}
	}
	var traps map[hal.TrapID]hal.Trap
	if trapsChanged {
		traps = make(map[hal.TrapID]hal.Trap, len(r.shadow.traps))
		for id, t := range r.shadow.traps {
			traps[id] = t.trap
		}
	}
	r.mu.Unlock()
	if traps != nil {
		r.host.setTraps(traps)
	}
	// Answered resolves: a route for the (S,G) now exists.
	for _, op := range ops {
		if op.Kind == hal.OpSetRoute && op.Route.Key.IsSG() {
			r.throttle.Resolved(op.Route.Key.Source, op.Route.Key.Group)
		}
	}
}

func (r *Runtime) control(ctx context.Context, it item) {
	switch it.kind {
	case itemResyncBegin:
		r.mu.Lock()
		r.shadow.gen++
		r.shadow.resync = true
		r.mu.Unlock()
		r.reGen.Store(it.gen)
		r.stats.Resyncs.Add(1)
		r.log.Info("resync begin", "generation", it.gen)
	case itemResyncEnd:
		r.sweep(ctx)
		r.log.Info("resync end", "generation", it.gen)
		// The RE may be new, or have missed changes while the card was
		// away: tell it the state of every port the driver reported.
		r.resendLinks()
	case itemConfig:
		r.setOption(it.key, it.value)
	}
}

// inject handles a packet the RE injects, on the session's read goroutine:
// out of the port (Transmit), or with Forward into the PFE as if received
// on the IFL (Input: the RP forwarding a decapsulated Register from pd-).
// The driver calls return at once (in-memory ports, or a send on a ring).
func (r *Runtime) inject(m *ipc.Inject) {
	frames := [][]byte{m.Frame}
	var err error
	if m.Forward {
		err = r.drv.Input(m.Egress, frames)
	} else {
		err = r.drv.Transmit(m.Egress, frames)
	}
	switch {
	case err != nil:
		r.stats.InjectFailed.Add(1)
		r.log.Warn("inject failed", "ifl", m.Egress, "forward", m.Forward, "err", err)
	case m.Forward:
		r.stats.InjectFwd.Add(1)
	default:
		r.stats.Injected.Add(1)
	}
}

func (r *Runtime) setOption(key, value string) {
	r.mu.Lock()
	r.shadow.options[key] = value
	r.mu.Unlock()
	if key == "resolve-rate" {
		var n int
		if _, err := fmt.Sscanf(value, "%d", &n); err != nil || n < 0 {
			r.log.Warn("bad resolve-rate from RE", "value", value)
			return
		}
		r.throttle.SetRate(n)
	}
	if t, ok := r.drv.(hal.Tunable); ok {
		if err := t.SetOption(key, value); err != nil {
			r.log.Warn("driver refused option", "key", key, "value", value, "err", err)
		}
	}
}

// sweep deletes what the replay did not mention: routes first, then next
// hops from the top of the chain down (indirect, composite, aggregate,
// unicast, others), then IFLs, so nothing is deleted while referenced.
func (r *Runtime) sweep(ctx context.Context) {
	r.mu.Lock()
	gen := r.shadow.gen
	r.shadow.resync = false
	var ops []hal.Op
	for id, t := range r.shadow.traps {
		if t.gen != gen {
			ops = append(ops, hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: id}})
		}
	}
	for k, g := range r.shadow.routes {
		if g != gen {
			ops = append(ops, hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: k}})
		}
	}
	order := []hal.NHType{hal.NHIndirect, hal.NHComposite, hal.NHAggregate, hal.NHUnicast, hal.NHResolve, hal.NHMDiscard, hal.NHDiscard}
	for _, t := range order {
		var ids []hal.NHID
		for id, s := range r.shadow.nhs {
			if s.gen != gen && s.typ == t {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			ops = append(ops, hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: id}})
		}
	}
	var ifls []hal.IFLIndex
	for idx, s := range r.shadow.ifls {
		if s.gen != gen {
			ifls = append(ifls, idx)
		}
	}
	r.mu.Unlock()
	// Aggregates (which reference members) go before physical IFLs.
	sort.Slice(ifls, func(i, j int) bool {
		a, _ := r.drv.IFL(ifls[i])
		b, _ := r.drv.IFL(ifls[j])
		if a.Kind != b.Kind {
			return a.Kind == hal.IFLAggregate
		}
		return ifls[i] < ifls[j]
	})
	for _, idx := range ifls {
		ops = append(ops, hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: idx}})
	}
	if len(ops) > 0 {
		r.log.Info("resync sweep", "stale", len(ops))
		r.stats.Swept.Add(uint64(len(ops)))
		r.applyOps(ctx, ops)
	}
}

// send queues an upcall message for the RE without blocking.
func (r *Runtime) send(m ipc.Message) bool {
	select {
	case r.outq <- m:
		return true
	default:
		return false
	}
}

// runSender moves upcall messages to the current session.
func (r *Runtime) runSender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.outq:
			s := r.sess.Load()
			if s == nil {
				r.countDropped(m)
				continue
			}
			if err := s.Send(ctx, m); err != nil {
				r.countDropped(m)
			}
		}
	}
}

func (r *Runtime) countDropped(m ipc.Message) {
	if _, ok := m.(*ipc.ResolveRequest); ok {
		r.stats.ResolveDropped.Add(1)
	}
}

// runStats reports route hit deltas to the RE, which resets the
// forwarding-cache lifetime of active flows (seed 003). It visits only the
// routes hit since the previous walk when the driver can (hal.HitWalker),
// never holds a lock the applier needs while walking, and stretches its
// interval to 20 times the duration of a walk, so that reporting costs at
// most about 5% of a core whatever the table size (a walk over 1M routes
// takes ~0.5 s; the forwarding cache counts in minutes).
func (r *Runtime) runStats(ctx context.Context) {
	interval := r.cfg.StatsInterval
	var hits []ipc.RouteHits
	var batch []ipc.Message
	var since time.Time
	for {
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s := r.sess.Load()
		if s == nil {
			continue
		}
		start := time.Now()
		now := r.cfg.Now()
		hits = hits[:0]
		visit := func(rt hal.Route, st hal.RouteStat) bool {
			if st.Counters.Packets > 0 {
				hits = append(hits, ipc.RouteHits{Key: rt.Key, Packets: st.Counters.Packets, Bytes: st.Counters.Bytes})
			}
			return true
		}
		if hw, ok := r.drv.(hal.HitWalker); ok && !since.IsZero() {
			hw.WalkHits(since, visit)
		} else {
			r.drv.WalkRoutes(visit)
		}
		// The next walk overlaps this one by a second: hits stamped with a
		// coarse clock are not missed, and deltas make overlap harmless.
		since = now.Add(-time.Second)
		batch = batch[:0]
		r.hitsMu.Lock()
		for i := range hits {
			h := &hits[i]
			last := r.lastHits[h.Key]
			if h.Packets <= last.Packets {
				continue
			}
			r.lastHits[h.Key] = hal.Counters{Packets: h.Packets, Bytes: h.Bytes}
			batch = append(batch, &ipc.RouteHits{Key: h.Key, Packets: h.Packets - last.Packets, Bytes: h.Bytes - last.Bytes})
		}
		r.hitsMu.Unlock()
		if d := time.Since(start); 20*d > r.cfg.StatsInterval {
			interval = 20 * d
		} else {
			interval = r.cfg.StatsInterval
		}
		if len(batch) == 0 {
			continue
		}
		r.stats.HitReports.Add(uint64(len(batch)))
		if err := s.Send(ctx, batch...); err != nil {
			r.log.Debug("route hits not sent", "err", err)
		}
	}
}

// upcalls adapts the runtime to hal.Upcalls without exporting the methods.
type upcalls Runtime

func (u *upcalls) OnResolve(req hal.ResolveRequest) {
	r := (*Runtime)(u)
	// A packet looked up just before the RE's answer was installed still
	// hits the Resolve NH; the (S,G) route exists now, so asking again would
	// only make the RE count a filtered resolve.
	allow, routed := r.throttle.AllowUnrouted(req.Source, req.Group, func() bool {
		_, err := r.drv.Route(hal.SG(req.Source, req.Group))
		return err == nil
	})
	if routed {
		r.stats.ResolveStale.Add(1)
		return
	}
	if !allow {
		return
	}
	m := &ipc.ResolveRequest{
		NH:        req.NH,
		Ingress:   req.Ingress,
		PrefixLen: 64,
		Token:     uint16(r.token.Add(1)),
		Group:     req.Group,
		Source:    req.Source,
	}
	if r.send(m) {
		r.stats.ResolveSent.Add(1)
	} else {
		r.stats.ResolveDropped.Add(1)
		r.throttle.Resolved(req.Source, req.Group) // let a later packet retry
	}
}

func (u *upcalls) OnWrongInterface(w hal.WrongInterface) {
	r := (*Runtime)(u)
	now := r.cfg.Now()
	k := sgKey{w.Source, w.Group}
	r.wrongMu.Lock()
	last, seen := r.wrongLast[k]
	if seen && now.Sub(last) < WrongIIFInterval {
		r.wrongMu.Unlock()
		r.stats.WrongIIFLimit.Add(1)
		return
	}
	if len(r.wrongLast) > 1<<16 {
		for kk, t := range r.wrongLast {
			if now.Sub(t) >= WrongIIFInterval {
				delete(r.wrongLast, kk)
			}
		}
	}
	r.wrongLast[k] = now
	r.wrongMu.Unlock()
	if r.send(&ipc.WrongIIF{Ingress: w.Ingress, Expected: w.Expected, Group: w.Group, Source: w.Source}) {
		r.stats.WrongIIFSent.Add(1)
	}
}

func (u *upcalls) OnPunt(ingress hal.IFLIndex, trap hal.TrapID, frame []byte) {
	(*Runtime)(u).host.punt(ingress, trap, frame)
}

// OnLinkState records the port's state and tells the RE on the control
// lane; what cannot be sent now (no session, lane full) is sent after the
// next resync (resendLinks).
func (u *upcalls) OnLinkState(ls hal.LinkState) {
	r := (*Runtime)(u)
	r.linkMu.Lock()
	r.links[ls.IFL] = ls.Up
	r.linkMu.Unlock()
	r.log.Info("link state", "ifl", ls.IFL, "up", ls.Up)
	r.sendLinks(&ipc.LinkState{IFL: ls.IFL, Up: ls.Up})
}

func (r *Runtime) sendLinks(msgs ...ipc.Message) {
	if len(msgs) == 0 {
		return
	}
	s := r.sess.Load()
	if s == nil {
		r.stats.LinkDropped.Add(uint64(len(msgs)))
		return
	}
	if err := s.SendControl(context.Background(), msgs...); err != nil {
		r.stats.LinkDropped.Add(uint64(len(msgs)))
		return
	}
	r.stats.LinkSent.Add(uint64(len(msgs)))
}

// resendLinks sends the state of every port the driver reported whose IFL
// the card still has.
func (r *Runtime) resendLinks() {
	r.mu.Lock()
	r.linkMu.Lock()
	var msgs []ipc.Message
	for ifl, up := range r.links {
		if _, ok := r.shadow.ifls[ifl]; !ok {
			continue
		}
		msgs = append(msgs, &ipc.LinkState{IFL: ifl, Up: up})
	}
	r.linkMu.Unlock()
	r.mu.Unlock()
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].(*ipc.LinkState).IFL < msgs[j].(*ipc.LinkState).IFL })
	r.sendLinks(msgs...)
}

// LinkStates returns the ports' operational state as the driver reported
// it (ports never reported are up).
func (r *Runtime) LinkStates() map[hal.IFLIndex]bool {
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	return maps.Clone(r.links)
}

// IFLByName returns the index of a logical interface known to the card.
func (r *Runtime) IFLByName(name string) (hal.IFLIndex, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	idx, ok := r.shadow.byName[name]
	return idx, ok
}

// Option returns a setting pushed by the RE.
func (r *Runtime) Option(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.shadow.options[key]
	return v, ok
}

// SessionStats returns the IPC session counters (zero when disconnected).
func (r *Runtime) SessionStats() (ipc.SessionStats, bool) {
	s := r.sess.Load()
	if s == nil {
		return ipc.SessionStats{}, false
	}
	return s.Stats(), true
}

// egressSink counts frames the driver outputs on each IFL (for drivers
// without real ports) and keeps the last frame of each for inspection.
type egressSink struct {
	mu   sync.RWMutex
	ifls map[hal.IFLIndex]*egressCounter
}

type egressCounter struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	// control counts the control frames (ARP, PIM, IGMP, link-local
	// multicast: what the RE injects) apart from forwarded traffic.
	control atomic.Uint64
	mu      sync.Mutex
	last    []byte
}

// isControl reports whether a frame is host traffic rather than forwarded
// data: ARP, IPv4 PIM or IGMP, or IPv4 to 224.0.0.0/24.
func isControl(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0806:
		return true
	case 0x0800:
		if len(f) < 34 {
			return false
		}
		return f[23] == 2 || f[23] == 103 || (f[30] == 224 && f[31] == 0 && f[32] == 0)
	}
	return false
}

func newEgressSink() *egressSink { return &egressSink{ifls: map[hal.IFLIndex]*egressCounter{}} }

func (e *egressSink) counter(ifl hal.IFLIndex) *egressCounter {
	e.mu.RLock()
	c := e.ifls[ifl]
	e.mu.RUnlock()
	if c != nil {
		return c
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c = e.ifls[ifl]; c == nil {
		c = &egressCounter{}
		e.ifls[ifl] = c
	}
	return c
}

// Output implements hal.Egress.
func (e *egressSink) Output(ifl hal.IFLIndex, frames [][]byte) {
	c := e.counter(ifl)
	var n, pkts, ctl uint64
	for _, f := range frames {
		if isControl(f) {
			ctl++
			continue
		}
		pkts++
		n += uint64(len(f))
	}
	c.packets.Add(pkts)
	c.bytes.Add(n)
	if ctl > 0 {
		c.control.Add(ctl)
	}
	if len(frames) > 0 && c.mu.TryLock() {
		c.last = append(c.last[:0], frames[len(frames)-1]...)
		c.mu.Unlock()
	}
}

// EgressCount is one IFL's egress counters.
type EgressCount struct {
	IFL     hal.IFLIndex `json:"ifl"`
	Packets uint64       `json:"packets"`
	Bytes   uint64       `json:"bytes"`
	Control uint64       `json:"control-frames"`
}

func (e *egressSink) snapshot() []EgressCount {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]EgressCount, 0, len(e.ifls))
	for idx, c := range e.ifls {
		out = append(out, EgressCount{IFL: idx, Packets: c.packets.Load(), Bytes: c.bytes.Load(), Control: c.control.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IFL < out[j].IFL })
	return out
}

func (e *egressSink) lastFrame(ifl hal.IFLIndex) []byte {
	e.mu.RLock()
	c := e.ifls[ifl]
	e.mu.RUnlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.last...)
}

// Egress returns the per-IFL egress counters of drivers without real ports.
func (r *Runtime) Egress() []EgressCount { return r.egress.snapshot() }

// parseSG parses "232.0.7.1.10.128.1.10" (group then source, the vty's
// long_ip form), "232.0.7.1.10.128.1.10/64" or "232.0.7.1,10.128.1.10".
func parseSG(s string) (src, grp netip.Addr, err error) {
	if i := len(s) - 3; i > 0 && s[i:] == "/64" {
		s = s[:i]
	}
	var b [8]int
	var n int
	if c, _ := fmt.Sscanf(s, "%d.%d.%d.%d,%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7]); c == 8 {
		n = 8
	} else if c, _ := fmt.Sscanf(s, "%d.%d.%d.%d.%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7]); c == 8 {
		n = 8
	}
	if n != 8 {
		return src, grp, fmt.Errorf("invalid prefix %q: expected GROUP.SOURCE, e.g. 232.0.7.1.10.128.1.10", s)
	}
	var o [8]byte
	for i, v := range b {
		if v < 0 || v > 255 {
			return src, grp, fmt.Errorf("invalid prefix %q: octet %d out of range", s, v)
		}
		o[i] = byte(v)
	}
	grp = netip.AddrFrom4([4]byte{o[0], o[1], o[2], o[3]})
	src = netip.AddrFrom4([4]byte{o[4], o[5], o[6], o[7]})
	if !grp.IsMulticast() {
		return src, grp, fmt.Errorf("invalid prefix %q: %s is not a multicast group", s, grp)
	}
	return src, grp, nil
}
