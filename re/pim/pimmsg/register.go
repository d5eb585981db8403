package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Register is a PIM Register message (RFC 7761 §4.9.3): a multicast data
// packet encapsulated by the DR and unicast to the RP, or with Null set, a
// Null-Register carrying only a dummy IPv4 header whose source and
// destination are S and G (sent to probe before the Register-Stop timer
// runs out, §4.4.1).
type Register struct {
	Border bool // B: sent by a PMBR (RFC 7761 §4.9.3)
	Null   bool // N: Null-Register
	// Packet is the encapsulated IPv4 packet (for a Null-Register, the
	// dummy header). The decoder checks that it starts with an IPv4 header.
	Packet []byte
}

// Type implements Message.
func (*Register) Type() Type   { return TypeRegister }
func (*Register) flags() uint8 { return 0 }

const (
	registerBorder = 1 << 31
	registerNull   = 1 << 30
	ipv4HeaderLen  = 20
	protocolPIM    = 103
)

// NewNullRegister builds the Null-Register for (s,g): the dummy IPv4 header
// (version 4, length 20, TTL 0, protocol PIM as FRR sends it, source s,
// destination g, header checksum computed).
func NewNullRegister(s, g netip.Addr) (*Register, error) {
	if !s.Is4() || !g.Is4() {
		return nil, invalidf("register", "dummy header", fmt.Sprintf("source %v and group %v must be IPv4", s, g))
	}
	h := make([]byte, ipv4HeaderLen)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], ipv4HeaderLen)
	h[9] = protocolPIM
	sa, ga := s.As4(), g.As4()
	copy(h[12:], sa[:])
	copy(h[16:], ga[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h))
	return &Register{Null: true, Packet: h}, nil
}

// Inner returns the source and destination of the encapsulated packet:
// (S,G) of the Register.
func (m *Register) Inner() (src, dst netip.Addr, err error) {
	if err := checkInner(m.Packet); err != nil {
		return src, dst, err
	}
	return netip.AddrFrom4([4]byte(m.Packet[12:16])), netip.AddrFrom4([4]byte(m.Packet[16:20])), nil
}

func checkInner(p []byte) error {
	const msg, field = "register", "encapsulated packet"
	if len(p) < ipv4HeaderLen {
		return &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf("%d bytes, shorter than an IPv4 header", len(p)), Err: ErrTruncated}
	}
	if v := p[0] >> 4; v != 4 {
		return &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf("IP version %d, want 4", v), Err: ErrAddressFamily}
	}
	if ihl := int(p[0]&0x0f) * 4; ihl < ipv4HeaderLen || ihl > len(p) {
		return &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf("IPv4 header length %d outside [20, %d]", ihl, len(p))}
	}
	return nil
}

func (m *Register) appendBody(b []byte) ([]byte, error) {
	if err := checkInner(m.Packet); err != nil {
		fe := err.(*FieldError)
		fe.encode, fe.Err = true, nil
		return b, fe
	}
	var f uint32
	if m.Border {
		f |= registerBorder
	}
	if m.Null {
		f |= registerNull
	}
	b = binary.BigEndian.AppendUint32(b, f)
	return append(b, m.Packet...), nil
}

func decodeRegister(d *decoder) *Register {
	f := d.u32("flags")
	if d.err != nil {
		return nil
	}
	p := d.bytes("encapsulated packet", d.left())
	if err := checkInner(p); err != nil {
		d.err = err.(*FieldError)
		return nil
	}
	return &Register{Border: f&registerBorder != 0, Null: f&registerNull != 0, Packet: append([]byte{}, p...)}
}

// RegisterStop is a PIM Register-Stop message (RFC 7761 §4.9.4), sent by
// the RP to the DR. Source is the unspecified address 0.0.0.0 for a
// Register-Stop that applies to all sources of the group.
type RegisterStop struct {
	Group  Group
	Source netip.Addr
}

// Type implements Message.
func (*RegisterStop) Type() Type   { return TypeRegisterStop }
func (*RegisterStop) flags() uint8 { return 0 }

func (m *RegisterStop) appendBody(b []byte) ([]byte, error) {
	const msg = "register-stop"
	b, err := appendGroup(b, m.Group)
	if err != nil {
		return b, invalidAt(msg, err, "group address")
	}
	if b, err = appendUnicast(b, m.Source); err != nil {
		return b, invalidAt(msg, err, "source address")
	}
	return b, nil
}

func decodeRegisterStop(d *decoder) *RegisterStop {
	m := &RegisterStop{Group: d.group("group address"), Source: d.unicast("source address")}
	d.end()
	return m
}

// Assert is a PIM Assert message (RFC 7761 §4.9.6). For an (S,G) assert
// Source is S and RPT is clear; for a (*,G) assert Source is 0.0.0.0 and
// RPT is set.
type Assert struct {
	Group            Group
	Source           netip.Addr
	RPT              bool   // R: RPT bit
	MetricPreference uint32 // 31 bits; 0x7fffffff is infinity
	Metric           uint32
}

// Type implements Message.
func (*Assert) Type() Type   { return TypeAssert }
func (*Assert) flags() uint8 { return 0 }

func (m *Assert) appendBody(b []byte) ([]byte, error) {
	const msg = "assert"
	if m.MetricPreference > 0x7fffffff {
		return b, invalidf(msg, "metric preference", fmt.Sprintf("%d exceeds 31 bits", m.MetricPreference))
	}
	b, err := appendGroup(b, m.Group)
	if err != nil {
		return b, invalidAt(msg, err, "group address")
	}
	if b, err = appendUnicast(b, m.Source); err != nil {
		return b, invalidAt(msg, err, "source address")
	}
	v := m.MetricPreference
	if m.RPT {
		v |= 1 << 31
	}
	b = binary.BigEndian.AppendUint32(b, v)
	return binary.BigEndian.AppendUint32(b, m.Metric), nil
}

func decodeAssert(d *decoder) *Assert {
	m := &Assert{Group: d.group("group address"), Source: d.unicast("source address")}
	v := d.u32("metric preference")
	m.RPT, m.MetricPreference = v&(1<<31) != 0, v&0x7fffffff
	m.Metric = d.u32("metric")
	d.end()
	return m
}
