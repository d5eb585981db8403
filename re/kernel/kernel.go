package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Errors returned by the kernel, wrapped with the key that failed. They wrap
// the hal sentinels so that callers can test either.
var (
	// ErrUnknownInterface: a join or request names an interface that is not
	// configured (wraps hal.ErrNotFound).
	ErrUnknownInterface = fmt.Errorf("unknown interface: %w", hal.ErrNotFound)
	// ErrNoJoin: prune or remove of join state that does not exist (wraps
	// hal.ErrNotFound).
	ErrNoJoin = fmt.Errorf("no join state: %w", hal.ErrNotFound)
	// ErrDiscardLimit: a resolve would install an mdiscard entry beyond
	// the bound of its card or of the kernel (wraps hal.ErrTableFull).
	ErrDiscardLimit = fmt.Errorf("mdiscard entries at their bound: %w", hal.ErrTableFull)
)

// Defaults.
const (
	// DefaultCacheTimeout is the forwarding-cache lifetime (Junos default:
	// six minutes; seed 003 "By default the cache lifetime is equal to 360
	// seconds").
	DefaultCacheTimeout = 360 * time.Second
	// DefaultJournalSize bounds the rtsockmon-like journal (lines).
	DefaultJournalSize = 10000
	// DefaultLocalAS is printed as "Local AS:" by `show route ... detail`.
	DefaultLocalAS = 65000
	// DefaultIFLIndexBase is the first automatically allocated IFL index.
	DefaultIFLIndexBase hal.IFLIndex = 300
	// DefaultSmallIDBase is the first id of the small NH pool (unicast and
	// composite NHs; seed 003 shows 1173 and 1378).
	DefaultSmallIDBase hal.NHID = 1000
	// DefaultKernelIDLimit bounds the kernel NH pool to 2^24 ids (a 2 MiB
	// bitmap at most); ids wrap and are reused past it.
	DefaultKernelIDLimit = hal.IndirectBase + 1<<24 - 1
	// DefaultDiscardLimitPerSlot bounds the mdiscard entries the resolves
	// of one card may create: 32,768 is more than a card at the default
	// 66 resolves/s makes in a 360 s cache lifetime (23,760), and half a
	// minute of the 1,000/s maximum. The bound protects the other cards,
	// which receive every entry (about 1 KB of FPC memory each), from
	// one card's flood.
	DefaultDiscardLimitPerSlot = 32768
	// DefaultDiscardLimit bounds mdiscard entries in total: four cards at
	// their bound, 1/8 of a Trio route table (1,048,576), ~130 MB on each
	// card at worst.
	DefaultDiscardLimit = 4 * DefaultDiscardLimitPerSlot
)

// Sink receives downloads. Download is called synchronously with the
// kernel's lock held, in order; it must not block (enqueue and return: the
// RE's Sink appends to its change log) and must not call into the Kernel. The
// ops slice is the Sink's; slices inside the ops are
// shared and read-only.
type Sink interface {
	Download(ops []hal.Op)
}

// A BorrowingSink only reads the ops during Download (it encodes or
// copies what it keeps; the slices inside the ops may still be kept, they
// are never written): the kernel then reuses the slice for the next batch
// instead of allocating one per batch. The RE's change-log sink is one; a
// batch of 1,000 new (S,G) is a megabyte of ops.
type BorrowingSink interface {
	Sink
	BorrowsOps()
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ops []hal.Op)

// Download implements Sink.
func (f SinkFunc) Download(ops []hal.Op) { f(ops) }

// Config configures a Kernel. Zero values select the defaults.
type Config struct {
	Logger       *slog.Logger     // nil: discard
	Now          func() time.Time // nil: time.Now
	CacheTimeout time.Duration    // 0: DefaultCacheTimeout
	Sink         Sink             // nil: downloads are dropped
	JournalSize  int              // 0: DefaultJournalSize
	LocalAS      uint32           // 0: DefaultLocalAS
	EventQueue   int              // 0: DefaultEventQueue
	// Deltas, when set, makes every operation that changes state hand a
	// Delta to the Sink (which must then implement DeltaSink): the changed
	// entries in exported form, so that a mirror (a backup RE) can follow
	// the state incrementally (see Mirror).
	Deltas bool

	// DiscardLimitPerSlot and DiscardLimit bound the mdiscard entries
	// resolves install, per requesting card and in total (0: the
	// defaults; negative: unbounded). A resolve that would go beyond is
	// refused and counted (ResolveLimited): refusing costs nothing, where
	// evicting an older entry would download a delete and an add to every
	// card per flooded request, and would let one card's flood evict the
	// entries of the others (see the package comment).
	DiscardLimitPerSlot int
	DiscardLimit        int

	IFLIndexBase  hal.IFLIndex // 0: DefaultIFLIndexBase
	SmallIDBase   hal.NHID     // 0: DefaultSmallIDBase
	SmallIDLimit  hal.NHID     // 0: hal.IndirectBase-1
	KernelIDLimit hal.NHID     // 0: DefaultKernelIDLimit
}

