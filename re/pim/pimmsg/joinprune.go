package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// JoinPrune is a PIM Join/Prune message (RFC 7761 §4.9.5). Each group
// lists the sources to join and to prune; the kind of entry is in the
// source flags: (*,G) is StarG(RP) (S, W and R set), (S,G) is SG(S) (S set),
// (S,G,rpt) is SGRpt(S) (S and R set).
type JoinPrune struct {
	UpstreamNeighbor netip.Addr // the RPF neighbour the message is addressed to
	Holdtime         uint16     // seconds the receiver keeps the state (J/P_HoldTime, 210 by default)
	Groups           []JPGroup
}

// JPGroup is one group of a Join/Prune.
type JPGroup struct {
	Group  Group
	Joins  []Source
	Prunes []Source
}

// MaxJPGroups is the largest number of groups one Join/Prune can carry
// (the Num Groups field is 8 bits).
const MaxJPGroups = 255

// Type implements Message.
func (*JoinPrune) Type() Type   { return TypeJoinPrune }
func (*JoinPrune) flags() uint8 { return 0 }

// Size is the encoded length of the message in bytes, PIM header included,
// so that a sender can pack groups up to an MTU.
func (m *JoinPrune) Size() int {
	n := headerLen + unicastLen + 4
	for _, g := range m.Groups {
		n += groupLen + 4 + (len(g.Joins)+len(g.Prunes))*sourceLen
	}
	return n
}

func (m *JoinPrune) appendBody(b []byte) ([]byte, error) {
	const msg = "join/prune"
	if len(m.Groups) > MaxJPGroups {
		return b, invalidf(msg, "num groups", fmt.Sprintf("%d groups exceed %d", len(m.Groups), MaxJPGroups))
	}
	b, err := appendUnicast(b, m.UpstreamNeighbor)
	if err != nil {
		return b, invalidAt(msg, err, "upstream neighbor")
	}
	b = append(b, 0, byte(len(m.Groups)))
	b = binary.BigEndian.AppendUint16(b, m.Holdtime)
	for i := range m.Groups {
		g := &m.Groups[i]
		if len(g.Joins) > 0xffff || len(g.Prunes) > 0xffff {
			return b, invalidf(msg, fmt.Sprintf("group %d", i+1), "more than 65535 joined or pruned sources")
		}
		if b, err = appendGroup(b, g.Group); err != nil {
			return b, invalidAt(msg, err, "group %d", i+1)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(g.Joins)))
		b = binary.BigEndian.AppendUint16(b, uint16(len(g.Prunes)))
		for j, s := range g.Joins {
			if b, err = appendSource(b, s); err != nil {
				return b, invalidAt(msg, err, "group %d (%v): joined source %d", i+1, g.Group, j+1)
			}
		}
		for j, s := range g.Prunes {
			if b, err = appendSource(b, s); err != nil {
				return b, invalidAt(msg, err, "group %d (%v): pruned source %d", i+1, g.Group, j+1)
			}
		}
	}
	return b, nil
}

// decodeJoinPrune walks the message twice: the first pass checks every
// count against the bytes left and totals the sources, so that the second
// allocates the groups and all their sources in two slices.
func decodeJoinPrune(d *decoder) *JoinPrune {
	m := &JoinPrune{}
	m.UpstreamNeighbor = d.unicast("upstream neighbor")
	d.u8("reserved")
	ngroups := int(d.u8("num groups"))
	m.Holdtime = d.u16("holdtime")
	if d.err != nil {
		return nil
	}
	body := d.off

	// Pass 1: structure and totals.
	total := 0
	for i := 0; i < ngroups; i++ {
		if d.left() < groupLen+4 {
			d.failf(fmt.Sprintf("group %d", i+1), ErrTruncated, "num groups %d but only %d groups fit: need %d bytes for the next group header, %d left", ngroups, i, groupLen+4, d.left())
			return nil
		}
		d.off += groupLen
		nj := int(d.u16("num joined sources"))
		np := int(d.u16("num pruned sources"))
		if n := (nj + np) * sourceLen; n > d.left() {
			d.failf(fmt.Sprintf("group %d", i+1), ErrTruncated, "%d joined + %d pruned sources need %d bytes, %d left", nj, np, n, d.left())
			return nil
		}
		d.off += (nj + np) * sourceLen
		total += nj + np
	}
	d.end()
	if d.err != nil {
		return nil
	}

	// Pass 2: decode into preallocated slices.
	d.off = body
	m.Groups = make([]JPGroup, ngroups)
	srcs := make([]Source, total)
	for i := range m.Groups {
		g := &m.Groups[i]
		g.Group = d.group("group address")
		nj := int(d.u16("num joined sources"))
		np := int(d.u16("num pruned sources"))
		if nj > 0 {
			g.Joins, srcs = srcs[:nj:nj], srcs[nj:]
		}
		if np > 0 {
			g.Prunes, srcs = srcs[:np:np], srcs[np:]
		}
		for j := range g.Joins {
			g.Joins[j] = d.source("")
			if d.err != nil {
				d.within(fmt.Sprintf("joined source %d", j+1))
				break
			}
		}
		for j := range g.Prunes {
			if d.err != nil {
				break
			}
			g.Prunes[j] = d.source("")
			if d.err != nil {
				d.within(fmt.Sprintf("pruned source %d", j+1))
			}
		}
		if d.err != nil {
			if g.Group.Addr.IsValid() {
				d.within(fmt.Sprintf("group %d (%v)", i+1, g.Group))
			} else {
				d.within(fmt.Sprintf("group %d", i+1))
			}
			return nil
		}
	}
	return m
}
