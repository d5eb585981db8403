package igmpmsg

import (
	"encoding/binary"
	"net/netip"
)

// ProtocolIGMP is the IP protocol number of IGMP.
const ProtocolIGMP = 2

// The IPv4 header IGMP messages are sent with: TTL 1 (RFC 2236 §2, RFC 3376
// §4), the Router Alert option (RFC 2113), and DSCP CS6 as routing
// protocol traffic (the Linux kernel sends its IGMP reports with TOS 0xc0).
const (
	DefaultTTL = 1
	DefaultTOS = 0xc0
)

const (
	ipv4HeaderLen   = 20
	routerAlertLen  = 4
	optRouterAlert  = 0x94 // copied flag, class 0, option 20 (RFC 2113)
	optEndOfOptions = 0
	optNOP          = 1
)

// IPv4 is the IPv4 header of an IGMP packet.
type IPv4 struct {
	Src, Dst    netip.Addr
	TOS         uint8
	TTL         uint8
	ID          uint16
	RouterAlert bool // carries the Router Alert option (value 0)
}

// AppendIPv4 appends an IPv4 header (protocol 2, with the 4-byte Router
// Alert option when h.RouterAlert, header checksum) and payload to b.
func AppendIPv4(b []byte, h IPv4, payload []byte) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return b, invalidf("ipv4", "addresses", "source %v and destination %v must be IPv4", h.Src, h.Dst)
	}
	hl := ipv4HeaderLen
	if h.RouterAlert {
		hl += routerAlertLen
	}
	total := hl + len(payload)
	if total > 0xffff {
		return b, invalidf("ipv4", "total length", "%d bytes exceed 65535", total)
	}
	start := len(b)
	b = append(b, 0x40|byte(hl/4), h.TOS)
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, h.ID)
	b = append(b, 0, 0, h.TTL, ProtocolIGMP, 0, 0)
	s, d := h.Src.As4(), h.Dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	if h.RouterAlert {
		b = append(b, optRouterAlert, routerAlertLen, 0, 0)
	}
	binary.BigEndian.PutUint16(b[start+10:], checksum(b[start:start+hl]))
	return append(b, payload...), nil
}

// DefaultDst is where m is sent: a general query to 224.0.0.1, a
// group-specific query and a v1/v2 report to the group, a leave to
// 224.0.0.2, a v3 report to 224.0.0.22 (RFC 2236 §9, RFC 3376 §4.1.12,
// §4.2.14).
func DefaultDst(m Message) netip.Addr {
	switch m := m.(type) {
	case *Query:
		if m.General() {
			return AllSystems
		}
		return m.Group
	case *Report:
		return m.Group
	case *Leave:
		return AllRouters
	}
	return AllV3Routers
}

// Packet builds the IPv4 packet carrying m from src to dst (DefaultDst(m)
// when dst is the zero Addr) with TTL 1, TOS 0xc0 and Router Alert.
func Packet(src, dst netip.Addr, m Message) ([]byte, error) {
	if !dst.IsValid() {
		dst = DefaultDst(m)
	}
	igmp, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	h := IPv4{Src: src, Dst: dst, TOS: DefaultTOS, TTL: DefaultTTL, RouterAlert: true}
	return AppendIPv4(make([]byte, 0, ipv4HeaderLen+routerAlertLen+len(igmp)), h, igmp)
}

// ParseIPv4 checks an IPv4 packet carrying IGMP (version, header length and
// checksum, total length, protocol 2, not a fragment), finds the Router
// Alert option, and returns the header and the IGMP message, which aliases
// pkt. Bytes after the IP total length (Ethernet padding) are dropped.
func ParseIPv4(pkt []byte) (IPv4, []byte, error) {
	const msg = "ipv4"
	if len(pkt) < ipv4HeaderLen {
		return IPv4{}, nil, malformedf(msg, "header", ErrTruncated, "%d bytes, need %d", len(pkt), ipv4HeaderLen)
	}
	if v := pkt[0] >> 4; v != 4 {
		return IPv4{}, nil, malformedf(msg, "version", nil, "IP version %d, want 4", v)
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < ipv4HeaderLen || hl > len(pkt) {
		return IPv4{}, nil, malformedf(msg, "header length", ErrTruncated, "header length %d outside [20, %d]", hl, len(pkt))
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < hl || total > len(pkt) {
		return IPv4{}, nil, malformedf(msg, "total length", ErrTruncated, "total length %d outside [%d, %d]", total, hl, len(pkt))
	}
	if checksum(pkt[:hl]) != 0 {
		return IPv4{}, nil, malformedf(msg, "header checksum", ErrChecksum, "checksum %#04x does not verify", binary.BigEndian.Uint16(pkt[10:]))
	}
	if frag := binary.BigEndian.Uint16(pkt[6:]); frag&0x3fff != 0 {
		return IPv4{}, nil, malformedf(msg, "fragment", nil, "fragment (flags/offset %#04x)", frag)
	}
	if p := pkt[9]; p != ProtocolIGMP {
		return IPv4{}, nil, malformedf(msg, "protocol", ErrUnknownType, "protocol %d, want 2", p)
	}
	h := IPv4{
		TOS: pkt[1], TTL: pkt[8], ID: binary.BigEndian.Uint16(pkt[4:]),
		Src: netip.AddrFrom4([4]byte(pkt[12:16])), Dst: netip.AddrFrom4([4]byte(pkt[16:20])),
	}
	opts := pkt[ipv4HeaderLen:hl]
	for len(opts) > 0 {
		switch opts[0] {
		case optEndOfOptions:
			opts = nil
			continue
		case optNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			return IPv4{}, nil, malformedf(msg, "options", ErrTruncated, "option %#02x has a bad length", opts[0])
		}
		if opts[0] == optRouterAlert && opts[1] == routerAlertLen {
			h.RouterAlert = true
		}
		opts = opts[opts[1]:]
	}
	return h, pkt[hl:total], nil
}
