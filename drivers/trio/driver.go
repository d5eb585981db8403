package trio

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

// Name is the driver name used by cmd/fpc.
const Name = "trio"

var (
	_ hal.Driver      = (*Driver)(nil)
	_ hal.NHDetailer  = (*Driver)(nil)
	_ hal.VtyHandler  = (*Driver)(nil)
	_ hal.Tunable     = (*Driver)(nil)
	_ hal.LinkSetter  = (*Driver)(nil)
	_ hal.Constructor = New
)

// Driver is the Trio model. Create it with New; see the package comment for
// the contract and the concurrency rules.
type Driver struct {
	log    *slog.Logger
	up     hal.Upcalls
	egress hal.Egress
	now    func() time.Time
	slot   int
	lim    limits

	closed atomic.Bool
	set    atomic.Pointer[settings]
	setMu  sync.Mutex // serialises SetOption (copy-on-write of set)

	// mu is the programming (writer) lock: Apply and the writer-only
	// bookkeeping below. The packet path and the read-backs never take it.
	mu       sync.Mutex
	ifls     *lfTable[hal.IFLIndex, *iflEntry]
	nhs      *lfTable[hal.NHID, *nhEntry]
	sg       *lfTable[sgKey, *routeEntry]
	prefixes atomic.Pointer[[]*routeEntry] // group-prefix routes, longest first
	nPrefix  int
	traps    atomic.Pointer[hal.TrapTable] // host-path traps (nil: none); set under mu

	// Writer-only bookkeeping (guarded by mu).
	nhByType    map[hal.NHType]int
	mcastLists  int                                    // sublists in use
	iflRefs     map[hal.IFLIndex]int                   // NH IFLs, aggregate members, route RPFs
	aggParent   map[hal.IFLIndex]hal.IFLIndex          // member IFL -> aggregate IFL
	iflNHs      map[hal.IFLIndex]map[hal.NHID]struct{} // NHs whose IFL is the key
	nhUsers     map[hal.NHID]map[hal.NHID]struct{}     // NHs that list the key as member/target
	nhRouteRefs map[hal.NHID]int                       // routes whose NH is the key
	oplog       opRing

	// Counters, indexed by PFE id.
	pfe [MaxPFEs]pfeCounters

	scratch sync.Pool // *scratch, one per concurrent Input
}

// iflEntry is an interface. The entry is stable for the IFL's lifetime;
// its state is replaced as a whole on every change.
type iflEntry struct {
	index hal.IFLIndex
	st    atomic.Pointer[iflState]
	ctr   iflCounters
}

type iflState struct {
	ifl      hal.IFL
	mac      [6]byte
	hasMAC   bool
	parent   hal.IFLIndex // aggregate this IFL is a member of (0: none)
	operDown bool         // the port is operationally down (SetLinkState)
}

// nhEntry is a next hop; its state is replaced atomically on every change
// (and, for composites, whenever an NH or IFL it expands through changes).
type nhEntry struct {
	id hal.NHID
	st atomic.Pointer[nhState]
}

type nhState struct {
	nh     hal.NextHop
	target *nhEntry  // Indirect: the composite it points at
	comp   *compiled // Composite: sublists and egress, immutable
}

// sgKey is the exact-match key of an (S,G) route.
type sgKey struct {
	table hal.TableID
	g, s  uint32
}

// routeEntry is a route with its counters; its state (route and resolved
// NH) is replaced atomically.
type routeEntry struct {
	key   hal.RouteKey
	st    atomic.Pointer[routeState]
	pkts  atomic.Uint64
	bytes atomic.Uint64
	last  atomic.Int64 // unix nanoseconds of the last hit, 0: never
}

type routeState struct {
	route hal.Route
	nh    *nhEntry
}

// New builds a Trio model driver. cfg.Options may hold the hal.Tunable keys
// (resolve-rate, network-services, multicast-replication, fpc.N.type,
// fpc.N.pic.M.no-mcast-replication) and the table sizes (routes, nhs,
// mcast-lists, ifls, op-log). cfg.Egress receives forwarded frames; when nil
// they are discarded (and still counted).
func New(ctx context.Context, cfg hal.Config) (hal.Driver, error) {
	return newDriver(ctx, cfg)
}

