package pimmsg

import (
	"encoding/binary"
	"fmt"
)

// Type is a PIM message type (RFC 7761 §4.9, IANA "PIM Message Types").
type Type uint8

// The message types. This codec decodes and encodes Hello, Register,
// Register-Stop, Join/Prune, Bootstrap, Assert, Candidate-RP-Advertisement
// and PFM; the others are named for error messages and statistics.
const (
	TypeHello            Type = 0
	TypeRegister         Type = 1
	TypeRegisterStop     Type = 2
	TypeJoinPrune        Type = 3
	TypeBootstrap        Type = 4
	TypeAssert           Type = 5
	TypeGraft            Type = 6
	TypeGraftAck         Type = 7
	TypeCandidateRPAdv   Type = 8
	TypeStateRefresh     Type = 9
	TypeDFElection       Type = 10
	TypeECMPRedirect     Type = 11
	TypePFM              Type = 12
	TypeExtended         Type = 13 // RFC 9436 type-space extension
	numTypes                  = 16
	headerLen                 = 4
	pimVersion                = 2
	registerChecksumSpan      = 8 // PIM header + flags word, RFC 7761 §4.9.3
	maxMessageLen             = 65535 - 20
)

var typeNames = [numTypes]string{
	"hello", "register", "register-stop", "join/prune", "bootstrap", "assert",
	"graft", "graft-ack", "candidate-rp-advertisement", "state-refresh",
	"df-election", "ecmp-redirect", "pfm", "type-13", "type-14", "type-15",
}

func (t Type) String() string {
	if int(t) < numTypes {
		return typeNames[t]
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// Message is one PIM message. It is implemented by *Hello, *JoinPrune,
// *Register, *RegisterStop, *Assert, *Bootstrap, *CandidateRPAdv and *PFM.
type Message interface {
	// Type is the message type of the PIM header.
	Type() Type
	// flags is the header's flag byte (RFC 9436; "Reserved" in RFC 7761).
	flags() uint8
	// appendBody encodes everything after the PIM header.
	appendBody(b []byte) ([]byte, error)
}

// Append encodes m (PIM header, body, checksum) and appends it to b. On
// error b is returned unchanged in length.
func Append(b []byte, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, pimVersion<<4|byte(m.Type())&0x0f, m.flags(), 0, 0)
	b, err := m.appendBody(b)
	if err != nil {
		return b[:start], err
	}
	if len(b)-start > maxMessageLen {
		return b[:start], invalidf(m.Type().String(), "", fmt.Sprintf("message length %d exceeds %d", len(b)-start, maxMessageLen))
	}
	msg := b[start:]
	span := msg
	if m.Type() == TypeRegister {
		span = msg[:registerChecksumSpan]
	}
	binary.BigEndian.PutUint16(msg[2:], Checksum(span))
	return b, nil
}

// Marshal encodes m into a new slice.
func Marshal(m Message) ([]byte, error) {
	return Append(make([]byte, 0, 64), m)
}

// Decode decodes one PIM message, the whole IP payload b. The checksum is
// verified (for a Register, over the header and flags word, or over the
// whole message as RFC 7761 §4.9.3 asks receivers to accept too). The
// result shares no memory with b.
func Decode(b []byte) (Message, error) {
	if len(b) < headerLen {
		return nil, &FieldError{Field: "header", Detail: fmt.Sprintf("need %d bytes, have %d", headerLen, len(b)), Err: ErrTruncated}
	}
	if v := b[0] >> 4; v != pimVersion {
		return nil, &FieldError{Field: "header: version", Detail: fmt.Sprintf("version %d, want 2", v), Err: ErrVersion}
	}
	t := Type(b[0] & 0x0f)
	if t == TypeRegister {
		if len(b) < registerChecksumSpan {
			return nil, &FieldError{Msg: t.String(), Field: "flags", Detail: fmt.Sprintf("need %d bytes, have %d", registerChecksumSpan, len(b)), Err: ErrTruncated}
		}
		if Checksum(b[:registerChecksumSpan]) != 0 && Checksum(b) != 0 {
			return nil, &FieldError{Msg: t.String(), Field: "header: checksum", Detail: fmt.Sprintf("checksum %#04x does not verify over the header nor over the whole message", binary.BigEndian.Uint16(b[2:])), Err: ErrChecksum}
		}
	} else if Checksum(b) != 0 {
		return nil, &FieldError{Msg: t.String(), Field: "header: checksum", Detail: fmt.Sprintf("checksum %#04x does not verify", binary.BigEndian.Uint16(b[2:])), Err: ErrChecksum}
	}
	flags := b[1]
	d := &decoder{b: b, off: headerLen, msg: t.String()}
	var m Message
	switch t {
	case TypeHello:
		m = decodeHello(d)
	case TypeRegister:
		m = decodeRegister(d)
	case TypeRegisterStop:
		m = decodeRegisterStop(d)
	case TypeJoinPrune:
		m = decodeJoinPrune(d)
	case TypeBootstrap:
		m = decodeBootstrap(d, flags)
	case TypeAssert:
		m = decodeAssert(d)
	case TypeCandidateRPAdv:
		m = decodeCandidateRPAdv(d, flags)
	case TypePFM:
		m = decodePFM(d, flags)
	default:
		return nil, &FieldError{Msg: t.String(), Field: "header: type", Detail: fmt.Sprintf("message type %d not supported", uint8(t)), Err: ErrUnknownType}
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
