package xdp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/drivers/internal/linkmon"
	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// Name is the driver name used by `fpc run --driver`.
const Name = "xdp"

// devmapPrefill is how many OIL variant devmaps New creates up front when
// a port runs XDP: enough for every OIL of a typical card and for a second
// of heavy churn (released indices are reused after quarantine, alloc.go).
const devmapPrefill = 256

// Driver is the xdp packet forwarding engine. Create it with New.
type Driver struct {
	cfg    hal.Config
	log    *slog.Logger
	opts   options
	nsPath string
	magic  uint32 // testrun_magic

	// core is the programming state and its read-back: the same object
	// model, validation and errors as every software driver (swpfe.Core);
	// nothing is forwarded through it.
	core *swpfe.Core
	ob   *objects

	ports    []*port          // sorted by physical name; fixed after New
	byPhys   map[string]*port // fixed after New
	bindings atomic.Pointer[map[hal.IFLIndex]*port]
	iflsPub  atomic.Pointer[map[hal.IFLIndex]*iflState] // read lock-free by counters
	// loIndex is the ifindex of the ports namespace's loopback, the
	// ingress device of a test run without one: its ports map element
	// stands for the decapsulation IFL (pd-), which has no port, and
	// decap is that IFL (0: none), for Input.
	loIndex int
	decap   atomic.Uint32

	links *linkmon.Monitor // the ports' operational state

	// Under mu (Apply, Close): the driver's view of what is in the maps.
	mu         sync.Mutex
	ifls       map[hal.IFLIndex]*iflState
	entries    map[hal.NHID]*entry
	rdeps      map[depKey]map[hal.NHID]struct{}
	routes     map[hal.RouteKey]*routeState
	g          grace
	iflAlloc   *indexAlloc
	routeAlloc *indexAlloc
	oilAlloc   *indexAlloc
	portVals   map[int]portVal
	egressVals map[int]egressVal
	traps      trapWriter // traps.go
	xdpPorts   int        // ports in native or generic mode: they need the devmaps
	devLen     []int      // by OIL variant: entries in its devmap, -1: no devmap yet

	// Route slots as the counter walks see them (hits.go).
	hitsMu   sync.Mutex
	slotKeys []hal.RouteKey // by slot; invalid key: free
	hits     []hitState     // by slot
	slotHigh int            // one past the highest slot ever used

	events *ringbuf.Reader
	stats  driverStats
	segBuf []byte // runEvents': the segment segmentTCP builds (gso.go)
	ncpu   int

	ctx      context.Context // ends at Close: the link monitor's
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopCh   chan struct{} // closed by Close
	closed   atomic.Bool
}

// iflState is an IFL the driver gives a counter slot.
type iflState struct {
	index hal.IFLIndex
	slot  uint32
	// Counted in user space: frames Input could not give to a program
	// (shorter than an Ethernet header) and frames sent by Transmit.
	rxShort, rxShortBytes atomic.Uint64
	txInject, txBytes     atomic.Uint64
}

// routeState is an installed route.
type routeState struct {
	key  hal.RouteKey
	nh   hal.NHID
	slot uint32
}

// driverStats are the driver's own counters.
type driverStats struct {
	oilSwitches   atomic.Uint64 // make-before-break switches of an entry
	events        atomic.Uint64 // ring buffer records read
	badEvents     atomic.Uint64 // records that did not decode
	unknownIFL    atomic.Uint64 // events naming an IFL no longer known
	inputRuns     atomic.Uint64 // frames Input ran through a program
	inputErrors   atomic.Uint64
	graceWaits    atomic.Uint64
	applyBatches  atomic.Uint64
	puntCsum      atomic.Uint64 // punted frames whose partial L4 checksum was completed
	puntSegmented atomic.Uint64 // punted GSO packets cut into TCP segments (gso.go)
}

var (
	_ hal.Driver          = (*Driver)(nil)
	_ hal.Tunable         = (*Driver)(nil)
	_ hal.VtyHandler      = (*Driver)(nil)
	_ hal.HitWalker       = (*Driver)(nil)
	_ hal.MetricsReporter = (*Driver)(nil)
	_ hal.Constructor     = New
)

// New loads the data path, opens every port of cfg.Ports (physical name ->
// Linux interface, in the namespace of option "netns"), attaches the
// program each port supports (see modeOrder) and starts the upcall reader.
// It fails naming the port when an interface is missing or no mode could
// be attached, and says what privilege is missing without root.
func New(ctx context.Context, cfg hal.Config) (hal.Driver, error) {
	return newDriver(ctx, cfg)
}

func newDriver(ctx context.Context, cfg hal.Config) (d *Driver, err error) {
	if cfg.Logger == nil || cfg.Upcalls == nil {
		return nil, fmt.Errorf("xdp: config needs Logger and Upcalls: %w", hal.ErrInvalid)
	}
	o, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("xdp: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var mb [4]byte
	_, _ = rand.Read(mb[:])
	d = &Driver{
		cfg: cfg, log: cfg.Logger, opts: o, nsPath: netns.Path(o.Netns),
		magic:  binary.LittleEndian.Uint32(mb[:]) | 1,
		byPhys: map[string]*port{}, ifls: map[hal.IFLIndex]*iflState{},
		entries: map[hal.NHID]*entry{}, rdeps: map[depKey]map[hal.NHID]struct{}{},
		routes: map[hal.RouteKey]*routeState{}, portVals: map[int]portVal{}, egressVals: map[int]egressVal{},
	}
	d.iflAlloc = newIndexAlloc(o.IFLs, &d.g)
	d.routeAlloc = newIndexAlloc(o.Routes, &d.g)
	d.oilAlloc = newIndexAlloc(o.OILs, &d.g)
	d.devLen = make([]int, o.OILs)
	for i := range d.devLen {
		d.devLen[i] = -1
	}
	d.slotKeys = make([]hal.RouteKey, o.Routes)
	d.hits = make([]hitState, o.Routes)
	d.bindings.Store(&map[hal.IFLIndex]*port{})
	d.iflsPub.Store(&map[hal.IFLIndex]*iflState{})
	d.traps.have.addrs = map[trapAddrKey]uint32{}
	if d.ncpu, err = ebpf.PossibleCPU(); err != nil {
		return nil, fmt.Errorf("xdp: %w", err)
	}
	if d.ob, err = loadObjects(o, d.magic); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("xdp: run the FPC as root (CAP_BPF, CAP_NET_ADMIN): %w", err)
		}
		return nil, fmt.Errorf("xdp: %w", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			d.closeAll()
		}
	}()
	if err := netns.Run(d.nsPath, d.openPorts); err != nil {
		return nil, err
	}
	d.core = swpfe.NewCore(cfg)
	if d.events, err = ringbuf.NewReader(d.ob.events); err != nil {
		return nil, fmt.Errorf("xdp: upcall ring buffer: %w", err)
	}
	d.wg.Add(1)
	go d.runEvents()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-d.ctx.Done():
			_ = d.events.Close() // stops runEvents; Close does the rest
		case <-d.stopped():
		}
	}()
	if err := d.startLinks(); err != nil {
		return nil, err
	}
	modes := map[Mode]int{}
	for _, p := range d.ports {
		modes[p.mode]++
	}
	d.xdpPorts = modes[ModeNative] + modes[ModeGeneric]
	if d.xdpPorts > 0 {
		// The first OIL variants' devmaps in one batch: one grace period
		// now instead of one per Apply that needs a fresh index.
		pre := make([]variantSpec, min(o.OILs, devmapPrefill))
		if err := d.writeDevmaps(0, pre); err != nil {
			return nil, fmt.Errorf("xdp: %w", err)
		}
	}
	d.log.Info("xdp: data path attached", "ports", len(d.ports), "netns", o.Netns, "native", modes[ModeNative], "generic", modes[ModeGeneric], "tc", modes[ModeTC],
		"routes", o.Routes, "oils", o.OILs)
	return d, nil
}

// stopped is closed by Close.
func (d *Driver) stopped() <-chan struct{} {
	d.stopOnce.Do(func() { d.stopCh = make(chan struct{}) })
	return d.stopCh
}

// openPorts opens and attaches every port; it runs in the ports' namespace.
func (d *Driver) openPorts() error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("xdp: the ports' namespace has no loopback: %w", err)
	}
	d.loIndex = lo.Index
	names := slices.Sorted(maps.Keys(d.cfg.Ports))
	if len(names) == 0 {
		d.log.Warn("xdp: no ports configured (use --port xe-F/P/N=ifname); nothing will be forwarded")
	}
	var errs []error
	for _, phys := range names {
		ifname := d.cfg.Ports[phys]
		if strings.Contains(phys, ".") {
			errs = append(errs, fmt.Errorf("xdp: port %s=%s: name the physical interface (no unit): %w", phys, ifname, hal.ErrInvalid))
			continue
		}
		p, err := openPort(phys, ifname)
		if err != nil {
			errs = append(errs, fmt.Errorf("xdp: port %s: Linux interface %q: %w", phys, ifname, err))
			continue
		}
		if p.ifindex == d.loIndex {
			p.close()
			errs = append(errs, fmt.Errorf("xdp: port %s: the loopback is not a port: %w", phys, hal.ErrInvalid))
			continue
		}
		d.ports = append(d.ports, p)
		d.byPhys[phys] = p
		if err := p.attachFirst(d.opts, d.ob); err != nil {
			errs = append(errs, fmt.Errorf("xdp: port %s (%s): %w", phys, ifname, err))
			continue
		}
		d.log.Info("xdp: port attached", "port", phys, "interface", ifname, "mode", p.mode, "why", p.why, "tried", p.tried)
	}
	return errors.Join(errs...)
}

// Name implements hal.Driver.
func (d *Driver) Name() string { return Name }

// Apply implements hal.Driver: each operation goes to the programming
// state first (validation, read-back) and then into the BPF maps, in an
// order that never lets a packet see a half-made change (see entry.go). A
// map that is full fails the operation with hal.ErrTableFull and undoes it.
func (d *Driver) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return 0, hal.ErrClosed
	}
	d.stats.applyBatches.Add(1)
	var n int
	var aerr error
	err := netns.Run(d.nsPath, func() error {
		n, aerr = hal.ApplyEach(ctx, ops, func(_ int, op *hal.Op) error { return d.applyOne(ctx, op) })
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("xdp: enter the ports' namespace: %w", err)
	}
	if err := d.flushTraps(); err != nil {
		d.log.Error("xdp: the trap maps could not take the programmed traps", "err", err)
		aerr = errors.Join(aerr, err)
	}
	return n, aerr
}

// coreApply applies one op to the core and returns its error unwrapped
// from the core's batch wrapping (ApplyEach adds ours).
func (d *Driver) coreApply(ctx context.Context, op hal.Op) error {
	_, err := d.core.Apply(ctx, []hal.Op{op})
	if err == nil {
		return nil
	}
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		if errs := j.Unwrap(); len(errs) == 1 {
			err = errs[0]
		}
	}
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func (d *Driver) applyOne(ctx context.Context, op *hal.Op) error {
	switch op.Kind {
	case hal.OpSetIFL:
		return d.setIFL(ctx, op)
	case hal.OpDelIFL:
		return d.delIFL(ctx, op)
	case hal.OpSetNH:
		return d.setNH(ctx, op)
	case hal.OpDelNH:
		if err := d.coreApply(ctx, *op); err != nil {
			return err
		}
		// A referenced NH cannot be deleted, so no entry depends on it.
		return nil
	case hal.OpSetRoute:
		return d.setRoute(ctx, op)
	case hal.OpDelRoute:
		return d.delRoute(ctx, op)
	case hal.OpSetTrap, hal.OpDelTrap:
		return d.applyTrap(ctx, op)
	}
	return d.coreApply(ctx, *op) // the core rejects unknown kinds
}

