package rib

import (
	"math/bits"
	"net/netip"
)

// trie is a path-compressed binary trie (a Patricia tree) of IPv4 prefixes.
// Every node carries a prefix; a child's prefix extends its parent's, and
// the bit just after the parent's length chooses the child's slot. Nodes
// without a value ("glue") exist only where two subtrees branch, so a trie
// of n prefixes has fewer than 2n nodes and a lookup visits at most 33 of
// them (one per distinct prefix length on the path).
//
// The zero value is an empty trie. Not safe for concurrent use.
type trie[V any] struct {
	root *tnode[V]
	n    int
}

type tnode[V any] struct {
	key   uint32 // prefix bits, host bits zero
	bits  uint8  // prefix length 0..32
	has   bool   // false: glue node
	val   V
	child [2]*tnode[V]
}

// mask returns the network mask of a prefix length (0 for /0: a shift of 32
// is 0 in Go).
func mask(n uint8) uint32 { return ^uint32(0) << (32 - uint32(n)) }

// bitAt returns bit i (0 = most significant) of k.
func bitAt(k uint32, i uint8) int { return int(k>>(31-i)) & 1 }

// common returns the length of the common prefix of a and b, at most max.
func common(a, b uint32, max uint8) uint8 {
	c := uint8(bits.LeadingZeros32(a ^ b))
	if c > max {
		return max
	}
	return c
}

func key4(p netip.Prefix) (uint32, uint8) {
	a := p.Addr().As4()
	k := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	b := uint8(p.Bits())
	return k & mask(b), b
}

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func prefixOf(k uint32, b uint8) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}), int(b))
}

// Len returns the number of prefixes stored.
func (t *trie[V]) Len() int { return t.n }

// Insert stores v under the prefix (k, b), replacing any previous value.
// It reports whether the prefix was new.
func (t *trie[V]) Insert(k uint32, b uint8, v V) bool {
	p, fresh := t.Slot(k, b)
	*p = v
	return fresh
}

// Slot returns the value slot of the prefix (k, b), adding the prefix with
// a zero value if it was absent (reported by fresh): one walk for a lookup
// that may become an insert.
func (t *trie[V]) Slot(k uint32, b uint8) (slot *V, fresh bool) {
	k &= mask(b)
	p := &t.root
	for {
		n := *p
		if n == nil {
			nn := &tnode[V]{key: k, bits: b, has: true}
			*p = nn
			t.n++
			return &nn.val, true
		}
		c := common(n.key, k, min(n.bits, b))
		switch {
		case c == n.bits && c == b: // this prefix
			fresh := !n.has
			if fresh {
				n.has = true
				t.n++
			}
			return &n.val, fresh
		case c == n.bits: // n covers (k, b): go down
			p = &n.child[bitAt(k, n.bits)]
			continue
		case c == b: // (k, b) covers n: new node above n
			nn := &tnode[V]{key: k, bits: b, has: true}
			nn.child[bitAt(n.key, b)] = n
			*p = nn
			t.n++
			return &nn.val, true
		default: // they branch at c: glue node with both below
			nn := &tnode[V]{key: k, bits: b, has: true}
			g := &tnode[V]{key: k & mask(c), bits: c}
			g.child[bitAt(k, c)] = nn
			g.child[bitAt(n.key, c)] = n
			*p = g
			t.n++
			return &nn.val, true
		}
	}
}

// Get returns the value stored under exactly (k, b).
func (t *trie[V]) Get(k uint32, b uint8) (V, bool) {
	k &= mask(b)
	for n := t.root; n != nil && n.bits <= b; {
		if (n.key^k)&mask(n.bits) != 0 {
			break
		}
		if n.bits == b {
			return n.val, n.has
		}
		n = n.child[bitAt(k, n.bits)]
	}
	var zero V
	return zero, false
}