func newDriver(_ context.Context, cfg hal.Config) (*Driver, error) {
	if cfg.Upcalls == nil {
		return nil, fmt.Errorf("trio: nil Upcalls: %w", hal.ErrInvalid)
	}
	lim, err := parseLimits(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("trio: %w", err)
	}
	d := &Driver{
		log:         cfg.Logger,
		up:          cfg.Upcalls,
		egress:      cfg.Egress,
		now:         cfg.Now,
		slot:        int(cfg.Slot),
		lim:         lim,
		ifls:        newLFTable[hal.IFLIndex, *iflEntry](func(k hal.IFLIndex) uint64 { return mix64(uint64(k)) }),
		nhs:         newLFTable[hal.NHID, *nhEntry](func(k hal.NHID) uint64 { return mix64(uint64(k)) }),
		sg:          newLFTable[sgKey, *routeEntry](func(k sgKey) uint64 { return mix64(uint64(k.g)<<32|uint64(k.s)) ^ uint64(k.table) }),
		nhByType:    map[hal.NHType]int{},
		iflRefs:     map[hal.IFLIndex]int{},
		aggParent:   map[hal.IFLIndex]hal.IFLIndex{},
		iflNHs:      map[hal.IFLIndex]map[hal.NHID]struct{}{},
		nhUsers:     map[hal.NHID]map[hal.NHID]struct{}{},
		nhRouteRefs: map[hal.NHID]int{},
		oplog:       newOpRing(lim.opLog),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.egress == nil {
		d.egress = discardEgress{}
	}
	d.prefixes.Store(new([]*routeEntry))
	s := defaultSettings()
	keys := make([]string, 0, len(cfg.Options))
	for k := range cfg.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if isLimitKey(k) {
			continue
		}
		handled, err := s.apply(k, cfg.Options[k])
		if err != nil {
			return nil, fmt.Errorf("trio: %w", err)
		}
		if !handled {
			d.log.Debug("trio: ignoring unknown option", "key", k)
		}
	}
	d.set.Store(s)
	d.scratch.New = func() any { return new(scratch) }
	d.log.Debug("trio: driver created", "slot", cfg.Slot, "mode", s.modeFor(int(cfg.Slot)).String())
	return d, nil
}

type discardEgress struct{}

func (discardEgress) Output(hal.IFLIndex, [][]byte) {}

// Name returns "trio".
func (d *Driver) Name() string { return Name }

// Close stops the driver. The model runs no goroutines of its own (the
// fabric is synchronous, on the caller's goroutine), so Close only marks the
// driver closed; every later call returns hal.ErrClosed.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return fmt.Errorf("trio: %w", hal.ErrClosed)
	}
	d.log.Debug("trio: driver closed", "slot", d.slot)
	return nil
}

func (d *Driver) errClosed() error { return fmt.Errorf("trio: %w", hal.ErrClosed) }

// SetOption implements hal.Tunable. Unknown keys are ignored; table sizes
// can only be set at construction (hal.ErrNotSupported).
func (d *Driver) SetOption(key, value string) error {
	if d.closed.Load() {
		return d.errClosed()
	}
	if isLimitKey(key) {
		return fmt.Errorf("option %s: construction only: %w", key, hal.ErrNotSupported)
	}
	d.setMu.Lock()
	defer d.setMu.Unlock()
	ns := *d.set.Load()
	handled, err := ns.apply(key, value)
	if err != nil {
		return err
	}
	if !handled {
		return nil
	}
	d.set.Store(&ns)
	d.log.Debug("trio: option set", "key", key, "value", value)
	return nil
}

// Mode returns the replication mode used for packets entering on FPC fpc
// under the current options.
func (d *Driver) Mode(fpc int) ReplicationMode { return d.set.Load().modeFor(fpc) }

// Route returns the route installed for key.
func (d *Driver) Route(key hal.RouteKey) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, d.errClosed()
	}
	k, err := checkRouteKey(key)
	if err != nil {
		return hal.Route{}, err
	}
	re := d.findRoute(k)
	if re == nil {
		return hal.Route{}, fmt.Errorf("route %s: %w", k, hal.ErrNotFound)
	}
	return re.st.Load().route, nil
}

// findRoute returns the entry of an exact key. Lock-free.
func (d *Driver) findRoute(key hal.RouteKey) *routeEntry {
	if key.IsSG() {
		re, _ := d.sg.load(sgKey{key.Table, addr4(key.Group), addr4(key.Source)})
		return re
	}
	key = normPrefixKey(key)
	for _, re := range *d.prefixes.Load() {
		if re.key == key {
			return re
		}
	}
	return nil
}