// Kernel is the RE forwarding kernel. See the package comment.
type Kernel struct {
	log     *slog.Logger
	now     func() time.Time
	sink    Sink
	localAS uint32
	iflBase hal.IFLIndex
	started time.Time

	mu      sync.Mutex
	timeout time.Duration
	small   idPool // unicast, composite
	big     idPool // aggregate, multicast (OIL), indirect

	ifByName  map[string]*iface
	ifByIndex map[hal.IFLIndex]*iface
	ifList    []*iface // configuration order

	sgs    map[sgKey]*sgState
	groups map[uint32]*groupState
	traps  map[hal.TrapID]hal.Trap
	oils   map[string]*oilNH
	dsSets map[string]*dsSet
	wheel  wheel

	nForward int // installed forwarding (S,G) routes
	nDiscard int // installed mdiscard (S,G) routes

	// mdiscard entries by the card whose resolve installed them, the
	// resolves refused at the bounds, and the bounds (<= 0: none).
	discardBySlot   [hal.MaxSlot + 1]int
	discardRefused  [hal.MaxSlot + 1]uint64
	discardLimSlot  int
	discardLimTotal int

	// unattributed counts requests whose ingress IFL is unknown.
	unattributed IfStats

	journal journal
	pending []hal.Op
	// spare is the last batch's slice, kept for the next when the Sink
	// only borrows it (BorrowingSink) and the batch's ops were not handed
	// to the caller.
	spare []hal.Op
	// opsHint sizes pending when the first op of a batch is queued: a
	// batch of n changes that creates routes costs about 3n ops, and
	// growing a slice of 336-byte ops by doubling copies it and feeds
	// the collector (half of a Join/Prune storm's time went there).
	opsHint int

	events        []Event
	eventCap      int
	eventsDropped uint64

	track trackState // change tracking for Delta (Config.Deltas)
}

