package xdp

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/mxfwd/mxfwd/hal"
)

// Route entry next hops and their OILs.
//
// A route points at an entry NH (normally an Indirect, as in Junos: the
// level that changes when the OIL changes while the routes stay put). For
// every entry NH some route uses, the driver keeps one nhs map element and,
// for a forwarding NH, its OIL: one variant per sublist (hal/flow.go), each
// an oils array element (the legs, for tc, and the IFLs charged PortDown)
// and a devmap in oil_devs (for XDP's broadcast redirect). The variants of
// an entry are consecutive indices, so the packet path finds a flow's as
// oil + FlowHash % sublists.
//
// Make before break: when anything below an entry changes, the new
// variants are written to fresh indices first, then the nhs element is
// replaced (one hash map update: a packet sees the old entry or the new
// one, never a mix), and only then are the old variants released, into
// quarantine (alloc.go).

// depKey names an object an entry was built from.
type depKey struct {
	nh bool
	id uint32
}

// legSpec is one copy of a variant.
type legSpec struct {
	ifl     hal.IFLIndex
	ifindex uint32
	slot    uint32
	mac     [6]byte
}

// variantSpec is one sublist's copies and down IFL slots.
type variantSpec struct {
	legs []legSpec
	down []uint32
}

// entrySpec is what an entry NH does, flattened.
type entrySpec struct {
	kind     uint32
	nh       hal.NHID // the NH that decided kind
	variants []variantSpec
	// encap: the OIL reaches the encapsulation IFL (pe-), Up: the packet
	// is punted once with hal.TrapEncap and counted on encapSlot.
	encap     bool
	encapSlot uint32
}

func (a *entrySpec) equal(b *entrySpec) bool {
	return a.kind == b.kind && a.nh == b.nh && a.encap == b.encap && a.encapSlot == b.encapSlot &&
		slices.EqualFunc(a.variants, b.variants, func(x, y variantSpec) bool {
			return slices.Equal(x.legs, y.legs) && slices.Equal(x.down, y.down)
		})
}

// entry is an installed entry NH.
type entry struct {
	id   hal.NHID
	refs int // routes pointing at it
	spec entrySpec
	oil  uint32 // first variant (forwarding entries with variants)
	deps []depKey
}

// planLeg is one composite member: its Up ports (a unicast NH: one; an
// aggregate: its Up physical members in member order) or, with none, the
// IFL that is charged PortDown; or the encapsulation IFL, Up (encap).
type planLeg struct {
	ports []hal.IFL
	down  hal.IFLIndex
	encap hal.IFLIndex
}

// errTooManyLegs rejects OILs larger than the data path's fixed arrays.
var errTooManyLegs = errors.New("more copies than the xdp data path replicates (64)")

// plan walks NH id's chain the way swpfe.buildPlan does, recording what
// it read in deps.
func (d *Driver) plan(id hal.NHID, deps *[]depKey) (kind uint32, decided hal.NHID, legs []planLeg, err error) {
	for hops := 0; ; hops++ {
		if hops > 8 {
			return 0, 0, nil, fmt.Errorf("nh %d: indirection too deep: %w", id, hal.ErrInvalid)
		}
		*deps = append(*deps, depKey{nh: true, id: uint32(id)})
		nh, err := d.core.NextHop(id)
		if err != nil {
			return 0, 0, nil, err
		}
		switch nh.Type {
		case hal.NHResolve:
			return nhResolve, nh.ID, nil, nil
		case hal.NHMDiscard, hal.NHDiscard:
			return nhDiscard, nh.ID, nil, nil
		case hal.NHIndirect:
			id = nh.Target
			continue
		case hal.NHUnicast, hal.NHAggregate:
			l, err := d.planLeg(nh, deps)
			return nhForward, nh.ID, []planLeg{l}, err
		case hal.NHComposite:
			for _, m := range nh.Members {
				*deps = append(*deps, depKey{nh: true, id: uint32(m)})
				mnh, err := d.core.NextHop(m)
				if err != nil {
					return 0, 0, nil, err
				}
				l, err := d.planLeg(mnh, deps)
				if err != nil {
					return 0, 0, nil, err
				}
				legs = append(legs, l)
			}
			return nhForward, nh.ID, legs, nil
		}
		return nhDiscard, nh.ID, nil, nil
	}
}

func (d *Driver) planLeg(nh hal.NextHop, deps *[]depKey) (planLeg, error) {
	*deps = append(*deps, depKey{id: uint32(nh.IFL)})
	if nh.Type == hal.NHUnicast {
		ifl, err := d.core.IFL(nh.IFL)
		if err != nil {
			return planLeg{}, err
		}
		switch {
		case !ifl.Up:
			return planLeg{down: ifl.Index}, nil
		case ifl.Kind == hal.IFLEncap:
			return planLeg{encap: ifl.Index}, nil
		}
		return planLeg{ports: []hal.IFL{ifl}}, nil
	}
	var l planLeg
	for _, m := range nh.Members {
		*deps = append(*deps, depKey{nh: true, id: uint32(m)})
		u, err := d.core.NextHop(m)
		if err != nil {
			return l, err
		}
		*deps = append(*deps, depKey{id: uint32(u.IFL)})
		ifl, err := d.core.IFL(u.IFL)
		if err != nil {
			return l, err
		}
		if ifl.Up && ifl.Kind == hal.IFLPhysical {
			l.ports = append(l.ports, ifl)
		}
	}
	if len(l.ports) == 0 {
		l.down = nh.IFL
	}
	return l, nil
}

