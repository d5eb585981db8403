package ipc

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Handshake errors.
var (
	// ErrHandshake is wrapped when the first frame of a connection is not
	// the expected single register or register-ack message.
	ErrHandshake = errors.New("handshake failed")
	// ErrRejected is wrapped by ClientHandshake when the RE answers with a
	// non-zero AckCode.
	ErrRejected = errors.New("registration rejected")
)

// WriteMessages writes msgs as one frame to conn. It is for the handshake
// and for one-off writes before a Session owns the connection.
func WriteMessages(conn net.Conn, msgs ...Message) error {
	b, err := AppendFrame(nil, msgs...)
	if err != nil {
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("ipc: write to %s: %w", remoteOf(conn), err)
	}
	return nil
}

func remoteOf(conn net.Conn) string {
	if ra := conn.RemoteAddr(); ra != nil {
		return ra.String()
	}
	return "unknown address"
}

// readOne reads exactly one frame (and not a byte more, so that a Session
// can take over the connection) and checks that it holds one message.
func readOne(conn net.Conn, lim Limits, want string) (Message, error) {
	msgs, err := newExactReader(conn, lim).ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", want, err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("first frame has %d messages, want one %s: %w", len(msgs), want, ErrHandshake)
	}
	return msgs[0], nil
}

// ReadRegister is the RE side of the handshake: it reads the first frame
// of a new connection, which must be exactly one Register, within timeout
// (0: no timeout). It reads nothing beyond that frame. The caller answers
// with WriteMessages(conn, &RegisterAck{...}) and then starts a Session.
func ReadRegister(conn net.Conn, lim Limits, timeout time.Duration) (*Register, error) {
	where := "handshake with " + remoteOf(conn)
	if timeout > 0 {
		if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, withContext(where, err)
		}
		defer conn.SetReadDeadline(time.Time{})
	}
	m, err := readOne(conn, lim, keyRegister)
	if err != nil {
		return nil, withContext(where, err)
	}
	reg, ok := m.(*Register)
	if !ok {
		h := m.Header()
		return nil, withContext(where, fmt.Errorf("first message is %s, want %s: %w", keyOf(h.Type, h.Subtype), keyRegister, ErrHandshake))
	}
	return reg, nil
}

// ClientHandshake is the FPC side of the handshake: it sends reg and waits
// for the RegisterAck, all within timeout (0: no timeout). It reads
// nothing beyond the ack. If the RE refuses (ack.Error != AckOK) it
// returns the ack and an error wrapping ErrRejected with the code and the
// reason.
func ClientHandshake(conn net.Conn, reg *Register, timeout time.Duration) (*RegisterAck, error) {
	where := "handshake with " + remoteOf(conn)
	if timeout > 0 {
		if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
			return nil, withContext(where, err)
		}
		defer conn.SetDeadline(time.Time{})
	}
	if err := WriteMessages(conn, reg); err != nil {
		return nil, withContext(where, err)
	}
	m, err := readOne(conn, Limits{}, keyRegisterAck)
	if err != nil {
		return nil, withContext(where, err)
	}
	ack, ok := m.(*RegisterAck)
	if !ok {
		h := m.Header()
		return nil, withContext(where, fmt.Errorf("first message is %s, want %s: %w", keyOf(h.Type, h.Subtype), keyRegisterAck, ErrHandshake))
	}
	if ack.Error != AckOK {
		return ack, withContext(where, fmt.Errorf("%w: %s: %s", ErrRejected, ack.Error, ack.Reason))
	}
	return ack, nil
}