func (d *Driver) setIFL(ctx context.Context, op *hal.Op) error {
	prev, perr := d.core.IFL(op.IFL.Index)
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	idx := op.IFL.Index
	if d.ifls[idx] == nil {
		slot, err := d.iflAlloc.alloc(1)
		if err != nil {
			d.undoIFL(ctx, idx, prev, perr == nil)
			return fmt.Errorf("ifl %d (option ifls=%d): %w", idx, d.opts.IFLs, hal.ErrTableFull)
		}
		if err := d.zeroIFLSlot(slot); err != nil {
			d.iflAlloc.release(slot, 1)
			d.undoIFL(ctx, idx, prev, perr == nil)
			return err
		}
		d.ifls[idx] = &iflState{index: idx, slot: slot}
		d.publishIFLs()
	}
	changed := d.rebind()
	if err := d.refreshDependents(append(changed, depKey{id: uint32(idx)})...); err != nil {
		// The maps could not take the new OILs (full): put the IFL back
		// as it was, so that the programming state says what forwards.
		d.undoIFL(ctx, idx, prev, perr == nil)
		changed = d.rebind()
		_ = d.refreshDependents(append(changed, depKey{id: uint32(idx)})...)
		return err
	}
	return nil
}

func (d *Driver) undoIFL(ctx context.Context, idx hal.IFLIndex, prev hal.IFL, existed bool) {
	undo := hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: idx}}
	if existed {
		undo = hal.Op{Kind: hal.OpSetIFL, IFL: prev}
	}
	if err := d.coreApply(ctx, undo); err != nil {
		d.log.Error("xdp: cannot undo an IFL the maps could not take", "ifl", idx, "err", err)
	}
}

func (d *Driver) delIFL(ctx context.Context, op *hal.Op) error {
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	idx := op.IFL.Index
	changed := d.rebind()
	if st := d.ifls[idx]; st != nil {
		delete(d.ifls, idx)
		d.publishIFLs()
		d.iflAlloc.release(st.slot, 1)
	}
	return d.refreshDependents(append(changed, depKey{id: uint32(idx)})...)
}

func (d *Driver) setNH(ctx context.Context, op *hal.Op) error {
	prev, perr := d.core.NextHop(op.NH.ID)
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	key := depKey{nh: true, id: uint32(op.NH.ID)}
	if err := d.refreshDependents(key); err != nil {
		// The maps could not take the new OILs (full): the old ones still
		// forward, so the programming state goes back to them.
		undo := hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: op.NH.ID}}
		if perr == nil {
			undo = hal.Op{Kind: hal.OpSetNH, NH: prev}
		}
		if uerr := d.coreApply(ctx, undo); uerr != nil {
			d.log.Error("xdp: cannot undo a next hop the maps could not take", "nh", op.NH.ID, "err", uerr)
		}
		_ = d.refreshDependents(key)
		return err
	}
	return nil
}

// normalize returns key as the core stores it.
func normalize(k hal.RouteKey) hal.RouteKey {
	if !k.IsSG() && k.Group.Is4() && k.PrefixLen <= 32 {
		p := netip.PrefixFrom(k.Group, int(k.PrefixLen)).Masked()
		k.Group = p.Addr()
	}
	return k
}

