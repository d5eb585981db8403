// Package haltest provides test doubles and the conformance suite for the
// hal driver contract.
//
//   - Fake is an in-memory hal.Driver: plain maps behind one mutex, a naive
//     but complete packet path (it walks the next-hop chain for every
//     packet), a record of applied operations and injectable failures. FPC
//     runtime tests use it, and driver tests use it as the naive reference
//     of differential tests.
//   - Recorder implements hal.Upcalls and hal.Egress by recording copies.
//   - Frame, BuildFrame and ParseFrame build and decode Ethernet+IPv4+UDP
//     multicast frames with correct checksums.
//   - Run is the conformance suite every driver's tests run.
//
// Everything here is safe for concurrent use.
package haltest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// FakeName is what Fake.Name returns.
const FakeName = "fake"

// Fake is an in-memory hal.Driver. Its semantics are the contract's, made
// explicit where hal.go leaves room (the conformance suite checks the same):
//
//   - Set IFL: Index 0, an unknown Kind or a MAC that is neither empty nor 6
//     bytes is ErrInvalid; changing the Kind of an IFL used by a next hop is
//     ErrInvalid. Aggregate member IFLs need not exist.
//   - Set NH: ID 0 or an unknown Type is ErrInvalid. Unicast needs an
//     existing physical IFL; Aggregate an existing aggregate IFL and
//     existing Unicast members; Composite existing Unicast or Aggregate
//     members; Indirect an existing target that is not itself Indirect.
//     Missing objects are ErrNotFound, wrong types ErrInvalid, and so is a
//     NH listing itself as member or target. Changing the Type of a
//     referenced NH is ErrInvalid.
//   - Set route: Table must be inet.1; an (S,G) key needs IPv4 Source and a
//     multicast IPv4 Group; a prefix key needs PrefixLen <= 32, an IPv4
//     Group and no Source (the group is stored masked). Otherwise
//     ErrInvalid. An unknown NH is ErrNotFound. The RPF IFL need not exist
//     (the check compares indexes).
//   - Deletes: absent is ErrNotFound, still referenced (IFL by a NH, NH by a
//     NH or a route) is ErrInvalid.
//
// Traps (OpSetTrap, OpDelTrap) are validated and classified by
// hal.TrapTable; deleting an absent trap is ErrNotFound. IFLs of kind
// IFLEncap and IFLDecap are accepted; a Unicast NH may sit on an
// encapsulation IFL (not on a decapsulation IFL).
//
// Packet path: malformed frames (neither Ethernet II + IPv4 nor ARP, bad
// version, IHL or total length, ARP that is not Ethernet/IPv4) are counted
// and dropped; a frame a trap matches is punted with the trap's id; an ARP
// frame or IPv4 unicast packet no trap matches counts NoRoute; then exact
// (S,G) lookup, else the longest group prefix; no route
// counts NoRoute; a nonzero route RPF must equal the ingress or the
// aggregate the ingress is a member of, else RPFFail + OnWrongInterface;
// Resolve raises OnResolve, (m)discard drops; forwarding drops TTL <= 1,
// else sends one copy per composite member (an aggregate picks one Up member
// by the platform's rule, hal.EgressMember with hal.SublistCount over the
// Up member counts of the nh-list; an aggregate NH referenced directly is
// an nh-list of one), TTL decremented, checksum updated, destination MAC set
// from the group and source MAC from the egress IFL when it has one. Egress
// IFLs that are not Up, or whose port is operationally down
// (SetLinkState), drop the copy and count PortDown. A copy to an
// encapsulation IFL is punted (hal.TrapEncap) as received, once per
// packet, and counted as its Tx.
type Fake struct {
	cfg hal.Config

	mu       sync.Mutex
	closed   bool
	ifls     map[hal.IFLIndex]hal.IFL
	nhs      map[hal.NHID]hal.NextHop
	routes   map[hal.RouteKey]hal.Route
	counters map[hal.IFLIndex]*hal.IFLCounters
	rstats   map[hal.RouteKey]*hal.RouteStat
	ops      []hal.Op
	batches  int
	inputs   []Punt
	traps    *hal.TrapTable
	operDown map[hal.IFLIndex]bool // ports set down with SetLinkState
	options  map[string]string
	failOp   func(i int, op hal.Op) error
	failIn   error
	lagIndex func(source, group netip.Addr, n int) int // nil: hal.EgressMember
}

