package pim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// Options are the engine's injected dependencies.
type Options struct {
	// Seed seeds the engine's random source (generation IDs, triggered
	// Hello delays, t_override, t_suppressed, the Register-Stop timer
	// jitter, fragment tags). Two engines with the same seed, configuration
	// and inputs produce the same actions.
	Seed [2]uint64
	// RPF is the unicast RIB; nil means "no route" for every address until
	// RPFChange events say otherwise.
	RPF RPFLookup
	// Logger receives debug logging of transitions; nil discards.
	Logger *slog.Logger
}

// Engine is one PIM-SM/SSM instance: neighbours, the tree information base,
// register state, asserts, the RP-set and bootstrap. It is a pure state
// machine: every method takes the current time, nothing reads a clock or
// starts a goroutine, and the outputs are Actions. It is not safe for
// concurrent use; one owner goroutine calls it.
type Engine struct {
	cfg Config
	t   timers
	log *slog.Logger
	pcg *rand.PCG
	rng *rand.Rand
	rib RPFLookup

	ifs     map[IfIndex]*iface
	ifOrder []IfIndex // configured interfaces, sorted
	groups  map[netip.Addr]*group
	sgs     map[SG]*sgEntry
	rpf     map[netip.Addr]*rpfEntry
	ssm     []netip.Prefix

	rps     rpset.Set
	bsr     rpset.BSR
	crpNext int64
	global  globalTimers

	tq  tqueue
	seq uint64

	graceful bool
	stats    Stats
	started  int64

	// Per-call scratch: the time of the call, pending actions, dirty lists.
	now     int64
	out     []Action
	jp      jpBuilder
	dirtyG  []*group
	dirtyS  []*sgEntry
	sweepG  []*group
	sweepS  []*sgEntry
	rpDirty bool
}

// New returns an engine with configuration cfg at time now.
func New(cfg Config, opts Options, now time.Time) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		log:     opts.Logger,
		rib:     opts.RPF,
		ifs:     map[IfIndex]*iface{},
		groups:  map[netip.Addr]*group{},
		sgs:     map[SG]*sgEntry{},
		rpf:     map[netip.Addr]*rpfEntry{},
		started: nanos(now),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.pcg = rand.NewPCG(opts.Seed[0], opts.Seed[1])
	e.rng = rand.New(e.pcg)
	e.global.e = e
	e.global.node = e.newNode(&e.global)
	e.begin(now)
	e.applyConfig(cfg)
	e.end()
	return e, nil
}

// SetConfig applies a new configuration (a diff against the current one):
// interfaces added or removed, DR priority and hello interval changes
// (a triggered Hello), RP mappings, bootstrap, SPT threshold, SSM ranges.
func (e *Engine) SetConfig(now time.Time, cfg Config) ([]Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e.begin(now)
	e.applyConfig(cfg)
	return e.end(), nil
}

// Config returns the configuration in force.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) applyConfig(cfg Config) {
	old := e.cfg
	e.cfg = cfg
	e.t = cfg.Timers.resolve()
	e.ssm = slices.Clone(cfg.ssm())

	// Interfaces: removed ones go down (goodbye), new ones wait for
	// InterfaceUp; changed ones send a triggered Hello.
	want := map[IfIndex]bool{}
	for _, ic := range cfg.Interfaces {
		want[ic.Index] = true
		f := e.ifs[ic.Index]
		if f == nil {
			f = &iface{idx: ic.Index}
			f.node = e.newNode(f)
			e.ifs[ic.Index] = f
		}
		prev := f.cfg
		f.cfg = ic
		if f.up && (prev.DRPriority != ic.DRPriority || prev.HelloInterval != ic.HelloInterval ||
			prev.PropagationDelay != ic.PropagationDelay || prev.OverrideInterval != ic.OverrideInterval) {
			e.sendHello(f)
			if prev.DRPriority != ic.DRPriority {
				e.electDR(f)
			}
		}
	}
	for idx, f := range e.ifs {
		if !want[idx] {
			e.ifaceDown(f)
			e.unschedule(&f.node)
			delete(e.ifs, idx)
		}
	}
	e.ifOrder = e.ifOrder[:0]
	for idx := range e.ifs {
		e.ifOrder = append(e.ifOrder, idx)
	}
	slices.Sort(e.ifOrder)

	// RP-set and bootstrap.
	e.rps.SetConfigured(cfg.configuredRPs(e.now))
	var bc rpset.BSRConfig
	if cfg.BSR != nil {
		bc = rpset.BSRConfig{Candidate: true, Addr: cfg.BSR.Addr, Priority: cfg.BSR.Priority,
			HashMaskLen: cfg.BSR.HashMaskLen, BSPeriod: cfg.BSR.BSPeriod, BSTimeout: cfg.BSR.BSTimeout}
	}
	e.bsr.Configure(bc, e.now)
	e.trackBSR()
	if cfg.CandidateRP != nil && (old.CandidateRP == nil || e.crpNext == 0) {
		e.crpNext = e.now
	}
	if cfg.CandidateRP == nil {
		e.crpNext = 0
	}
	e.schedule(&e.global.node)
	e.rpChanged()
	if old.SPTThresholdInfinity != cfg.SPTThresholdInfinity || !slices.Equal(old.SSMRanges, cfg.SSMRanges) {
		for _, g := range e.sortedGroups() {
			g.ssm = e.isSSM(g.g)
			e.touchGroupDeep(g)
		}
	}
}