func (d *Driver) setRoute(ctx context.Context, op *hal.Op) error {
	key := normalize(op.Route.Key)
	prev := d.routes[key]
	var prevRoute hal.Route
	if prev != nil {
		var err error
		if prevRoute, err = d.core.Route(key); err != nil {
			return fmt.Errorf("route %s: read back: %w", key, err)
		}
	}
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	rt, err := d.core.Route(key)
	if err != nil {
		return fmt.Errorf("route %s: read back: %w", key, err)
	}
	undo := func() {
		u := hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: key}}
		if prev != nil {
			u = hal.Op{Kind: hal.OpSetRoute, Route: prevRoute}
		}
		if err := d.coreApply(ctx, u); err != nil {
			d.log.Error("xdp: cannot undo a route the maps could not take", "route", key, "err", err)
		}
	}
	// The entry first: the route must never point at a missing one.
	e, err := d.acquireEntry(rt.NH)
	if err != nil {
		undo()
		return err
	}
	rs := prev
	if rs == nil {
		slot, err := d.routeAlloc.alloc(1)
		if err != nil {
			d.releaseEntry(e.id)
			undo()
			return fmt.Errorf("route %s (option routes=%d): %w", key, d.opts.Routes, hal.ErrTableFull)
		}
		if err := d.zeroRouteSlot(slot, key); err != nil {
			d.routeAlloc.release(slot, 1)
			d.releaseEntry(e.id)
			undo()
			return err
		}
		rs = &routeState{key: key, slot: slot}
	}
	oldNH, hadOld := rs.nh, prev != nil
	rv := routeVal{NH: uint32(rt.NH), RPF: uint32(rt.RPF), Slot: rs.slot}
	if err := d.putRoute(key, &rv); err != nil {
		d.releaseEntry(e.id)
		if prev == nil {
			d.freeRouteSlot(rs.slot)
		}
		undo()
		return err
	}
	rs.nh = rt.NH
	d.routes[key] = rs
	if hadOld {
		d.releaseEntry(oldNH)
	}
	if key.IsSG() {
		d.clearPending(key)
	}
	return nil
}

func (d *Driver) delRoute(ctx context.Context, op *hal.Op) error {
	key := normalize(op.Route.Key)
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	rs := d.routes[key]
	if rs == nil {
		return nil
	}
	// The route first, then what it pointed at.
	var err error
	if key.IsSG() {
		err = d.ob.sgRoutes.Delete(sgKeyOf(key))
		d.clearPending(key)
	} else {
		err = d.ob.prefixRoutes.Delete(lpmKeyOf(key))
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		d.log.Warn("xdp: delete route from the map", "route", key, "err", err)
	}
	delete(d.routes, key)
	d.freeRouteSlot(rs.slot)
	d.releaseEntry(rs.nh)
	return nil
}

func sgKeyOf(k hal.RouteKey) *sgKey {
	return &sgKey{Group: k.Group.As4(), Source: k.Source.As4()}
}

func lpmKeyOf(k hal.RouteKey) *lpmKey {
	return &lpmKey{PrefixLen: uint32(k.PrefixLen), Group: k.Group.As4()}
}

func (d *Driver) putRoute(key hal.RouteKey, rv *routeVal) error {
	var err error
	if key.IsSG() {
		err = d.ob.sgRoutes.Put(sgKeyOf(key), rv)
	} else {
		if !key.Group.Is4() || key.PrefixLen > 32 {
			return fmt.Errorf("route %s: %w", key, hal.ErrInvalid)
		}
		err = d.ob.prefixRoutes.Put(lpmKeyOf(key), rv)
	}
	if err != nil {
		if isNoSpace(err) {
			return fmt.Errorf("route %s (option routes=%d): %w", key, d.opts.Routes, hal.ErrTableFull)
		}
		return fmt.Errorf("route %s: write map: %w", key, err)
	}
	return nil
}

// clearPending forgets the resolve dedup state of an (S,G), so that a
// packet arriving after its route changed asks again at once.
func (d *Driver) clearPending(key hal.RouteKey) {
	k := pendingKey{Group: key.Group.As4(), Source: key.Source.As4(), Kind: evResolve}
	_ = d.ob.pending.Delete(&k)
}

