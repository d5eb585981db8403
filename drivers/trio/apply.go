package trio

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Apply applies ops in order under the programming lock, keeps going past
// failed ops and returns how many were applied with one hal.OpError per
// failure. Every op, failed or not, is recorded in the programming log
// (OpLog). ctx cancellation stops before the next op.
func (d *Driver) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	if d.closed.Load() {
		return 0, d.errClosed()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return hal.ApplyEach(ctx, ops, func(_ int, op *hal.Op) error {
		err := d.applyLocked(*op)
		d.oplog.add(*op, err, d.now())
		return err
	})
}

func (d *Driver) applyLocked(op hal.Op) error {
	switch op.Kind {
	case hal.OpSetIFL:
		return d.setIFLLocked(op.IFL)
	case hal.OpDelIFL:
		return d.delIFLLocked(op.IFL.Index)
	case hal.OpSetNH:
		return d.setNHLocked(op.NH)
	case hal.OpDelNH:
		return d.delNHLocked(op.NH.ID)
	case hal.OpSetRoute:
		return d.setRouteLocked(op.Route)
	case hal.OpDelRoute:
		return d.delRouteLocked(op.Route.Key)
	case hal.OpSetTrap, hal.OpDelTrap:
		var t *hal.TrapTable
		var err error
		if op.Kind == hal.OpSetTrap {
			t, err = d.traps.Load().Set(op.Trap)
		} else {
			t, err = d.traps.Load().Delete(op.Trap.ID)
		}
		if err != nil {
			return err
		}
		d.traps.Store(t)
		return nil
	}
	return fmt.Errorf("op kind %d: %w", op.Kind, hal.ErrInvalid)
}

// ---- IFLs ----

func (d *Driver) setIFLLocked(in hal.IFL) error {
	if in.Index == 0 {
		return fmt.Errorf("ifl 0: %w", hal.ErrInvalid)
	}
	ifl := cloneIFL(in)
	switch ifl.Kind {
	case hal.IFLPhysical:
		if int(ifl.PFE) >= MaxPFEs {
			return fmt.Errorf("ifl %d: pfe %d beyond the model's %d PFEs: %w", ifl.Index, ifl.PFE, MaxPFEs, hal.ErrInvalid)
		}
	case hal.IFLAggregate:
		// Members need not exist yet; they are linked when they appear.
	case hal.IFLEncap, hal.IFLDecap:
		// No port: pe- copies are punted from the ingress PFE, pd- is an
		// ingress only.
	default:
		return fmt.Errorf("ifl %d: kind %d: %w", ifl.Index, ifl.Kind, hal.ErrInvalid)
	}
	if len(ifl.MAC) != 0 && len(ifl.MAC) != 6 {
		return fmt.Errorf("ifl %d: mac %s: %w", ifl.Index, ifl.MAC, hal.ErrInvalid)
	}
	e, exists := d.ifls.load(ifl.Index)
	operDown := false
	if exists {
		operDown = e.st.Load().operDown
		old := e.st.Load().ifl
		if old.Kind != ifl.Kind && d.iflRefs[ifl.Index] > 0 {
			return fmt.Errorf("ifl %d: kind change while used by a next hop: %w", ifl.Index, hal.ErrInvalid)
		}
		d.unlinkAggregateLocked(old)
	} else {
		if d.ifls.len() >= d.lim.ifls {
			return fmt.Errorf("ifl %d: %d of %d: %w", ifl.Index, d.ifls.len(), d.lim.ifls, hal.ErrTableFull)
		}
		e = &iflEntry{index: ifl.Index}
	}
	st := &iflState{ifl: ifl, parent: d.aggParent[ifl.Index], operDown: operDown}
	if len(ifl.MAC) == 6 {
		st.hasMAC = true
		copy(st.mac[:], ifl.MAC)
	}
	e.st.Store(st)
	if !exists {
		d.ifls.store(ifl.Index, e)
	}
	if ifl.Kind == hal.IFLAggregate {
		for _, m := range ifl.Members {
			d.aggParent[m] = ifl.Index
			d.setParentLocked(m, ifl.Index)
		}
	}
	d.recompileForIFLLocked(ifl.Index)
	return nil
}

