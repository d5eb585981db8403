package msdp

import (
	"net/netip"
)

// saKey is an (S,G): group in the high 32 bits, source in the low.
type saKey uint64

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func mkKey(group, source netip.Addr) saKey { return saKey(u32(group))<<32 | saKey(u32(source)) }

func (k saKey) group() uint32  { return uint32(k >> 32) }
func (k saKey) source() uint32 { return uint32(k) }

// Entry flags.
const (
	flagLive     uint8 = 1 << iota // slot in use
	flagRejected                   // refused by the import policy: kept, not used
	flagJoined                     // PIM was told to join (JoinSource)
)

// saEntry is one learnt SA, 64 bytes. Entries live in a slab and link
// into two intrusive lists by index: the expiry list (ordered by last
// refresh: every entry has the same hold time, so refreshing moves an
// entry to the tail and expiry pops from the head, both O(1)) and the
// list of their group (for a new (*,G) and `show … group G`).
type saEntry struct {
	key        saKey
	rp         uint32
	peer       int32
	next, prev int32 // expiry list
	gnext      int32 // group list
	gprev      int32
	refreshed  int64 // ns since the engine's epoch
	created    int64
	forwarded  int64 // last flood of this (S,G)
	flags      uint8
}

// chunkBits sizes the slab's chunks: 16,384 entries (1 MiB). The slab
// grows a chunk at a time, so an insert never copies the whole cache (a
// doubling append of a million entries stalled the owner for tens of
// milliseconds).
const (
	chunkBits = 14
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

// saCache is the SA cache, table inet.4 of the modelled platform. The
// slab and indexes hold about 150 bytes per entry (benchmarked with one
// million entries, see BenchmarkCacheMemory).
type saCache struct {
	chunks     [][]saEntry
	slots      int32 // slab slots in use or freed (the high-water mark)
	free       int32 // head of the free list (through next), -1 if none
	index      map[saKey]int32
	groups     map[uint32]int32 // group → first entry of its list
	head, tail int32            // expiry list, oldest first
	n          int
}

func newSACache() saCache {
	return saCache{free: -1, head: -1, tail: -1, index: map[saKey]int32{}, groups: map[uint32]int32{}}
}

// at is slot i of the slab.
func (c *saCache) at(i int32) *saEntry { return &c.chunks[i>>chunkBits][i&chunkMask] }

func (c *saCache) find(k saKey) int32 {
	if i, ok := c.index[k]; ok {
		return i
	}
	return -1
}

func (c *saCache) insert(k saKey, rp uint32, peer int32, now int64, flags uint8) int32 {
	var i int32
	if c.free >= 0 {
		i = c.free
		c.free = c.at(i).next
	} else {
		if int(c.slots) == len(c.chunks)*chunkLen {
			c.chunks = append(c.chunks, make([]saEntry, chunkLen))
		}
		i = c.slots
		c.slots++
	}
	*c.at(i) = saEntry{key: k, rp: rp, peer: peer, refreshed: now, created: now, flags: flagLive | flags, prev: c.tail, next: -1, gprev: -1}
	if c.tail >= 0 {
		c.at(c.tail).next = i
	} else {
		c.head = i
	}
	c.tail = i
	g := k.group()
	if h, ok := c.groups[g]; ok {
		c.at(i).gnext = h
		c.at(h).gprev = i
	} else {
		c.at(i).gnext = -1
	}
	c.groups[g] = i
	c.index[k] = i
	c.n++
	return i
}

// touch refreshes entry i: moves it to the tail of the expiry list.
func (c *saCache) touch(i int32, now int64) {
	e := c.at(i)
	e.refreshed = now
	if c.tail == i {
		return
	}
	c.unlinkExpiry(i)
	e.prev, e.next = c.tail, -1
	c.at(c.tail).next = i
	c.tail = i
}

func (c *saCache) unlinkExpiry(i int32) {
	e := c.at(i)
	if e.prev >= 0 {
		c.at(e.prev).next = e.next
	} else {
		c.head = e.next
	}
	if e.next >= 0 {
		c.at(e.next).prev = e.prev
	} else {
		c.tail = e.prev
	}
}

func (c *saCache) remove(i int32) {
	e := c.at(i)
	c.unlinkExpiry(i)
	g := e.key.group()
	if e.gprev >= 0 {
		c.at(e.gprev).gnext = e.gnext
	} else if e.gnext >= 0 {
		c.groups[g] = e.gnext
	} else {
		delete(c.groups, g)
	}
	if e.gnext >= 0 {
		c.at(e.gnext).gprev = e.gprev
	}
	delete(c.index, e.key)
	*e = saEntry{next: c.free}
	c.free = i
	c.n--
}

// group calls fn for every entry of group g; fn may not add or remove.
func (c *saCache) group(g uint32, fn func(i int32)) {
	h, ok := c.groups[g]
	if !ok {
		return
	}
	for i := h; i >= 0; i = c.at(i).gnext {
		fn(i)
	}
}

// groupIndexes returns the entries of group g.
func (c *saCache) groupIndexes(g uint32) []int32 {
	var out []int32
	c.group(g, func(i int32) { out = append(out, i) })
	return out
}

// reset empties the cache and gives its memory back.
func (c *saCache) reset() { *c = newSACache() }