func isNoSpace(err error) bool {
	return errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOMEM)
}

// zeroIFLSlot clears a slot's counters before it gets a new owner.
func (d *Driver) zeroIFLSlot(slot uint32) error {
	if err := d.ob.iflStats.Put(slot, make([]iflStatsVal, d.ncpu)); err != nil {
		return fmt.Errorf("clear ifl counters slot %d: %w", slot, err)
	}
	return nil
}

// zeroRouteSlot clears a route slot and gives it to key.
func (d *Driver) zeroRouteSlot(slot uint32, key hal.RouteKey) error {
	if err := d.ob.routeStats.Put(slot, make([]routeStatsVal, d.ncpu)); err != nil {
		return fmt.Errorf("clear route counters slot %d: %w", slot, err)
	}
	d.hitsMu.Lock()
	d.slotKeys[slot] = key
	d.hits[slot] = hitState{}
	d.slotHigh = max(d.slotHigh, int(slot)+1)
	d.hitsMu.Unlock()
	return nil
}

func (d *Driver) freeRouteSlot(slot uint32) {
	d.hitsMu.Lock()
	d.slotKeys[slot] = hal.RouteKey{}
	d.hits[slot] = hitState{}
	d.hitsMu.Unlock()
	d.routeAlloc.release(slot, 1)
}

// iflSlot returns the counter slot of an IFL (every IFL the core holds has
// one).
func (d *Driver) iflSlot(idx hal.IFLIndex) uint32 {
	if st := d.ifls[idx]; st != nil {
		return st.slot
	}
	return 0
}

func (d *Driver) publishIFLs() {
	m := maps.Clone(d.ifls)
	d.iflsPub.Store(&m)
}

// boundPort returns the port an IFL is bound to, or nil (lock-free).
func (d *Driver) boundPort(idx hal.IFLIndex) *port { return (*d.bindings.Load())[idx] }

// rebind recomputes which IFL each port serves (unit 0 of the physical
// interface named like the port, the lowest index if several) and its
// parent aggregate, and which decapsulation IFL the loopback's element
// stands for (the lowest index), writes the ports and egress maps where
// they changed, and returns the IFLs whose binding changed.
func (d *Driver) rebind() []depKey {
	bound := map[*port]hal.IFLIndex{}
	parent := map[hal.IFLIndex]hal.IFLIndex{}
	ifls := map[hal.IFLIndex]hal.IFL{}
	var decap hal.IFLIndex
	for idx := range d.ifls {
		ifl, err := d.core.IFL(idx)
		if err != nil {
			continue
		}
		ifls[idx] = ifl
		switch ifl.Kind {
		case hal.IFLAggregate:
			for _, m := range ifl.Members {
				parent[m] = idx
			}
			continue
		case hal.IFLDecap:
			if decap == 0 || idx < decap {
				decap = idx
			}
			continue
		case hal.IFLEncap:
			continue // no port: the entries punt its copies (entry.go)
		}
		phys, unit, _ := strings.Cut(ifl.Name, ".")
		p := d.byPhys[phys]
		if p == nil {
			continue
		}
		if unit != "" && unit != "0" {
			d.log.Warn("xdp: only unit 0 of a port is forwarded (no VLAN support)", "ifl", ifl.Name)
			continue
		}
		if prev, ok := bound[p]; ok && prev < idx {
			continue
		}
		bound[p] = idx
	}
	next := map[hal.IFLIndex]*port{}
	var changed []depKey
	for _, p := range d.ports {
		idx := bound[p]
		if idx != 0 {
			next[idx] = p
		}
		if p.bound != idx {
			d.log.Info("xdp: port bound", "port", p.phys, "interface", p.ifname, "ifl", idx, "previous", p.bound)
			if p.bound != 0 {
				changed = append(changed, depKey{id: uint32(p.bound)})
			}
			if idx != 0 {
				changed = append(changed, depKey{id: uint32(idx)})
			}
			p.bound = idx
			p.boundIFL.Store(uint32(idx))
			if d.links != nil {
				d.links.Report(p.ifindex)
			}
		}
		var pv portVal
		var ev egressVal
		if idx != 0 {
			pv = portVal{IFL: uint32(idx), Parent: uint32(parent[idx]), Slot: d.iflSlot(idx)}
			ev = egressVal{Slot: pv.Slot}
			copy(ev.MAC[:], p.mac)
			if mac := ifls[idx].MAC; len(mac) == 6 {
				copy(ev.MAC[:], mac)
			}
		}
		if old, ok := d.portVals[p.ifindex]; !ok || old != pv {
			if err := d.ob.ports.Put(uint32(p.ifindex), &pv); err != nil {
				d.log.Error("xdp: write ports map", "port", p.phys, "err", err)
			}
			d.portVals[p.ifindex] = pv
		}
		if old, ok := d.egressVals[p.ifindex]; !ok || old != ev {
			if err := d.ob.egress.Put(uint32(p.ifindex), &ev); err != nil {
				d.log.Error("xdp: write egress map", "port", p.phys, "err", err)
			}
			d.egressVals[p.ifindex] = ev
		}
	}
	var pv portVal
	if decap != 0 {
		pv = portVal{IFL: uint32(decap), Slot: d.iflSlot(decap)}
	}
	if old, ok := d.portVals[d.loIndex]; !ok || old != pv {
		if err := d.ob.ports.Put(uint32(d.loIndex), &pv); err != nil {
			d.log.Error("xdp: write ports map (decapsulation IFL)", "ifl", decap, "err", err)
		}
		d.portVals[d.loIndex] = pv
	}
	d.decap.Store(uint32(decap))
	d.bindings.Store(&next)
	return changed
}