// unlinkAggregateLocked drops the member links of an aggregate's old state.
func (d *Driver) unlinkAggregateLocked(old hal.IFL) {
	if old.Kind != hal.IFLAggregate {
		return
	}
	for _, m := range old.Members {
		if d.aggParent[m] == old.Index {
			delete(d.aggParent, m)
			d.setParentLocked(m, 0)
		}
	}
}

// setParentLocked republishes a member IFL's state with its new aggregate.
func (d *Driver) setParentLocked(m, parent hal.IFLIndex) {
	me, ok := d.ifls.load(m)
	if !ok {
		return
	}
	cur := me.st.Load()
	if cur.parent == parent {
		return
	}
	ns := *cur
	ns.parent = parent
	me.st.Store(&ns)
}

func (d *Driver) delIFLLocked(index hal.IFLIndex) error {
	e, ok := d.ifls.load(index)
	if !ok {
		return fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
	}
	if n := d.iflRefs[index]; n > 0 {
		return fmt.Errorf("ifl %d: %d references: %w", index, n, hal.ErrInvalid)
	}
	d.unlinkAggregateLocked(e.st.Load().ifl)
	d.ifls.delete(index)
	return nil
}

// SetLinkState implements hal.LinkSetter: the port of physical IFL index
// goes operationally down or up. A down port keeps its place in the
// sublists (the LAG rule uses the programmed state) and its copies count
// PortDown on its PFE and IFL.
func (d *Driver) SetLinkState(index hal.IFLIndex, up bool) error {
	if d.closed.Load() {
		return d.errClosed()
	}
	changed, err := func() (bool, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		e, ok := d.ifls.load(index)
		if !ok {
			return false, fmt.Errorf("ifl %d: %w", index, hal.ErrNotFound)
		}
		cur := e.st.Load()
		if cur.ifl.Kind != hal.IFLPhysical {
			return false, fmt.Errorf("ifl %d is %s, not a port: %w", index, cur.ifl.Kind, hal.ErrInvalid)
		}
		if cur.operDown == !up {
			return false, nil
		}
		ns := *cur
		ns.operDown = !up
		e.st.Store(&ns)
		d.recompileForIFLLocked(index)
		return true, nil
	}()
	if changed {
		d.up.OnLinkState(hal.LinkState{IFL: index, Up: up})
	}
	return err
}

// Traps returns the programmed host-path traps, sorted by id.
func (d *Driver) Traps() []hal.Trap { return d.traps.Load().Traps() }

// ---- next hops ----

