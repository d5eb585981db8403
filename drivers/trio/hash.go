package trio

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/hal"
)

// The LAG rule (REFERENCE.md, Trio replication, decision 3) is defined once
// for all drivers in package hal (hal/flow.go): FlowHash, SublistCount,
// SublistIndex, MemberIndex and EgressMember. The exported functions below
// are the model's names for it and delegate to hal; only TreeVariant, which
// picks between the two trees of a sublist, is the model's own.

// FlowHash is the (S,G) hash of the model, hal.FlowHash. It picks the
// sublist of a composite (SublistIndex), the tree variant (TreeVariant) and,
// for a packet received on an aggregate, the member it arrived on.
func FlowHash(source, group netip.Addr) uint32 { return hal.FlowHash(source, group) }

// flowHash is FlowHash of big-endian IPv4 words (hal.FlowHash4).
func flowHash(s, g uint32) uint32 { return hal.FlowHash4(s, g) }

// addr4 returns an IPv4 (or IPv4-mapped) address as a big-endian uint32, 0
// otherwise.
func addr4(a netip.Addr) uint32 {
	a = a.Unmap()
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// LAGRule is the composite expansion rule in the shape the expansion needs:
// given the member counts of the entries of an OIL (aggregates: their Up
// members; unicast entries count as 1), it returns the number of sublists
// (hal.SublistCount), and member(j, i) returns which member of entry i
// sublist j uses (hal.MemberIndex: j mod n_i, or -1 for an entry with 0
// members, which contributes nothing).
//
// With unequal member counts this spreads flows unevenly over the members
// of the smaller aggregates, which is the behaviour Juniper documents for
// multicast over AE ("uneven load balancing when the outgoing interface
// list includes multiple aggregated interfaces with an unequal number of
// child links").
func LAGRule(counts []int) (sublists int, member func(j, i int) int) {
	return hal.SublistCount(counts), func(j, i int) int { return hal.MemberIndex(j, counts[i]) }
}

// SublistIndex returns the sublist a flow with hash h uses among n sublists:
// h mod n (hal.SublistIndex).
func SublistIndex(h uint32, n int) int { return hal.SublistIndex(h, n) }

// TreeVariant returns which tree of a sublist a flow with hash h uses: 0 for
// the mcast-tree, 1 for the reverse-mcast-tree. It takes the top bit of the
// hash, which is independent of SublistIndex for any power-of-two sublist
// count below 2^31.
func TreeVariant(h uint32) int { return int(h >> 31) }

// EgressMember is the whole LAG choice for one packet (hal.EgressMember):
// an aggregate of n Up members in an nh-list of sublists sublists sends the
// flow's copy to its Up member number (FlowHash(source, group) mod sublists)
// mod n; it returns -1 when n is 0 (the copy is a PortDown drop on the
// aggregate).
func EgressMember(source, group netip.Addr, sublists, n int) int {
	return hal.EgressMember(source, group, sublists, n)
}
