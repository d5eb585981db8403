// Package fpc is the line-card runtime: it connects to the RE over the IPC,
// registers its slot, applies the RE's downloads (IFLs, next hops, routes)
// to a PFE driver through the HAL, turns the driver's upcalls into
// resolve-addr-requests (throttled per card), wrong-interface notifications
// and punted control packets, reports route hit counters so that the RE can
// refresh its forwarding cache, and serves the vty.
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
// Upcalls arrive on driver goroutines and only touch the throttle and bounded
// queues. Vty handlers may run concurrently with everything else.
package fpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// Config configures a runtime.
type Config struct {
	Slot       hal.Slot
	RE         string // host:port of the RE
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
	PuntSent       atomic.Uint64
	PuntDropped    atomic.Uint64
	Injected       atomic.Uint64
	InjectFailed   atomic.Uint64
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
	options map[string]string
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
	itemInject
)

type item struct {
	kind  itemKind
	op    hal.Op
	gen   uint32
	key   string
	value string
	ifl   hal.IFLIndex
	frame []byte
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
	r := &Runtime{
		cfg:       cfg,
		log:       cfg.Logger.With("slot", cfg.Slot),
		throttle:  NewThrottle(DefaultResolveRate, cfg.Now),
		egress:    newEgressSink(),
		applyq:    make(chan item, applyQueue),
		outq:      make(chan ipc.Message, outQueue),
		wrongLast: map[sgKey]time.Time{},
		lastHits:  map[hal.RouteKey]hal.Counters{},
		traffic:   map[int]context.CancelFunc{},
		shadow: shadowState{
			gen:     1,
			ifls:    map[hal.IFLIndex]ifShadow{},
			byName:  map[string]hal.IFLIndex{},
			nhs:     map[hal.NHID]nhShadow{},
			routes:  map[hal.RouteKey]uint32{},
			options: map[string]string{},
		},
	}
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
	r.wg.Add(3)
	go func() { defer r.wg.Done(); r.runApplier(ctx) }()
	go func() { defer r.wg.Done(); r.runSender(ctx) }()
	go func() { defer r.wg.Done(); r.runStats(ctx) }()
	connErr := r.runConnect(ctx)
	cancel()
	r.wg.Wait()
	if err := r.drv.Close(); err != nil {
		return fmt.Errorf("fpc: close driver: %w", err)
	}
	return connErr
}

// runConnect dials the RE, registers and runs sessions until ctx is done.
// A registration the RE rejects (slot in use, bad slot) is final: it is
// returned, so that the operator sees the RE's reason and the process exits.
func (r *Runtime) runConnect(ctx context.Context) error {
	backoff := r.cfg.BackoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ipc.ErrRejected) {
			r.log.Error("RE rejected the registration", "re", r.cfg.RE, "err", err)
			return err
		}
		if time.Since(start) > 10*time.Second {
			backoff = r.cfg.BackoffMin // the session was healthy for a while
		}
		r.log.Warn("RE session ended; reconnecting", "re", r.cfg.RE, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff *= 2
		if backoff > r.cfg.BackoffMax {
			backoff = r.cfg.BackoffMax
		}
	}
	return nil
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

func (r *Runtime) session(ctx context.Context) error {
	var d net.Dialer
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := d.DialContext(dctx, "tcp", r.cfg.RE)
	dcancel()
	if err != nil {
		return fmt.Errorf("dial RE %s: %w", r.cfg.RE, err)
	}
	ack, err := ipc.ClientHandshake(conn, r.register(), 5*time.Second)
	if err != nil {
		conn.Close()
		return fmt.Errorf("register slot %d with RE %s: %w", r.cfg.Slot, r.cfg.RE, err)
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
	r.connected.Store(true)
	r.connects.Add(1)
	r.log.Info("registered with RE", "re", r.cfg.RE, "tnp", r.TNPAddr())
	err = s.Run(ctx)
	r.connected.Store(false)
	r.sess.CompareAndSwap(s, nil)
	return err
}

// handle runs on the session's read goroutine: it only decodes into the
// applier queue, blocking when the queue is full (backpressure on the TCP
// stream, not memory growth).
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
		it = item{kind: itemInject, ifl: v.Egress, frame: v.Frame}
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
		}
	}
	r.mu.Unlock()
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
	case itemConfig:
		r.setOption(it.key, it.value)
	case itemInject:
		if err := r.drv.Transmit(it.ifl, [][]byte{it.frame}); err != nil {
			r.stats.InjectFailed.Add(1)
			r.log.Warn("inject failed", "ifl", it.ifl, "err", err)
			return
		}
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
	switch m.(type) {
	case *ipc.ResolveRequest:
		r.stats.ResolveDropped.Add(1)
	case *ipc.Punt:
		r.stats.PuntDropped.Add(1)
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
	if _, err := r.drv.Route(hal.SG(req.Source, req.Group)); err == nil {
		r.stats.ResolveStale.Add(1)
		return
	}
	if !r.throttle.Allow(req.Source, req.Group) {
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
	r := (*Runtime)(u)
	m := &ipc.Punt{Ingress: ingress, Trap: trap, Frame: append([]byte(nil), frame...)}
	if r.send(m) {
		r.stats.PuntSent.Add(1)
	} else {
		r.stats.PuntDropped.Add(1)
	}
}

func (u *upcalls) OnLinkState(hal.LinkState) {}

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
	mu      sync.Mutex
	last    []byte
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
	var n uint64
	for _, f := range frames {
		n += uint64(len(f))
	}
	c.packets.Add(uint64(len(frames)))
	c.bytes.Add(n)
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
}

func (e *egressSink) snapshot() []EgressCount {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]EgressCount, 0, len(e.ifls))
	for idx, c := range e.ifls {
		out = append(out, EgressCount{IFL: idx, Packets: c.packets.Load(), Bytes: c.bytes.Load()})
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
