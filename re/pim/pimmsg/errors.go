package pimmsg

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every decode error wraps ErrMalformed and, where one
// applies, one of the more precise sentinels below, so that a caller can
// count bad packets per reason with errors.Is. Encode errors wrap
// ErrInvalid.
var (
	// ErrMalformed: the bytes are not a valid PIM message.
	ErrMalformed = errors.New("malformed PIM message")
	// ErrTruncated: a field or a counted list runs past the end of the
	// message.
	ErrTruncated = errors.New("truncated")
	// ErrChecksum: the PIM checksum does not verify.
	ErrChecksum = errors.New("bad checksum")
	// ErrVersion: the PIM version is not 2.
	ErrVersion = errors.New("unsupported PIM version")
	// ErrUnknownType: a message type this codec does not handle (PIM-DM,
	// BIDIR, the RFC 9436 extended types).
	ErrUnknownType = errors.New("unknown message type")
	// ErrAddressFamily: an encoded address is not IPv4 (family 1).
	ErrAddressFamily = errors.New("unsupported address family")
	// ErrUnsupported: a well-formed feature this codec does not implement,
	// such as an encoding type other than native (RFC 5384 join attributes).
	ErrUnsupported = errors.New("unsupported encoding")
	// ErrInvalid: a message that cannot be encoded (a count that does not
	// fit its field, a non-IPv4 address, a value out of range).
	ErrInvalid = errors.New("invalid message")
)

// FieldError is the error of every decoder and encoder of this package. It
// names the message and the field that failed, and wraps ErrMalformed (or
// ErrInvalid when encoding) and the precise sentinel.
type FieldError struct {
	Msg    string // message type, "join/prune"; empty for the common header
	Field  string // path to the field, "group 2 (239.1.1.1): pruned source 3"
	Detail string // what is wrong, "address family 2, want 1 (IPv4)"
	Err    error  // the precise sentinel, or nil
	encode bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("pimmsg: ")
	if e.Msg != "" {
		b.WriteString(e.Msg)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Unwrap returns ErrMalformed (ErrInvalid for an encode error) and the
// precise sentinel.
func (e *FieldError) Unwrap() []error {
	base := ErrMalformed
	if e.encode {
		base = ErrInvalid
	}
	if e.Err == nil {
		return []error{base}
	}
	return []error{base, e.Err}
}

// invalidAt names the field of a detail error from an append function.
func invalidAt(msg string, err error, field string, args ...any) error {
	if len(args) > 0 {
		field = fmt.Sprintf(field, args...)
	}
	return invalidf(msg, field, err.Error())
}

func invalidf(msg, field, detail string) error {
	return &FieldError{Msg: msg, Field: field, Detail: detail, encode: true}
}
