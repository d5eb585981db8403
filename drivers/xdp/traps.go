package xdp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/mxfwd/mxfwd/hal"
)

// Host-path traps in the data path.
//
// The programs classify every frame before the route lookup exactly as
// hal.TrapTable does (fwd.c's match_traps), from maps that hold only the
// winners the table's precedence picks:
//
//   - trap_addrs: (address, ARP or local) -> the lowest trap id of that
//     kind for the address; one hash update per key, so a packet sees the
//     old id or the new one.
//   - trap_cfgs: two slots of the protocol traps (one id per IP protocol)
//     and the group traps in id order (the first that holds the destination
//     wins, which is the lowest id among the prefixes that do), and
//     trap_sel, the slot in use. A change is written to the other slot and
//     then trap_sel switches (a 4-byte store): a packet reads one whole
//     configuration. Before a slot is rewritten, every program that may
//     still read it from before the previous switch has finished: an RCU
//     grace period (alloc.go) has passed since then.
//
// Additions to trap_addrs are written before the switch, deletions after,
// so that the configuration a packet reads never lacks an address it
// promises (flags say whether local traps exist at all, so that multicast
// data, the fast path, skips the hash lookup unless a local trap is for a
// group address).
//
// Apply validates each trap operation against the maps' capacity
// (maxGroupTraps group traps, option trap-addrs addresses: hal.ErrTableFull,
// the programming state unchanged) and writes the maps once at the end of
// the batch (flushTraps).

// trapMaps is what the trap maps hold (or are to hold).
type trapMaps struct {
	cfg   trapCfg
	addrs map[trapAddrKey]uint32
}

// buildTrapMaps turns traps into map contents with hal.TrapTable's
// precedence: the lowest id per protocol and per (address, kind), the group
// traps sorted by id. Too many group traps or addresses is
// hal.ErrTableFull.
func buildTrapMaps(traps []hal.Trap, maxAddrs int) (trapMaps, error) {
	traps = slices.Clone(traps)
	slices.SortFunc(traps, func(a, b hal.Trap) int { return int(a.ID) - int(b.ID) })
	m := trapMaps{addrs: map[trapAddrKey]uint32{}}
	for _, t := range traps {
		switch t.Kind {
		case hal.TrapProtocol:
			if m.cfg.Proto[t.Proto] == 0 {
				m.cfg.Proto[t.Proto] = uint16(t.ID)
			}
		case hal.TrapARP, hal.TrapLocal:
			k := trapAddrKey{Addr: t.Addr.As4(), Kind: trapAddrARP}
			if t.Kind == hal.TrapLocal {
				k.Kind = trapAddrLocal
				if t.Addr.IsMulticast() {
					m.cfg.Flags |= trapFlagLocalMcast
				} else {
					m.cfg.Flags |= trapFlagLocal
				}
			}
			if _, ok := m.addrs[k]; !ok {
				m.addrs[k] = uint32(t.ID)
			}
		case hal.TrapGroup:
			if m.cfg.NGroups == maxGroupTraps {
				return m, fmt.Errorf("trap %d: more than %d group traps: %w", t.ID, maxGroupTraps, hal.ErrTableFull)
			}
			p := t.Prefix.Masked()
			var mask [4]byte
			for i := range p.Bits() {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			m.cfg.Groups[m.cfg.NGroups] = trapGroup{Addr: p.Addr().As4(), Mask: mask, ID: uint32(t.ID)}
			m.cfg.NGroups++
		}
	}
	if len(m.addrs) > maxAddrs {
		return m, fmt.Errorf("%d trapped addresses (option trap-addrs=%d): %w", len(m.addrs), maxAddrs, hal.ErrTableFull)
	}
	return m, nil
}

// trapWriter is the driver's view of the trap maps. Under Driver.mu.
type trapWriter struct {
	have     trapMaps // what the maps hold (cfg: the slot sel names)
	sel      uint32   // trap_sel
	switched time.Time
	epoch    uint64 // grace epoch at the last switch
	dirty    bool   // Apply changed the traps; flushTraps writes them
	switches uint64 // configurations switched (show xdp summary)
}

// applyTrap applies a trap operation to the programming state, checking
// that the maps can take the result; the maps are written by flushTraps.
func (d *Driver) applyTrap(ctx context.Context, op *hal.Op) error {
	var prev hal.Trap
	existed := false
	for _, t := range d.core.Traps() {
		if t.ID == op.Trap.ID {
			prev, existed = t, true
		}
	}
	if err := d.coreApply(ctx, *op); err != nil {
		return err
	}
	if _, err := buildTrapMaps(d.core.Traps(), d.opts.TrapAddrs); err != nil {
		undo := hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: op.Trap.ID}}
		if existed {
			undo = hal.Op{Kind: hal.OpSetTrap, Trap: prev}
		}
		if uerr := d.coreApply(ctx, undo); uerr != nil {
			d.log.Error("xdp: cannot undo a trap the maps could not take", "trap", op.Trap.ID, "err", uerr)
		}
		return err
	}
	d.traps.dirty = true
	return nil
}

// flushTraps writes the programmed traps into the maps if Apply changed
// them: additions to trap_addrs, the other trap_cfgs slot, the switch,
// then deletions.
func (d *Driver) flushTraps() error {
	tw := &d.traps
	if !tw.dirty {
		return nil
	}
	tw.dirty = false
	want, err := buildTrapMaps(d.core.Traps(), d.opts.TrapAddrs)
	if err != nil {
		return err // applyTrap checked every op; not reached
	}
	var errs []error
	for k, id := range want.addrs {
		if old, ok := tw.have.addrs[k]; ok && old == id {
			continue
		}
		if err := d.ob.trapAddrs.Put(&k, id); err != nil {
			errs = append(errs, fmt.Errorf("trap_addrs %v: %w", k.Addr, err))
			continue
		}
		tw.have.addrs[k] = id
	}
	if want.cfg != tw.have.cfg {
		next := tw.sel ^ 1
		d.waitTrapGrace()
		if err := d.ob.trapCfgs.Put(next, &want.cfg); err != nil {
			errs = append(errs, fmt.Errorf("trap_cfgs slot %d: %w", next, err))
		} else if err := d.ob.trapSel.Put(uint32(0), next); err != nil {
			errs = append(errs, fmt.Errorf("trap_sel: %w", err))
		} else {
			tw.sel, tw.have.cfg = next, want.cfg
			tw.switched, tw.epoch = time.Now(), d.g.epoch
			tw.switches++
		}
	}
	for k := range maps.Clone(tw.have.addrs) {
		if _, ok := want.addrs[k]; ok {
			continue
		}
		if err := d.ob.trapAddrs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("trap_addrs %v: %w", k.Addr, err))
			continue
		}
		delete(tw.have.addrs, k)
	}
	if len(errs) > 0 {
		tw.dirty = true // try again with the next batch
		return fmt.Errorf("xdp: write traps: %w", errors.Join(errs...))
	}
	return nil
}

// waitTrapGrace returns once no program can still be reading the slot
// that was in use before the last switch: a grace period has passed since
// (counted by the epoch, or waited for here), or quarantineMax.
func (d *Driver) waitTrapGrace() {
	tw := &d.traps
	if tw.switched.IsZero() || d.g.epoch > tw.epoch {
		return
	}
	since := time.Since(tw.switched)
	if since >= quarantineMax || d.g.wait() {
		return
	}
	time.Sleep(quarantineMax - since) // membarrier unavailable
}
