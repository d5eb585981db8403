package ipc

import (
	"errors"
	"fmt"

	"github.com/mxfwd/mxfwd/hal"
)

// ErrorClass is the kind of a programming failure, from the HAL's sentinel
// errors (hal.ErrTableFull, ...).
type ErrorClass uint8

// Error classes. ClassCleared says that a failure reported before is over
// (the object was programmed on a retry, or deleted).
const (
	ClassCleared      ErrorClass = 0
	ClassTableFull    ErrorClass = 1
	ClassNotFound     ErrorClass = 2
	ClassExists       ErrorClass = 3
	ClassInvalid      ErrorClass = 4
	ClassNotSupported ErrorClass = 5
	ClassClosed       ErrorClass = 6
	ClassOther        ErrorClass = 7
)

// String names the class as the CLI prints it: "table full".
func (c ErrorClass) String() string {
	switch c {
	case ClassCleared:
		return "cleared"
	case ClassTableFull:
		return "table full"
	case ClassNotFound:
		return "not found"
	case ClassExists:
		return "already exists"
	case ClassInvalid:
		return "invalid argument"
	case ClassNotSupported:
		return "not supported"
	case ClassClosed:
		return "driver closed"
	case ClassOther:
		return "error"
	}
	return fmt.Sprintf("error-%d", uint8(c))
}

// ClassOf classifies a driver error by the HAL sentinel it wraps (nil is
// ClassCleared).
func ClassOf(err error) ErrorClass {
	switch {
	case err == nil:
		return ClassCleared
	case errors.Is(err, hal.ErrTableFull):
		return ClassTableFull
	case errors.Is(err, hal.ErrNotFound):
		return ClassNotFound
	case errors.Is(err, hal.ErrExists):
		return ClassExists
	case errors.Is(err, hal.ErrInvalid):
		return ClassInvalid
	case errors.Is(err, hal.ErrNotSupported):
		return ClassNotSupported
	case errors.Is(err, hal.ErrClosed):
		return ClassClosed
	}
	return ClassOther
}

// MaxApplyDetail bounds the driver's message in an ApplyError.
const MaxApplyDetail = 255

// ApplyError reports that the card failed to program one object, or that
// a failure it reported is over (stats/apply-error, FPC -> RE): what the
// RE reports is then what the cards have. Cards send one per failed
// object, rate-limited, and again after every reconnect.
//
// Body: op kind u8 (hal.OpKind), class u8, failed u32 (objects failing on
// the card now), the object (IFL index u32, NH id u32, route key 11 bytes
// or trap id u16, by op kind), the driver's message (u8 length + bytes).
type ApplyError struct {
	Op     hal.OpKind
	Class  ErrorClass
	Failed uint32 // objects failing on the card when it sent this
	// The object, by Op: IFL (set-ifl, del-ifl), NH (set-nh, del-nh), Key
	// (set-route, del-route) or Trap (set-trap, del-trap).
	IFL    hal.IFLIndex
	NH     hal.NHID
	Key    hal.RouteKey
	Trap   hal.TrapID
	Detail string // the driver's error text, at most MaxApplyDetail bytes
}

// Header implements Message.
func (m *ApplyError) Header() Header { return hdr(TypeStats, SubApplyError) }

// AppendBody implements Message.
func (m *ApplyError) AppendBody(b []byte) ([]byte, error) {
	b = append(b, byte(m.Op), byte(m.Class))
	b = be32(b, m.Failed)
	var err error
	switch m.Op {
	case hal.OpSetIFL, hal.OpDelIFL:
		b = be32(b, uint32(m.IFL))
	case hal.OpSetNH, hal.OpDelNH:
		b = be32(b, uint32(m.NH))
	case hal.OpSetRoute, hal.OpDelRoute:
		if b, err = appendKey(b, keyApplyError, &m.Key); err != nil {
			return b, err
		}
	case hal.OpSetTrap, hal.OpDelTrap:
		b = be16(b, uint16(m.Trap))
	default:
		return b, invalid(keyApplyError, "op kind %d, want 1..8", m.Op)
	}
	return appendStr8(b, keyApplyError, "detail", m.Detail)
}

// DecodeBody implements Message.
func (m *ApplyError) DecodeBody(b []byte) error {
	d := dec{b: b, key: keyApplyError}
	*m = ApplyError{Op: hal.OpKind(d.u8("op kind")), Class: ErrorClass(d.u8("class")), Failed: d.u32("failed")}
	switch m.Op {
	case hal.OpSetIFL, hal.OpDelIFL:
		m.IFL = hal.IFLIndex(d.u32("IFL"))
	case hal.OpSetNH, hal.OpDelNH:
		m.NH = hal.NHID(d.u32("NH"))
	case hal.OpSetRoute, hal.OpDelRoute:
		if kb := d.bytesN("route key", routeKeyLen); d.err == nil {
			d.err = decodeKey(kb, keyApplyError, &m.Key)
		}
	case hal.OpSetTrap, hal.OpDelTrap:
		m.Trap = hal.TrapID(d.u16("trap"))
	default:
		if d.err == nil {
			d.err = malformed(keyApplyError, "op kind %d, want 1..8", m.Op)
		}
	}
	m.Detail = d.str8("detail")
	return d.done("detail")
}

// Object names the object as the logs and the CLI do: "set-route
// 232.0.7.1.10.128.1.10/64", "set-nh 1048577".
func (m *ApplyError) Object() string {
	switch m.Op {
	case hal.OpSetIFL, hal.OpDelIFL:
		return fmt.Sprintf("%s %d", m.Op, m.IFL)
	case hal.OpSetNH, hal.OpDelNH:
		return fmt.Sprintf("%s %d", m.Op, m.NH)
	case hal.OpSetRoute, hal.OpDelRoute:
		return fmt.Sprintf("%s %s", m.Op, m.Key)
	case hal.OpSetTrap, hal.OpDelTrap:
		return fmt.Sprintf("%s %d", m.Op, m.Trap)
	}
	return m.Op.String()
}

// ApplyErrorFor builds the report of op's failure err (nil: cleared),
// with the driver's message cut to MaxApplyDetail bytes.
func ApplyErrorFor(op hal.Op, err error, failed uint32) *ApplyError {
	m := &ApplyError{Op: op.Kind, Class: ClassOf(err), Failed: failed}
	switch op.Kind {
	case hal.OpSetIFL, hal.OpDelIFL:
		m.IFL = op.IFL.Index
	case hal.OpSetNH, hal.OpDelNH:
		m.NH = op.NH.ID
	case hal.OpSetRoute, hal.OpDelRoute:
		m.Key = op.Route.Key
	case hal.OpSetTrap, hal.OpDelTrap:
		m.Trap = op.Trap.ID
	}
	if err != nil {
		m.Detail = err.Error()
		if len(m.Detail) > MaxApplyDetail {
			m.Detail = m.Detail[:MaxApplyDetail]
		}
	}
	return m
}
