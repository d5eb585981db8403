package kernel

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/mxfwd/mxfwd/hal"
)

// SetTraps replaces the host-path traps the line cards are programmed
// with (a full list, not a delta): traps that are new or changed are set,
// missing ones deleted, in id order, and downloaded like every other
// object. An invalid or duplicate trap changes nothing.
func (k *Kernel) SetTraps(traps []hal.Trap) error {
	want := make(map[hal.TrapID]hal.Trap, len(traps))
	for _, t := range traps {
		if err := t.Validate(); err != nil {
			return err
		}
		if _, dup := want[t.ID]; dup {
			return fmt.Errorf("trap %d twice: %w", t.ID, hal.ErrExists)
		}
		want[t.ID] = t
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	changed := false
	for _, id := range sortedTrapIDs(k.traps) {
		if _, ok := want[id]; !ok {
			k.emit(hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: id}})
			delete(k.traps, id)
			changed = true
		}
	}
	for _, id := range sortedTrapIDs(want) {
		t := want[id]
		if old, ok := k.traps[id]; ok && old == t {
			continue
		}
		k.traps[id] = t
		k.emit(hal.Op{Kind: hal.OpSetTrap, Trap: t})
		changed = true
	}
	if changed {
		k.track.traps = true
	}
	k.flushLocked()
	return nil
}

// Traps returns the programmed traps in id order.
func (k *Kernel) Traps() []hal.Trap {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.trapListLocked()
}

func (k *Kernel) trapListLocked() []hal.Trap {
	if len(k.traps) == 0 {
		return nil
	}
	out := make([]hal.Trap, 0, len(k.traps))
	for _, id := range sortedTrapIDs(k.traps) {
		out = append(out, k.traps[id])
	}
	return out
}

func sortedTrapIDs(m map[hal.TrapID]hal.Trap) []hal.TrapID {
	ids := make([]hal.TrapID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmp.Compare)
	return ids
}
