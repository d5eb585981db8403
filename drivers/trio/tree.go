package trio

import (
	"slices"

	"github.com/mxfwd/mxfwd/hal"
)

// Tree layout (REFERENCE.md, Trio replication, decisions 1 and 2).
//
// The egress PFEs of a sublist, sorted ascending, minus the root (the
// ingress PFE, which already has the packet and replicates to its own ports
// locally), are rotated to start at entry nh mod N (US 7,263,099 claim 2)
// and reversed for the second variant (the reverse-mcast-tree, US
// 7,710,963). PFEs configured no-mcast-replication are then moved, in
// order, behind the others so that they take the leaf positions. The result
// L' is the order of the tree:
//
//	binary:  root feeds L'[0], L'[1]; L'[i] feeds L'[2i+2], L'[2i+3]
//	unary:   root -> L'[0] -> L'[1] -> ...
//	ingress, local-latency-fairness: root feeds every L'[i]
//
// In every mode the parent of position i is a root or a position < i, so
// each egress PFE gets exactly one copy and there is no loop. When more PFEs
// are marked no-mcast-replication than a tree has leaf positions (a chain
// has one), the first of them still relay: the fan-out bound wins.

// layout writes L' into dst as positions in pfes (sorted, unique) and
// returns it with the rotation start. root is the position of the ingress
// PFE in pfes, or -1 when it hosts no egress of the sublist (or for the
// rootless view of `show nhdb id`). set may be nil (no leaf-only PFEs).
func layout(dst []uint16, pfes []hal.PFEID, root int, nh hal.NHID, reverse bool, set *settings) ([]uint16, int) {
	m := len(pfes)
	if root >= 0 {
		m--
	}
	dst = dst[:0]
	if m <= 0 {
		return dst, 0
	}
	start := int(uint32(nh) % uint32(m))
	at := func(k int) uint16 {
		pos := start + k
		if reverse {
			pos = start + m - 1 - k
		}
		if pos >= m {
			pos -= m
		}
		if root >= 0 && pos >= root {
			pos++
		}
		return uint16(pos)
	}
	if set == nil || !set.anyLeafOnly() {
		for k := range m {
			dst = append(dst, at(k))
		}
		return dst, start
	}
	// Stable partition: relays first, leaf-only PFEs last.
	for k := range m {
		if p := at(k); !set.leafOnly(pfes[p]) {
			dst = append(dst, p)
		}
	}
	for k := range m {
		if p := at(k); set.leafOnly(pfes[p]) {
			dst = append(dst, p)
		}
	}
	return dst, start
}

// parentOf returns the position feeding position i, -1 for the root.
func parentOf(mode ReplicationMode, i int) int {
	switch mode {
	case ModeBinary:
		if i < 2 {
			return -1
		}
		return i/2 - 1
	case ModeUnary:
		return i - 1
	}
	return -1
}

// children returns the first position fed by position i (-1: the root) and
// how many consecutive positions it feeds, within a tree of m positions.
func children(mode ReplicationMode, i, m int) (first, n int) {
	switch mode {
	case ModeBinary:
		first, n = 2*i+2, 2
	case ModeUnary:
		first, n = i+1, 1
	default:
		if i >= 0 {
			return 0, 0
		}
		first, n = 0, m
	}
	if first >= m {
		return 0, 0
	}
	return first, min(n, m-first)
}

// Tree is one replication tree as the model lays it out, for inspection
// (tests, tools). Order is L'; Parent[i] is the position feeding Order[i],
// -1 for the root.
type Tree struct {
	Mode    ReplicationMode
	Root    hal.PFEID // ingress PFE (meaningful when HasRoot)
	HasRoot bool
	Start   int // rotation start, nh mod len(Order) (the vty's "hash:")
	Order   []hal.PFEID
	Parent  []int
}

// Depth returns the number of fabric hops from the root to the deepest PFE.
func (t Tree) Depth() int {
	depth := make([]int, len(t.Order))
	best := 0
	for i, p := range t.Parent {
		depth[i] = 1
		if p >= 0 {
			depth[i] = depth[p] + 1
		}
		best = max(best, depth[i])
	}
	return best
}

// FanOut returns the fabric copies sent by each node: index 0 is the root,
// index i+1 is Order[i].
func (t Tree) FanOut() []int {
	out := make([]int, len(t.Order)+1)
	for _, p := range t.Parent {
		out[p+1]++
	}
	return out
}

// BuildTree lays out the tree of composite nh over the egress PFEs pfes
// (any order, duplicates ignored) for mode, rooted at ingress when hasRoot
// (the ingress PFE is removed from the list), in its reverse variant when
// reverse, with the PFEs in leafOnly placed at leaves. It is the function
// the packet path and `show nhdb id` use.
func BuildTree(mode ReplicationMode, nh hal.NHID, pfes []hal.PFEID, ingress hal.PFEID, hasRoot, reverse bool, leafOnly []hal.PFEID) Tree {
	sorted := slices.Clone(pfes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var set *settings
	if len(leafOnly) > 0 {
		set = &settings{}
		for _, p := range leafOnly {
			if int(p) < MaxPFEs {
				set.noRepl[p/64] |= 1 << (p % 64)
			}
		}
	}
	root := -1
	if hasRoot {
		root = slices.Index(sorted, ingress)
	}
	return buildTree(mode, nh, sorted, root, ingress, hasRoot, reverse, set)
}

func buildTree(mode ReplicationMode, nh hal.NHID, sorted []hal.PFEID, root int, ingress hal.PFEID, hasRoot, reverse bool, set *settings) Tree {
	pos, start := layout(make([]uint16, 0, len(sorted)), sorted, root, nh, reverse, set)
	t := Tree{Mode: mode, Root: ingress, HasRoot: hasRoot, Start: start, Order: make([]hal.PFEID, len(pos)), Parent: make([]int, len(pos))}
	for i, p := range pos {
		t.Order[i] = sorted[p]
		t.Parent[i] = parentOf(mode, i)
	}
	return t
}
