package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Hello option types (RFC 7761 §4.9.2, IANA "PIM-Hello Options").
const (
	OptHoldtime      uint16 = 1
	OptLANPruneDelay uint16 = 2
	OptDRPriority    uint16 = 19
	OptGenerationID  uint16 = 20
	OptAddressList   uint16 = 24
)

// Holdtime values with a special meaning (RFC 7761 §4.9.2).
const (
	// HoldtimeGoodbye (0): the neighbour is going away, time it out now.
	HoldtimeGoodbye uint16 = 0
	// HoldtimeInfinite (0xffff): never time the neighbour out.
	HoldtimeInfinite uint16 = 0xffff
)

// Hello is a PIM Hello message (RFC 7761 §4.9.2). Each known option has a
// Has flag, because an absent option means something (no DR Priority
// option makes the DR election fall back to addresses, §4.3.2). Options
// are encoded in the order of the fields, unknown ones last in their
// received order.
type Hello struct {
	HasHoldtime bool
	Holdtime    uint16 // seconds; HoldtimeGoodbye, HoldtimeInfinite

	// LANPruneDelay is option 2; nil when absent.
	LANPruneDelay *LANPruneDelay

	HasDRPriority bool
	DRPriority    uint32

	HasGenerationID bool
	GenerationID    uint32

	// AddressList is option 24, the router's secondary addresses; nil when
	// the option is absent (an empty non-nil list encodes an empty option).
	AddressList []netip.Addr

	// Unknown holds the options this codec does not interpret, in
	// received order; they are skipped by a PIM router and kept here for
	// logging and round trips.
	Unknown []Option
}

// LANPruneDelay is the LAN Prune Delay option (RFC 7761 §4.9.2).
type LANPruneDelay struct {
	T                bool   // join suppression can be disabled (tracking support)
	PropagationDelay uint16 // milliseconds, 15 bits
	OverrideInterval uint16 // milliseconds
}

// Option is a Hello option kept as type and value.
type Option struct {
	Type  uint16
	Value []byte
}

// Type implements Message.
func (*Hello) Type() Type   { return TypeHello }
func (*Hello) flags() uint8 { return 0 }

func (h *Hello) appendBody(b []byte) ([]byte, error) {
	const msg = "hello"
	if h.HasHoldtime {
		b = append(b, 0, byte(OptHoldtime), 0, 2)
		b = binary.BigEndian.AppendUint16(b, h.Holdtime)
	}
	if p := h.LANPruneDelay; p != nil {
		if p.PropagationDelay > 0x7fff {
			return b, invalidf(msg, "option 2 (lan prune delay)", fmt.Sprintf("propagation delay %d ms exceeds 15 bits", p.PropagationDelay))
		}
		b = append(b, 0, byte(OptLANPruneDelay), 0, 4)
		v := p.PropagationDelay
		if p.T {
			v |= 0x8000
		}
		b = binary.BigEndian.AppendUint16(b, v)
		b = binary.BigEndian.AppendUint16(b, p.OverrideInterval)
	}
	if h.HasDRPriority {
		b = append(b, 0, byte(OptDRPriority), 0, 4)
		b = binary.BigEndian.AppendUint32(b, h.DRPriority)
	}
	if h.HasGenerationID {
		b = append(b, 0, byte(OptGenerationID), 0, 4)
		b = binary.BigEndian.AppendUint32(b, h.GenerationID)
	}
	if h.AddressList != nil {
		n := len(h.AddressList) * unicastLen
		if n > 0xffff {
			return b, invalidf(msg, "option 24 (address list)", fmt.Sprintf("%d addresses do not fit the option length", len(h.AddressList)))
		}
		b = append(b, 0, byte(OptAddressList))
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		for i, a := range h.AddressList {
			var err error
			if b, err = appendUnicast(b, a); err != nil {
				return b, invalidAt(msg, err, "option 24 (address list): address %d", i+1)
			}
		}
	}
	for _, o := range h.Unknown {
		if len(o.Value) > 0xffff {
			return b, invalidf(msg, fmt.Sprintf("option %d", o.Type), fmt.Sprintf("value of %d bytes does not fit the option length", len(o.Value)))
		}
		switch o.Type {
		case OptHoldtime, OptLANPruneDelay, OptDRPriority, OptGenerationID, OptAddressList:
			return b, invalidf(msg, fmt.Sprintf("option %d", o.Type), "a known option must be set through its field, not Unknown")
		}
		b = binary.BigEndian.AppendUint16(b, o.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(o.Value)))
		b = append(b, o.Value...)
	}
	return b, nil
}

func decodeHello(d *decoder) *Hello {
	h := &Hello{}
	for d.err == nil && d.left() > 0 {
		if d.left() < 4 {
			d.failf("option header", ErrTruncated, "need 4 bytes, %d left", d.left())
			break
		}
		typ := d.u16("option type")
		n := int(d.u16("option length"))
		val := d.bytes("option value", n)
		if d.err != nil {
			d.within(fmt.Sprintf("option %d", typ))
			break
		}
		// The first occurrence of a known option wins; a repeated one is
		// ignored, as an unknown option would be.
		switch typ {
		case OptHoldtime:
			if h.HasHoldtime {
				continue
			}
			if n != 2 {
				d.failf("option 1 (holdtime)", nil, "length %d, want 2", n)
				break
			}
			h.HasHoldtime, h.Holdtime = true, binary.BigEndian.Uint16(val)
		case OptLANPruneDelay:
			if h.LANPruneDelay != nil {
				continue
			}
			if n != 4 {
				d.failf("option 2 (lan prune delay)", nil, "length %d, want 4", n)
				break
			}
			v := binary.BigEndian.Uint16(val)
			h.LANPruneDelay = &LANPruneDelay{T: v&0x8000 != 0, PropagationDelay: v & 0x7fff, OverrideInterval: binary.BigEndian.Uint16(val[2:])}
		case OptDRPriority:
			if h.HasDRPriority {
				continue
			}
			if n != 4 {
				d.failf("option 19 (dr priority)", nil, "length %d, want 4", n)
				break
			}
			h.HasDRPriority, h.DRPriority = true, binary.BigEndian.Uint32(val)
		case OptGenerationID:
			if h.HasGenerationID {
				continue
			}
			if n != 4 {
				d.failf("option 20 (generation id)", nil, "length %d, want 4", n)
				break
			}
			h.HasGenerationID, h.GenerationID = true, binary.BigEndian.Uint32(val)
		case OptAddressList:
			if h.AddressList != nil {
				continue
			}
			h.AddressList = decodeAddressList(d, val)
		default:
			h.Unknown = append(h.Unknown, Option{Type: typ, Value: append([]byte{}, val...)})
		}
	}
	return h
}

func decodeAddressList(d *decoder, val []byte) []netip.Addr {
	const field = "option 24 (address list)"
	if len(val)%unicastLen != 0 {
		d.failf(field, nil, "length %d is not a multiple of %d (IPv4 encoded-unicast)", len(val), unicastLen)
		return nil
	}
	list := make([]netip.Addr, 0, len(val)/unicastLen)
	sub := &decoder{b: val, msg: d.msg}
	for i := 0; sub.left() > 0; i++ {
		a := sub.unicast("")
		if sub.err != nil {
			sub.within(fmt.Sprintf("%s: address %d", field, i+1))
			d.err = sub.err
			return nil
		}
		list = append(list, a)
	}
	return list
}
