package msdpmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Type is the TLV type octet (RFC 3618 §12.2, IANA "MSDP TLV Values").
type Type uint8

// TLV types. 5 is reserved (it was Notification in the drafts), 6 and 7
// are MSDP traceroute (not described by RFC 3618); 8..200 need IESG
// approval and 201..255 are experimental (§19).
const (
	TypeSourceActive         Type = 1
	TypeSARequest            Type = 2
	TypeSAResponse           Type = 3
	TypeKeepAlive            Type = 4
	TypeNotification         Type = 5
	TypeTracerouteInProgress Type = 6
	TypeTracerouteReply      Type = 7
)

func (t Type) String() string {
	switch t {
	case TypeSourceActive:
		return "Source-Active"
	case TypeSARequest:
		return "SA-Request"
	case TypeSAResponse:
		return "SA-Response"
	case TypeKeepAlive:
		return "KeepAlive"
	case TypeNotification:
		return "Notification"
	case TypeTracerouteInProgress:
		return "Traceroute-In-Progress"
	case TypeTracerouteReply:
		return "Traceroute-Reply"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// Sizes of the wire format (RFC 3618 §12).
const (
	// HeaderLen is the TLV header: type (1) and length (2).
	HeaderLen = 3
	// MaxTLVLen is the largest TLV RFC 3618 §12 lets a speaker send, and
	// the most a Decoder buffers for one TLV.
	MaxTLVLen = 9192
	// SAHeaderLen is the fixed part of a Source-Active: header, entry
	// count (1) and RP address (4).
	SAHeaderLen = 8
	// EntryLen is one (S,G) entry: reserved (3), sprefix len (1), group
	// (4), source (4).
	EntryLen = 12
	// MaxEntries is the most entries one SA carries: the count is 8 bits.
	MaxEntries = 255
	// SARequestLen is an SA-Request: header, reserved (1), group (4).
	SARequestLen = 8
	// KeepAliveLen is a KeepAlive: the header alone.
	KeepAliveLen = 3
	// SprefixLen is the only sprefix length RFC 3618 §12.2.1 allows.
	SprefixLen = 32
)

// MaxDataLen is the largest encapsulated data packet an SA of n entries
// can carry within MaxTLVLen.
func MaxDataLen(n int) int { return MaxTLVLen - SAHeaderLen - n*EntryLen }

// ErrMalformed is wrapped by every decoding error: a TLV format error,
// on which RFC 3618 §13 resets the session.
var ErrMalformed = errors.New("malformed MSDP TLV")

// ErrEncode is wrapped by errors of Encode: a message that cannot be put on
// the wire (too many entries, an IPv6 address, a TLV over MaxTLVLen).
var ErrEncode = errors.New("cannot encode MSDP message")

// FormatError is a TLV format error naming the TLV type and the field that
// is wrong. It matches ErrMalformed with errors.Is.
type FormatError struct {
	Type   Type   // the TLV's type octet
	Field  string // "length", "entry count", "sprefix len", …
	Detail string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v: %v %s: %s", ErrMalformed, e.Type, e.Field, e.Detail)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

func formatErr(t Type, field, format string, args ...any) error {
	return &FormatError{Type: t, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Message is one MSDP TLV.
type Message interface {
	// Type is the TLV type octet.
	Type() Type
	// Len is the encoded length, header included.
	Len() int
	// Append appends the encoded TLV to b.
	Append(b []byte) ([]byte, error)
}

// Entry is one (S,G) of a Source-Active (sprefix len 32).
type Entry struct {
	Group  netip.Addr `json:"group"`
	Source netip.Addr `json:"source"`
}

// SourceActive is the IPv4 Source-Active TLV (type 1, RFC 3618 §12.2.1):
// the RP that originated the entries and up to 255 (S,G) entries, optionally
// followed by an encapsulated data packet that belongs to the last entry.
type SourceActive struct {
	RP      netip.Addr `json:"rp"`
	Entries []Entry    `json:"entries"`
	Data    []byte     `json:"data,omitempty"`
}

// Type implements Message.
func (*SourceActive) Type() Type { return TypeSourceActive }

// Len implements Message.
func (m *SourceActive) Len() int { return SAHeaderLen + len(m.Entries)*EntryLen + len(m.Data) }

// Append implements Message.
func (m *SourceActive) Append(b []byte) ([]byte, error) {
	return appendSA(b, TypeSourceActive, m.RP, m.Entries, m.Data)
}

// SAResponse is the IPv4 Source-Active Response TLV (type 3): the body of
// a Source-Active, sent in answer to an SA-Request (seed 001 §4-5).
type SAResponse struct {
	SourceActive
}

// Type implements Message.
func (*SAResponse) Type() Type { return TypeSAResponse }

// Append implements Message.
func (m *SAResponse) Append(b []byte) ([]byte, error) {
	return appendSA(b, TypeSAResponse, m.RP, m.Entries, m.Data)
}

// SARequest is the IPv4 Source-Active Request TLV (type 2): "send me your
// cached sources of this group" (seed 001 §4). Group 0.0.0.0 is this
// implementation's "all groups", used by a restarted MSDP server (seed 001
// §5); the draft leaves the encoding of that request open.
type SARequest struct {
	Group netip.Addr `json:"group"`
}

// Type implements Message.
func (*SARequest) Type() Type { return TypeSARequest }

// Len implements Message.
func (*SARequest) Len() int { return SARequestLen }

// Append implements Message.
func (m *SARequest) Append(b []byte) ([]byte, error) {
	if !m.Group.Is4() {
		return b, fmt.Errorf("%w: SA-Request group %v is not IPv4", ErrEncode, m.Group)
	}
	g := m.Group.As4()
	return append(b, byte(TypeSARequest), 0, SARequestLen, 0, g[0], g[1], g[2], g[3]), nil
}

// KeepAlive is the KeepAlive TLV (type 4, length 3, RFC 3618 §12.2.2).
type KeepAlive struct{}

// Type implements Message.
func (KeepAlive) Type() Type { return TypeKeepAlive }

// Len implements Message.
func (KeepAlive) Len() int { return KeepAliveLen }

// Append implements Message.
func (KeepAlive) Append(b []byte) ([]byte, error) {
	return append(b, byte(TypeKeepAlive), 0, KeepAliveLen), nil
}

// KeepAliveBytes is the encoded KeepAlive, shared and never modified.
var KeepAliveBytes = []byte{byte(TypeKeepAlive), 0, KeepAliveLen}

// Unknown is any other TLV (Notification, traceroute, unassigned or
// experimental types): RFC 3618 §13 discards it without resetting the
// session. Value is the value as received (at most MaxTLVLen-3 octets).
type Unknown struct {
	T     Type   `json:"type"`
	Value []byte `json:"value,omitempty"`
}

// Type implements Message.
func (m *Unknown) Type() Type { return m.T }

// Len implements Message.
func (m *Unknown) Len() int { return HeaderLen + len(m.Value) }

// Append implements Message.
func (m *Unknown) Append(b []byte) ([]byte, error) {
	switch m.T {
	case TypeSourceActive, TypeSARequest, TypeSAResponse, TypeKeepAlive:
		return b, fmt.Errorf("%w: type %v is not unknown", ErrEncode, m.T)
	}
	if m.Len() > MaxTLVLen {
		return b, fmt.Errorf("%w: %v of %d octets exceeds %d", ErrEncode, m.T, m.Len(), MaxTLVLen)
	}
	b = append(b, byte(m.T), byte(m.Len()>>8), byte(m.Len()))
	return append(b, m.Value...), nil
}

// AppendSA appends a Source-Active (t = TypeSourceActive) or SA-Response
// (TypeSAResponse) with the given RP, entries and data packet to b. It is
// the encoder the routing engine uses to build floods without building a
// Message.
func AppendSA(b []byte, t Type, rp netip.Addr, entries []Entry, data []byte) ([]byte, error) {
	if t != TypeSourceActive && t != TypeSAResponse {
		return b, fmt.Errorf("%w: %v is not a Source-Active type", ErrEncode, t)
	}
	return appendSA(b, t, rp, entries, data)
}

func appendSA(b []byte, t Type, rp netip.Addr, entries []Entry, data []byte) ([]byte, error) {
	if len(entries) > MaxEntries {
		return b, fmt.Errorf("%w: %v with %d entries (max %d)", ErrEncode, t, len(entries), MaxEntries)
	}
	n := SAHeaderLen + len(entries)*EntryLen + len(data)
	if n > MaxTLVLen {
		return b, fmt.Errorf("%w: %v of %d octets exceeds %d", ErrEncode, t, n, MaxTLVLen)
	}
	if !rp.Is4() {
		return b, fmt.Errorf("%w: %v RP address %v is not IPv4", ErrEncode, t, rp)
	}
	r := rp.As4()
	b = append(b, byte(t), byte(n>>8), byte(n), byte(len(entries)), r[0], r[1], r[2], r[3])
	for _, e := range entries {
		if !e.Group.Is4() || !e.Source.Is4() {
			return b, fmt.Errorf("%w: %v entry (%v,%v) is not IPv4", ErrEncode, t, e.Source, e.Group)
		}
		g, s := e.Group.As4(), e.Source.As4()
		b = append(b, 0, 0, 0, SprefixLen, g[0], g[1], g[2], g[3], s[0], s[1], s[2], s[3])
	}
	return append(b, data...), nil
}

// Encode returns the encoded TLVs of msgs, one after another.
func Encode(msgs ...Message) ([]byte, error) {
	n := 0
	for _, m := range msgs {
		n += m.Len()
	}
	b := make([]byte, 0, n)
	var err error
	for _, m := range msgs {
		if b, err = m.Append(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func be16(b []byte) int { return int(binary.BigEndian.Uint16(b)) }

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }
