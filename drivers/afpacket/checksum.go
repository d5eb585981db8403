package afpacket

import (
	"encoding/binary"
	"math/bits"
)

// Checksum completion of frames the kernel hands over unfinished.
//
// A sender on the same host (a process in a namespace behind a veth, a tap,
// a container) leaves the transport checksum of its UDP and TCP packets to
// "the hardware" (CHECKSUM_PARTIAL): the checksum field holds only the
// pseudo-header sum and the device that finally transmits the packet on a
// wire is expected to finish it. veth has no wire, so the skb reaches our
// tap still partial and AF_PACKET marks it TP_STATUS_CSUMNOTREADY in the RX
// ring. Forwarded byte for byte, such a frame reaches the receivers with a
// wrong checksum and every receiving stack drops it (UdpInCsumErrors):
// issue #12 measured 4,462 of 4,462 datagrams lost.
//
// The driver completes the checksum in place, in the RX ring block it owns
// until release, before the frame goes to the forwarding core; the core's
// copies then carry it. The alternative, PACKET_VNET_HDR on both sockets
// (the kernel reports csum_start/csum_offset on receive and we would send
// the frame on as CHECKSUM_PARTIAL), was rejected: the virtio header has to
// be prepended to every transmitted frame in both TX modes (an extra iovec
// per message with mmsg, a moved data offset in every TX ring slot), a
// partial skb handed to a NIC without checksum offload is completed by the
// kernel anyway (skb_checksum_help, the same work on the router CPU), and
// on veth the receivers would see CHECKSUM_PARTIAL skbs - correct for them
// but not what a wire delivers. Completing here is one pass over a frame
// that is about to be copied anyway, only for frames that need it (none
// arrive from a real wire), and works identically for every TX mode and
// device. BenchmarkCompleteChecksum measures it.
//
// The checksum is recomputed from scratch (pseudo-header, then the whole
// segment with the checksum field taken as zero) rather than folded onto the
// partial seed, so the result does not depend on what the sender left in
// the field.

// completeChecksum finishes the UDP or TCP checksum of an Ethernet II +
// IPv4 frame in place. It reports whether it wrote one; frames that are not
// IPv4, are fragments, carry another protocol, or whose lengths do not add
// up are left alone (the core counts or forwards them as they are).
func completeChecksum(f []byte) bool {
	const eth = 14
	if len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 {
		return false
	}
	ip := f[eth:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 {
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total > len(ip) || total < ihl {
		return false
	}
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return false // a fragment: the checksum covers the reassembled datagram
	}
	seg := ip[ihl:total]
	var field int
	switch ip[9] {
	case 17: // UDP, RFC 768
		if len(seg) < 8 || int(binary.BigEndian.Uint16(seg[4:6])) != len(seg) {
			return false
		}
		field = 6
	case 6: // TCP, RFC 9293 section 3.1
		if len(seg) < 20 {
			return false
		}
		field = 16
	default:
		return false
	}
	seg[field], seg[field+1] = 0, 0
	sum := uint64(binary.BigEndian.Uint16(ip[12:14])) + uint64(binary.BigEndian.Uint16(ip[14:16])) +
		uint64(binary.BigEndian.Uint16(ip[16:18])) + uint64(binary.BigEndian.Uint16(ip[18:20])) +
		uint64(ip[9]) + uint64(len(seg))
	sum += uint64(bits.ReverseBytes16(onesSum(seg)))
	c := ^fold(sum)
	if c == 0 && ip[9] == 17 {
		c = 0xffff // RFC 768: a computed zero is transmitted as all ones
	}
	binary.BigEndian.PutUint16(seg[field:], c)
	return true
}

// onesSum returns the 16-bit one's complement sum of b read as
// little-endian words (RFC 1071 section 2(B): the sum is byte-order
// independent, so the caller swaps the result once instead of every word).
// It adds 8 bytes at a time with carries, which is what makes completing a
// 1500-byte frame cheap next to the copies the frame gets anyway.
func onesSum(b []byte) uint16 {
	var sum, carry uint64
	for len(b) >= 32 {
		var c uint64
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[0:8]), 0)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:16]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[16:24]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[24:32]), c)
		carry += c
		b = b[32:]
	}
	for len(b) >= 8 {
		var c uint64
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b), 0)
		carry += c
		b = b[8:]
	}
	for len(b) >= 2 {
		var c uint64
		sum, c = bits.Add64(sum, uint64(binary.LittleEndian.Uint16(b)), 0)
		carry += c
		b = b[2:]
	}
	if len(b) == 1 {
		var c uint64
		sum, c = bits.Add64(sum, uint64(b[0]), 0) // the odd byte, padded with a zero (little-endian low byte)
		carry += c
	}
	// Fold the 64-bit sum and its carries into 16 bits.
	s, c := bits.Add64(sum, carry, 0)
	return fold(s + c)
}

// fold reduces a 64-bit one's complement sum to 16 bits.
func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