// normPrefixKey masks the group of a prefix key to its length.
func normPrefixKey(k hal.RouteKey) hal.RouteKey {
	if p, err := k.Group.Prefix(int(k.PrefixLen)); err == nil {
		k.Group = p.Addr()
	}
	k.Source = netip.Addr{}
	return k
}

// Lookup returns the route a packet from source to group hits: the exact
// (S,G) route, else the longest group prefix. Lock-free.
func (d *Driver) Lookup(source, group netip.Addr) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, d.errClosed()
	}
	re := d.lookup(addr4(source), addr4(group))
	if re == nil || !group.Unmap().Is4() {
		return hal.Route{}, fmt.Errorf("lookup %s,%s: %w", group, source, hal.ErrNotFound)
	}
	return re.st.Load().route, nil
}

// lookup is the packet-path route lookup in inet.1.
func (d *Driver) lookup(s, g uint32) *routeEntry {
	if re, ok := d.sg.load(sgKey{hal.TableInet1, g, s}); ok {
		return re
	}
	for _, re := range *d.prefixes.Load() {
		if re.key.Table != hal.TableInet1 {
			continue
		}
		bits := uint32(re.key.PrefixLen)
		if bits == 0 || (g^addr4(re.key.Group))>>(32-bits) == 0 {
			return re
		}
	}
	return nil
}

// NextHop returns the next hop id. Lock-free.
func (d *Driver) NextHop(id hal.NHID) (hal.NextHop, error) {
	if d.closed.Load() {
		return hal.NextHop{}, d.errClosed()
	}
	e, ok := d.nhs.load(id)
	if !ok {
		return hal.NextHop{}, fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	nh := e.st.Load().nh
	nh.Members = slices.Clone(nh.Members)
	return nh, nil
}

// IFL returns the interface. Lock-free.
func (d *Driver) IFL(index hal.IFLIndex) (hal.IFL, error) {
	if d.closed.Load() {
		return hal.IFL{}, d.errClosed()
	}
	e, ok := d.ifls.load(index)
	if !ok {
		return hal.IFL{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	return cloneIFL(e.st.Load().ifl), nil
}

func cloneIFL(i hal.IFL) hal.IFL {
	i.Members = slices.Clone(i.Members)
	i.MAC = slices.Clone(i.MAC)
	return i
}

// WalkRoutes calls fn for every installed route with its counters, (S,G)
// routes first, until fn returns false. It walks a snapshot and holds no
// lock while calling fn.
func (d *Driver) WalkRoutes(fn func(hal.Route, hal.RouteStat) bool) {
	if d.closed.Load() {
		return
	}
	visit := func(re *routeEntry) bool { return fn(re.st.Load().route, re.stat()) }
	cont := true
	d.sg.rangeAll(func(_ sgKey, re *routeEntry) bool {
		cont = visit(re)
		return cont
	})
	if !cont {
		return
	}
	for _, re := range *d.prefixes.Load() {
		if !visit(re) {
			return
		}
	}
}

func (re *routeEntry) stat() hal.RouteStat {
	st := hal.RouteStat{Key: re.key, Counters: hal.Counters{Packets: re.pkts.Load(), Bytes: re.bytes.Load()}}
	if ns := re.last.Load(); ns != 0 {
		st.LastUsed = time.Unix(0, ns)
	}
	return st
}

// IFLCounters returns the counters of one interface.
func (d *Driver) IFLCounters(index hal.IFLIndex) (hal.IFLCounters, error) {
	if d.closed.Load() {
		return hal.IFLCounters{}, d.errClosed()
	}
	e, ok := d.ifls.load(index)
	if !ok {
		return hal.IFLCounters{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	return e.ctr.snapshot(), nil
}

// Summary counts installed objects.
func (d *Driver) Summary() hal.Summary {
	if d.closed.Load() {
		return hal.Summary{NHsByType: map[hal.NHType]int{}}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := hal.Summary{
		IFLs:      d.ifls.len(),
		NHs:       d.nhs.len(),
		Routes:    d.sg.len() + d.nPrefix,
		NHsByType: make(map[hal.NHType]int, len(d.nhByType)),
	}
	for t, n := range d.nhByType {
		if n > 0 {
			s.NHsByType[t] = n
		}
	}
	return s
}
