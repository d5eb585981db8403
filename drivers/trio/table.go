package trio

import "sync/atomic"

// lfTable is a single-writer, many-reader hash table whose readers never
// take a lock: open addressing with linear probing over a slice of atomic
// pointers. The writer (always holding Driver.mu) inserts, replaces and
// deletes; deletions leave a tombstone so probe chains stay intact. When live
// entries plus tombstones pass 3/4 of the slots, the writer builds a new slot
// array and publishes it with one atomic store; readers that loaded the old
// array keep a consistent (slightly stale) view, as with RCU.
//
// The packet path uses it for (S,G) routes and ingress IFLs; read-backs use
// it for next hops.
type lfTable[K comparable, V any] struct {
	hash func(K) uint64
	cur  atomic.Pointer[lfSlots[K, V]]
	tomb *lfNode[K, V]
	live int // writer only
	dead int // tombstones; writer only
}

type lfSlots[K comparable, V any] struct {
	mask  uint64
	slots []atomic.Pointer[lfNode[K, V]]
}

type lfNode[K comparable, V any] struct {
	key K
	val V
}

// lfMinSlots is the initial slot count: small tables (tests) stay small.
const lfMinSlots = 16

func newLFTable[K comparable, V any](hash func(K) uint64) *lfTable[K, V] {
	t := &lfTable[K, V]{hash: hash, tomb: new(lfNode[K, V])}
	t.cur.Store(&lfSlots[K, V]{mask: lfMinSlots - 1, slots: make([]atomic.Pointer[lfNode[K, V]], lfMinSlots)})
	return t
}

// load returns the value stored under k. Safe for concurrent readers.
func (t *lfTable[K, V]) load(k K) (V, bool) {
	s := t.cur.Load()
	for i := t.hash(k) & s.mask; ; i = (i + 1) & s.mask {
		n := s.slots[i].Load()
		if n == nil {
			var zero V
			return zero, false
		}
		if n != t.tomb && n.key == k {
			return n.val, true
		}
	}
}

// store inserts or replaces k. Writer only.
func (t *lfTable[K, V]) store(k K, v V) {
	s := t.cur.Load()
	if uint64(t.live+t.dead+1)*4 > (s.mask+1)*3 {
		s = t.rehash(t.live + 1)
	}
	free := -1
	for i := t.hash(k) & s.mask; ; i = (i + 1) & s.mask {
		n := s.slots[i].Load()
		if n == nil {
			if free < 0 {
				free = int(i)
			} else {
				t.dead--
			}
			s.slots[free].Store(&lfNode[K, V]{key: k, val: v})
			t.live++
			return
		}
		if n == t.tomb {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if n.key == k {
			s.slots[i].Store(&lfNode[K, V]{key: k, val: v})
			return
		}
	}
}

// delete removes k and reports whether it was present. Writer only.
func (t *lfTable[K, V]) delete(k K) bool {
	s := t.cur.Load()
	for i := t.hash(k) & s.mask; ; i = (i + 1) & s.mask {
		n := s.slots[i].Load()
		if n == nil {
			return false
		}
		if n != t.tomb && n.key == k {
			s.slots[i].Store(t.tomb)
			t.live--
			t.dead++
			return true
		}
	}
}

// len returns the number of live entries. Writer only.
func (t *lfTable[K, V]) len() int { return t.live }

// rangeAll calls fn for each entry of the current snapshot until it returns
// false. Safe for concurrent readers.
func (t *lfTable[K, V]) rangeAll(fn func(K, V) bool) {
	s := t.cur.Load()
	for i := range s.slots {
		n := s.slots[i].Load()
		if n == nil || n == t.tomb {
			continue
		}
		if !fn(n.key, n.val) {
			return
		}
	}
}

// rehash publishes a new slot array sized for at least want live entries at
// a load factor of at most 1/2, dropping tombstones.
func (t *lfTable[K, V]) rehash(want int) *lfSlots[K, V] {
	size := uint64(lfMinSlots)
	for size < uint64(want)*2 {
		size *= 2
	}
	old := t.cur.Load()
	ns := &lfSlots[K, V]{mask: size - 1, slots: make([]atomic.Pointer[lfNode[K, V]], size)}
	for i := range old.slots {
		n := old.slots[i].Load()
		if n == nil || n == t.tomb {
			continue
		}
		for j := t.hash(n.key) & ns.mask; ; j = (j + 1) & ns.mask {
			if ns.slots[j].Load() == nil {
				ns.slots[j].Store(n)
				break
			}
		}
	}
	t.dead = 0
	t.cur.Store(ns)
	return ns
}

// mix64 is the murmur3 64-bit finaliser: a cheap, well-spread hash of an
// integer key.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
