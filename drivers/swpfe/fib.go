package swpfe

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// routeEntry is one installed route. The key is immutable; the other fields
// are updated in place by Apply with atomic stores so that route counters
// survive a replace and readers never lock. The layout is 56 bytes, which
// the allocator rounds to its 64-byte size class.
type routeEntry struct {
	key   uint64                 // (S,G): G<<32|S; prefix: G<<32
	slot  atomic.Pointer[nhSlot] // entry NH's egress plan holder
	nh    atomic.Uint32          // hal.NHID, for read-back
	rpf   atomic.Uint32          // hal.IFLIndex; 0: no RPF check
	flags atomic.Uint32          // hal.RouteFlags
	plen  uint8                  // 64 for (S,G)
	pkts  atomic.Uint64
	bytes atomic.Uint64
	last  atomic.Int64 // UnixNano of the last hit; 0: never
}

func (e *routeEntry) routeKey() hal.RouteKey {
	g := netip.AddrFrom4(u32bytes(uint32(e.key >> 32)))
	if e.plen == 64 {
		return hal.SG(netip.AddrFrom4(u32bytes(uint32(e.key))), g)
	}
	return hal.RouteKey{Table: hal.TableInet1, Group: g, PrefixLen: e.plen}
}

func (e *routeEntry) route() hal.Route {
	return hal.Route{
		Key:   e.routeKey(),
		NH:    hal.NHID(e.nh.Load()),
		RPF:   hal.IFLIndex(e.rpf.Load()),
		Flags: hal.RouteFlags(e.flags.Load()),
	}
}

func (e *routeEntry) stat() hal.RouteStat {
	st := hal.RouteStat{Key: e.routeKey(), Counters: hal.Counters{Packets: e.pkts.Load(), Bytes: e.bytes.Load()}}
	if n := e.last.Load(); n != 0 {
		st.LastUsed = time.Unix(0, n)
	}
	return st
}

func u32bytes(v uint32) [4]byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func sgKey(source, group netip.Addr) uint64 {
	return uint64(be32(group))<<32 | uint64(be32(source))
}

// sgTable is an open-addressing hash table with linear probing. Slots are
// atomic pointers: the single writer (Apply) stores entries and tombstones,
// readers probe without locks. A table is never resized in place; growth
// builds a new table and publishes it through sgFIB.tab.
type sgTable struct {
	slots []atomic.Pointer[routeEntry]
	mask  uint64
	seed  uint64
}

// sgFIB is the (S,G) route table. live and used are writer-only.
type sgFIB struct {
	tab  atomic.Pointer[sgTable]
	tomb *routeEntry // deleted-slot marker; never returned by find
	live int         // entries
	used int         // entries + tombstones
	seed uint64
}

// minSlots is the initial table size: 1024 slots (8 KiB) hold the few
// hundred routes of a small lab without growing.
const minSlots = 1024

// init empties the table. The tombstone is created once and never
// replaced, because readers of an old table still compare against it.
func (f *sgFIB) init() {
	if f.tomb == nil {
		f.tomb = &routeEntry{}
	}
	f.live, f.used = 0, 0
	// A per-table random seed keeps probe sequences unpredictable to
	// anyone choosing (S,G)s to send.
	f.seed = rand.Uint64()
	f.tab.Store(newSGTable(minSlots, f.seed))
}

func newSGTable(n int, seed uint64) *sgTable {
	return &sgTable{slots: make([]atomic.Pointer[routeEntry], n), mask: uint64(n - 1), seed: seed}
}