// Delete removes (k, b) and reports whether it was present. Glue nodes left
// with fewer than two children are spliced out, so the trie stays minimal.
func (t *trie[V]) Delete(k uint32, b uint8) bool {
	k &= mask(b)
	var pp **tnode[V] // slot of the parent of n
	p := &t.root
	for {
		n := *p
		if n == nil || n.bits > b || (n.key^k)&mask(n.bits) != 0 {
			return false
		}
		if n.bits < b {
			pp, p = p, &n.child[bitAt(k, n.bits)]
			continue
		}
		if !n.has {
			return false
		}
		var zero V
		n.val, n.has = zero, false
		t.n--
		switch {
		case n.child[0] != nil && n.child[1] != nil: // stays as glue
		case n.child[0] != nil:
			*p = n.child[0]
		case n.child[1] != nil:
			*p = n.child[1]
		default:
			*p = nil
			// The parent may now be glue with a single child.
			if pp != nil {
				if par := *pp; !par.has {
					if par.child[0] != nil {
						*pp = par.child[0]
					} else {
						*pp = par.child[1]
					}
				}
			}
		}
		return true
	}
}

// Lookup returns the value of the longest prefix containing address a, with
// that prefix's length.
func (t *trie[V]) Lookup(a uint32) (v V, b uint8, ok bool) { return t.LookupIf(a, nil) }

// LookupPrefix returns the longest stored prefix that contains (k, b)
// (possibly (k, b) itself).
func (t *trie[V]) LookupPrefix(k uint32, b uint8) (v V, key uint32, bits uint8, ok bool) {
	return t.LookupPrefixIf(k, b, nil)
}

// LookupPrefixIf is LookupPrefix restricted to values accept returns true
// for (nil accepts all).
func (t *trie[V]) LookupPrefixIf(k uint32, b uint8, accept func(V) bool) (v V, key uint32, bits uint8, ok bool) {
	k &= mask(b)
	var best *tnode[V]
	for n := t.root; n != nil && n.bits <= b; {
		if (n.key^k)&mask(n.bits) != 0 {
			break
		}
		if n.has && (accept == nil || accept(n.val)) {
			best = n
		}
		if n.bits == b {
			break
		}
		n = n.child[bitAt(k, n.bits)]
	}
	if best == nil {
		return v, 0, 0, false
	}
	return best.val, best.key, best.bits, true
}

// Walk calls fn for every stored prefix in order (by address, then shorter
// before longer: the order `show route` lists destinations in) until fn
// returns false.
func (t *trie[V]) Walk(fn func(k uint32, b uint8, v V) bool) {
	walk(t.root, fn)
}

// WalkUnder calls fn, in Walk order, for every stored prefix inside (k, b)
// ((k, b) itself included) until fn returns false.
func (t *trie[V]) WalkUnder(k uint32, b uint8, fn func(k uint32, b uint8, v V) bool) {
	k &= mask(b)
	n := t.root
	for n != nil && n.bits < b {
		if (n.key^k)&mask(n.bits) != 0 {
			return
		}
		n = n.child[bitAt(k, n.bits)]
	}
	if n == nil || (n.key^k)&mask(b) != 0 {
		return
	}
	walk(n, fn)
}

func walk[V any](n *tnode[V], fn func(uint32, uint8, V) bool) bool {
	if n == nil {
		return true
	}
	if n.has && !fn(n.key, n.bits, n.val) {
		return false
	}
	return walk(n.child[0], fn) && walk(n.child[1], fn)
}

// LookupIf is Lookup restricted to values accept returns true for (nil
// accepts all): the longest accepted prefix containing a.
func (t *trie[V]) LookupIf(a uint32, accept func(V) bool) (v V, b uint8, ok bool) {
	var best *tnode[V]
	for n := t.root; n != nil; {
		if (n.key^a)&mask(n.bits) != 0 {
			break
		}
		if n.has && (accept == nil || accept(n.val)) {
			best = n
		}
		if n.bits == 32 {
			break
		}
		n = n.child[bitAt(a, n.bits)]
	}
	if best == nil {
		return v, 0, false
	}
	return best.val, best.bits, true
}