func (d *Driver) setNHLocked(in hal.NextHop) error {
	nh := in
	nh.Members = slices.Clone(in.Members)
	id := nh.ID
	if id == 0 {
		return fmt.Errorf("nh id 0: %w", hal.ErrInvalid)
	}
	// Which objects the new NH references, validated first.
	var refIFL hal.IFLIndex
	var refNHs []hal.NHID
	var target *nhEntry
	switch nh.Type {
	case hal.NHUnicast:
		ie, ok := d.ifls.load(nh.IFL)
		if !ok {
			return fmt.Errorf("nh %d: ifl %d: %w", id, nh.IFL, hal.ErrNotFound)
		}
		if k := ie.st.Load().ifl.Kind; k != hal.IFLPhysical && k != hal.IFLEncap {
			return fmt.Errorf("nh %d: ifl %d is %s, not physical: %w", id, nh.IFL, k, hal.ErrInvalid)
		}
		refIFL = nh.IFL
		nh.Members, nh.Target = nil, 0
	case hal.NHAggregate:
		ie, ok := d.ifls.load(nh.IFL)
		if !ok {
			return fmt.Errorf("nh %d: ifl %d: %w", id, nh.IFL, hal.ErrNotFound)
		}
		if ie.st.Load().ifl.Kind != hal.IFLAggregate {
			return fmt.Errorf("nh %d: ifl %d is not an aggregate: %w", id, nh.IFL, hal.ErrInvalid)
		}
		refIFL = nh.IFL
		for _, m := range nh.Members {
			if err := d.checkMemberLocked(id, m, hal.NHUnicast); err != nil {
				return err
			}
		}
		refNHs = nh.Members
		nh.Target = 0
	case hal.NHComposite:
		for _, m := range nh.Members {
			if err := d.checkMemberLocked(id, m, hal.NHUnicast, hal.NHAggregate); err != nil {
				return err
			}
		}
		refNHs = nh.Members
		nh.IFL, nh.Target = 0, 0
	case hal.NHIndirect:
		if nh.Target == id {
			return fmt.Errorf("nh %d: targets itself: %w", id, hal.ErrInvalid)
		}
		te, ok := d.nhs.load(nh.Target)
		if !ok {
			return fmt.Errorf("nh %d: target %d: %w", id, nh.Target, hal.ErrNotFound)
		}
		if t := te.st.Load().nh.Type; t == hal.NHIndirect {
			return fmt.Errorf("nh %d: target %d is %s: %w", id, nh.Target, t, hal.ErrInvalid)
		}
		target = te
		refNHs = []hal.NHID{nh.Target}
		nh.IFL, nh.Members = 0, nil
	case hal.NHResolve, hal.NHMDiscard, hal.NHDiscard:
		nh.IFL, nh.Members, nh.Target = 0, nil, 0
	default:
		return fmt.Errorf("nh %d: type %d: %w", id, nh.Type, hal.ErrInvalid)
	}

	e, exists := d.nhs.load(id)
	var old hal.NextHop
	if exists {
		old = e.st.Load().nh
		if old.Type != nh.Type && len(d.nhUsers[id])+d.nhRouteRefs[id] > 0 {
			return fmt.Errorf("nh %d: type change %s -> %s while referenced: %w", id, old.Type, nh.Type, hal.ErrInvalid)
		}
	} else if d.nhs.len() >= d.lim.nhs {
		return fmt.Errorf("nh %d: %d of %d: %w", id, d.nhs.len(), d.lim.nhs, hal.ErrTableFull)
	}

	st := &nhState{nh: nh, target: target, comp: d.compileNHLocked(id, nh, &nh)}
	used := d.mcastLists - compiledLists(e)
	if n := mcastListsOf(st); n > 0 && used+n > d.lim.mcastLists {
		return fmt.Errorf("nh %d: %d multicast lists, %d of %d in use: %w", id, n, d.mcastLists, d.lim.mcastLists, hal.ErrTableFull)
	}
	d.mcastLists = used + mcastListsOf(st)

	// Commit: unlink old references, link new ones, publish.
	if exists {
		d.unlinkNHLocked(old)
		d.nhByType[old.Type]--
	} else {
		e = &nhEntry{id: id}
	}
	if refIFL != 0 {
		d.iflRefs[refIFL]++
		addSet(d.iflNHs, refIFL, id)
	}
	for _, m := range refNHs {
		addSet(d.nhUsers, m, id)
	}
	d.nhByType[nh.Type]++
	e.st.Store(st)
	if !exists {
		d.nhs.store(id, e)
	} else {
		// Composites expanding through this NH see its new value.
		d.recompileUsersLocked([]hal.NHID{id})
	}
	return nil
}

// compiledLists is the number of multicast lists NH e holds.
func compiledLists(e *nhEntry) int {
	if e == nil {
		return 0
	}
	return mcastListsOf(e.st.Load())
}

// mcastListsOf counts the multicast lists of a composite (one per
// sublist); unicast and aggregate NHs, which routes may also target,
// occupy none.
func mcastListsOf(st *nhState) int {
	if st.nh.Type != hal.NHComposite || st.comp == nil {
		return 0
	}
	return len(st.comp.sublists)
}

// compileNHLocked expands what a route through NH nh forwards to: a
// composite's nh-list, or a unicast or aggregate NH on its own.
// self is the NH's new value while it is being set (nil otherwise).
func (d *Driver) compileNHLocked(id hal.NHID, nh hal.NextHop, self *hal.NextHop) *compiled {
	switch nh.Type {
	case hal.NHComposite:
		return d.compileLocked(id, nh.Members, self)
	case hal.NHUnicast, hal.NHAggregate:
		return d.compileLocked(id, []hal.NHID{id}, self)
	}
	return nil
}

