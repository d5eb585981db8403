package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Header flag bits (RFC 9436 "Flag Bits", the Reserved byte of RFC 7761).
const (
	// flagNoForward is the N bit of Bootstrap (RFC 5059 §3.2) and PFM
	// (RFC 8364 §3) messages.
	flagNoForward = 0x80
	// flagMSDP is seed 001's S-bit in the Candidate-RP-Advertisement
	// header ("|PIM Ver| Type |S| Reserved | Checksum |", §3.1).
	flagMSDP = 0x80
	// rpMSDP is seed 001's S-bit in a Bootstrap RP entry, the top bit of
	// the byte after RPn-Priority (§3.2).
	rpMSDP = 0x80
)

// Bootstrap is a PIM Bootstrap message (RFC 5059 §4.1) with seed 001's
// S-bit per RP. One fragment carries some of the group ranges; a range
// split across fragments repeats its Group with RPCount the total and the
// RPs of this fragment in RPs (Frag RP-Cnt = len(RPs)).
type Bootstrap struct {
	NoForward   bool   // N: do not forward (RFC 5059 §3.2, sent to a new neighbour)
	FragmentTag uint16 // the same in all fragments of one BSM
	HashMaskLen uint8
	BSRPriority uint8
	BSR         netip.Addr
	Groups      []BSRGroup
}

// BSRGroup is one group range of a Bootstrap message.
type BSRGroup struct {
	Group   Group
	RPCount uint8 // RPs for this range in the whole BSM, all fragments
	RPs     []BSRRP
}

// BSRRP is one candidate RP of a group range in a Bootstrap message.
type BSRRP struct {
	Addr     netip.Addr
	Holdtime uint16 // seconds
	Priority uint8  // lower is preferred
	// MSDP is seed 001's S-bit: the C-RP has external MSDP peerings (it is
	// an MSDP server).
	MSDP bool
}

// Type implements Message.
func (*Bootstrap) Type() Type { return TypeBootstrap }
func (m *Bootstrap) flags() uint8 {
	if m.NoForward {
		return flagNoForward
	}
	return 0
}

const bsrRPLen = unicastLen + 4

func (m *Bootstrap) appendBody(b []byte) ([]byte, error) {
	const msg = "bootstrap"
	b = binary.BigEndian.AppendUint16(b, m.FragmentTag)
	b = append(b, m.HashMaskLen, m.BSRPriority)
	b, err := appendUnicast(b, m.BSR)
	if err != nil {
		return b, invalidAt(msg, err, "bsr address")
	}
	for i := range m.Groups {
		g := &m.Groups[i]
		if len(g.RPs) > 255 {
			return b, invalidf(msg, fmt.Sprintf("group %d", i+1), fmt.Sprintf("%d RPs in one fragment exceed 255", len(g.RPs)))
		}
		if b, err = appendGroup(b, g.Group); err != nil {
			return b, invalidAt(msg, err, "group %d", i+1)
		}
		b = append(b, g.RPCount, byte(len(g.RPs)), 0, 0)
		for j, rp := range g.RPs {
			if b, err = appendUnicast(b, rp.Addr); err != nil {
				return b, invalidAt(msg, err, "group %d (%v): rp %d", i+1, g.Group, j+1)
			}
			b = binary.BigEndian.AppendUint16(b, rp.Holdtime)
			var r byte
			if rp.MSDP {
				r = rpMSDP
			}
			b = append(b, rp.Priority, r)
		}
	}
	return b, nil
}

