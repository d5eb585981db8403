package swpfe

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/mxfwd/mxfwd/hal"
)

// state is the writer-side object store, guarded by Core.mu. It keeps the
// objects as programmed plus the reverse references needed to validate
// deletes and to find which egress plans an NH or IFL change affects.
type state struct {
	ifls  map[hal.IFLIndex]*iflObj
	nhs   map[hal.NHID]*nhObj
	pfx   map[uint64]*routeEntry // group prefix routes by G<<32|plen
	traps *hal.TrapTable         // host-path traps as programmed

	nextID  int32   // next dense iflCounters id
	freeIDs []int32 // ids of deleted IFLs
}

type iflObj struct {
	ifl      hal.IFL
	ctr      *iflCounters
	users    map[hal.NHID]struct{} // Unicast/Aggregate NHs on this IFL
	operDown bool                  // port operationally down (SetLinkState)
}

type nhObj struct {
	nh      hal.NextHop
	refs    int              // references from NHs and routes
	parents map[hal.NHID]int // NHs referencing this one, with multiplicity
	slot    *nhSlot
}

// nhSlot holds the egress plan of one NH. Routes point at the slot of their
// entry NH, so a next-hop change republishes one plan per affected NH
// instead of touching every route.
type nhSlot struct {
	plan atomic.Pointer[plan]
}

// batch collects what a batch changed, for publishLocked.
type batch struct {
	dirty        map[hal.NHID]struct{}
	iflsChanged  bool
	pfxChanged   bool
	trapsChanged bool
}

func (st *state) init() {
	st.ifls = map[hal.IFLIndex]*iflObj{}
	st.nhs = map[hal.NHID]*nhObj{}
	st.pfx = map[uint64]*routeEntry{}
	st.traps = nil
	st.nextID, st.freeIDs = 0, nil
}

func (st *state) beginBatch() *batch { return &batch{} }

func (b *batch) markDirty(id hal.NHID) {
	if b.dirty == nil {
		b.dirty = map[hal.NHID]struct{}{}
	}
	b.dirty[id] = struct{}{}
}

func (c *Core) applyLocked(b *batch, op *hal.Op) error {
	switch op.Kind {
	case hal.OpSetIFL:
		return c.setIFLLocked(b, &op.IFL)
	case hal.OpDelIFL:
		return c.delIFLLocked(b, op.IFL.Index)
	case hal.OpSetNH:
		return c.setNHLocked(b, &op.NH)
	case hal.OpDelNH:
		return c.delNHLocked(op.NH.ID)
	case hal.OpSetRoute:
		return c.setRouteLocked(b, &op.Route)
	case hal.OpDelRoute:
		return c.delRouteLocked(b, op.Route.Key)
	case hal.OpSetTrap, hal.OpDelTrap:
		var t *hal.TrapTable
		var err error
		if op.Kind == hal.OpSetTrap {
			t, err = c.st.traps.Set(op.Trap)
		} else {
			t, err = c.st.traps.Delete(op.Trap.ID)
		}
		if err != nil {
			return err
		}
		c.st.traps, b.trapsChanged = t, true
		return nil
	}
	return fmt.Errorf("op kind %d: %w", op.Kind, hal.ErrInvalid)
}

func (c *Core) setIFLLocked(b *batch, ifl *hal.IFL) error {
	st := &c.st
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
	o := st.ifls[ifl.Index]
	if o != nil && o.ifl.Kind != ifl.Kind && len(o.users) > 0 {
		return fmt.Errorf("ifl %d kind change while used by a next hop: %w", ifl.Index, hal.ErrInvalid)
	}
	if o == nil {
		o = &iflObj{ctr: &iflCounters{id: st.allocID()}}
		st.ifls[ifl.Index] = o
	}
	o.ifl = *ifl
	o.ifl.Members = slices.Clone(ifl.Members)
	o.ifl.MAC = slices.Clone(ifl.MAC)
	b.iflsChanged = true
	for id := range o.users {
		b.markDirty(id)
	}
	return nil
}

func (st *state) allocID() int32 {
	if n := len(st.freeIDs); n > 0 {
		id := st.freeIDs[n-1]
		st.freeIDs = st.freeIDs[:n-1]
		return id
	}
	st.nextID++
	return st.nextID - 1
}

func (c *Core) delIFLLocked(b *batch, idx hal.IFLIndex) error {
	st := &c.st
	o := st.ifls[idx]
	if o == nil {
		return fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
	}
	if len(o.users) > 0 {
		return fmt.Errorf("ifl %d used by %d next hops: %w", idx, len(o.users), hal.ErrInvalid)
	}
	delete(st.ifls, idx)
	// The id may be reused at once: scratch buffers check the counters
	// pointer, not only the id, before appending to an output list.
	st.freeIDs = append(st.freeIDs, o.ctr.id)
	b.iflsChanged = true
	return nil
}