// mix is the murmur3 64-bit finalizer (fmix64): cheap, and every key bit
// affects the low bits that index the table.
func mix(k, seed uint64) uint64 {
	k ^= seed
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// find returns the entry for key or nil. Safe for concurrent readers.
func (f *sgFIB) find(key uint64) *routeEntry {
	t := f.tab.Load()
	i := mix(key, t.seed) & t.mask
	for {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e.key == key && e != f.tomb {
			return e
		}
		i = (i + 1) & t.mask
	}
}

// insert adds e, whose key must be absent. Writer only.
func (f *sgFIB) insert(e *routeEntry) {
	t := f.tab.Load()
	// Keep the load (with tombstones) at most 3/4: linear probing stays
	// at a couple of probes on average up to there.
	if (f.used+1)*4 > len(t.slots)*3 {
		t = f.rehash(f.live + 1)
	}
	i := mix(e.key, t.seed) & t.mask
	for {
		cur := t.slots[i].Load()
		if cur == nil {
			f.used++
			break
		}
		if cur == f.tomb {
			break
		}
		i = (i + 1) & t.mask
	}
	t.slots[i].Store(e)
	f.live++
}

// remove deletes and returns the entry for key, or nil. Writer only.
func (f *sgFIB) remove(key uint64) *routeEntry {
	t := f.tab.Load()
	i := mix(key, t.seed) & t.mask
	for {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e.key == key && e != f.tomb {
			t.slots[i].Store(f.tomb)
			f.live--
			return e
		}
		i = (i + 1) & t.mask
	}
}

// rehash builds a table for want live entries at load at most 1/2 (so the
// next rehash is at least want/2 inserts away), without tombstones, and
// publishes it. Readers on the old table keep finding the entries they
// look for: the old table is left intact.
func (f *sgFIB) rehash(want int) *sgTable {
	n := minSlots
	if want*2 > n {
		n = 1 << bits.Len(uint(want*2-1))
	}
	old := f.tab.Load()
	t := newSGTable(n, f.seed)
	for i := range old.slots {
		e := old.slots[i].Load()
		if e == nil || e == f.tomb {
			continue
		}
		j := mix(e.key, t.seed) & t.mask
		for t.slots[j].Load() != nil {
			j = (j + 1) & t.mask
		}
		t.slots[j].Store(e)
	}
	f.used = f.live
	f.tab.Store(t)
	return t
}

// walk calls fn for each entry of the current table until it returns false.
func (f *sgFIB) walk(fn func(*routeEntry) bool) {
	t := f.tab.Load()
	for i := range t.slots {
		e := t.slots[i].Load()
		if e == nil || e == f.tomb {
			continue
		}
		if !fn(e) {
			return
		}
	}
}

// prefixRoute is a group prefix route in the published prefix list.
type prefixRoute struct {
	group, mask uint32
	e           *routeEntry
}

func prefixMask(plen uint8) uint32 {
	if plen == 0 {
		return 0
	}
	return ^uint32(0) << (32 - plen)
}

// lookup returns the route for (s,g): exact (S,G), else the longest group
// prefix, else nil. The prefix list is short (224/4 and a few more), so a
// linear scan in longest-first order beats any trie.
func (c *Core) lookup(s, g uint32) *routeEntry {
	if e := c.sg.find(uint64(g)<<32 | uint64(s)); e != nil {
		return e
	}
	for _, p := range *c.pfx.Load() {
		if g&p.mask == p.group {
			return p.e
		}
	}
	return nil
}

// iflCounters are the atomic counters of one IFL; they survive a replace
// of the IFL. id is a small dense number used by the scratch buffers to
// index per-egress output lists.
type iflCounters struct {
	id                          int32
	rxPackets, rxBytes          atomic.Uint64
	txPackets, txBytes          atomic.Uint64
	rpfFail, ttlExpiry, noRoute atomic.Uint64
	discard, resolve, malformed atomic.Uint64
	queueFull, portDown         atomic.Uint64
}

func (c *iflCounters) snapshot() hal.IFLCounters {
	return hal.IFLCounters{
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		RPFFail: c.rpfFail.Load(), TTLExpiry: c.ttlExpiry.Load(), NoRoute: c.noRoute.Load(),
		Discard: c.discard.Load(), Resolve: c.resolve.Load(), Malformed: c.malformed.Load(),
		QueueFull: c.queueFull.Load(), PortDown: c.portDown.Load(),
	}
}

func (c *iflCounters) add(d hal.IFLCounters) {
	for _, x := range []struct {
		a *atomic.Uint64
		v uint64
	}{
		{&c.rxPackets, d.RxPackets}, {&c.rxBytes, d.RxBytes}, {&c.txPackets, d.TxPackets}, {&c.txBytes, d.TxBytes},
		{&c.rpfFail, d.RPFFail}, {&c.ttlExpiry, d.TTLExpiry}, {&c.noRoute, d.NoRoute}, {&c.discard, d.Discard},
		{&c.resolve, d.Resolve}, {&c.malformed, d.Malformed}, {&c.queueFull, d.QueueFull}, {&c.portDown, d.PortDown},
	} {
		if x.v != 0 {
			x.a.Add(x.v)
		}
	}
}

// iflView is the immutable published view of an IFL.
type iflView struct {
	ifl      hal.IFL
	ctr      *iflCounters
	parent   hal.IFLIndex // aggregate whose Members hold this IFL, or 0
	operDown bool         // the port is operationally down (SetLinkState)
}

// iflMap is an immutable snapshot of all IFLs, replaced as a whole when a
// batch changes IFLs (there are at most a few thousand).
type iflMap struct {
	m map[hal.IFLIndex]*iflView
}

func (m *iflMap) get(i hal.IFLIndex) *iflView { return m.m[i] }
