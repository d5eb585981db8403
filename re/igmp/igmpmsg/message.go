package igmpmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Type is an IGMP message type.
type Type uint8

// The message types a multicast router processes (RFC 2236 §2.1, RFC 3376
// §4).
const (
	TypeQuery    Type = 0x11 // Membership Query, all versions
	TypeV1Report Type = 0x12 // IGMPv1 Membership Report
	TypeV2Report Type = 0x16 // IGMPv2 Membership Report
	TypeLeave    Type = 0x17 // IGMPv2 Leave Group
	TypeV3Report Type = 0x22 // IGMPv3 Membership Report
)

func (t Type) String() string {
	switch t {
	case TypeQuery:
		return "query"
	case TypeV1Report:
		return "v1 report"
	case TypeV2Report:
		return "v2 report"
	case TypeLeave:
		return "leave"
	case TypeV3Report:
		return "v3 report"
	}
	return fmt.Sprintf("type %#02x", uint8(t))
}

const (
	minLen     = 8
	v3QueryLen = 12
	maxLen     = 65535 - 24 // IPv4 header with Router Alert
)

// Well-known groups (RFC 2236, RFC 3376 §4.2.14).
var (
	AllSystems   = netip.AddrFrom4([4]byte{224, 0, 0, 1})  // general queries
	AllRouters   = netip.AddrFrom4([4]byte{224, 0, 0, 2})  // IGMPv2 leaves
	AllV3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22}) // IGMPv3 reports
)

// Message is one IGMP message: *Query, *Report, *Leave or *V3Report.
type Message interface {
	// Type is the IGMP type field.
	Type() Type
	// appendBody appends the message after its first 4 bytes (type, code,
	// checksum) and returns the code byte.
	appendBody(b []byte) ([]byte, uint8, error)
}

// Append encodes m and appends it to b; on error b is returned unchanged
// in length.
func Append(b []byte, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, byte(m.Type()), 0, 0, 0)
	b, code, err := m.appendBody(b)
	if err != nil {
		return b[:start], err
	}
	if len(b)-start > maxLen {
		return b[:start], invalidf(m.Type().String(), "", "message length %d exceeds %d", len(b)-start, maxLen)
	}
	b[start+1] = code
	binary.BigEndian.PutUint16(b[start+2:], checksum(b[start:]))
	return b, nil
}

// Marshal encodes m into a new slice.
func Marshal(m Message) ([]byte, error) { return Append(make([]byte, 0, 16), m) }

// Decode decodes one IGMP message, the whole IP payload b, after
// verifying its checksum. The result shares no memory with b.
func Decode(b []byte) (Message, error) {
	if len(b) < minLen {
		return nil, malformedf("", "header", ErrTruncated, "need %d bytes, have %d", minLen, len(b))
	}
	t := Type(b[0])
	if checksum(b) != 0 {
		return nil, malformedf(t.String(), "checksum", ErrChecksum, "checksum %#04x does not verify", binary.BigEndian.Uint16(b[2:]))
	}
	switch t {
	case TypeQuery:
		return decodeQuery(b)
	case TypeV1Report, TypeV2Report:
		v := uint8(2)
		if t == TypeV1Report {
			v = 1
		}
		return &Report{Version: v, Group: addr(b[4:8])}, nil
	case TypeLeave:
		return &Leave{Group: addr(b[4:8])}, nil
	case TypeV3Report:
		return decodeV3Report(b)
	}
	return nil, malformedf(t.String(), "type", ErrUnknownType, "IGMP type %#02x is not processed by a multicast router", uint8(t))
}

func addr(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }

func appendAddr(b []byte, a netip.Addr, msg, field string) ([]byte, error) {
	if !a.Is4() {
		return b, invalidf(msg, field, "address %v is not IPv4", a)
	}
	v := a.As4()
	return append(b, v[:]...), nil
}

// Query is a Membership Query (RFC 2236 §2, RFC 3376 §4.1). Version 1 and
// 2 queries are 8 bytes (an IGMPv1 query has Max Resp Code 0); version 3
// adds the S flag, QRV, QQIC and sources. Group is 0.0.0.0 in a general
// query.
type Query struct {
	Version     uint8 // 1, 2 or 3
	MaxRespCode uint8 // v2: tenths of a second; v3: RFC 3376 §4.1.1 float; v1: 0
	Group       netip.Addr
	// IGMPv3 only.
	SuppressRouterSide bool  // S flag (RFC 3376 §4.1.5)
	QRV                uint8 // querier's robustness variable, 0..7 (0: above 7)
	QQIC               uint8 // querier's query interval code (§4.1.7)
	Sources            []netip.Addr
}

// Type implements Message.
func (*Query) Type() Type { return TypeQuery }

// General reports whether q is a general query (group 0.0.0.0).
func (q *Query) General() bool { return !q.Group.IsValid() || q.Group.IsUnspecified() }

// MaxResp is the maximum response time the query allows: 10 s for an
// IGMPv1 query (RFC 2236 §4), the code in tenths of a second for IGMPv2,
// and the decoded float code for IGMPv3.
func (q *Query) MaxResp() time.Duration {
	switch q.Version {
	case 1:
		return 10 * time.Second
	case 2:
		return time.Duration(q.MaxRespCode) * time.Second / 10
	}
	return time.Duration(DecodeCode(q.MaxRespCode)) * time.Second / 10
}

// QQI is the querier's query interval of an IGMPv3 query (zero when the
// QQIC is 0 or the query is older).
func (q *Query) QQI() time.Duration {
	if q.Version != 3 {
		return 0
	}
	return time.Duration(DecodeCode(q.QQIC)) * time.Second
}

func (q *Query) appendBody(b []byte) ([]byte, uint8, error) {
	const msg = "query"
	group := q.Group
	if !group.IsValid() {
		group = netip.IPv4Unspecified()
	}
	b, err := appendAddr(b, group, msg, "group address")
	if err != nil {
		return b, 0, err
	}
	switch q.Version {
	case 1:
		if q.MaxRespCode != 0 {
			return b, 0, invalidf(msg, "max resp code", "an IGMPv1 query has code 0, not %d", q.MaxRespCode)
		}
	case 2:
		if q.MaxRespCode == 0 {
			return b, 0, invalidf(msg, "max resp code", "an IGMPv2 query needs a non-zero code (0 makes it IGMPv1)")
		}
	case 3:
		if q.QRV > 7 {
			return b, 0, invalidf(msg, "qrv", "%d exceeds 3 bits", q.QRV)
		}
		if len(q.Sources) > 0xffff {
			return b, 0, invalidf(msg, "number of sources", "%d sources exceed 65535", len(q.Sources))
		}
		f := q.QRV
		if q.SuppressRouterSide {
			f |= 0x08
		}
		b = append(b, f, q.QQIC)
		b = binary.BigEndian.AppendUint16(b, uint16(len(q.Sources)))
		for i, s := range q.Sources {
			if b, err = appendAddr(b, s, msg, fmt.Sprintf("source %d", i+1)); err != nil {
				return b, 0, err
			}
		}
	default:
		return b, 0, invalidf(msg, "version", "version %d, want 1, 2 or 3", q.Version)
	}
	return b, q.MaxRespCode, nil
}

func decodeQuery(b []byte) (*Query, error) {
	const msg = "query"
	q := &Query{MaxRespCode: b[1], Group: addr(b[4:8])}
	switch {
	case len(b) == minLen && q.MaxRespCode == 0:
		q.Version = 1
	case len(b) == minLen:
		q.Version = 2
	case len(b) < v3QueryLen:
		return nil, malformedf(msg, "length", nil, "length %d is neither 8 (IGMPv1/v2) nor 12 or more (IGMPv3)", len(b))
	default:
		q.Version = 3
		q.SuppressRouterSide = b[8]&0x08 != 0
		q.QRV = b[8] & 0x07
		q.QQIC = b[9]
		n := int(binary.BigEndian.Uint16(b[10:]))
		if need := v3QueryLen + 4*n; need > len(b) {
			return nil, malformedf(msg, "number of sources", ErrTruncated, "%d sources need %d bytes, have %d", n, need, len(b))
		}
		if n > 0 {
			q.Sources = make([]netip.Addr, n)
			for i := range q.Sources {
				q.Sources[i] = addr(b[v3QueryLen+4*i:])
			}
		}
	}
	return q, nil
}

