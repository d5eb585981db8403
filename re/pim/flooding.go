package pim

import (
	"net/netip"
	"slices"
)

// Read-only queries for the PIM Flooding Mechanism (RFC 8364) and graceful
// insertion and removal (re/pim/gir), which run beside the engine on the
// same owner goroutine: PFMs are accepted from PIM neighbours only and
// flooded to them, and the GIR source-prefix optimisation asks whether this
// router has state for a source.

// IsNeighbor reports whether a (a primary or secondary address) is a PIM
// neighbour on the up interface ifx.
func (e *Engine) IsNeighbor(ifx IfIndex, a netip.Addr) bool {
	f := e.ifs[ifx]
	return f != nil && f.up && f.nbrByAny(a) != nil
}

// HasNeighborOtherThan reports whether the up interface ifx has a PIM
// neighbour other than a (RFC 8364 §3.4.2 forwards a PFM back out of its
// arrival interface, which only matters on a LAN).
func (e *Engine) HasNeighborOtherThan(ifx IfIndex, a netip.Addr) bool {
	f := e.ifs[ifx]
	if f == nil || !f.up {
		return false
	}
	for _, n := range f.nbrs {
		if n.addr != a && !slices.Contains(n.secondary, a) {
			return true
		}
	}
	return false
}

// NeighborInterfaces returns the up PIM interfaces that have at least one
// neighbour, in index order.
func (e *Engine) NeighborInterfaces() []IfIndex {
	var out []IfIndex
	for _, idx := range e.ifOrder {
		if f := e.ifs[idx]; f.up && len(f.nbrs) > 0 {
			out = append(out, idx)
		}
	}
	return out
}

// HasSourceState reports whether an (S,G) entry exists for a source S
// inside p.
func (e *Engine) HasSourceState(p netip.Prefix) bool {
	for k := range e.sgs {
		if p.Contains(k.Source) {
			return true
		}
	}
	return false
}

// Sources returns the sources of the (S,G) entries, sorted and without
// repeats.
func (e *Engine) Sources() []netip.Addr {
	var out []netip.Addr
	for k := range e.sgs {
		out = append(out, k.Source)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