// New returns a Kernel with the default objects installed: NH 983
// (Resolve), NH 35 (mdiscard) and the route 224/4 -> 983 (flags 0x000a).
// These are downloaded to cfg.Sink at once.
func New(cfg Config) *Kernel {
	k := &Kernel{
		log:       cfg.Logger,
		now:       cfg.Now,
		sink:      cfg.Sink,
		localAS:   cfg.LocalAS,
		iflBase:   cfg.IFLIndexBase,
		timeout:   cfg.CacheTimeout,
		ifByName:  make(map[string]*iface),
		ifByIndex: make(map[hal.IFLIndex]*iface),
		sgs:       make(map[sgKey]*sgState),
		groups:    make(map[uint32]*groupState),
		traps:     make(map[hal.TrapID]hal.Trap),
		oils:      make(map[string]*oilNH),
		dsSets:    make(map[string]*dsSet),
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.localAS == 0 {
		k.localAS = DefaultLocalAS
	}
	if k.iflBase == 0 {
		k.iflBase = DefaultIFLIndexBase
	}
	if k.timeout <= 0 {
		k.timeout = DefaultCacheTimeout
	}
	k.eventCap = cfg.EventQueue
	if k.eventCap <= 0 {
		k.eventCap = DefaultEventQueue
	}
	k.track.on = cfg.Deltas
	k.discardLimSlot, k.discardLimTotal = cfg.DiscardLimitPerSlot, cfg.DiscardLimit
	if k.discardLimSlot == 0 {
		k.discardLimSlot = DefaultDiscardLimitPerSlot
	}
	if k.discardLimTotal == 0 {
		k.discardLimTotal = DefaultDiscardLimit
	}
	sb, sl := cfg.SmallIDBase, cfg.SmallIDLimit
	if sb == 0 {
		sb = DefaultSmallIDBase
	}
	if sl == 0 || sl < sb {
		sl = hal.IndirectBase - 1
	}
	kl := cfg.KernelIDLimit
	if kl == 0 || kl < hal.IndirectBase {
		kl = DefaultKernelIDLimit
	}
	k.small = newIDPool("small", sb, sl)
	k.big = newIDPool("kernel", hal.IndirectBase, kl)
	// The fixed NHs never come from a pool; make sure a pool configured to
	// cover them skips them.
	_ = k.small.reserve(hal.NHResolveID)
	_ = k.small.reserve(hal.NHMDiscardID)
	js := cfg.JournalSize
	if js <= 0 {
		js = DefaultJournalSize
	}
	k.journal.init(js)

	k.mu.Lock()
	defer k.mu.Unlock()
	k.started = k.now()
	at := k.started
	for _, nh := range defaultNHs() {
		k.emit(hal.Op{Kind: hal.OpSetNH, NH: nh})
		k.journal.add(jrec{at: at, what: jNH, verb: vAdd, nhType: nh.Type, id: nh.ID})
	}
	r := defaultRoute()
	k.emit(hal.Op{Kind: hal.OpSetRoute, Route: r})
	k.journal.add(jrec{at: at, what: jRoute, verb: vAdd, key: r.Key, nhType: hal.NHResolve, id: r.NH, flags: r.Flags})
	k.flushLocked()
	return k
}

func defaultNHs() []hal.NextHop {
	return []hal.NextHop{
		{ID: hal.NHResolveID, Type: hal.NHResolve},
		{ID: hal.NHMDiscardID, Type: hal.NHMDiscard},
	}
}

func defaultRoute() hal.Route {
	return hal.Route{
		Key:   hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")),
		NH:    hal.NHResolveID,
		Flags: hal.RouteFlagsResolve,
	}
}

// emit queues one op for the current download.
func (k *Kernel) emit(op hal.Op) {
	if k.pending == nil && k.opsHint > 0 {
		k.reserveLocked(k.opsHint)
	}
	k.pending = append(k.pending, op)
}

// reserveLocked starts the batch's ops with room for n, from the spare
// slice when it is large enough.
func (k *Kernel) reserveLocked(n int) {
	if cap(k.spare) >= n {
		k.pending, k.spare = k.spare[:0], nil
		return
	}
	k.pending = make([]hal.Op, 0, n)
}

// flushLocked hands the queued ops to the Sink and returns them (the
// caller's to keep).
func (k *Kernel) flushLocked() []hal.Op {
	ops := k.pending
	k.pending = nil
	if len(ops) > 0 && k.sink != nil {
		k.sink.Download(ops)
	}
	k.deltaLocked()
	return ops
}

// flushReuseLocked is flushLocked for callers that drop the ops: with a
// BorrowingSink the slice is kept for the next batch.
func (k *Kernel) flushReuseLocked() {
	ops := k.flushLocked()
	if _, ok := k.sink.(BorrowingSink); ok && cap(ops) > cap(k.spare) {
		k.spare = ops[:0]
	}
}

// SetCacheTimeout sets the forwarding-cache lifetime. The configuration
// layer validates 1..720 minutes; any positive duration is accepted here.
// Installed entries keep their last activity time and expire at
// last activity + d.
func (k *Kernel) SetCacheTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("cache timeout %v: %w", d, hal.ErrInvalid)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	shorter := d < k.timeout
	k.timeout = d
	k.track.timeout = true
	defer k.deltaLocked()
	if shorter {
		k.wheel.reset()
		for _, st := range k.sgs {
			if st.cached {
				st.wheelAt = 0
				k.fileLocked(st)
			}
		}
	}
	return nil
}

// CacheTimeout returns the forwarding-cache lifetime.
func (k *Kernel) CacheTimeout() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.timeout
}

// Tick expires cache entries at Config.Now(); see Expire.
func (k *Kernel) Tick() int { return k.Expire(k.now()) }

// Run calls Tick every interval until ctx is done. It is a convenience for
// owners without a timer loop of their own.
func (k *Kernel) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			k.Tick()
		}
	}
}

// Summary counts kernel objects (for metrics and tests).
type Summary struct {
	Interfaces        int    `json:"interfaces"`
	Joins             int    `json:"joins"`
	ForwardingRoutes  int    `json:"forwarding-routes"`
	DiscardRoutes     int    `json:"discard-routes"`
	MulticastNextHops int    `json:"multicast-next-hops"`
	SmallIDsInUse     int    `json:"small-ids-in-use"`
	KernelIDsInUse    int    `json:"kernel-ids-in-use"`
	JournalNext       uint64 `json:"journal-next"`
	EventsDropped     uint64 `json:"events-dropped"`
	// DiscardRefused counts resolves refused at the mdiscard bounds.
	DiscardRefused uint64 `json:"discard-refused"`
}