// Report is an IGMPv1 (type 0x12) or IGMPv2 (type 0x16) Membership Report.
type Report struct {
	Version uint8 // 1 or 2
	Group   netip.Addr
}

// Type implements Message.
func (r *Report) Type() Type {
	if r.Version == 1 {
		return TypeV1Report
	}
	return TypeV2Report
}

func (r *Report) appendBody(b []byte) ([]byte, uint8, error) {
	if r.Version != 1 && r.Version != 2 {
		return b, 0, invalidf("report", "version", "version %d, want 1 or 2", r.Version)
	}
	b, err := appendAddr(b, r.Group, r.Type().String(), "group address")
	return b, 0, err
}

// Leave is an IGMPv2 Leave Group message (RFC 2236 §2.1).
type Leave struct {
	Group netip.Addr
}

// Type implements Message.
func (*Leave) Type() Type { return TypeLeave }

func (l *Leave) appendBody(b []byte) ([]byte, uint8, error) {
	b, err := appendAddr(b, l.Group, "leave", "group address")
	return b, 0, err
}

// RecordType is the type of an IGMPv3 group record (RFC 3376 §4.2.12).
type RecordType uint8

// The group record types.
const (
	ModeIsInclude      RecordType = 1 // IS_IN: current state, INCLUDE
	ModeIsExclude      RecordType = 2 // IS_EX: current state, EXCLUDE
	ChangeToInclude    RecordType = 3 // TO_IN: filter mode change to INCLUDE
	ChangeToExclude    RecordType = 4 // TO_EX: filter mode change to EXCLUDE
	AllowNewSources    RecordType = 5 // ALLOW: source list change
	BlockOldSources    RecordType = 6 // BLOCK: source list change
	maxKnownRecordType            = BlockOldSources
)

// Known reports whether t is one of the six types of RFC 3376; a receiver
// ignores records of any other type (§4.2.12).
func (t RecordType) Known() bool { return t >= ModeIsInclude && t <= maxKnownRecordType }

func (t RecordType) String() string {
	switch t {
	case ModeIsInclude:
		return "IS_IN"
	case ModeIsExclude:
		return "IS_EX"
	case ChangeToInclude:
		return "TO_IN"
	case ChangeToExclude:
		return "TO_EX"
	case AllowNewSources:
		return "ALLOW"
	case BlockOldSources:
		return "BLOCK"
	}
	return fmt.Sprintf("record-type-%d", uint8(t))
}

// GroupRecord is one group record of an IGMPv3 report.
type GroupRecord struct {
	Type    RecordType
	Group   netip.Addr
	Sources []netip.Addr
}

// V3Report is an IGMPv3 Membership Report (RFC 3376 §4.2).
type V3Report struct {
	Records []GroupRecord
}

// Type implements Message.
func (*V3Report) Type() Type { return TypeV3Report }

const recordHdrLen = 8

func (r *V3Report) appendBody(b []byte) ([]byte, uint8, error) {
	const msg = "v3 report"
	if len(r.Records) > 0xffff {
		return b, 0, invalidf(msg, "number of group records", "%d records exceed 65535", len(r.Records))
	}
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Records)))
	for i := range r.Records {
		rec := &r.Records[i]
		if len(rec.Sources) > 0xffff {
			return b, 0, invalidf(msg, fmt.Sprintf("record %d", i+1), "%d sources exceed 65535", len(rec.Sources))
		}
		b = append(b, byte(rec.Type), 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rec.Sources)))
		var err error
		if b, err = appendAddr(b, rec.Group, msg, fmt.Sprintf("record %d: multicast address", i+1)); err != nil {
			return b, 0, err
		}
		for j, s := range rec.Sources {
			if b, err = appendAddr(b, s, msg, fmt.Sprintf("record %d (%v): source %d", i+1, rec.Group, j+1)); err != nil {
				return b, 0, err
			}
		}
	}
	return b, 0, nil
}