// checkMemberLocked validates that NH m exists and has one of types.
func (d *Driver) checkMemberLocked(id, m hal.NHID, types ...hal.NHType) error {
	if m == id {
		return fmt.Errorf("nh %d: lists itself: %w", id, hal.ErrInvalid)
	}
	me, ok := d.nhs.load(m)
	if !ok {
		return fmt.Errorf("nh %d: member %d: %w", id, m, hal.ErrNotFound)
	}
	if t := me.st.Load().nh.Type; !slices.Contains(types, t) {
		return fmt.Errorf("nh %d: member %d is %s: %w", id, m, t, hal.ErrInvalid)
	}
	return nil
}

// unlinkNHLocked drops the references held by an NH's old value.
func (d *Driver) unlinkNHLocked(old hal.NextHop) {
	switch old.Type {
	case hal.NHUnicast, hal.NHAggregate:
		if old.IFL != 0 {
			decRef(d.iflRefs, old.IFL)
			delSet(d.iflNHs, old.IFL, old.ID)
		}
	}
	switch old.Type {
	case hal.NHAggregate, hal.NHComposite:
		for _, m := range old.Members {
			delSet(d.nhUsers, m, old.ID)
		}
	case hal.NHIndirect:
		delSet(d.nhUsers, old.Target, old.ID)
	}
}