// Summary returns object counts.
func (k *Kernel) Summary() Summary {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := Summary{
		Interfaces:        len(k.ifByName),
		ForwardingRoutes:  k.nForward,
		DiscardRoutes:     k.nDiscard,
		MulticastNextHops: len(k.oils),
		SmallIDsInUse:     k.small.inUse,
		KernelIDsInUse:    k.big.inUse,
		JournalNext:       k.journal.next,
	}
	for _, gs := range k.groups {
		if len(gs.star) > 0 {
			s.Joins++
		}
		for _, st := range gs.sgs {
			if len(st.contribs) > 0 {
				s.Joins++
			}
		}
	}
	s.EventsDropped = k.eventsDropped
	for _, n := range k.discardRefused {
		s.DiscardRefused += n
	}
	return s
}

// SlotDiscards are one card's mdiscard entries: how many its resolves
// installed (still in the cache) and how many were refused at the bounds.
type SlotDiscards struct {
	Slot    hal.Slot `json:"slot"`
	Entries int      `json:"entries"`
	Refused uint64   `json:"refused"`
}

// DiscardsBySlot returns the cards with mdiscard entries or refusals, by
// slot.
func (k *Kernel) DiscardsBySlot() []SlotDiscards {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []SlotDiscards
	for i := range k.discardBySlot {
		if k.discardBySlot[i] > 0 || k.discardRefused[i] > 0 {
			out = append(out, SlotDiscards{Slot: hal.Slot(i), Entries: k.discardBySlot[i], Refused: k.discardRefused[i]})
		}
	}
	return out
}

// discardFullLocked reports whether a resolve from slot may not install
// another mdiscard entry.
func (k *Kernel) discardFullLocked(slot hal.Slot) bool {
	if k.discardLimTotal > 0 && k.nDiscard >= k.discardLimTotal {
		return true
	}
	return k.discardLimSlot > 0 && slot.Valid() && k.discardBySlot[slot] >= k.discardLimSlot
}

// discardGoneLocked accounts for st's mdiscard entry going away (expired,
// cleared, or replaced by a forwarding entry).
func (k *Kernel) discardGoneLocked(st *sgState) {
	k.nDiscard--
	if st.dslot > 0 {
		k.discardBySlot[st.dslot-1]--
		st.dslot = 0
	}
}

// Snapshot returns the full state as ops in dependency order (IFLs, NHs
// bottom-up, routes), for replay to a (re)connecting FPC.
func (k *Kernel) Snapshot() []hal.Op {
	var all []hal.Op
	_ = k.Export().OpsTo(0, func(ops []hal.Op) error {
		all = append(all, ops...)
		return nil
	})
	return all
}

// ExportAt exports the state and, under the same lock, calls mark (for
// instance the change log's Head, which the Sink appends to under that
// lock): the export is then exactly the state before the change numbered
// mark's result. mark must not call into the Kernel.
func (k *Kernel) ExportAt(mark func() uint64) (*State, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.exportLocked(), mark()
}

// sgKey is an IPv4 (S,G): group in the high 32 bits, source in the low.
type sgKey uint64

func (k sgKey) group() netip.Addr {
	g := uint32(k >> 32)
	return netip.AddrFrom4([4]byte{byte(g >> 24), byte(g >> 16), byte(g >> 8), byte(g)})
}

func (k sgKey) source() netip.Addr {
	s := uint32(k)
	return netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
}

func (k sgKey) routeKey() hal.RouteKey { return hal.SG(k.source(), k.group()) }

func (k sgKey) String() string { return "(" + k.source().String() + "," + k.group().String() + ")" }

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

var linkLocal = netip.MustParsePrefix("224.0.0.0/24")

// makeKey validates an (S,G): IPv4 unicast source, IPv4 multicast group
// outside 224.0.0.0/24.
func makeKey(source, group netip.Addr) (sgKey, error) {
	s, g := source.Unmap(), group.Unmap()
	if !g.Is4() || !g.IsMulticast() || linkLocal.Contains(g) {
		return 0, fmt.Errorf("group %v: not a routable IPv4 multicast group: %w", group, hal.ErrInvalid)
	}
	if !s.Is4() || s.IsMulticast() || s.IsUnspecified() || s == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return 0, fmt.Errorf("source %v: not an IPv4 unicast address: %w", source, hal.ErrInvalid)
	}
	return sgKey(uint64(u32(g))<<32 | uint64(u32(s))), nil
}