var (
	_ hal.Driver     = (*Fake)(nil)
	_ hal.Tunable    = (*Fake)(nil)
	_ hal.LinkSetter = (*Fake)(nil)
)

// NewFake returns an empty Fake. cfg.Logger, cfg.Upcalls and cfg.Now may be
// nil (defaults: discard, no upcalls, time.Now); cfg.Egress may be nil
// (forwarded frames are then only counted).
func NewFake(cfg hal.Config) *Fake {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fake{
		cfg:      cfg,
		ifls:     map[hal.IFLIndex]hal.IFL{},
		nhs:      map[hal.NHID]hal.NextHop{},
		routes:   map[hal.RouteKey]hal.Route{},
		counters: map[hal.IFLIndex]*hal.IFLCounters{},
		rstats:   map[hal.RouteKey]*hal.RouteStat{},
		operDown: map[hal.IFLIndex]bool{},
		options:  map[string]string{},
	}
}

// NewFakeDriver is NewFake as a hal.Constructor.
func NewFakeDriver(_ context.Context, cfg hal.Config) (hal.Driver, error) {
	return NewFake(cfg), nil
}

// SetLAGIndex replaces the member choice of aggregates: fn(source, group,
// n) returns which of an aggregate's n Up members (in member order) carries
// the flow. nil restores the default, the platform's rule of hal/flow.go
// that every driver follows. Tests use it to model a deliberately different
// driver.
func (f *Fake) SetLAGIndex(fn func(source, group netip.Addr, n int) int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lagIndex = fn
}

// FailOp installs a hook consulted before each operation of Apply with the
// operation's index in its batch; a non-nil error fails that operation (it
// is reported wrapped in hal.OpError and not applied). nil removes the hook.
func (f *Fake) FailOp(fn func(i int, op hal.Op) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOp = fn
}

// FailInput makes Input and Transmit return err (nil restores them).
func (f *Fake) FailInput(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failIn = err
}

// Ops returns every successfully applied operation, in order.
func (f *Fake) Ops() []hal.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

// Batches returns how many Apply calls were made.
func (f *Fake) Batches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

// Inputs returns copies of every frame passed to Input, with its ingress.
func (f *Fake) Inputs() []Punt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.inputs)
}

// Options returns the options set through SetOption.
func (f *Fake) Options() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.options)
}

// SetOption implements hal.Tunable: it records every key.
func (f *Fake) SetOption(key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.ErrClosed
	}
	f.options[key] = value
	return nil
}

// Name implements hal.Driver.
func (f *Fake) Name() string { return FakeName }

// Apply implements hal.Driver.
func (f *Fake) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, hal.ErrClosed
	}
	f.batches++
	return hal.ApplyEach(ctx, ops, func(i int, op *hal.Op) error {
		if f.failOp != nil {
			if err := f.failOp(i, *op); err != nil {
				return err
			}
		}
		if err := f.applyLocked(*op); err != nil {
			return err
		}
		f.ops = append(f.ops, cloneOp(*op))
		return nil
	})
}

func cloneOp(op hal.Op) hal.Op {
	op.IFL.Members = slices.Clone(op.IFL.Members)
	op.IFL.MAC = slices.Clone(op.IFL.MAC)
	op.NH.Members = slices.Clone(op.NH.Members)
	return op
}

func (f *Fake) applyLocked(op hal.Op) error {
	switch op.Kind {
	case hal.OpSetIFL:
		return f.setIFLLocked(op.IFL)
	case hal.OpDelIFL:
		return f.delIFLLocked(op.IFL.Index)
	case hal.OpSetNH:
		return f.setNHLocked(op.NH)
	case hal.OpDelNH:
		return f.delNHLocked(op.NH.ID)
	case hal.OpSetRoute:
		return f.setRouteLocked(op.Route)
	case hal.OpDelRoute:
		return f.delRouteLocked(op.Route.Key)
	case hal.OpSetTrap:
		t, err := f.traps.Set(op.Trap)
		if err != nil {
			return err
		}
		f.traps = t
		return nil
	case hal.OpDelTrap:
		t, err := f.traps.Delete(op.Trap.ID)
		if err != nil {
			return err
		}
		f.traps = t
		return nil
	}
	return fmt.Errorf("op kind %d: %w", op.Kind, hal.ErrInvalid)
}