// Handle processes one event at now and returns the resulting actions.
func (e *Engine) Handle(now time.Time, ev Event) []Action {
	e.begin(now)
	switch ev := ev.(type) {
	case InterfaceUp:
		e.handleIfUp(ev)
	case InterfaceDown:
		if f := e.ifs[ev.If]; f != nil {
			e.ifaceDown(f)
		}
	case HelloLost:
		if f := e.ifs[ev.If]; f != nil && f.up {
			e.triggerHello(f)
		}
	case RPFChange:
		e.setRPF(ev.Addr, ev.RPF)
	case RIBChange:
		e.ribChange(ev.Prefix)
	case NewSource:
		e.dataArrival(ev.Source, ev.Group, ev.If)
	case DataActivity:
		e.dataArrival(ev.Source, ev.Group, ev.If)
	case WrongInterface:
		e.wrongInterface(ev.Source, ev.Group, ev.If)
	case Membership:
		e.membership(ev)
	case RecvHello:
		e.recvHello(ev)
	case RecvJoinPrune:
		e.recvJoinPrune(ev)
	case RecvAssert:
		e.recvAssert(ev)
	case RecvRegister:
		e.recvRegister(ev)
	case RecvRegisterStop:
		e.recvRegisterStop(ev)
	case RecvBootstrap:
		e.recvBootstrap(ev)
	case RecvCRPAdv:
		e.recvCRPAdv(ev)
	case GracefulWindow:
		e.setGraceful(ev.Active)
	case ClearJoin:
		e.clearJoin(ev.Group)
	case RemoteSource:
		e.remoteSource(ev)
	default:
		e.stats.UnknownEvents++
	}
	return e.end()
}

// Advance fires every timer due at or before now and returns the actions.
func (e *Engine) Advance(now time.Time) []Action {
	e.begin(now)
	return e.end()
}

// NextDeadline is when the next timer is due (the zero Time when none is
// running). The owner calls Advance at that time.
func (e *Engine) NextDeadline() time.Time {
	if len(e.tq) == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.tq[0].at)
}

func (e *Engine) begin(now time.Time) {
	e.now = nanos(now)
	e.out = nil
}

// end fires the due timers, settles the macros, flushes the Join/Prune
// builder and returns the actions.
func (e *Engine) end() []Action {
	// Every fire moves its object's deadline past now or stops its timers;
	// the bound only guards against a bug turning into a hung owner
	// goroutine (the timers stay due and are retried at the next call).
	limit := 4*len(e.tq) + 1024
	for i := 0; ; i++ {
		e.settle()
		if len(e.tq) == 0 || e.tq[0].at > e.now {
			break
		}
		if i > limit {
			e.log.Error("pim: timers do not advance", "due", len(e.tq), "now", e.now)
			e.stats.TimerStalls++
			break
		}
		n := e.tq[0]
		n.owner.fire(e, e.now)
		e.schedule(n)
	}
	e.flushJP()
	e.sweep()
	out := e.out
	e.out = nil
	return out
}

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

// Random helpers. All randomness comes from e.rng so that a snapshot (which
// carries the generator's state) replays identically.

// randDur returns a uniformly random duration in [lo, hi).
func (e *Engine) randDur(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + e.rng.Int64N(hi-lo)
}

// tOverride is t_override = rand(0, Effective_Override_Interval(I))
// (RFC 7761 §4.11).
func (e *Engine) tOverride(f *iface) int64 {
	return e.randDur(0, f.effectiveOverride())
}

// tSuppressed is t_suppressed = rand(1.1 * t_periodic, 1.4 * t_periodic)
// when Suppression_Enabled(I), else 0.
func (e *Engine) tSuppressed(f *iface) int64 {
	if !f.suppressionEnabled() {
		return 0
	}
	return e.randDur(e.t.jp*11/10, e.t.jp*14/10)
}

// isSSM reports whether g is in an SSM range.
func (e *Engine) isSSM(g netip.Addr) bool {
	for _, p := range e.ssm {
		if p.Contains(g) {
			return true
		}
	}
	return false
}

// isMyAddr reports whether a is one of this router's addresses.
func (e *Engine) isMyAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if slices.Contains(e.cfg.RouterAddresses, a) {
		return true
	}
	for _, f := range e.ifs {
		if f.up && f.addr == a {
			return true
		}
	}
	return false
}

// myAddrFor picks the source address of a unicast message to dst: the
// address of the interface towards dst, else the first router address.
func (e *Engine) myAddrFor(dst netip.Addr) netip.Addr {
	if r := e.lookupRPF(dst); r.Valid() {
		if f := e.ifs[r.Iface]; f != nil && f.up && f.addr.IsValid() {
			return f.addr
		}
	}
	if len(e.cfg.RouterAddresses) > 0 {
		return e.cfg.RouterAddresses[0]
	}
	for _, idx := range e.ifOrder {
		if f := e.ifs[idx]; f.up && f.addr.IsValid() {
			return f.addr
		}
	}
	return netip.Addr{}
}

func (e *Engine) ifName(idx IfIndex) string {
	if f := e.ifs[idx]; f != nil && f.cfg.Name != "" {
		return f.cfg.Name
	}
	if idx == 0 {
		return ""
	}
	return fmt.Sprintf("if%d", idx)
}

func (e *Engine) debug(msg string, args ...any) {
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug(msg, args...)
	}
}