func decodeBootstrap(d *decoder, flags uint8) *Bootstrap {
	m := &Bootstrap{NoForward: flags&flagNoForward != 0}
	m.FragmentTag = d.u16("fragment tag")
	m.HashMaskLen = d.u8("hash mask len")
	m.BSRPriority = d.u8("bsr priority")
	m.BSR = d.unicast("bsr address")
	if d.err != nil {
		return nil
	}
	if m.HashMaskLen > 32 {
		d.failf("hash mask len", nil, "%d > 32", m.HashMaskLen)
		return nil
	}
	// Each group needs at least its 12-byte header, which bounds the slice.
	m.Groups = make([]BSRGroup, 0, d.left()/(groupLen+4))
	for i := 0; d.left() > 0; i++ {
		var g BSRGroup
		g.Group = d.group("group address")
		g.RPCount = d.u8("rp count")
		frag := int(d.u8("frag rp count"))
		d.u16("reserved")
		if d.err == nil && frag*bsrRPLen > d.left() {
			d.failf("frag rp count", ErrTruncated, "%d RPs need %d bytes, %d left", frag, frag*bsrRPLen, d.left())
		}
		if d.err == nil && frag > 0 {
			g.RPs = make([]BSRRP, frag)
		}
		for j := range g.RPs {
			rp := &g.RPs[j]
			rp.Addr = d.unicast("address")
			rp.Holdtime = d.u16("holdtime")
			rp.Priority = d.u8("priority")
			rp.MSDP = d.u8("reserved")&rpMSDP != 0
			if d.err != nil {
				d.within(fmt.Sprintf("rp %d", j+1))
				break
			}
		}
		if d.err != nil {
			d.within(fmt.Sprintf("group %d", i+1))
			return nil
		}
		m.Groups = append(m.Groups, g)
	}
	if len(m.Groups) == 0 {
		m.Groups = nil
	}
	return m
}

// CandidateRPAdv is a PIM Candidate-RP-Advertisement (RFC 5059 §4.2),
// unicast by a C-RP to the BSR, with seed 001's S-bit in the header. An
// empty Groups means all of 224.0.0.0/4 (Prefix-Cnt 0, RFC 5059 §4.2).
type CandidateRPAdv struct {
	// MSDP is seed 001's S-bit: the C-RP is an MSDP server with external
	// peerings.
	MSDP     bool
	Priority uint8  // lower is preferred
	Holdtime uint16 // seconds
	RP       netip.Addr
	Groups   []Group
}

// Type implements Message.
func (*CandidateRPAdv) Type() Type { return TypeCandidateRPAdv }
func (m *CandidateRPAdv) flags() uint8 {
	if m.MSDP {
		return flagMSDP
	}
	return 0
}

func (m *CandidateRPAdv) appendBody(b []byte) ([]byte, error) {
	const msg = "candidate-rp-advertisement"
	if len(m.Groups) > 255 {
		return b, invalidf(msg, "prefix count", fmt.Sprintf("%d groups exceed 255", len(m.Groups)))
	}
	b = append(b, byte(len(m.Groups)), m.Priority)
	b = binary.BigEndian.AppendUint16(b, m.Holdtime)
	b, err := appendUnicast(b, m.RP)
	if err != nil {
		return b, invalidAt(msg, err, "rp address")
	}
	for i, g := range m.Groups {
		if b, err = appendGroup(b, g); err != nil {
			return b, invalidAt(msg, err, "group %d", i+1)
		}
	}
	return b, nil
}

func decodeCandidateRPAdv(d *decoder, flags uint8) *CandidateRPAdv {
	m := &CandidateRPAdv{MSDP: flags&flagMSDP != 0}
	n := int(d.u8("prefix count"))
	m.Priority = d.u8("priority")
	m.Holdtime = d.u16("holdtime")
	m.RP = d.unicast("rp address")
	if d.err != nil {
		return nil
	}
	if n*groupLen > d.left() {
		d.failf("prefix count", ErrTruncated, "%d groups need %d bytes, %d left", n, n*groupLen, d.left())
		return nil
	}
	if n > 0 {
		m.Groups = make([]Group, n)
	}
	for i := range m.Groups {
		m.Groups[i] = d.group("")
		if d.err != nil {
			d.within(fmt.Sprintf("group %d", i+1))
			return nil
		}
	}
	d.end()
	return m
}