// Traps returns the programmed traps, sorted by id.
func (f *Fake) Traps() []hal.Trap {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.traps.Traps()
}

// SetLinkState implements hal.LinkSetter.
func (f *Fake) SetLinkState(idx hal.IFLIndex, up bool) error {
	changed, err := func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			return false, hal.ErrClosed
		}
		ifl, ok := f.ifls[idx]
		if !ok {
			return false, fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
		}
		if ifl.Kind != hal.IFLPhysical {
			return false, fmt.Errorf("ifl %d is %s, not a port: %w", idx, ifl.Kind, hal.ErrInvalid)
		}
		if f.operDown[idx] == !up {
			return false, nil
		}
		if up {
			delete(f.operDown, idx)
		} else {
			f.operDown[idx] = true
		}
		return true, nil
	}()
	if changed && f.cfg.Upcalls != nil {
		f.cfg.Upcalls.OnLinkState(hal.LinkState{IFL: idx, Up: up})
	}
	return err
}

func (f *Fake) iflUsedLocked(idx hal.IFLIndex) bool {
	for _, nh := range f.nhs {
		if (nh.Type == hal.NHUnicast || nh.Type == hal.NHAggregate) && nh.IFL == idx {
			return true
		}
	}
	return false
}

func (f *Fake) nhUsedLocked(id hal.NHID) bool {
	for _, nh := range f.nhs {
		switch nh.Type {
		case hal.NHIndirect:
			if nh.Target == id {
				return true
			}
		case hal.NHAggregate, hal.NHComposite:
			if slices.Contains(nh.Members, id) {
				return true
			}
		}
	}
	for _, r := range f.routes {
		if r.NH == id {
			return true
		}
	}
	return false
}

func (f *Fake) setIFLLocked(ifl hal.IFL) error {
	if ifl.Index == 0 {
		return fmt.Errorf("ifl index 0: %w", hal.ErrInvalid)
	}
	switch ifl.Kind {
	case hal.IFLPhysical, hal.IFLAggregate, hal.IFLEncap, hal.IFLDecap:
	default:
		return fmt.Errorf("ifl %d kind %s: %w", ifl.Index, ifl.Kind, hal.ErrInvalid)
	}
	if len(ifl.MAC) != 0 && len(ifl.MAC) != 6 {
		return fmt.Errorf("ifl %d mac %v: %w", ifl.Index, ifl.MAC, hal.ErrInvalid)
	}
	if old, ok := f.ifls[ifl.Index]; ok && old.Kind != ifl.Kind && f.iflUsedLocked(ifl.Index) {
		return fmt.Errorf("ifl %d kind change while used by a next hop: %w", ifl.Index, hal.ErrInvalid)
	}
	ifl.Members = slices.Clone(ifl.Members)
	ifl.MAC = slices.Clone(ifl.MAC)
	f.ifls[ifl.Index] = ifl
	if f.counters[ifl.Index] == nil {
		f.counters[ifl.Index] = &hal.IFLCounters{}
	}
	return nil
}

func (f *Fake) delIFLLocked(idx hal.IFLIndex) error {
	if _, ok := f.ifls[idx]; !ok {
		return fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
	}
	if f.iflUsedLocked(idx) {
		return fmt.Errorf("ifl %d used by a next hop: %w", idx, hal.ErrInvalid)
	}
	delete(f.ifls, idx)
	delete(f.counters, idx)
	delete(f.operDown, idx)
	return nil
}

func (f *Fake) needIFLLocked(idx hal.IFLIndex, kinds ...hal.IFLKind) error {
	ifl, ok := f.ifls[idx]
	if !ok {
		return fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
	}
	if !slices.Contains(kinds, ifl.Kind) {
		return fmt.Errorf("ifl %d is %s, want %s: %w", idx, ifl.Kind, kinds[0], hal.ErrInvalid)
	}
	return nil
}

