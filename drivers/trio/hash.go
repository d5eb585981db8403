package trio

import "net/netip"

// FlowHash is the (S,G) hash of the model. It picks the sublist of a
// composite (SublistIndex), the tree variant (TreeVariant) and, for a packet
// received on an aggregate, the member it arrived on.
//
// Definition, so that other drivers can reproduce it bit for bit: with s and
// g the IPv4 source and group as big-endian uint32 (0 for an address that is
// not IPv4), x = uint64(g)<<32 | uint64(s) is passed through the murmur3
// 64-bit finaliser
//
//	x ^= x >> 33; x *= 0xff51afd7ed558ccd
//	x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53
//	x ^= x >> 33
//
// and the low 32 bits are returned.
func FlowHash(source, group netip.Addr) uint32 {
	return flowHash(addr4(source), addr4(group))
}

func flowHash(s, g uint32) uint32 {
	return uint32(mix64(uint64(g)<<32 | uint64(s)))
}

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

// LAGRule is the composite expansion rule (REFERENCE.md, Trio replication,
// decision 3), kept in one function so that it can be changed in one place:
// given the member counts of the aggregates of an OIL (unicast entries count
// as 1), it returns the number of sublists, and member(j, i) returns which
// member of entry i sublist j uses.
//
// Rule: #sublists = max(n_i) (1 without LAG); sublist j uses member j mod n_i
// of each aggregate. With unequal member counts this spreads flows unevenly
// over the members of the smaller aggregates, which is the behaviour Juniper
// documents for multicast over AE ("uneven load balancing when the outgoing
// interface list includes multiple aggregated interfaces with an unequal
// number of child links"). Entries with 0 members contribute nothing
// (member returns -1).
func LAGRule(counts []int) (sublists int, member func(j, i int) int) {
	sublists = 1
	for _, n := range counts {
		sublists = max(sublists, n)
	}
	member = func(j, i int) int {
		n := counts[i]
		if n <= 0 {
			return -1
		}
		return j % n
	}
	return sublists, member
}

// SublistIndex returns the sublist a flow with hash h uses among n sublists:
// h mod n.
func SublistIndex(h uint32, n int) int {
	if n <= 1 {
		return 0
	}
	return int(h % uint32(n))
}

// TreeVariant returns which tree of a sublist a flow with hash h uses: 0 for
// the mcast-tree, 1 for the reverse-mcast-tree. It takes the top bit of the
// hash, which is independent of SublistIndex for any power-of-two sublist
// count below 2^31.
func TreeVariant(h uint32) int { return int(h >> 31) }

// EgressMember is the whole LAG choice for one packet, for drivers that do
// not build sublists (swpfe). For a flow (source, group) whose composite
// lists aggregates A_1..A_k with n_1..n_k Up members (counted and indexed in
// member order, down members skipped), with sublists = max(1, n_1..n_k), an
// aggregate of n Up members sends the flow's copy to its Up member number
// (FlowHash(source, group) mod sublists) mod n; it returns -1 when n is 0
// (the copy is a PortDown drop on the aggregate).
func EgressMember(source, group netip.Addr, sublists, n int) int {
	if n <= 0 {
		return -1
	}
	return SublistIndex(FlowHash(source, group), sublists) % n
}
