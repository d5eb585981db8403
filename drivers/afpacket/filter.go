package afpacket

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
)

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
// the forwarding path or the host path wants, so that IPv6, transit
// unicast and the rest of a port's traffic never cost a ring slot or a
// wakeup:
//
//	IPv4 (ethertype 0x0800) and (dst in 224.0.0.0/4 or proto PIM(103) or IGMP(2)
//	                             or proto/dst/prefix of a host-path trap)
//	or ARP (0x0806) when an ARP trap exists
//
// It is rebuilt from the traps whenever they change (Driver.Apply) and
// replaced on every ring (SO_ATTACH_FILTER swaps programs atomically).
// The exact trap decision is hal.TrapTable's, in the forwarding core: the
// filter only has to pass a superset (every ARP frame, not only those for
// the router's addresses; IPv4 to every trapped address). With more trap
// addresses and prefixes than fit the program comfortably (maxFilterTraps)
// it passes all IPv4.
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
func rxFilter(traps []hal.Trap) []unix.SockFilter {
	const accept, drop = 0x40000, 0
	var (
		arp     bool
		protos  = []uint32{103, 2}
		addrs   []uint32
		pfx     [][2]uint32 // addr, mask outside 224/4
		allIPv4 bool
	)
	for _, t := range traps {
		switch t.Kind {
		case hal.TrapARP:
			arp = true
		case hal.TrapProtocol:
			if !slices.Contains(protos, uint32(t.Proto)) {
				protos = append(protos, uint32(t.Proto))
			}
		case hal.TrapLocal:
			a := t.Addr.As4()
			if v := binary.BigEndian.Uint32(a[:]); !hal.IsMulticast4(v) {
				addrs = append(addrs, v)
			}
		case hal.TrapGroup:
			p := t.Prefix.Masked()
			a := p.Addr().As4()
			v, bits := binary.BigEndian.Uint32(a[:]), p.Bits()
			if bits >= 4 && hal.IsMulticast4(v) {
				continue // inside 224/4, which passes anyway
			}
			var mask uint32
			if bits > 0 {
				mask = ^uint32(0) << (32 - bits)
			}
			pfx = append(pfx, [2]uint32{v, mask})
		}
	}
	if len(protos)+len(addrs)+2*len(pfx) > maxFilterTraps {
		allIPv4 = true
	}
	var b filterBuilder
	b.op(bpfLdH, 12, "", "") // ethertype
	if arp {
		b.op(bpfJeq, etherARP, "accept", "")
	}
	b.op(bpfJeq, 0x0800, "", "drop")
	if allIPv4 {
		b.op(bpfRetK, accept, "", "")
	}
	b.op(bpfLdW, 0, "", "")                // destination MAC, first 4 bytes
	b.op(bpfAnd, 0xffffff80, "", "")       // 01:00:5e/25
	b.op(bpfJeq, 0x01005e00, "accept", "") // -> exact check in wanted
	b.op(bpfLdB, 14+9, "", "")             // IPv4 protocol
	for _, p := range protos {
		b.op(bpfJeq, p, "accept", "")
	}
	b.op(bpfLdW, 14+16, "", "") // IPv4 destination
	for _, a := range addrs {
		b.op(bpfJeq, a, "accept", "")
	}
	for _, p := range pfx {
		b.op(bpfAnd, p[1], "", "")
		b.op(bpfJeq, p[0], "accept", "")
		b.op(bpfLdW, 14+16, "", "")
	}
	b.op(bpfAnd, 0xf0000000, "", "")
	b.op(bpfJeq, 0xe0000000, "accept", "drop") // 224/4
	b.label("accept")
	b.op(bpfRetK, accept, "", "")
	b.label("drop")
	b.op(bpfRetK, drop, "", "")
	return b.build()
}

// maxFilterTraps bounds the comparisons the filter makes per frame (each a
// couple of instructions; conditional jumps reach at most 255 instructions
// ahead): 64 covers a card's protocols and the addresses of its ports.
const maxFilterTraps = 64

// etherARP is ARP's ethertype (RFC 826).
const etherARP = 0x0806

// filterBuilder assembles a classic BPF program whose conditional jumps
// name labels ("" is the next instruction).
type filterBuilder struct {
	ins    []unix.SockFilter
	jt, jf []string
	labels map[string]int
}

func (b *filterBuilder) op(code uint16, k uint32, jt, jf string) {
	b.ins = append(b.ins, unix.SockFilter{Code: code, K: k})
	b.jt, b.jf = append(b.jt, jt), append(b.jf, jf)
}

func (b *filterBuilder) label(name string) {
	if b.labels == nil {
		b.labels = map[string]int{}
	}
	b.labels[name] = len(b.ins)
}

func (b *filterBuilder) build() []unix.SockFilter {
	off := func(i int, l string) uint8 {
		if l == "" {
			return 0
		}
		return uint8(b.labels[l] - i - 1)
	}
	for i := range b.ins {
		b.ins[i].Jt, b.ins[i].Jf = off(i, b.jt[i]), off(i, b.jf[i])
	}
	return b.ins
}

// wanted is the exact receive predicate (see rxFilter) for a frame that
// passed the socket filter: an IPv4 frame to an 01:00:5e/25 MAC passes
// there without its IP header being looked at; every other frame the
// filter passed was checked exactly.
func wanted(f []byte) bool {
	// The same loads as the filter, which drops a frame too short for one.
	if len(f) < 14+10 {
		return false
	}
	if f[0] != 0x01 || f[1] != 0x00 || f[2] != 0x5e || f[3]&0x80 != 0 || f[12] != 0x08 || f[13] != 0x00 {
		return true
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
