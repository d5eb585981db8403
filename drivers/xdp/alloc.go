package xdp

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Index allocation with a grace period.
//
// Counter slots (IFLs, routes) and OIL variants are indices into BPF array
// maps. A program that looked an index up just before user space released
// it may still be using it (counting a packet into a route slot, reading a
// variant's legs); handing the index to a new owner at once would mix the
// two. A released index therefore waits in quarantine until an RCU grace
// period has passed: every BPF program run holds the RCU read lock, so
// after synchronize_rcu none that saw the old owner is still running.
// User space gets one from membarrier(MEMBARRIER_CMD_GLOBAL), which waits
// for synchronize_rcu(); it costs milliseconds, so it is called only when
// an allocation finds nothing free, and anything quarantined for more than
// quarantineMax is free without it.

// quarantineMax frees a released index without an explicit grace period:
// no program run lasts a second (they are bounded and run with bottom
// halves or preemption off).
const quarantineMax = time.Second

// membarrierCmdGlobal is MEMBARRIER_CMD_GLOBAL of <linux/membarrier.h>
// (x/sys/unix does not define it): the kernel runs synchronize_rcu().
const membarrierCmdGlobal = 1 << 0

// grace counts grace periods waited for.
type grace struct {
	epoch uint64
	err   error // membarrier unavailable: only time frees quarantined indices
}

// wait blocks until an RCU grace period has passed and advances the epoch.
func (g *grace) wait() bool {
	if g.err != nil {
		return false
	}
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); e != 0 {
		g.err = e
		return false
	}
	g.epoch++
	return true
}

// errExhausted is wrapped with hal.ErrTableFull by callers.
var errExhausted = errors.New("no free index")

type quarantined struct {
	start, n uint32
	epoch    uint64
	at       time.Time
}

// indexAlloc hands out runs of consecutive indices in [0, size).
// Not safe for concurrent use (the driver's apply lock guards it).
type indexAlloc struct {
	used  []bool
	inUse int // including quarantined
	quar  []quarantined
	g     *grace
	now   func() time.Time
}

func newIndexAlloc(size int, g *grace) *indexAlloc {
	return &indexAlloc{used: make([]bool, size), g: g, now: time.Now}
}

// alloc returns the first of n free consecutive indices.
func (a *indexAlloc) alloc(n int) (uint32, error) {
	if n <= 0 || n > len(a.used) {
		return 0, errExhausted
	}
	if i, ok := a.find(n); ok {
		return i, nil
	}
	if a.reclaim(false) {
		if i, ok := a.find(n); ok {
			return i, nil
		}
	}
	if len(a.quar) > 0 && a.g.wait() && a.reclaim(false) {
		if i, ok := a.find(n); ok {
			return i, nil
		}
	}
	return 0, errExhausted
}

func (a *indexAlloc) find(n int) (uint32, bool) {
	size := len(a.used)
	if size-a.inUse < n {
		return 0, false
	}
	// First fit from 0: reused indices stay few and dense (an OIL
	// variant's devmap is made once per index).
	run := 0
	for i := 0; i < size; i++ {
		if a.used[i] {
			run = 0
			continue
		}
		run++
		if run == n {
			first := i - n + 1
			for j := first; j <= i; j++ {
				a.used[j] = true
			}
			a.inUse += n
			return uint32(first), true
		}
	}
	return 0, false
}

// release puts n indices from start into quarantine.
func (a *indexAlloc) release(start uint32, n int) {
	a.quar = append(a.quar, quarantined{start: start, n: uint32(n), epoch: a.g.epoch, at: a.now()})
}

// reclaim frees the quarantined runs that a grace period or quarantineMax
// has passed for (all of them with force, for Close-time accounting). It
// reports whether it freed any.
func (a *indexAlloc) reclaim(force bool) bool {
	now := a.now()
	k := 0
	freed := false
	for _, q := range a.quar {
		if force || q.epoch < a.g.epoch || now.Sub(q.at) >= quarantineMax {
			for j := q.start; j < q.start+q.n; j++ {
				a.used[j] = false
			}
			a.inUse -= int(q.n)
			freed = true
			continue
		}
		a.quar[k] = q
		k++
	}
	a.quar = a.quar[:k]
	return freed
}

// quarantinedCount returns how many indices wait for a grace period.
func (a *indexAlloc) quarantinedCount() int {
	n := 0
	for _, q := range a.quar {
		n += int(q.n)
	}
	return n
}

// size returns the capacity.
func (a *indexAlloc) size() int { return len(a.used) }

// active returns how many indices are allocated and not quarantined.
func (a *indexAlloc) active() int { return a.inUse - a.quarantinedCount() }
