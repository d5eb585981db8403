package rib

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// naive is the reference model of the trie: a list of prefixes kept sorted,
// searched linearly.
type naive struct {
	items []naiveItem
}

type naiveItem struct {
	k uint32
	b uint8
	v int
}

func (m *naive) find(k uint32, b uint8) int {
	for i, it := range m.items {
		if it.k == k && it.b == b {
			return i
		}
	}
	return -1
}

func (m *naive) insert(k uint32, b uint8, v int) bool {
	k &= mask(b)
	if i := m.find(k, b); i >= 0 {
		m.items[i].v = v
		return false
	}
	m.items = append(m.items, naiveItem{k, b, v})
	sort.Slice(m.items, func(i, j int) bool {
		if m.items[i].k != m.items[j].k {
			return m.items[i].k < m.items[j].k
		}
		return m.items[i].b < m.items[j].b
	})
	return true
}

func (m *naive) delete(k uint32, b uint8) bool {
	k &= mask(b)
	i := m.find(k, b)
	if i < 0 {
		return false
	}
	m.items = append(m.items[:i], m.items[i+1:]...)
	return true
}

func (m *naive) lookup(a uint32, maxBits uint8) (naiveItem, bool) {
	best, ok := naiveItem{}, false
	for _, it := range m.items {
		if it.b <= maxBits && (it.k^a)&mask(it.b) == 0 && (!ok || it.b > best.b) {
			best, ok = it, true
		}
	}
	return best, ok
}

func (m *naive) under(k uint32, b uint8) []naiveItem {
	var out []naiveItem
	for _, it := range m.items {
		if it.b >= b && (it.k^k)&mask(b) == 0 {
			out = append(out, it)
		}
	}
	return out
}

func collect(t *trie[int], k uint32, b uint8, all bool) []naiveItem {
	var out []naiveItem
	fn := func(k uint32, b uint8, v int) bool {
		out = append(out, naiveItem{k, b, v})
		return true
	}
	if all {
		t.Walk(fn)
	} else {
		t.WalkUnder(k, b, fn)
	}
	return out
}

// checkShape verifies the trie's invariants: children extend their parent
// on the right side, glue nodes have two children, the count is right.
func checkShape(t *testing.T, tr *trie[int]) {
	t.Helper()
	count := 0
	var visit func(n *tnode[int])
	visit = func(n *tnode[int]) {
		if n == nil {
			return
		}
		require.Zero(t, n.key&^mask(n.bits), "host bits set in node %s", prefixOf(n.key, n.bits))
		if n.has {
			count++
		} else {
			require.True(t, n.child[0] != nil && n.child[1] != nil, "glue node %s without two children", prefixOf(n.key, n.bits))
		}
		for side, c := range n.child {
			if c == nil {
				continue
			}
			require.Greater(t, c.bits, n.bits)
			require.Zero(t, (c.key^n.key)&mask(n.bits), "child %s outside parent %s", prefixOf(c.key, c.bits), prefixOf(n.key, n.bits))
			require.Equal(t, side, bitAt(c.key, n.bits))
			visit(c)
		}
	}
	visit(tr.root)
	require.Equal(t, count, tr.Len())
}

// TestTrieDifferential runs random operations on the trie and on the naive
// sorted list and requires identical answers after every step. Keys are
// drawn from a small space (a few /8s, lengths 0..32) so that prefixes nest,
// collide and branch often.
func TestTrieDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7919))
		var tr trie[int]
		var m naive
		randKey := func() (uint32, uint8) {
			k := uint32(10+rng.IntN(3))<<24 | rng.Uint32()&0x00ff00ff&^uint32(rng.IntN(2)*0x00f000f0)
			return k, uint8(rng.IntN(33))
		}
		for op := 0; op < 3000; op++ {
			k, b := randKey()
			switch r := rng.IntN(10); {
			case r < 4:
				v := rng.Int()
				require.Equal(t, m.insert(k, b, v), tr.Insert(k, b, v), "insert %s", prefixOf(k&mask(b), b))
			case r < 7:
				// Delete something present half of the time.
				if len(m.items) > 0 && rng.IntN(2) == 0 {
					it := m.items[rng.IntN(len(m.items))]
					k, b = it.k, it.b
				}
				require.Equal(t, m.delete(k, b), tr.Delete(k, b), "delete %s", prefixOf(k&mask(b), b))
			case r < 8:
				want, wok := m.lookup(k&mask(b), b)
				v, gk, gb, ok := tr.LookupPrefix(k, b)
				require.Equal(t, wok, ok)
				if ok {
					require.Equal(t, want, naiveItem{gk, gb, v})
				}
			default:
				require.Equal(t, m.under(k, b), collect(&tr, k, b, false), "walk under %s", prefixOf(k&mask(b), b))
			}
			// Every step: an address lookup and an exact get.
			a := rng.Uint32()&0x03ffffff | 10<<24
			want, wok := m.lookup(a, 32)
			v, gb, ok := tr.Lookup(a)
			require.Equal(t, wok, ok, "lookup %s", prefixOf(a, 32))
			if ok {
				require.Equal(t, want.b, gb)
				require.Equal(t, want.v, v)
			}
			gv, gok := tr.Get(k, b)
			i := m.find(k&mask(b), b)
			require.Equal(t, i >= 0, gok)
			if gok {
				require.Equal(t, m.items[i].v, gv)
			}
			if op%100 == 0 {
				checkShape(t, &tr)
				require.Equal(t, m.items, collect(&tr, 0, 0, true))
			}
		}
		checkShape(t, &tr)
		// Drain: the trie must end empty with a nil root.
		for _, it := range append([]naiveItem(nil), m.items...) {
			require.True(t, tr.Delete(it.k, it.b))
		}
		require.Zero(t, tr.Len())
		require.Nil(t, tr.root)
	}
}

func TestTrieEdges(t *testing.T) {
	var tr trie[string]
	p := func(s string) (uint32, uint8) { return key4(netip.MustParsePrefix(s)) }
	k, b := p("0.0.0.0/0")
	tr.Insert(k, b, "default")
	k, b = p("10.0.0.1/32")
	tr.Insert(k, b, "host")
	k, b = p("10.0.0.0/24")
	tr.Insert(k, b, "net")
	v, bits, ok := tr.Lookup(addr4(netip.MustParseAddr("10.0.0.1")))
	require.True(t, ok)
	require.Equal(t, "host", v)
	require.EqualValues(t, 32, bits)
	v, _, _ = tr.Lookup(addr4(netip.MustParseAddr("10.0.0.2")))
	require.Equal(t, "net", v)
	v, bits, _ = tr.Lookup(addr4(netip.MustParseAddr("192.0.2.1")))
	require.Equal(t, "default", v)
	require.EqualValues(t, 0, bits)
	// Host bits in the key are ignored.
	tr.Insert(0x0a000005, 24, "net2")
	v, _ = tr.Get(k, b)
	require.Equal(t, "net2", v)
	require.Equal(t, 3, tr.Len())
	k, b = p("0.0.0.0/0")
	require.True(t, tr.Delete(k, b))
	_, _, ok = tr.Lookup(addr4(netip.MustParseAddr("192.0.2.1")))
	require.False(t, ok)
}
