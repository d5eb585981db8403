package pimmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Address families and encoding types of RFC 7761 §4.9.1.
const (
	familyIPv4     = 1
	familyIPv6     = 2
	encodingNative = 0
)

// Sizes of the IPv4 encoded addresses (RFC 7761 §4.9.1).
const (
	unicastLen = 6 // family, encoding type, address
	groupLen   = 8 // family, encoding type, flags, mask length, address
	sourceLen  = 8 // family, encoding type, flags, mask length, address
)

// decoder is a cursor over a message. The first failure is kept and later
// reads return zero values, so a decoder reads a run of fields and checks
// err once. Field names are constant strings; context such as "group 3" is
// added with within only when an error happened, so that decoding a valid
// message does not format strings.
type decoder struct {
	b   []byte
	off int
	msg string
	err *FieldError
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) failf(field string, sentinel error, format string, args ...any) {
	if d.err != nil {
		return
	}
	d.err = &FieldError{Msg: d.msg, Field: field, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// within prefixes the field path of a pending error with ctx.
func (d *decoder) within(ctx string) {
	if d.err == nil {
		return
	}
	if d.err.Field == "" {
		d.err.Field = ctx
	} else {
		d.err.Field = ctx + ": " + d.err.Field
	}
}

func (d *decoder) need(field string, n int) bool {
	if d.err != nil {
		return false
	}
	if left := d.left(); left < n {
		d.failf(field, ErrTruncated, "need %d bytes, %d left", n, left)
		return false
	}
	return true
}

func (d *decoder) u8(field string) uint8 {
	if !d.need(field, 1) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u16(field string) uint16 {
	if !d.need(field, 2) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(field string) uint32 {
	if !d.need(field, 4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// bytes returns the next n bytes, aliasing the input.
func (d *decoder) bytes(field string, n int) []byte {
	if !d.need(field, n) {
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// end fails if bytes are left over after the last field of a message with
// a fixed structure.
func (d *decoder) end() {
	if d.err == nil && d.left() != 0 {
		d.failf("", nil, "%d trailing bytes after the last field", d.left())
	}
}

// familyHeader reads and checks the family and encoding type of an encoded
// address (kind names it: "encoded-unicast").
func (d *decoder) familyHeader(field, kind string) bool {
	if !d.need(field, 2) {
		return false
	}
	fam, enc := d.b[d.off], d.b[d.off+1]
	if fam != familyIPv4 {
		name := ""
		if fam == familyIPv6 {
			name = " (IPv6)"
		}
		d.failf(field, ErrAddressFamily, "%s: address family %d%s, want 1 (IPv4)", kind, fam, name)
		return false
	}
	if enc != encodingNative {
		d.failf(field, ErrUnsupported, "%s: encoding type %d, want 0 (native)", kind, enc)
		return false
	}
	d.off += 2
	return true
}

func (d *decoder) addr4(field string) netip.Addr {
	if !d.need(field, 4) {
		return netip.Addr{}
	}
	a := netip.AddrFrom4([4]byte(d.b[d.off : d.off+4]))
	d.off += 4
	return a
}

// unicast reads an Encoded-Unicast address (RFC 7761 §4.9.1).
func (d *decoder) unicast(field string) netip.Addr {
	if !d.familyHeader(field, "encoded-unicast") {
		return netip.Addr{}
	}
	return d.addr4(field)
}

// Group is an Encoded-Group address (RFC 7761 §4.9.1): a group address and
// mask length (32 for a single group, shorter for a range in Bootstrap and
// Candidate-RP-Advertisement messages) and two flags.
type Group struct {
	Addr    netip.Addr
	MaskLen uint8
	Bidir   bool // B: the range is BIDIR-PIM (RFC 5015)
	Zone    bool // Z: admin scope zone (RFC 5059 §5)
}

// HostGroup is the Encoded-Group of a single group g (mask length 32).
func HostGroup(g netip.Addr) Group { return Group{Addr: g, MaskLen: 32} }

// GroupRange is the Encoded-Group of a range p.
func GroupRange(p netip.Prefix) Group {
	return Group{Addr: p.Addr(), MaskLen: uint8(p.Bits())}
}

// Prefix is the group range as a prefix (masked).
func (g Group) Prefix() netip.Prefix {
	p, err := g.Addr.Prefix(int(g.MaskLen))
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func (g Group) String() string {
	if g.MaskLen == 32 {
		return g.Addr.String()
	}
	return fmt.Sprintf("%s/%d", g.Addr, g.MaskLen)
}

// group reads an Encoded-Group address.
func (d *decoder) group(field string) Group {
	if !d.familyHeader(field, "encoded-group") {
		return Group{}
	}
	flags := d.u8(field)
	mask := d.u8(field)
	a := d.addr4(field)
	if d.err == nil && mask > 32 {
		d.failf(field, nil, "encoded-group: mask length %d > 32", mask)
	}
	return Group{Addr: a, MaskLen: mask, Bidir: flags&0x80 != 0, Zone: flags&0x01 != 0}
}

// The append functions of encoded addresses return a detail error; the
// caller names the field (only on failure, so that encoding does not
// format strings).

func appendGroup(b []byte, g Group) ([]byte, error) {
	if !g.Addr.Is4() {
		return b, fmt.Errorf("group address %v is not IPv4", g.Addr)
	}
	if g.MaskLen > 32 {
		return b, fmt.Errorf("mask length %d > 32", g.MaskLen)
	}
	var flags byte
	if g.Bidir {
		flags |= 0x80
	}
	if g.Zone {
		flags |= 0x01
	}
	a := g.Addr.As4()
	return append(b, familyIPv4, encodingNative, flags, g.MaskLen, a[0], a[1], a[2], a[3]), nil
}

// Source is an Encoded-Source address of a Join/Prune (RFC 7761 §4.9.1).
// Its mask length is always 32: the RFC asks a router to ignore a message
// with any other, and the decoder rejects it.
type Source struct {
	Addr   netip.Addr
	Sparse bool // S: always set by PIM-SM
	WC     bool // W: wildcard, the join/prune applies to (*,G)
	RPT    bool // R: sent down the RP tree; with WC, (*,G); alone, (S,G,rpt)
}

// SG is the source of an (S,G) join or prune: S set, W and R clear.
func SG(s netip.Addr) Source { return Source{Addr: s, Sparse: true} }

// StarG is the source of a (*,G) join or prune: the RP address with S, W
// and R set.
func StarG(rp netip.Addr) Source { return Source{Addr: rp, Sparse: true, WC: true, RPT: true} }

// SGRpt is the source of an (S,G,rpt) prune or join: S and R set.
func SGRpt(s netip.Addr) Source { return Source{Addr: s, Sparse: true, RPT: true} }

func (s Source) String() string {
	f := ""
	if s.Sparse {
		f += "S"
	}
	if s.WC {
		f += "W"
	}
	if s.RPT {
		f += "R"
	}
	return s.Addr.String() + " (" + f + ")"
}

// source reads an Encoded-Source address.
func (d *decoder) source(field string) Source {
	if !d.familyHeader(field, "encoded-source") {
		return Source{}
	}
	flags := d.u8(field)
	mask := d.u8(field)
	a := d.addr4(field)
	if d.err == nil && mask != 32 {
		d.failf(field, nil, "encoded-source: mask length %d, want 32", mask)
	}
	return Source{Addr: a, Sparse: flags&0x04 != 0, WC: flags&0x02 != 0, RPT: flags&0x01 != 0}
}

func appendSource(b []byte, s Source) ([]byte, error) {
	if !s.Addr.Is4() {
		return b, fmt.Errorf("source address %v is not IPv4", s.Addr)
	}
	var flags byte
	if s.Sparse {
		flags |= 0x04
	}
	if s.WC {
		flags |= 0x02
	}
	if s.RPT {
		flags |= 0x01
	}
	a := s.Addr.As4()
	return append(b, familyIPv4, encodingNative, flags, 32, a[0], a[1], a[2], a[3]), nil
}

func appendUnicast(b []byte, a netip.Addr) ([]byte, error) {
	if !a.Is4() {
		return b, fmt.Errorf("address %v is not IPv4", a)
	}
	v := a.As4()
	return append(b, familyIPv4, encodingNative, v[0], v[1], v[2], v[3]), nil
}

// prefixSource reads a source prefix in Encoded-Source format with its mask
// length (the GIR TLV's optional source list); the flags must be zero.
func (d *decoder) prefixSource(field string) netip.Prefix {
	if !d.familyHeader(field, "encoded-source") {
		return netip.Prefix{}
	}
	flags := d.u8(field)
	mask := d.u8(field)
	a := d.addr4(field)
	if d.err != nil {
		return netip.Prefix{}
	}
	if mask > 32 {
		d.failf(field, nil, "encoded-source: mask length %d > 32", mask)
		return netip.Prefix{}
	}
	if flags != 0 {
		d.failf(field, nil, "encoded-source: flags %#02x, want 0 in a source prefix", flags)
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, int(mask))
}

func appendPrefixSource(b []byte, p netip.Prefix) ([]byte, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return b, fmt.Errorf("source prefix %v is not IPv4", p)
	}
	a := p.Addr().As4()
	return append(b, familyIPv4, encodingNative, 0, uint8(p.Bits()), a[0], a[1], a[2], a[3]), nil
}

// Checksum is the Internet checksum (RFC 1071) of b: the one's complement
// of the one's complement sum of its 16-bit words, an odd last byte padded
// with zero. A message whose checksum field is correct sums to zero.
func Checksum(b []byte) uint16 {
	var sum uint64
	for len(b) >= 8 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
