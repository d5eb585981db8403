package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// AllPIMRouters is ALL-PIM-ROUTERS, 224.0.0.13 (RFC 7761 §4.9): the
// destination of Hello, Join/Prune, Assert, Bootstrap and PFM messages.
var AllPIMRouters = netip.AddrFrom4([4]byte{224, 0, 0, 13})

// ProtocolPIM is the IP protocol number of PIM.
const ProtocolPIM = protocolPIM

// Defaults of the IPv4 header around a PIM message, as FRR 8.4 sends them
// (shared/interop/captures/pim-frr.pcap): DSCP CS6, TTL 1 to a link-local
// group (RFC 7761 §4.9: messages to ALL-PIM-ROUTERS have TTL 1), TTL 64
// unicast (Register, Register-Stop, C-RP-Advertisement).
const (
	DefaultTOS        = 0xc0
	DefaultUnicastTTL = 64
	LinkLocalTTL      = 1
)

// IPv4 is the IPv4 header of a PIM packet (no IP options).
type IPv4 struct {
	Src, Dst netip.Addr
	TOS      uint8
	TTL      uint8
	ID       uint16
}

// AppendIPv4 appends an IPv4 header (20 bytes, protocol 103, header
// checksum) and payload to b.
func AppendIPv4(b []byte, h IPv4, payload []byte) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return b, invalidf("ipv4", "addresses", fmt.Sprintf("source %v and destination %v must be IPv4", h.Src, h.Dst))
	}
	total := ipv4HeaderLen + len(payload)
	if total > 0xffff {
		return b, invalidf("ipv4", "total length", fmt.Sprintf("%d bytes exceed 65535", total))
	}
	start := len(b)
	b = append(b, 0x45, h.TOS)
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, h.ID)
	b = append(b, 0, 0, h.TTL, protocolPIM, 0, 0)
	s, d := h.Src.As4(), h.Dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	binary.BigEndian.PutUint16(b[start+10:], Checksum(b[start:start+ipv4HeaderLen]))
	return append(b, payload...), nil
}

// Packet builds the IPv4 packet carrying m from src to dst with the
// default TOS and TTL: 1 to a link-local group such as AllPIMRouters, 64
// otherwise.
func Packet(src, dst netip.Addr, m Message) ([]byte, error) {
	ttl := uint8(DefaultUnicastTTL)
	if dst.Is4() && dst.IsLinkLocalMulticast() {
		ttl = LinkLocalTTL
	}
	pim, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	return AppendIPv4(make([]byte, 0, ipv4HeaderLen+len(pim)), IPv4{Src: src, Dst: dst, TOS: DefaultTOS, TTL: ttl}, pim)
}

// ParseIPv4 checks an IPv4 packet carrying PIM (version, header length and
// checksum, total length, protocol 103, not a fragment) and returns its
// header and the PIM message, which aliases pkt. Bytes after the IP total
// length (Ethernet padding) are dropped.
func ParseIPv4(pkt []byte) (IPv4, []byte, error) {
	const msg = "ipv4"
	fail := func(field string, sentinel error, format string, args ...any) (IPv4, []byte, error) {
		return IPv4{}, nil, &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf(format, args...), Err: sentinel}
	}
	if len(pkt) < ipv4HeaderLen {
		return fail("header", ErrTruncated, "%d bytes, need %d", len(pkt), ipv4HeaderLen)
	}
	if v := pkt[0] >> 4; v != 4 {
		return fail("version", ErrAddressFamily, "IP version %d, want 4", v)
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < ipv4HeaderLen || ihl > len(pkt) {
		return fail("header length", ErrTruncated, "header length %d outside [20, %d]", ihl, len(pkt))
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < ihl || total > len(pkt) {
		return fail("total length", ErrTruncated, "total length %d outside [%d, %d]", total, ihl, len(pkt))
	}
	if Checksum(pkt[:ihl]) != 0 {
		return fail("header checksum", ErrChecksum, "checksum %#04x does not verify", binary.BigEndian.Uint16(pkt[10:]))
	}
	if frag := binary.BigEndian.Uint16(pkt[6:]); frag&0x3fff != 0 {
		return fail("fragment", ErrUnsupported, "fragment (flags/offset %#04x); reassembly is not done here", frag)
	}
	if p := pkt[9]; p != protocolPIM {
		return fail("protocol", ErrUnknownType, "protocol %d, want 103", p)
	}
	h := IPv4{
		TOS: pkt[1],
		TTL: pkt[8],
		ID:  binary.BigEndian.Uint16(pkt[4:]),
		Src: netip.AddrFrom4([4]byte(pkt[12:16])),
		Dst: netip.AddrFrom4([4]byte(pkt[16:20])),
	}
	return h, pkt[ihl:total], nil
}
