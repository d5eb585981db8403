package ipc

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// ctxError adds context to an error of this package without repeating the
// "ipc: " prefix: "ipc: peer fpc3 (...): message 2 (route/add): ...".
type ctxError struct {
	ctx string
	err error
}

func (e *ctxError) Error() string {
	return "ipc: " + e.ctx + ": " + strings.TrimPrefix(e.err.Error(), "ipc: ")
}

func (e *ctxError) Unwrap() error { return e.err }

func withContext(ctx string, err error) error { return &ctxError{ctx: ctx, err: err} }

// sentinelError is an error whose text is msg alone and that wraps
// sentinels (ErrMalformed, ErrUnknownType, io.ErrUnexpectedEOF,
// ErrInvalidMessage) for errors.Is, without repeating their text.
type sentinelError struct {
	msg  string
	errs []error
}

func (e *sentinelError) Error() string   { return e.msg }
func (e *sentinelError) Unwrap() []error { return e.errs }

// malformedf builds a decode error wrapping ErrMalformed and also.
func malformedf(also []error, format string, args ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, args...), errs: append([]error{ErrMalformed}, also...)}
}

// bodyError is a message body that failed to decode. index is the 1-based
// position of the message in its frame, 0 when DecodeBody was called
// directly.
type bodyError struct {
	index int
	key   string // "next-hop/resolve-addr-request"
	msg   string // "body length 18, want 20"
}

func (e *bodyError) Error() string {
	if e.index > 0 {
		return fmt.Sprintf("ipc: message %d (%s): %s", e.index, e.key, e.msg)
	}
	return "ipc: " + e.key + ": " + e.msg
}

func (e *bodyError) Unwrap() error { return ErrMalformed }

func malformed(key, format string, args ...any) error {
	return &bodyError{key: key, msg: fmt.Sprintf(format, args...)}
}

// wantLen checks the body length of a fixed-size message.
func wantLen(key string, b []byte, n int) error {
	if len(b) != n {
		return malformed(key, "body length %d, want %d", len(b), n)
	}
	return nil
}

// invalid builds an encode error.
func invalid(key, format string, args ...any) error {
	return &sentinelError{msg: "ipc: " + key + ": " + fmt.Sprintf(format, args...), errs: []error{ErrInvalidMessage}}
}

// dec is a cursor over a variable-length body. The first failure is kept
// and later reads return zero values, so a decoder reads all its fields and
// checks err once.
type dec struct {
	b   []byte
	off int
	key string
	err error
}

func (d *dec) need(field string, n int) bool {
	if d.err != nil {
		return false
	}
	if left := len(d.b) - d.off; left < n {
		d.err = malformed(d.key, "%s: need %d bytes but %d left", field, n, left)
		return false
	}
	return true
}

func (d *dec) u8(field string) uint8 {
	if !d.need(field, 1) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) u16(field string) uint16 {
	if !d.need(field, 2) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *dec) u32(field string) uint32 {
	if !d.need(field, 4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) u64(field string) uint64 {
	if !d.need(field, 8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *dec) bool(field string) bool {
	v := d.u8(field)
	if d.err == nil && v > 1 {
		d.err = malformed(d.key, "%s %d, want 0 or 1", field, v)
	}
	return v == 1
}

func (d *dec) addr4(field string) netip.Addr {
	if !d.need(field, 4) {
		return netip.Addr{}
	}
	a := netip.AddrFrom4([4]byte(d.b[d.off : d.off+4]))
	d.off += 4
	return a
}

// bytesN returns the next n bytes, aliasing the input.
func (d *dec) bytesN(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if left := len(d.b) - d.off; left < n {
		d.err = malformed(d.key, "%s: length %d but %d bytes left", field, n, left)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

// str8 reads a string prefixed with its u8 length.
func (d *dec) str8(field string) string {
	n := d.u8(field)
	return string(d.bytesN(field, int(n)))
}

// str16 reads a string prefixed with its u16 length.
func (d *dec) str16(field string) string {
	n := d.u16(field)
	return string(d.bytesN(field, int(n)))
}

// count reads a u16 element count and checks that count elements of size
// bytes each can still follow, before anything is allocated.
func (d *dec) count(field string, size int) int {
	n := int(d.u16(field + " count"))
	if d.err == nil && n*size > len(d.b)-d.off {
		d.err = malformed(d.key, "%s count %d needs %d bytes but %d left", field, n, n*size, len(d.b)-d.off)
		return 0
	}
	return n
}

// done checks that the body was consumed exactly.
func (d *dec) done(last string) error {
	if d.err == nil && d.off != len(d.b) {
		d.err = malformed(d.key, "%d trailing bytes after %s", len(d.b)-d.off, last)
	}
	return d.err
}

// Encoding helpers.

func be16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendStr8(b []byte, key, field, s string) ([]byte, error) {
	if len(s) > math.MaxUint8 {
		return b, invalid(key, "%s length %d exceeds %d", field, len(s), math.MaxUint8)
	}
	b = append(b, byte(len(s)))
	return append(b, s...), nil
}

func appendStr16(b []byte, key, field, s string) ([]byte, error) {
	if len(s) > math.MaxUint16 {
		return b, invalid(key, "%s length %d exceeds %d", field, len(s), math.MaxUint16)
	}
	b = be16(b, uint16(len(s)))
	return append(b, s...), nil
}

func checkCount(key, field string, n int) error {
	if n > math.MaxUint16 {
		return invalid(key, "%s count %d exceeds %d", field, n, math.MaxUint16)
	}
	return nil
}

// appendAddr4 appends an IPv4 address (an IPv4-mapped IPv6 address is
// unmapped). An invalid address is written as 0.0.0.0 only if zeroOK.
func appendAddr4(b []byte, key, field string, a netip.Addr, zeroOK bool) ([]byte, error) {
	if !a.IsValid() {
		if zeroOK {
			return append(b, 0, 0, 0, 0), nil
		}
		return b, invalid(key, "%s is not set", field)
	}
	a = a.Unmap()
	if !a.Is4() {
		return b, invalid(key, "%s %s is not IPv4", field, a)
	}
	v := a.As4()
	return append(b, v[:]...), nil
}
