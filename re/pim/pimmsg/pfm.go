package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PFM is a PIM Flooding Mechanism message (RFC 8364 §3, PIM type 12): an
// originator and a list of TLVs, flooded hop by hop to all PIM routers.
type PFM struct {
	NoForward  bool // N: do not forward (RFC 8364 §3)
	Originator netip.Addr
	TLVs       []TLV
}

// TLV is one PFM TLV (RFC 8364 §3): a transitive bit, a 15-bit type and a
// value. A router forwards a TLV of an unknown type only if it is
// transitive.
type TLV struct {
	Transitive bool
	Type       uint16 // 15 bits
	Value      []byte
}

// TLV types.
const (
	// TLVGroupSourceHoldtime is RFC 8364's Group Source Holdtime TLV
	// (§4.2). This codec keeps its value as bytes.
	TLVGroupSourceHoldtime uint16 = 1

	// DefaultGIRType is the type this implementation gives seed 002's GIR
	// TLV (draft-raunak-pim-gir-support-00 §8, "Type = TBD") unless
	// configured otherwise. RFC 8364's IANA Considerations create the
	// "PIM Flooding Mechanism Message Types" registry, assignments by
	// "IETF Review" (RFC 8126), initial content 0 Reserved, 1 Source Group
	// Holdtime, 2-32767 Unassigned: no Experimental or Private Use range
	// (checked against the RFC's XML source, 2026-12-05), hence the value
	// is configurable. IETF Review assigns upward from 2, so the default
	// sits at the top of the 15-bit space, leaving 32767 itself alone:
	// 32766 (0x7ffe).
	DefaultGIRType uint16 = 0x7ffe

	maxTLVType = 0x7fff
	tlvHdrLen  = 4
)

// Type implements Message.
func (*PFM) Type() Type { return TypePFM }
func (m *PFM) flags() uint8 {
	if m.NoForward {
		return flagNoForward
	}
	return 0
}

func (m *PFM) appendBody(b []byte) ([]byte, error) {
	const msg = "pfm"
	b, err := appendUnicast(b, m.Originator)
	if err != nil {
		return b, invalidAt(msg, err, "originator")
	}
	for i, t := range m.TLVs {
		if t.Type > maxTLVType {
			return b, invalidf(msg, fmt.Sprintf("tlv %d", i+1), fmt.Sprintf("type %d exceeds 15 bits", t.Type))
		}
		if len(t.Value) > 0xffff {
			return b, invalidf(msg, fmt.Sprintf("tlv %d (type %d)", i+1, t.Type), fmt.Sprintf("value of %d bytes does not fit the length field", len(t.Value)))
		}
		v := t.Type
		if t.Transitive {
			v |= 0x8000
		}
		b = binary.BigEndian.AppendUint16(b, v)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

func decodePFM(d *decoder, flags uint8) *PFM {
	m := &PFM{NoForward: flags&flagNoForward != 0}
	m.Originator = d.unicast("originator")
	for i := 0; d.err == nil && d.left() > 0; i++ {
		if d.left() < tlvHdrLen {
			d.failf(fmt.Sprintf("tlv %d: header", i+1), ErrTruncated, "need %d bytes, %d left", tlvHdrLen, d.left())
			return nil
		}
		v := d.u16("type")
		n := int(d.u16("length"))
		val := d.bytes("value", n)
		if d.err != nil {
			d.within(fmt.Sprintf("tlv %d", i+1))
			return nil
		}
		m.TLVs = append(m.TLVs, TLV{Transitive: v&0x8000 != 0, Type: v & maxTLVType, Value: append([]byte{}, val...)})
	}
	if d.err != nil {
		return nil
	}
	return m
}

// GIR is seed 002's GIR TLV (draft-raunak-pim-gir-support-00 §8): the
// window, in seconds from receipt, during which routers change RPF
// gracefully. Removal sends (Start>0, Stop>Start); insertion (0, N); a
// router back in full operation sends (0, 0) at least once (§5, §6).
//
// Sources is this implementation's form of the optimisation the draft
// describes at the end of §5 ("PFM messages could carry the source prefixes
// of the multicast states present on the GIR router"), which the draft
// gives no encoding for: after the two timers, zero or more source
// prefixes, each in Encoded-Source format (RFC 7761 §4.9.1) with flags 0
// and the prefix length as mask length, so Length = 8 + 8·n for IPv4. Only
// routers with state for a listed source enter graceful mode. With no
// sources the TLV is the draft's exact 8-byte form, the one to send to
// routers of other implementations.
type GIR struct {
	Start   uint32 // graceful-rpf-start, seconds
	Stop    uint32 // graceful-rpf-stop, seconds
	Sources []netip.Prefix
}

const girFixedLen = 8

// TLV encodes g as a transitive TLV of type typ (DefaultGIRType unless
// configured), as the draft's §7 requires the T bit.
func (g GIR) TLV(typ uint16) (TLV, error) {
	const msg = "pfm"
	if typ > maxTLVType {
		return TLV{}, invalidf(msg, "gir tlv", fmt.Sprintf("type %d exceeds 15 bits", typ))
	}
	v := make([]byte, 0, girFixedLen+len(g.Sources)*sourceLen)
	v = binary.BigEndian.AppendUint32(v, g.Start)
	v = binary.BigEndian.AppendUint32(v, g.Stop)
	for i, p := range g.Sources {
		var err error
		if v, err = appendPrefixSource(v, p); err != nil {
			return TLV{}, invalidAt(msg, err, "gir tlv: source %d", i+1)
		}
	}
	if len(v) > 0xffff {
		return TLV{}, invalidf(msg, "gir tlv", fmt.Sprintf("%d sources do not fit the length field", len(g.Sources)))
	}
	return TLV{Transitive: true, Type: typ, Value: v}, nil
}

// ParseGIR decodes the value of a GIR TLV. The caller chooses the TLV by
// its configured type.
func ParseGIR(t TLV) (GIR, error) {
	d := &decoder{b: t.Value, msg: "pfm"}
	var g GIR
	g.Start = d.u32("graceful-rpf-start")
	g.Stop = d.u32("graceful-rpf-stop")
	if d.err == nil && d.left()%sourceLen != 0 {
		d.failf("sources", nil, "%d bytes after the timers are not a whole number of %d-byte encoded-source prefixes", d.left(), sourceLen)
	}
	if d.err == nil && d.left() > 0 {
		g.Sources = make([]netip.Prefix, d.left()/sourceLen)
	}
	for i := range g.Sources {
		g.Sources[i] = d.prefixSource("")
		if d.err != nil {
			d.within(fmt.Sprintf("source %d", i+1))
			break
		}
	}
	if d.err != nil {
		d.within(fmt.Sprintf("gir tlv (type %d)", t.Type))
		return GIR{}, d.err
	}
	return g, nil
}

// FindGIR returns the first TLV of type typ decoded as a GIR TLV; ok is
// false when the message has none.
func (m *PFM) FindGIR(typ uint16) (g GIR, ok bool, err error) {
	for _, t := range m.TLVs {
		if t.Type == typ {
			g, err = ParseGIR(t)
			return g, err == nil, err
		}
	}
	return GIR{}, false, nil
}
