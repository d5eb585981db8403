package hal

import (
	"encoding/binary"
	"net/netip"
)

// The LAG rule: which member of an aggregate in an OIL carries a flow.
//
// This file is the single definition of REFERENCE.md, "Trio replication",
// decision 3 (sublists). Every driver must use these functions to choose the
// aggregate member of a copy, so that for the same programming and the same
// packet all drivers deliver the same frames to the same ports; only how a
// driver gets the copies there (trees, fabric, rings) may differ.
//
// The rule, for a flow (S,G) hitting a forwarding next hop:
//
//   - N, the number of sublists, is the largest number of Up members of any
//     aggregate in the composite's nh-list, at least 1 (SublistCount). An
//     aggregate NH referenced directly (a route or an Indirect pointing at
//     it, no composite) is an nh-list of one entry: N is its Up count. A
//     unicast NH counts 1.
//   - The flow's sublist is j = FlowHash(S,G) mod N (SublistIndex).
//   - Each aggregate with n Up members sends the copy to its Up member
//     number j mod n (MemberIndex), counting only Up members, in the
//     aggregate's member order; with n = 0 there is no member (the copy is a
//     PortDown drop on the aggregate).
//
// With aggregates of unequal size the smaller ones are loaded unevenly (with
// members 2 and 3, the 2-member aggregate gets sublists {0,2} and {1}: 2/3 and
// 1/3 of the flows), as Juniper documents for multicast over AE. That is the
// behaviour modelled, not a bug. To change the rule, change it here.
//
// All functions are allocation-free, take no locks and are cheap enough for
// the per-packet path (a multiply-xorshift hash and at most two divisions).

// FlowHash is the platform's (S,G) flow hash. It picks the sublist
// (SublistIndex) and must be used, unchanged, by every driver; drivers may
// use it for their own purposes too (trio: the tree variant and the
// ingress member of an aggregate).
//
// Definition, so that it can be reproduced bit for bit: with s and g the
// IPv4 source and group as big-endian uint32 (0 for an address that is not
// IPv4 or IPv4-mapped), x = uint64(g)<<32 | uint64(s) is passed through the
// murmur3 64-bit finaliser
//
//	x ^= x >> 33; x *= 0xff51afd7ed558ccd
//	x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53
//	x ^= x >> 33
//
// and the low 32 bits are returned.
func FlowHash(source, group netip.Addr) uint32 {
	return FlowHash4(addr4(source), addr4(group))
}

// FlowHash4 is FlowHash for addresses already read from an IPv4 header as
// big-endian uint32 words, for packet paths that do not build netip.Addrs.
func FlowHash4(source, group uint32) uint32 {
	x := uint64(group)<<32 | uint64(source)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return uint32(x)
}

// addr4 returns an IPv4 (or IPv4-mapped) address as a big-endian uint32, 0
// otherwise. (Going through As4 compiles to a byte swap; As16 costs a
// store-forwarding stall, 6x slower.)
func addr4(a netip.Addr) uint32 {
	if !a.Is4() && !a.Is4In6() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// SublistCount returns N, the number of sublists of an nh-list whose
// entries have upMembers[i] Up members each (aggregates: their Up members;
// unicast entries may be given as 1): the largest count, at least 1.
func SublistCount(upMembers []int) int {
	n := 1
	for _, m := range upMembers {
		n = max(n, m)
	}
	return n
}

// SublistIndex returns the sublist j of a flow with hash h (FlowHash) among
// sublists sublists: h mod sublists, 0 when sublists <= 1.
func SublistIndex(h uint32, sublists int) int {
	if sublists <= 1 {
		return 0
	}
	return int(h % uint32(sublists))
}

// MemberIndex returns which Up member (0-based, in member order, down
// members skipped) of an aggregate with members Up members sublist j uses:
// j mod members, or -1 when members <= 0.
func MemberIndex(j, members int) int {
	if members <= 0 {
		return -1
	}
	if j < members {
		return j
	}
	return j % members
}

// EgressMember is the whole rule for one copy: the Up member number that an
// aggregate with members Up members uses for the flow (source, group) in an
// nh-list of sublists sublists (SublistCount), or -1 when members <= 0.
func EgressMember(source, group netip.Addr, sublists, members int) int {
	return MemberIndex(SublistIndex(FlowHash(source, group), sublists), members)
}