func (st *state) needIFL(idx hal.IFLIndex, kinds ...hal.IFLKind) error {
	o := st.ifls[idx]
	if o == nil {
		return fmt.Errorf("ifl %d: %w", idx, hal.ErrNotFound)
	}
	if !slices.Contains(kinds, o.ifl.Kind) {
		return fmt.Errorf("ifl %d is %s, want %s: %w", idx, o.ifl.Kind, kinds[0], hal.ErrInvalid)
	}
	return nil
}

func (st *state) needNH(id hal.NHID, types ...hal.NHType) error {
	o := st.nhs[id]
	if o == nil {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if !slices.Contains(types, o.nh.Type) {
		return fmt.Errorf("nh %d is %s: %w", id, o.nh.Type, hal.ErrInvalid)
	}
	return nil
}

// validateNH checks nh's references and type rules (see package doc).
func (st *state) validateNH(nh *hal.NextHop) error {
	if slices.Contains(children(nh), nh.ID) {
		// The only cycle the type rules allow: members are checked
		// against the NH's current type, which this op changes. Longer
		// cycles are impossible because a referenced NH keeps its type
		// and only Indirect, Composite and Aggregate have children.
		return fmt.Errorf("references itself: %w", hal.ErrInvalid)
	}
	switch nh.Type {
	case hal.NHUnicast:
		return st.needIFL(nh.IFL, hal.IFLPhysical, hal.IFLEncap)
	case hal.NHAggregate:
		if err := st.needIFL(nh.IFL, hal.IFLAggregate); err != nil {
			return err
		}
		for _, m := range nh.Members {
			if err := st.needNH(m, hal.NHUnicast); err != nil {
				return err
			}
		}
	case hal.NHComposite:
		for _, m := range nh.Members {
			if err := st.needNH(m, hal.NHUnicast, hal.NHAggregate); err != nil {
				return err
			}
		}
	case hal.NHIndirect:
		return st.needNH(nh.Target, hal.NHComposite, hal.NHAggregate, hal.NHUnicast,
			hal.NHResolve, hal.NHMDiscard, hal.NHDiscard)
	case hal.NHResolve, hal.NHMDiscard, hal.NHDiscard:
	default:
		return fmt.Errorf("type %s: %w", nh.Type, hal.ErrInvalid)
	}
	return nil
}

// children returns the NHs nh references.
func children(nh *hal.NextHop) []hal.NHID {
	switch nh.Type {
	case hal.NHAggregate, hal.NHComposite:
		return nh.Members
	case hal.NHIndirect:
		return []hal.NHID{nh.Target}
	}
	return nil
}

// usesIFL returns the IFL nh is attached to, or 0.
func usesIFL(nh *hal.NextHop) hal.IFLIndex {
	if nh.Type == hal.NHUnicast || nh.Type == hal.NHAggregate {
		return nh.IFL
	}
	return 0
}

func (st *state) link(parent *hal.NextHop) {
	for _, ch := range children(parent) {
		o := st.nhs[ch]
		o.refs++
		if o.parents == nil {
			o.parents = map[hal.NHID]int{}
		}
		o.parents[parent.ID]++
	}
	if idx := usesIFL(parent); idx != 0 {
		o := st.ifls[idx]
		if o.users == nil {
			o.users = map[hal.NHID]struct{}{}
		}
		o.users[parent.ID] = struct{}{}
	}
}

func (st *state) unlink(parent *hal.NextHop) {
	for _, ch := range children(parent) {
		o := st.nhs[ch]
		o.refs--
		if o.parents[parent.ID]--; o.parents[parent.ID] == 0 {
			delete(o.parents, parent.ID)
		}
	}
	if idx := usesIFL(parent); idx != 0 {
		delete(st.ifls[idx].users, parent.ID)
	}
}

func (c *Core) setNHLocked(b *batch, nh *hal.NextHop) error {
	st := &c.st
	if nh.ID == 0 {
		return fmt.Errorf("nh id 0: %w", hal.ErrInvalid)
	}
	if err := st.validateNH(nh); err != nil {
		return fmt.Errorf("nh %d: %w", nh.ID, err)
	}
	o := st.nhs[nh.ID]
	if o != nil && o.nh.Type != nh.Type && o.refs > 0 {
		return fmt.Errorf("nh %d type change %s->%s while referenced: %w", nh.ID, o.nh.Type, nh.Type, hal.ErrInvalid)
	}
	n := *nh
	n.Members = slices.Clone(nh.Members)
	if o == nil {
		o = &nhObj{nh: n, slot: &nhSlot{}}
		st.nhs[n.ID] = o
		st.link(&o.nh)
		// Nothing references a new NH yet: its plan can be built now, so
		// that routes set later in this batch forward at once.
		o.slot.plan.Store(st.buildPlan(o))
		return nil
	}
	st.unlink(&o.nh)
	o.nh = n
	st.link(&o.nh)
	b.markDirty(n.ID)
	return nil
}

func (c *Core) delNHLocked(id hal.NHID) error {
	st := &c.st
	o := st.nhs[id]
	if o == nil {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if o.refs > 0 {
		return fmt.Errorf("nh %d still referenced %d times: %w", id, o.refs, hal.ErrInvalid)
	}
	st.unlink(&o.nh)
	delete(st.nhs, id)
	return nil
}

// normalizeKey validates a route key (table inet.1; an IPv4 (S,G) with a
// multicast group; or an IPv4 group prefix of at most 32 bits without
// source) and masks a prefix's group.
func normalizeKey(k hal.RouteKey) (hal.RouteKey, error) {
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

func (c *Core) setRouteLocked(b *batch, r *hal.Route) error {
	st := &c.st
	k, err := normalizeKey(r.Key)
	if err != nil {
		return err
	}
	nho := st.nhs[r.NH]
	if nho == nil {
		return fmt.Errorf("route %s: nh %d: %w", k, r.NH, hal.ErrNotFound)
	}
	var e *routeEntry
	var pk uint64
	if k.IsSG() {
		e = c.sg.find(sgKey(k.Source, k.Group))
	} else {
		pk = uint64(be32(k.Group))<<32 | uint64(k.PrefixLen)
		e = st.pfx[pk]
	}
	isNew := e == nil
	if isNew {
		e = &routeEntry{plen: k.PrefixLen}
		if k.IsSG() {
			e.key = sgKey(k.Source, k.Group)
		} else {
			e.key = uint64(be32(k.Group)) << 32
		}
	} else if old := hal.NHID(e.nh.Load()); old != r.NH {
		st.nhs[old].refs--
	}
	if isNew || hal.NHID(e.nh.Load()) != r.NH {
		nho.refs++
	}
	// The RPF IFL is stored before the plan so that a reader seeing the new
	// plan of a replaced route most likely sees its new RPF too; a packet
	// racing with the replace may use either version of either field.
	e.rpf.Store(uint32(r.RPF))
	e.flags.Store(uint32(r.Flags))
	e.nh.Store(uint32(r.NH))
	e.slot.Store(nho.slot)
	if isNew {
		if k.IsSG() {
			c.sg.insert(e)
		} else {
			st.pfx[pk] = e
		}
	}
	if !k.IsSG() {
		b.pfxChanged = true
	}
	return nil
}

func (c *Core) delRouteLocked(b *batch, key hal.RouteKey) error {
	st := &c.st
	k, err := normalizeKey(key)
	if err != nil {
		return err
	}
	var e *routeEntry
	if k.IsSG() {
		e = c.sg.remove(sgKey(k.Source, k.Group))
	} else {
		pk := uint64(be32(k.Group))<<32 | uint64(k.PrefixLen)
		if e = st.pfx[pk]; e != nil {
			delete(st.pfx, pk)
			b.pfxChanged = true
		}
	}
	if e == nil {
		return fmt.Errorf("route %s: %w", k, hal.ErrNotFound)
	}
	st.nhs[hal.NHID(e.nh.Load())].refs--
	return nil
}

// publishLocked makes a batch's IFL, next-hop and prefix changes visible to
// the packet path: one new IFL snapshot, one new plan per affected NH (the
// changed NHs and every NH above them), one new prefix list.
func (c *Core) publishLocked(b *batch) {
	st := &c.st
	if b.iflsChanged {
		m := &iflMap{m: make(map[hal.IFLIndex]*iflView, len(st.ifls))}
		for idx, o := range st.ifls {
			m.m[idx] = &iflView{ifl: o.ifl, ctr: o.ctr, operDown: o.operDown}
		}
		for _, o := range st.ifls {
			if o.ifl.Kind != hal.IFLAggregate {
				continue
			}
			for _, mem := range o.ifl.Members {
				if v := m.m[mem]; v != nil {
					v.parent = o.ifl.Index
				}
			}
		}
		c.ifls.Store(m)
	}
	if len(b.dirty) > 0 {
		// Close the dirty set upwards through parents.
		work := make([]hal.NHID, 0, len(b.dirty))
		for id := range b.dirty {
			work = append(work, id)
		}
		for len(work) > 0 {
			id := work[len(work)-1]
			work = work[:len(work)-1]
			o := st.nhs[id]
			if o == nil {
				continue
			}
			for p := range o.parents {
				if _, seen := b.dirty[p]; !seen {
					b.dirty[p] = struct{}{}
					work = append(work, p)
				}
			}
		}
		for id := range b.dirty {
			if o := st.nhs[id]; o != nil {
				o.slot.plan.Store(st.buildPlan(o))
			}
		}
	}
	if b.trapsChanged {
		c.traps.Store(st.traps)
	}
	if b.pfxChanged {
		l := make([]prefixRoute, 0, len(st.pfx))
		for _, e := range st.pfx {
			l = append(l, prefixRoute{group: uint32(e.key >> 32), mask: prefixMask(e.plen), e: e})
		}
		slices.SortFunc(l, func(a, b prefixRoute) int {
			if c := cmp.Compare(b.e.plen, a.e.plen); c != 0 {
				return c
			}
			return cmp.Compare(a.group, b.group)
		})
		c.pfx.Store(&l)
	}
}