// decodeV3Report checks the whole record structure first, then allocates
// the records and all their sources in two slices.
func decodeV3Report(b []byte) (*V3Report, error) {
	const msg = "v3 report"
	n := int(binary.BigEndian.Uint16(b[6:]))
	off, total := minLen, 0
	for i := 0; i < n; i++ {
		if len(b)-off < recordHdrLen {
			return nil, malformedf(msg, fmt.Sprintf("record %d", i+1), ErrTruncated, "number of group records %d but only %d fit: need %d bytes, %d left", n, i, recordHdrLen, len(b)-off)
		}
		aux := int(b[off+1]) * 4
		ns := int(binary.BigEndian.Uint16(b[off+2:]))
		if need := recordHdrLen + 4*ns + aux; need > len(b)-off {
			return nil, malformedf(msg, fmt.Sprintf("record %d (%v)", i+1, addr(b[off+4:off+8])), ErrTruncated, "%d sources and %d bytes of auxiliary data need %d bytes, %d left", ns, aux, need, len(b)-off)
		}
		off += recordHdrLen + 4*ns + aux
		total += ns
	}
	if off != len(b) {
		return nil, malformedf(msg, "", nil, "%d trailing bytes after the last group record", len(b)-off)
	}
	r := &V3Report{}
	if n > 0 {
		r.Records = make([]GroupRecord, n)
	}
	srcs := make([]netip.Addr, total)
	off = minLen
	for i := range r.Records {
		rec := &r.Records[i]
		rec.Type = RecordType(b[off])
		aux := int(b[off+1]) * 4
		ns := int(binary.BigEndian.Uint16(b[off+2:]))
		rec.Group = addr(b[off+4 : off+8])
		off += recordHdrLen
		if ns > 0 {
			rec.Sources, srcs = srcs[:ns:ns], srcs[ns:]
			for j := range rec.Sources {
				rec.Sources[j] = addr(b[off : off+4])
				off += 4
			}
		}
		off += aux
	}
	return r, nil
}

// DecodeCode decodes a Max Resp Code or QQIC (RFC 3376 §4.1.1, §4.1.7):
// below 128 the value itself, else a float with a 3-bit exponent and a
// 4-bit mantissa, (mant | 0x10) << (exp + 3).
func DecodeCode(c uint8) uint {
	if c < 128 {
		return uint(c)
	}
	mant, exp := uint(c&0x0f), uint(c>>4&0x07)
	return (mant | 0x10) << (exp + 3)
}

// MaxCodeValue is the largest value a code can represent (31744).
const MaxCodeValue = 0x1f << 10

// EncodeCode is the code for v: v itself below 128, otherwise the float
// code of the largest representable value not above v (so a timer is
// never announced longer than asked), clamped to MaxCodeValue.
func EncodeCode(v uint) uint8 {
	if v < 128 {
		return uint8(v)
	}
	if v >= MaxCodeValue {
		return 0xff
	}
	for exp := uint(7); ; exp-- {
		if m := v >> (exp + 3); m >= 0x10 {
			return uint8(0x80 | exp<<4 | (m - 0x10))
		}
	}
}

// MaxRespCodeFor is the IGMPv3 Max Resp Code of duration d (tenths of a
// second, rounded down).
func MaxRespCodeFor(d time.Duration) uint8 { return EncodeCode(uint(d / (time.Second / 10))) }

// QQICFor is the QQIC of query interval d (seconds, rounded down).
func QQICFor(d time.Duration) uint8 { return EncodeCode(uint(d / time.Second)) }

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