func (f *Fake) needNHLocked(id hal.NHID, types ...hal.NHType) error {
	nh, ok := f.nhs[id]
	if !ok {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if !slices.Contains(types, nh.Type) {
		return fmt.Errorf("nh %d is %s: %w", id, nh.Type, hal.ErrInvalid)
	}
	return nil
}

func (f *Fake) setNHLocked(nh hal.NextHop) error {
	if nh.ID == 0 {
		return fmt.Errorf("nh id 0: %w", hal.ErrInvalid)
	}
	var err error
	if (nh.Type == hal.NHIndirect && nh.Target == nh.ID) ||
		((nh.Type == hal.NHAggregate || nh.Type == hal.NHComposite) && slices.Contains(nh.Members, nh.ID)) {
		// The only cycle the type rules allow: members are checked
		// against the NH's current type, which this op changes.
		err = fmt.Errorf("references itself: %w", hal.ErrInvalid)
	}
	switch {
	case err != nil:
	case nh.Type == hal.NHUnicast:
		err = f.needIFLLocked(nh.IFL, hal.IFLPhysical, hal.IFLEncap)
	case nh.Type == hal.NHAggregate:
		err = f.needIFLLocked(nh.IFL, hal.IFLAggregate)
		for _, m := range nh.Members {
			if err != nil {
				break
			}
			err = f.needNHLocked(m, hal.NHUnicast)
		}
	case nh.Type == hal.NHComposite:
		for _, m := range nh.Members {
			if err = f.needNHLocked(m, hal.NHUnicast, hal.NHAggregate); err != nil {
				break
			}
		}
	case nh.Type == hal.NHIndirect:
		err = f.needNHLocked(nh.Target, hal.NHComposite, hal.NHAggregate, hal.NHUnicast,
			hal.NHResolve, hal.NHMDiscard, hal.NHDiscard)
	case nh.Type == hal.NHResolve, nh.Type == hal.NHMDiscard, nh.Type == hal.NHDiscard:
	default:
		err = fmt.Errorf("nh %d type %s: %w", nh.ID, nh.Type, hal.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("nh %d: %w", nh.ID, err)
	}
	if old, ok := f.nhs[nh.ID]; ok && old.Type != nh.Type && f.nhUsedLocked(nh.ID) {
		return fmt.Errorf("nh %d type change %s->%s while referenced: %w", nh.ID, old.Type, nh.Type, hal.ErrInvalid)
	}
	nh.Members = slices.Clone(nh.Members)
	f.nhs[nh.ID] = nh
	return nil
}

func (f *Fake) delNHLocked(id hal.NHID) error {
	if _, ok := f.nhs[id]; !ok {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if f.nhUsedLocked(id) {
		return fmt.Errorf("nh %d still referenced: %w", id, hal.ErrInvalid)
	}
	delete(f.nhs, id)
	return nil
}

// NormalizeKey validates a route key as the Fake does and returns it in
// canonical form (group prefix masked).
func NormalizeKey(k hal.RouteKey) (hal.RouteKey, error) {
	if k.Table != hal.TableInet1 {
		return k, fmt.Errorf("route %s: table %d: %w", k, k.Table, hal.ErrInvalid)
	}
	if k.IsSG() {
		if !k.Source.Is4() || !k.Group.Is4() || !k.Group.IsMulticast() {
			return k, fmt.Errorf("route %v/%v: not an IPv4 (S,G): %w", k.Source, k.Group, hal.ErrInvalid)
		}
		return k, nil
	}
	if k.PrefixLen > 32 || !k.Group.Is4() || k.Source.IsValid() {
		return k, fmt.Errorf("route %v/%d source %v: not an IPv4 group prefix: %w", k.Group, k.PrefixLen, k.Source, hal.ErrInvalid)
	}
	k.Group = netip.PrefixFrom(k.Group, int(k.PrefixLen)).Masked().Addr()
	return k, nil
}

func (f *Fake) setRouteLocked(r hal.Route) error {
	k, err := NormalizeKey(r.Key)
	if err != nil {
		return err
	}
	r.Key = k
	if _, ok := f.nhs[r.NH]; !ok {
		return fmt.Errorf("route %s: nh %d: %w", k, r.NH, hal.ErrNotFound)
	}
	f.routes[k] = r
	if f.rstats[k] == nil {
		f.rstats[k] = &hal.RouteStat{Key: k}
	}
	return nil
}

func (f *Fake) delRouteLocked(k hal.RouteKey) error {
	k, err := NormalizeKey(k)
	if err != nil {
		return err
	}
	if _, ok := f.routes[k]; !ok {
		return fmt.Errorf("route %s: %w", k, hal.ErrNotFound)
	}
	delete(f.routes, k)
	delete(f.rstats, k)
	return nil
}

// Route implements hal.Driver.
func (f *Fake) Route(key hal.RouteKey) (hal.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.Route{}, hal.ErrClosed
	}
	k, err := NormalizeKey(key)
	if err != nil {
		return hal.Route{}, err
	}
	r, ok := f.routes[k]
	if !ok {
		return hal.Route{}, fmt.Errorf("route %s: %w", k, hal.ErrNotFound)
	}
	return r, nil
}

// Lookup implements hal.Driver.
func (f *Fake) Lookup(source, group netip.Addr) (hal.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.Route{}, hal.ErrClosed
	}
	if r, ok := f.lookupLocked(source, group); ok {
		return r, nil
	}
	return hal.Route{}, fmt.Errorf("lookup %v,%v: %w", source, group, hal.ErrNotFound)
}

func (f *Fake) lookupLocked(source, group netip.Addr) (hal.Route, bool) {
	if r, ok := f.routes[hal.SG(source, group)]; ok {
		return r, true
	}
	if !group.Is4() {
		return hal.Route{}, false
	}
	for bits := 32; bits >= 0; bits-- {
		k := hal.GroupPrefix(netip.PrefixFrom(group, bits))
		if r, ok := f.routes[k]; ok {
			return r, true
		}
	}
	return hal.Route{}, false
}

// NextHop implements hal.Driver.
func (f *Fake) NextHop(id hal.NHID) (hal.NextHop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.NextHop{}, hal.ErrClosed
	}
	nh, ok := f.nhs[id]
	if !ok {
		return hal.NextHop{}, fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	nh.Members = slices.Clone(nh.Members)
	return nh, nil
}

// IFL implements hal.Driver.
func (f *Fake) IFL(index hal.IFLIndex) (hal.IFL, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.IFL{}, hal.ErrClosed
	}
	ifl, ok := f.ifls[index]
	if !ok {
		return hal.IFL{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	ifl.Members = slices.Clone(ifl.Members)
	ifl.MAC = slices.Clone(ifl.MAC)
	return ifl, nil
}

// WalkRoutes implements hal.Driver. Routes are visited in key order; fn is
// called without the Fake's lock held.
func (f *Fake) WalkRoutes(fn func(hal.Route, hal.RouteStat) bool) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	type rs struct {
		r hal.Route
		s hal.RouteStat
	}
	all := make([]rs, 0, len(f.routes))
	for k, r := range f.routes {
		all = append(all, rs{r, *f.rstats[k]})
	}
	f.mu.Unlock()
	slices.SortFunc(all, func(a, b rs) int { return compareKeys(a.r.Key, b.r.Key) })
	for _, x := range all {
		if !fn(x.r, x.s) {
			return
		}
	}
}

func compareKeys(a, b hal.RouteKey) int {
	if c := a.Group.Compare(b.Group); c != 0 {
		return c
	}
	if a.PrefixLen != b.PrefixLen {
		return int(a.PrefixLen) - int(b.PrefixLen)
	}
	return a.Source.Compare(b.Source)
}

// IFLCounters implements hal.Driver.
func (f *Fake) IFLCounters(index hal.IFLIndex) (hal.IFLCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.IFLCounters{}, hal.ErrClosed
	}
	c, ok := f.counters[index]
	if !ok {
		return hal.IFLCounters{}, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	return *c, nil
}

// Summary implements hal.Driver.
func (f *Fake) Summary() hal.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := hal.Summary{NHsByType: map[hal.NHType]int{}}
	if f.closed {
		return s
	}
	s.IFLs, s.NHs, s.Routes = len(f.ifls), len(f.nhs), len(f.routes)
	for _, nh := range f.nhs {
		s.NHsByType[nh.Type]++
	}
	return s
}

// Close implements hal.Driver. It is idempotent.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