// Input implements hal.Driver: every frame runs through the program
// attached to the ingress IFL's port, in the kernel (BPF_PROG_RUN; XDP in
// live-frame mode, so its redirects really transmit). A frame shorter than
// an Ethernet header cannot arrive on a port and cannot be given to a
// program, nor can an IPv4 frame shorter than an IPv4 header be given to
// a tc program (the kernel's test runner refuses it); both are counted as
// received and malformed here, as the program would count them.
func (d *Driver) Input(ingress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	p := d.boundPort(ingress)
	if p == nil && ingress != 0 && uint32(ingress) == d.decap.Load() {
		// The decapsulation IFL: the tc program, on the loopback's
		// element (it has no port, and clones reach any egress port).
		p = &port{phys: "pd-", ifindex: d.loIndex, mode: ModeTC}
	}
	if p == nil {
		if _, err := d.core.IFL(ingress); err != nil {
			return fmt.Errorf("xdp: input: %w", err)
		}
		return fmt.Errorf("xdp: input on ifl %d: no port of this card serves it: %w", ingress, hal.ErrNotFound)
	}
	st := (*d.iflsPub.Load())[ingress]
	return netns.Run(d.nsPath, func() error {
		for _, f := range frames {
			if len(f) < 14 || (p.mode == ModeTC && len(f) < 34 && f[12] == 0x08 && f[13] == 0x00) {
				if st != nil {
					st.rxShort.Add(1)
					st.rxShortBytes.Add(uint64(len(f)))
				}
				continue
			}
			if err := d.runProgram(p, f); err != nil {
				d.stats.inputErrors.Add(1)
				return fmt.Errorf("xdp: input on %s: %w", p.phys, err)
			}
			d.stats.inputRuns.Add(1)
		}
		return nil
	})
}

