package xdp

import (
	"encoding/binary"

	"github.com/mxfwd/mxfwd/drivers/internal/l4csum"
)

// TCP segmentation of punted GSO packets.
//
// The tc program sees an skb as the stack built it: a local sender's TCP
// behind a veth with TSO (the veth default), or a NIC's GRO, hands it
// packets of up to 64 KiB that the wire would carry as segments of
// gso_size payload bytes. The RE's host stack behind a TAP must get what a
// wire carries, so the driver cuts them as the kernel's tcp_gso_segment
// does (RFC 9293 section 3.1 fields): each segment gets the headers, its
// share of the payload, the sequence number of its first byte, an IPv4
// identification one higher than the previous, FIN and PSH on the last
// segment only, CWR on the first only, and complete IPv4 and TCP
// checksums. Anything else (not IPv4/TCP, options that do not add up, a
// segment size of zero) is handed up as it is.

// segmentTCP calls emit with each segment of GSO packet f whose segments
// carry mss payload bytes, in order, in buf (reused between calls: emit
// must not keep it). It reports false, without calling emit, for a frame
// it cannot cut.
func segmentTCP(f []byte, mss int, buf []byte, emit func([]byte)) bool {
	const eth = 14
	if mss <= 0 || len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 {
		return false
	}
	ip := f[eth:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total == 0 { // a BIG TCP packet beyond 64 KiB: not from a legacy GSO size
		return false
	}
	if total > len(ip) || total < ihl+20 {
		return false
	}
	tcp := ip[ihl:total]
	thl := int(tcp[12]>>4) * 4
	if thl < 20 || thl > len(tcp) {
		return false
	}
	hdr := eth + ihl + thl
	payload := f[hdr : eth+total]
	if len(payload) <= mss {
		return false // one segment: nothing to cut
	}
	id := binary.BigEndian.Uint16(ip[4:6])
	seq := binary.BigEndian.Uint32(tcp[4:8])
	const fin, psh, cwr = 0x01, 0x08, 0x80
	flags := tcp[13]
	for off, i := 0, 0; off < len(payload); off, i = off+mss, i+1 {
		n := min(mss, len(payload)-off)
		seg := append(buf[:0], f[:hdr]...)
		seg = append(seg, payload[off:off+n]...)
		sip := seg[eth:]
		binary.BigEndian.PutUint16(sip[2:4], uint16(ihl+thl+n))
		binary.BigEndian.PutUint16(sip[4:6], id+uint16(i))
		sip[10], sip[11] = 0, 0
		binary.BigEndian.PutUint16(sip[10:12], ipv4Checksum(sip[:ihl]))
		st := sip[ihl:]
		binary.BigEndian.PutUint32(st[4:8], seq+uint32(off))
		fl := flags
		if off+n < len(payload) {
			fl &^= fin | psh
		}
		if i > 0 {
			fl &^= cwr
		}
		st[13] = fl
		l4csum.Complete(seg)
		emit(seg)
		buf = seg
	}
	return true
}

// ipv4Checksum is the header checksum of hdr (RFC 791), its checksum
// field taken as it is (the caller zeroes it).
func ipv4Checksum(hdr []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(hdr); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(hdr[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