// buildEntry flattens entry NH id into its variants.
func (d *Driver) buildEntry(id hal.NHID) (entrySpec, []depKey, error) {
	var deps []depKey
	kind, decided, legs, err := d.plan(id, &deps)
	if err != nil {
		return entrySpec{}, nil, err
	}
	spec := entrySpec{kind: kind, nh: decided}
	if kind != nhForward {
		return spec, deps, nil
	}
	// Entries on the encapsulation IFL are not copies: one punt.
	legs = slices.DeleteFunc(legs, func(l planLeg) bool {
		if l.encap != 0 {
			spec.encap, spec.encapSlot = true, d.iflSlot(l.encap)
		}
		return l.encap != 0
	})
	if len(legs) > maxLegs {
		return spec, nil, fmt.Errorf("nh %d: %d legs: %w (%w)", id, len(legs), errTooManyLegs, hal.ErrInvalid)
	}
	up := make([]int, len(legs))
	for i := range legs {
		up[i] = len(legs[i].ports)
	}
	sublists := hal.SublistCount(up)
	for j := 0; j < sublists; j++ {
		var v variantSpec
		for _, l := range legs {
			if len(l.ports) == 0 {
				v.down = append(v.down, d.iflSlot(l.down))
				continue
			}
			ifl := l.ports[hal.MemberIndex(j, len(l.ports))]
			p := d.boundPort(ifl.Index)
			if p == nil {
				// Up, but no port of this card: another FPC's interface.
				v.down = append(v.down, d.iflSlot(ifl.Index))
				continue
			}
			ls := legSpec{ifl: ifl.Index, ifindex: uint32(p.ifindex), slot: d.iflSlot(ifl.Index)}
			copy(ls.mac[:], p.mac)
			if len(ifl.MAC) == 6 {
				copy(ls.mac[:], ifl.MAC)
			}
			v.legs = append(v.legs, ls)
		}
		spec.variants = append(spec.variants, v)
	}
	return spec, deps, nil
}

// writeVariants writes spec's variants to fresh indices and returns the
// first.
func (d *Driver) writeVariants(spec *entrySpec) (uint32, error) {
	n := len(spec.variants)
	if n == 0 {
		return 0, nil
	}
	base, err := d.oilAlloc.alloc(n)
	if err != nil {
		return 0, fmt.Errorf("%d OIL variants (option oils=%d): %w", n, d.oilAlloc.size(), hal.ErrTableFull)
	}
	for j, v := range spec.variants {
		id := base + uint32(j)
		var ov oilVal
		ov.N = uint32(len(v.legs))
		ov.NDown = uint32(len(v.down))
		copy(ov.Down[:], v.down)
		for i, l := range v.legs {
			ov.Legs[i] = legVal{Ifindex: l.ifindex, Slot: l.slot, MAC: l.mac}
		}
		if err := d.ob.oils.Put(id, &ov); err != nil {
			d.oilAlloc.release(base, n)
			return 0, fmt.Errorf("write OIL variant %d: %w", id, err)
		}
	}
	if d.xdpPorts > 0 {
		if err := d.writeDevmaps(base, spec.variants); err != nil {
			d.oilAlloc.release(base, n)
			return 0, err
		}
	}
	return base, nil
}

// writeDevmaps fills the devmaps of variants base.. (key: leg number, so
// that two legs on one port make two copies; value: the port and the
// egress program). Only XDP-mode ports use them.
//
// An index keeps its devmap for the driver's life and is refilled in place
// when reused: the index has been through quarantine, so no program still
// broadcasts through it. Putting a map into oil_devs (array of maps) waits
// for an RCU grace period in the kernel (maybe_wait_bpf_programs, ~12 ms
// here), so the devmaps of indices used for the first time are inserted
// with one batch update per call, and reuse costs no grace period.
func (d *Driver) writeDevmaps(base uint32, variants []variantSpec) error {
	var keys, fds []uint32
	var created []*ebpf.Map
	defer func() {
		for _, m := range created {
			m.Close() // oil_devs holds its own reference
		}
	}()
	for j, v := range variants {
		id := base + uint32(j)
		var m *ebpf.Map
		var err error
		if d.devLen[id] < 0 {
			m, err = ebpf.NewMap(d.ob.innerDevmap)
			if err != nil {
				return fmt.Errorf("create devmap of OIL variant %d: %w", id, err)
			}
			created = append(created, m)
			keys, fds = append(keys, id), append(fds, uint32(m.FD()))
		} else {
			var inner uint32
			if err := d.ob.oilDevs.Lookup(id, &inner); err != nil {
				return fmt.Errorf("devmap of OIL variant %d: %w", id, err)
			}
			if m, err = ebpf.NewMapFromID(ebpf.MapID(inner)); err != nil {
				return fmt.Errorf("devmap of OIL variant %d: %w", id, err)
			}
			defer m.Close()
		}
		for i, l := range v.legs {
			dv := devmapVal{Ifindex: l.ifindex, ProgFD: int32(d.ob.xdpEgress.FD())}
			if err := m.Put(uint32(i), &dv); err != nil {
				return fmt.Errorf("devmap of OIL variant %d, ifindex %d: %w", id, l.ifindex, err)
			}
		}
		for i := len(v.legs); i < max(0, d.devLen[id]); i++ {
			if err := m.Delete(uint32(i)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("devmap of OIL variant %d, leg %d: %w", id, i, err)
			}
		}
		d.devLen[id] = len(v.legs)
	}
	if len(keys) > 0 {
		if _, err := d.ob.oilDevs.BatchUpdate(keys, fds, nil); err != nil {
			for _, k := range keys {
				d.devLen[k] = -1
			}
			return fmt.Errorf("oil_devs: insert %d devmaps: %w", len(keys), err)
		}
	}
	return nil
}