// runProgram runs the port's program on one frame.
func (d *Driver) runProgram(p *port, f []byte) error {
	if p.mode == ModeTC {
		var skb [192]byte                                          // struct __sk_buff
		binary.NativeEndian.PutUint32(skb[40:], uint32(p.ifindex)) // ifindex
		binary.NativeEndian.PutUint32(skb[48:], d.magic)           // cb[0]
		_, err := d.ob.tcFwd.Run(&ebpf.RunOptions{Data: f, Context: skb[:]})
		return err
	}
	var md [24]byte                                           // struct xdp_md
	binary.NativeEndian.PutUint32(md[12:], uint32(p.ifindex)) // ingress_ifindex
	_, err := d.ob.xdpFwd.Run(&ebpf.RunOptions{Data: f, Context: md[:], Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, Repeat: 1})
	return err
}

// Transmit implements hal.Driver: frames leave the egress IFL's port
// unchanged (an aggregate: its first Up member), through a packet socket.
func (d *Driver) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	ifl, err := d.core.IFL(egress)
	if err != nil {
		return fmt.Errorf("xdp: transmit: %w", err)
	}
	if ifl.Kind == hal.IFLEncap || ifl.Kind == hal.IFLDecap {
		return fmt.Errorf("xdp: transmit on %s (%s): no port: %w", ifl.Name, ifl.Kind, hal.ErrInvalid)
	}
	out := egress
	if ifl.Kind == hal.IFLAggregate {
		out = 0
		for _, m := range ifl.Members {
			if mi, err := d.core.IFL(m); err == nil && mi.Kind == hal.IFLPhysical && mi.Up {
				out = m
				break
			}
		}
		if out == 0 {
			return fmt.Errorf("xdp: transmit on %s: no Up member: %w", ifl.Name, hal.ErrNotFound)
		}
	}
	p := d.boundPort(out)
	if p == nil {
		return fmt.Errorf("xdp: transmit on ifl %d: no --port serves it: %w", out, hal.ErrNotFound)
	}
	n, b, err := p.send(frames)
	if st := (*d.iflsPub.Load())[out]; st != nil {
		st.txInject.Add(uint64(n))
		st.txBytes.Add(b)
	}
	p.injected.Add(uint64(n))
	p.injectedBytes.Add(b)
	if err != nil {
		return fmt.Errorf("xdp: transmit: %w", err)
	}
	return nil
}

// Route implements hal.Driver.
func (d *Driver) Route(key hal.RouteKey) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	return d.core.Route(key)
}

// Lookup implements hal.Driver.
func (d *Driver) Lookup(source, group netip.Addr) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	return d.core.Lookup(source, group)
}

// NextHop implements hal.Driver.
func (d *Driver) NextHop(id hal.NHID) (hal.NextHop, error) {
	if d.closed.Load() {
		return hal.NextHop{}, hal.ErrClosed
	}
	return d.core.NextHop(id)
}

// IFL implements hal.Driver.
func (d *Driver) IFL(index hal.IFLIndex) (hal.IFL, error) {
	if d.closed.Load() {
		return hal.IFL{}, hal.ErrClosed
	}
	return d.core.IFL(index)
}

// Summary implements hal.Driver.
func (d *Driver) Summary() hal.Summary {
	if d.closed.Load() {
		return hal.Summary{}
	}
	return d.core.Summary()
}

// SetOption implements hal.Tunable (the RE's settings concern the card,
// not this data path; the core validates them).
func (d *Driver) SetOption(key, value string) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	return d.core.SetOption(key, value)
}

// Close implements hal.Driver: it detaches every program, stops the upcall
// reader and releases the maps. It is safe to call more than once.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	err := d.closeAll()
	d.log.Info("xdp: closed")
	return err
}

// closeAll releases everything New may have acquired.
func (d *Driver) closeAll() error {
	d.cancel()
	if d.links != nil {
		d.links.Wait()
	}
	var errs []error
	for _, p := range d.ports {
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.events != nil {
		_ = d.events.Close()
	}
	d.stopOnce.Do(func() { d.stopCh = make(chan struct{}) })
	close(d.stopCh)
	d.wg.Wait()
	if d.ob != nil {
		d.ob.close()
	}
	if d.core != nil {
		if err := d.core.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
