package pim

import (
	"net/netip"
	"slices"
	"testing"
)

// checkInvariants verifies the engine's internal consistency: indexes,
// reference counts, and that every object with a running timer is queued
// at its earliest deadline (a timer not in the queue would never fire).
func checkInvariants(t *testing.T, e *Engine) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("invariant: "+format, args...)
	}
	if len(e.dirtyG) != 0 || len(e.dirtyS) != 0 || len(e.sweepG) != 0 || len(e.sweepS) != 0 {
		fail("work lists not empty between calls")
	}
	for i, n := range e.tq {
		if int(n.idx) != i {
			fail("heap index %d != %d", n.idx, i)
		}
	}
	want := func(n *tnode) {
		t.Helper()
		d := n.owner.deadline()
		if d == forever {
			d = 0
		}
		if d != n.at || (d != 0) != (n.idx >= 0) {
			fail("timer of %T queued at %d (idx %d), deadline %d", n.owner, n.at, n.idx, d)
		}
	}
	want(&e.global.node)
	for _, idx := range e.ifOrder {
		want(&e.ifs[idx].node)
	}
	refs := map[*rpfEntry]int32{}
	rpRefs := map[*rpfEntry]int32{}
	for ga, g := range e.groups {
		if g.g != ga {
			fail("group key")
		}
		want(&g.node)
		if g.rpR != nil {
			refs[g.rpR]++
			rpRefs[g.rpR]++
		}
		if !slices.IsSortedFunc(g.ifs, func(a, b gIf) int { return int(a.ifx) - int(b.ifx) }) {
			fail("(*,%v) interfaces not sorted", g.g)
		}
		if g.last.emitted && slices.Contains(g.last.oil, g.last.iif) {
			fail("(*,%v) OIL holds the IIF", g.g)
		}
		for i, s := range g.srcs {
			if int(s.gidx) != i || e.sgs[s.key] != s || s.g != g {
				fail("%v: group index", s.key)
			}
		}
	}
	for k, s := range e.sgs {
		if s.key != k || e.groups[k.Group] != s.g {
			fail("%v: key", k)
		}
		want(&s.node)
		if s.rpf == nil || e.rpf[k.Source] != s.rpf || s.rpf.srcs[s.ridx] != s {
			fail("%v: rpf index", k)
		}
		refs[s.rpf]++
		if !slices.IsSortedFunc(s.ifs, func(a, b sgIf) int { return int(a.ifx) - int(b.ifx) }) {
			fail("%v: interfaces not sorted", k)
		}
		if s.last.emitted && slices.Contains(s.last.oil, s.last.iif) {
			fail("%v: OIL holds the IIF", k)
		}
	}
	for a, r := range e.rpf {
		if r.addr != a || r.refs != refs[r] || r.rpRefs != rpRefs[r] {
			fail("rpf %v: refs %d/%d, counted %d/%d", a, r.refs, r.rpRefs, refs[r], rpRefs[r])
		}
	}
}

// TestInvariantsUnderRandomEvents drives engines with random events and
// checks the invariants after every call.
func TestInvariantsUnderRandomEvents(t *testing.T) {
	for seed := uint64(100); seed < 140; seed++ {
		w, cfg, rib := newRandomWorld(seed)
		e, err := New(cfg, Options{Seed: [2]uint64{seed, 1}, RPF: rib}, w.now)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			e.Handle(w.now, InterfaceUp{If: IfIndex(i), Addr: netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 24)}})
		}
		for i := 0; i < 500; i++ {
			d, ev := w.next()
			w.now = w.now.Add(d)
			for _, x := range step(e, w.now, ev) {
				if r, ok := x.(Route); ok && slices.Contains(r.OIL, r.IIF) {
					t.Fatalf("seed %d: route with IIF in the OIL: %+v", seed, r)
				}
			}
			checkInvariants(t, e)
		}
	}
}