func (e *entry) nhVal() nhVal {
	v := nhVal{Kind: e.spec.kind, NH: uint32(e.spec.nh)}
	if e.spec.kind == nhForward {
		v.OIL, v.Sublists = e.oil, uint32(len(e.spec.variants))
		if e.spec.encap {
			v.Flags, v.EncapSlot = nhFlagEncap, e.spec.encapSlot
		}
	}
	return v
}

// acquireEntry returns entry NH id with one more route reference,
// installing it first if no route used it.
func (d *Driver) acquireEntry(id hal.NHID) (*entry, error) {
	if e := d.entries[id]; e != nil {
		e.refs++
		return e, nil
	}
	spec, deps, err := d.buildEntry(id)
	if err != nil {
		return nil, err
	}
	e := &entry{id: id, refs: 1, spec: spec, deps: deps}
	if e.oil, err = d.writeVariants(&spec); err != nil {
		return nil, err
	}
	v := e.nhVal()
	if err := d.ob.nhs.Put(uint32(id), &v); err != nil {
		d.oilAlloc.release(e.oil, len(spec.variants))
		if isNoSpace(err) {
			return nil, fmt.Errorf("nh %d (option nhs=%d): %w", id, d.opts.NHs, hal.ErrTableFull)
		}
		return nil, fmt.Errorf("write nh %d: %w", id, err)
	}
	d.entries[id] = e
	d.addDeps(e)
	return e, nil
}

// releaseEntry drops a route reference; the last one removes the entry
// (nhs element first, variants after).
func (d *Driver) releaseEntry(id hal.NHID) {
	e := d.entries[id]
	if e == nil {
		return
	}
	e.refs--
	if e.refs > 0 {
		return
	}
	if err := d.ob.nhs.Delete(uint32(id)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		d.log.Warn("xdp: delete nh", "nh", id, "err", err)
	}
	if n := len(e.spec.variants); n > 0 && e.spec.kind == nhForward {
		d.oilAlloc.release(e.oil, n)
	}
	d.delDeps(e)
	delete(d.entries, id)
}

// refreshEntry rebuilds entry id and, if anything changed, switches it to
// new variants: make before break.
func (d *Driver) refreshEntry(e *entry) error {
	spec, deps, err := d.buildEntry(e.id)
	if err != nil {
		return err
	}
	d.delDeps(e)
	e.deps = deps
	d.addDeps(e)
	if spec.equal(&e.spec) {
		return nil
	}
	oldOIL, oldN, oldFwd := e.oil, len(e.spec.variants), e.spec.kind == nhForward
	oil, err := d.writeVariants(&spec)
	if err != nil {
		return err
	}
	e.spec, e.oil = spec, oil
	v := e.nhVal()
	if err := d.ob.nhs.Put(uint32(e.id), &v); err != nil {
		return fmt.Errorf("switch nh %d: %w", e.id, err)
	}
	if oldFwd && oldN > 0 {
		d.oilAlloc.release(oldOIL, oldN)
	}
	d.stats.oilSwitches.Add(1)
	return nil
}

func (d *Driver) addDeps(e *entry) {
	for _, k := range e.deps {
		m := d.rdeps[k]
		if m == nil {
			m = map[hal.NHID]struct{}{}
			d.rdeps[k] = m
		}
		m[e.id] = struct{}{}
	}
}

func (d *Driver) delDeps(e *entry) {
	for _, k := range e.deps {
		if m := d.rdeps[k]; m != nil {
			delete(m, e.id)
			if len(m) == 0 {
				delete(d.rdeps, k)
			}
		}
	}
}

// refreshDependents rebuilds every entry built from one of keys.
func (d *Driver) refreshDependents(keys ...depKey) error {
	seen := map[hal.NHID]bool{}
	var ids []hal.NHID
	for _, k := range keys {
		for id := range d.rdeps[k] {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	var errs []error
	for _, id := range ids {
		if e := d.entries[id]; e != nil {
			if err := d.refreshEntry(e); err != nil {
				errs = append(errs, fmt.Errorf("entry nh %d: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}
