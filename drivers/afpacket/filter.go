package afpacket

import "golang.org/x/sys/unix"

// Classic BPF opcodes (linux/filter.h) used by rxFilter.
const (
	bpfLdH  = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
	bpfLdB  = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
	bpfLdW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfAnd  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	bpfRetK = unix.BPF_RET | unix.BPF_K
)

// rxFilter is the socket filter of every receive ring. It passes only what
// the forwarding path or the RE wants, so that ARP, IPv6, unicast IPv4 and
// the rest of a port's traffic never cost a ring slot or a wakeup:
//
//	IPv4 (ethertype 0x0800) and (dst in 224.0.0.0/4 or proto PIM(103) or IGMP(2))
//
// A frame to an IPv4 multicast MAC (01:00:5e/25) passes on its Ethernet
// header alone: the filter then never reads the IP header, which on veth
// (and on NICs with header split) lies in a page fragment that the filter
// would have to copy out (bpf_skb_load_helper -> skb_copy_bits, the first
// touch of the packet on this CPU: 11% of the router CPU at 1518 bytes and
// fan-out 8 in the kbase harness, paid again for every frame the full ring
// then drops). The exact predicate for those frames is applied by wanted,
// in the RX worker, on frames it reads anyway.
//
// Unicast PIM (Register, RFC 7761 section 4.9.3) is kept for the RE; the
// kernel stack of the namespace still sees everything, as a tap does not
// consume frames. VLAN-tagged frames are not forwarded (the kernel strips an
// accelerated tag before taps; a software tag fails the ethertype test).
func rxFilter() []unix.SockFilter {
	const accept, drop = 0x40000, 0
	return []unix.SockFilter{
		/* 0 */ {Code: bpfLdH, K: 12}, // ethertype
		/* 1 */ {Code: bpfJeq, K: 0x0800, Jt: 0, Jf: 10}, // not IPv4 -> 12 drop
		/* 2 */ {Code: bpfLdW, K: 0}, // destination MAC, first 4 bytes
		/* 3 */ {Code: bpfAnd, K: 0xffffff80},
		/* 4 */ {Code: bpfJeq, K: 0x01005e00, Jt: 6, Jf: 0}, // 01:00:5e/25 -> 11 accept
		/* 5 */ {Code: bpfLdB, K: 14 + 9}, // IPv4 protocol
		/* 6 */ {Code: bpfJeq, K: 103, Jt: 4, Jf: 0}, // PIM -> 11 accept
		/* 7 */ {Code: bpfJeq, K: 2, Jt: 3, Jf: 0}, // IGMP -> 11 accept
		/* 8 */ {Code: bpfLdW, K: 14 + 16}, // IPv4 destination
		/* 9 */ {Code: bpfAnd, K: 0xf0000000},
		/* 10 */ {Code: bpfJeq, K: 0xe0000000, Jt: 0, Jf: 1}, // 224/4 -> 11 accept, else 12 drop
		/* 11 */ {Code: bpfRetK, K: accept},
		/* 12 */ {Code: bpfRetK, K: drop},
	}
}

// wanted is the exact receive predicate (see rxFilter) for a frame that
// passed the socket filter: an IPv4 frame to a multicast MAC passes there
// without its IP header being looked at.
func wanted(f []byte) bool {
	// The same loads as the filter, which drops a frame too short for one.
	if len(f) < 14+10 {
		return false
	}
	if p := f[14+9]; p == 103 || p == 2 {
		return true
	}
	return len(f) >= 14+20 && f[14+16]&0xf0 == 0xe0
}

// keepWanted removes, in place, the frames wanted rejects and returns the
// rest.
func keepWanted(frames [][]byte) [][]byte {
	k := 0
	for _, f := range frames {
		if wanted(f) {
			frames[k] = f
			k++
		}
	}
	clear(frames[k:])
	return frames[:k]
}
