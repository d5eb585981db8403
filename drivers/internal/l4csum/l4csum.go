// Package l4csum completes the UDP and TCP checksums (RFC 768, RFC 9293
// section 3.1) of Ethernet II + IPv4 frames that a local sender left to
// "the hardware" (CHECKSUM_PARTIAL), for the drivers with real ports.
//
// A sender on the same host (a process in a namespace behind a veth, a tap,
// a container) leaves the transport checksum of its UDP and TCP packets to
// the device that finally transmits them on a wire: the checksum field holds
// only the folded pseudo-header sum (udp4_hwcsum, __tcp_v4_send_check). veth
// has no wire, so such frames reach a router's port unfinished, and any
// stack that receives their bytes as they are (a receiver behind the
// router, the RE's host stack behind a TAP) drops them.
//
// Complete recomputes the checksum of any UDP or TCP frame; a driver calls
// it when the kernel says the frame is partial (afpacket:
// TP_STATUS_CSUMNOTREADY). CompletePartial is for drivers that get the
// frame's bytes without that flag (xdp's punts: BPF programs cannot read
// the skb's ip_summed): it completes only a frame whose checksum field holds
// exactly the pseudo-header seed a CHECKSUM_PARTIAL sender leaves there and
// whose checksum does not verify. A frame from a wire verifies and is left
// alone; a corrupt one is left alone unless its field happens to hold its
// pseudo-header sum (one corrupt frame in 65,536), which is the price of
// not knowing.
//
// The functions work in place on the caller's frame, allocate nothing and
// are safe for concurrent use on different frames.
package l4csum

import (
	"encoding/binary"
	"math/bits"
)

// locate finds the transport segment of an unfragmented IPv4 UDP or TCP
// frame and the offset of its checksum field in the segment.
func locate(f []byte) (ip, seg []byte, field int, ok bool) {
	const eth = 14
	if len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 {
		return nil, nil, 0, false
	}
	ip = f[eth:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 {
		return nil, nil, 0, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total > len(ip) || total < ihl {
		return nil, nil, 0, false
	}
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return nil, nil, 0, false // a fragment: the checksum covers the reassembled datagram
	}
	seg = ip[ihl:total]
	switch ip[9] {
	case 17: // UDP
		if len(seg) < 8 || int(binary.BigEndian.Uint16(seg[4:6])) != len(seg) {
			return nil, nil, 0, false
		}
		return ip, seg, 6, true
	case 6: // TCP
		if len(seg) < 20 {
			return nil, nil, 0, false
		}
		return ip, seg, 16, true
	}
	return nil, nil, 0, false
}

// pseudo returns the one's complement sum of the pseudo-header, folded.
func pseudo(ip, seg []byte) uint16 {
	sum := uint64(binary.BigEndian.Uint16(ip[12:14])) + uint64(binary.BigEndian.Uint16(ip[14:16])) +
		uint64(binary.BigEndian.Uint16(ip[16:18])) + uint64(binary.BigEndian.Uint16(ip[18:20])) +
		uint64(ip[9]) + uint64(len(seg))
	return fold(sum)
}

// Complete finishes the UDP or TCP checksum of an Ethernet II + IPv4 frame
// in place. It reports whether it wrote one; frames that are not IPv4, are
// fragments, carry another protocol, or whose lengths do not add up are
// left alone. The checksum is recomputed from scratch (pseudo-header, then
// the whole segment with the field taken as zero), so the result does not
// depend on what the sender left in the field.
func Complete(f []byte) bool {
	ip, seg, field, ok := locate(f)
	if !ok {
		return false
	}
	seg[field], seg[field+1] = 0, 0
	sum := uint64(pseudo(ip, seg)) + uint64(bits.ReverseBytes16(onesSum(seg)))
	c := ^fold(sum)
	if c == 0 && ip[9] == 17 {
		c = 0xffff // RFC 768: a computed zero is transmitted as all ones
	}
	binary.BigEndian.PutUint16(seg[field:], c)
	return true
}

// CompletePartial completes the checksum of a UDP or TCP frame whose
// checksum field holds the pseudo-header seed of a CHECKSUM_PARTIAL sender
// and does not verify; it reports whether it wrote one. A UDP checksum of
// zero (none, RFC 768) is left alone.
func CompletePartial(f []byte) bool {
	ip, seg, field, ok := locate(f)
	if !ok {
		return false
	}
	have := binary.BigEndian.Uint16(seg[field:])
	if ip[9] == 17 && have == 0 {
		return false
	}
	p := pseudo(ip, seg)
	if have != p && !(p == 0xffff && have == 0) {
		return false
	}
	// Verified: the sum over the pseudo-header and the segment, the
	// field included, is all ones.
	if fold(uint64(p)+uint64(bits.ReverseBytes16(onesSum(seg)))) == 0xffff {
		return false
	}
	return Complete(f)
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
