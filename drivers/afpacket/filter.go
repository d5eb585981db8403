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
// Unicast PIM (Register, RFC 7761 section 4.9.3) is kept for the RE; the
// kernel stack of the namespace still sees everything, as a tap does not
// consume frames. VLAN-tagged frames are not forwarded (the kernel strips an
// accelerated tag before taps; a software tag fails the ethertype test).
func rxFilter() []unix.SockFilter {
	const accept, drop = 0x40000, 0
	return []unix.SockFilter{
		/* 0 */ {Code: bpfLdH, K: 12}, // ethertype
		/* 1 */ {Code: bpfJeq, K: 0x0800, Jt: 0, Jf: 7}, // not IPv4 -> 9 drop
		/* 2 */ {Code: bpfLdB, K: 14 + 9}, // IPv4 protocol
		/* 3 */ {Code: bpfJeq, K: 103, Jt: 4, Jf: 0}, // PIM -> 8 accept
		/* 4 */ {Code: bpfJeq, K: 2, Jt: 3, Jf: 0}, // IGMP -> 8 accept
		/* 5 */ {Code: bpfLdW, K: 14 + 16}, // IPv4 destination
		/* 6 */ {Code: bpfAnd, K: 0xf0000000},
		/* 7 */ {Code: bpfJeq, K: 0xe0000000, Jt: 0, Jf: 1}, // 224/4 -> 8 accept, else 9 drop
		/* 8 */ {Code: bpfRetK, K: accept},
		/* 9 */ {Code: bpfRetK, K: drop},
	}
}
