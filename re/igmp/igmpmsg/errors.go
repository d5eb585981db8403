package igmpmsg

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every decode error wraps ErrMalformed and, where one
// applies, a more precise sentinel; encode errors wrap ErrInvalid.
var (
	// ErrMalformed: the bytes are not a valid IGMP message.
	ErrMalformed = errors.New("malformed IGMP message")
	// ErrTruncated: a field or a counted list runs past the end.
	ErrTruncated = errors.New("truncated")
	// ErrChecksum: the IGMP (or IPv4 header) checksum does not verify.
	ErrChecksum = errors.New("bad checksum")
	// ErrUnknownType: an IGMP type a multicast router does not process
	// (DVMRP, PIMv1, mtrace, ...), or an IP packet that is not IGMP.
	ErrUnknownType = errors.New("unknown message type")
	// ErrInvalid: a message that cannot be encoded.
	ErrInvalid = errors.New("invalid message")
)

// FieldError is the error of every decoder and encoder of this package. It
// names the message and the field that failed and wraps ErrMalformed (or
// ErrInvalid) and the precise sentinel.
type FieldError struct {
	Msg    string // "v3 report"; empty before the type is known
	Field  string // "record 2 (239.1.1.1): source 3"
	Detail string // "need 4 bytes, 2 left"
	Err    error  // the precise sentinel, or nil
	encode bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("igmpmsg: ")
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

func malformedf(msg, field string, sentinel error, format string, args ...any) *FieldError {
	return &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

func invalidf(msg, field, format string, args ...any) error {
	return &FieldError{Msg: msg, Field: field, Detail: fmt.Sprintf(format, args...), encode: true}
}