func (d *Driver) delNHLocked(id hal.NHID) error {
	e, ok := d.nhs.load(id)
	if !ok {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if n := len(d.nhUsers[id]) + d.nhRouteRefs[id]; n > 0 {
		return fmt.Errorf("nh %d: %d references: %w", id, n, hal.ErrInvalid)
	}
	old := e.st.Load().nh
	d.mcastLists -= compiledLists(e)
	d.unlinkNHLocked(old)
	d.nhByType[old.Type]--
	d.nhs.delete(id)
	return nil
}

// recompileForIFLLocked re-expands the NHs on IFL index and everything
// that expands through them.
func (d *Driver) recompileForIFLLocked(index hal.IFLIndex) {
	users := d.iflNHs[index]
	if len(users) == 0 {
		return
	}
	ids := make([]hal.NHID, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	d.recompileLocked(ids, true)
}

// recompileUsersLocked re-expands every NH that lists one of ids, directly
// or through an aggregate.
func (d *Driver) recompileUsersLocked(ids []hal.NHID) { d.recompileLocked(ids, false) }

// recompileLocked re-expands ids (when self) and, transitively, the NHs
// that list them. The multicast-list count may exceed the limit
// transiently here (a member change cannot be refused after the fact); new
// composites are refused until it is back under.
func (d *Driver) recompileLocked(ids []hal.NHID, self bool) {
	seen := map[hal.NHID]bool{}
	queue := slices.Clone(ids)
	if self {
		for _, id := range ids {
			seen[id] = true
			d.rebuildLocked(id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for u := range d.nhUsers[id] {
			if seen[u] {
				continue
			}
			seen[u] = true
			if d.rebuildLocked(u) == hal.NHAggregate {
				queue = append(queue, u)
			}
		}
	}
}

// rebuildLocked recompiles NH id in place and returns its type.
func (d *Driver) rebuildLocked(id hal.NHID) hal.NHType {
	e, ok := d.nhs.load(id)
	if !ok {
		return 0
	}
	cur := e.st.Load()
	c := d.compileNHLocked(id, cur.nh, nil)
	if c == nil {
		return cur.nh.Type
	}
	ns := *cur
	ns.comp = c
	d.mcastLists += mcastListsOf(&ns) - mcastListsOf(cur)
	e.st.Store(&ns)
	return cur.nh.Type
}

// ---- routes ----

func (d *Driver) setRouteLocked(r hal.Route) error {
	key, err := checkRouteKey(r.Key)
	if err != nil {
		return err
	}
	r.Key = key
	ne, ok := d.nhs.load(r.NH)
	if !ok {
		return fmt.Errorf("route %s: nh %d: %w", key, r.NH, hal.ErrNotFound)
	}
	re := d.findRoute(key)
	if re == nil {
		if d.sg.len()+d.nPrefix >= d.lim.routes {
			return fmt.Errorf("route %s: %d of %d: %w", key, d.sg.len()+d.nPrefix, d.lim.routes, hal.ErrTableFull)
		}
		re = &routeEntry{key: key}
	} else {
		decRef(d.nhRouteRefs, re.st.Load().route.NH)
	}
	d.nhRouteRefs[r.NH]++
	isNew := re.st.Load() == nil
	re.st.Store(&routeState{route: r, nh: ne})
	if !isNew {
		return nil
	}
	if key.IsSG() {
		d.sg.store(sgKey{key.Table, addr4(key.Group), addr4(key.Source)}, re)
		return nil
	}
	cur := *d.prefixes.Load()
	next := make([]*routeEntry, 0, len(cur)+1)
	next = append(next, cur...)
	next = append(next, re)
	slices.SortStableFunc(next, func(a, b *routeEntry) int { return int(b.key.PrefixLen) - int(a.key.PrefixLen) })
	d.prefixes.Store(&next)
	d.nPrefix++
	return nil
}

// checkRouteKey validates a key and returns it normalised (prefix
// masked): table inet.1; an (S,G) needs an IPv4 source and an IPv4
// multicast group; a prefix needs an IPv4 group, no source and at most 32
// bits.
func checkRouteKey(k hal.RouteKey) (hal.RouteKey, error) {
	if k.Table != hal.TableInet1 {
		return k, fmt.Errorf("route %s: table %d: %w", k, k.Table, hal.ErrInvalid)
	}
	if k.IsSG() {
		if !k.Source.Is4() || !k.Group.Is4() || !k.Group.IsMulticast() {
			return k, fmt.Errorf("route %v,%v: not an IPv4 (S,G): %w", k.Group, k.Source, hal.ErrInvalid)
		}
		return k, nil
	}
	if k.PrefixLen > 32 || !k.Group.Is4() || k.Source.IsValid() {
		return k, fmt.Errorf("route %v/%d: not an IPv4 group prefix: %w", k.Group, k.PrefixLen, hal.ErrInvalid)
	}
	return normPrefixKey(k), nil
}

func (d *Driver) delRouteLocked(key hal.RouteKey) error {
	k, err := checkRouteKey(key)
	if err != nil {
		return err
	}
	re := d.findRoute(k)
	if re == nil {
		return fmt.Errorf("route %s: %w", key, hal.ErrNotFound)
	}
	decRef(d.nhRouteRefs, re.st.Load().route.NH)
	if k.IsSG() {
		d.sg.delete(sgKey{k.Table, addr4(k.Group), addr4(k.Source)})
		return nil
	}
	cur := *d.prefixes.Load()
	next := make([]*routeEntry, 0, len(cur))
	for _, p := range cur {
		if p != re {
			next = append(next, p)
		}
	}
	d.prefixes.Store(&next)
	d.nPrefix--
	return nil
}

// ---- helpers ----

func decRef[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

func addSet[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	s := m[k]
	if s == nil {
		s = map[V]struct{}{}
		m[k] = s
	}
	s[v] = struct{}{}
}

func delSet[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	if s := m[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// ---- programming log ----

// OpRecord is one entry of the programming log.
type OpRecord struct {
	Seq  uint64    // 1 for the first op the driver ever saw
	Time time.Time // cfg.Now at apply time
	Kind hal.OpKind
	Desc string // hal.Op.String(): "set-nh 1173(Compst)"
	Err  error  // nil when applied
}

// opRing is a bounded ring of OpRecords (guarded by Driver.mu).
type opRing struct {
	recs []OpRecord
	next uint64 // sequence number of the next record
}

func newOpRing(n int) opRing { return opRing{recs: make([]OpRecord, 0, n), next: 1} }

func (r *opRing) add(op hal.Op, err error, now time.Time) {
	rec := OpRecord{Seq: r.next, Time: now, Kind: op.Kind, Desc: op.String(), Err: err}
	r.next++
	if len(r.recs) < cap(r.recs) {
		r.recs = append(r.recs, rec)
		return
	}
	r.recs[(rec.Seq-1)%uint64(cap(r.recs))] = rec
}

func (r *opRing) snapshot() []OpRecord {
	out := make([]OpRecord, 0, len(r.recs))
	if len(r.recs) < cap(r.recs) {
		return append(out, r.recs...)
	}
	start := (r.next - 1) % uint64(cap(r.recs))
	out = append(out, r.recs[start:]...)
	return append(out, r.recs[:start]...)
}

// OpLog returns the programming log, oldest first: the last op-log
// (default 4096) operations with their outcome.
func (d *Driver) OpLog() []OpRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.oplog.snapshot()
}
