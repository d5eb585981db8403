package ipc

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Handshake errors.
var (
	// ErrHandshake is wrapped when the first frame of a connection is not
	// the expected single register or register-ack message, or a step of
	// the authentication exchange is missing.
	ErrHandshake = errors.New("handshake failed")
	// ErrRejected is wrapped by ClientHandshake when the RE answers with a
	// non-zero AckCode.
	ErrRejected = errors.New("registration rejected")
	// ErrAuth is wrapped when the authentication of the registration
	// fails: a wrong proof, a peer that asks for authentication the other
	// end is not configured for, or an RE that skips it while the FPC has
	// a key (it could be anyone).
	ErrAuth = errors.New("authentication failed")
)

// MaxHandshakeBytes bounds a handshake frame (the bytes field, everything
// after the 8-byte frame header), checked before anything is allocated. A
// Register is 13 bytes plus 2 per PFE and 2 plus the names per port: a
// line card of 48 ports with 32-byte names takes about 3.3 KB, and 32 KiB
// leaves ten times that. Every handshake frame holds one message.
const MaxHandshakeBytes = 32 << 10

// HandshakeLimits are the limits of every frame read before a Session
// owns the connection: one message of at most MaxHandshakeBytes.
func HandshakeLimits() Limits { return Limits{MaxFrameBytes: MaxHandshakeBytes, MaxMessages: 1} }

// handshakeLimits clamps lim to HandshakeLimits.
func handshakeLimits(lim Limits) Limits {
	lim = lim.withDefaults()
	h := HandshakeLimits()
	lim.MaxFrameBytes = min(lim.MaxFrameBytes, h.MaxFrameBytes)
	lim.MaxMessages = min(lim.MaxMessages, h.MaxMessages)
	return lim
}

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
// can take over the connection) within the handshake limits and checks
// that it holds one message.
func readOne(conn net.Conn, lim Limits, want string) (Message, error) {
	msgs, err := newExactReader(conn, handshakeLimits(lim)).ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", want, err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("first frame has %d messages, want one %s: %w", len(msgs), want, ErrHandshake)
	}
	return msgs[0], nil
}

func unexpected(m Message, want string) error {
	h := m.Header()
	return fmt.Errorf("first message is %s, want %s: %w", keyOf(h.Type, h.Subtype), want, ErrHandshake)
}

// setDeadline bounds the whole handshake; the returned func clears it.
func setDeadline(conn net.Conn, timeout time.Duration) (func(), error) {
	if timeout <= 0 {
		return func() {}, nil
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	return func() { _ = conn.SetDeadline(time.Time{}) }, nil
}

// ReadRegister is the RE side of an unauthenticated handshake: it reads
// the first frame of a new connection, which must be exactly one
// Register, within timeout (0: no timeout), and within the handshake
// limits whatever lim says. It reads nothing beyond that frame. The caller
// answers with WriteMessages(conn, &RegisterAck{...}) and then starts a
// Session.
func ReadRegister(conn net.Conn, lim Limits, timeout time.Duration) (*Register, error) {
	return Accept(conn, AcceptConfig{Limits: lim, Timeout: timeout})
}

// AcceptConfig configures Accept.
type AcceptConfig struct {
	// Key is the shared key the FPC must prove (nil: no authentication).
	Key []byte
	// Timeout bounds the whole exchange (0: none).
	Timeout time.Duration
	// Limits are clamped to HandshakeLimits.
	Limits Limits
	// Rand is the nonce source (nil: crypto/rand).
	Rand io.Reader
}

// Accept is the RE side of the handshake: it reads the Register and, with
// a Key, challenges the FPC, checks its proof and sends the RE's own
// (AuthConfirm). It returns the registration; the caller answers with a
// RegisterAck (AckAuth when the error wraps ErrAuth) and then starts a
// Session. Nothing beyond the handshake is read.
func Accept(conn net.Conn, cfg AcceptConfig) (*Register, error) {
	where := "handshake with " + remoteOf(conn)
	undo, err := setDeadline(conn, cfg.Timeout)
	if err != nil {
		return nil, withContext(where, err)
	}
	defer undo()
	m, err := readOne(conn, cfg.Limits, keyRegister)
	if err != nil {
		return nil, withContext(where, err)
	}
	reg, ok := m.(*Register)
	if !ok {
		return nil, withContext(where, unexpected(m, keyRegister))
	}
	if cfg.Key == nil {
		return reg, nil
	}
	body, err := registerBody(reg)
	if err != nil {
		return nil, withContext(where, err)
	}
	ch := &AuthChallenge{Method: AuthMethodHMACSHA256}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, ch.Nonce[:]); err != nil {
		return nil, withContext(where, fmt.Errorf("nonce: %w", err))
	}
	if err := WriteMessages(conn, ch); err != nil {
		return nil, withContext(where, err)
	}
	m, err = readOne(conn, cfg.Limits, keyAuthResponse)
	if err != nil {
		// Challenged and no proof: a peer without the key hangs up.
		return reg, withContext(where, fmt.Errorf("slot %d: no proof of the shared key: %w: %w", reg.Slot, ErrAuth, err))
	}
	resp, ok := m.(*AuthResponse)
	if !ok {
		return reg, withContext(where, fmt.Errorf("%w: %w", ErrAuth, unexpected(m, keyAuthResponse)))
	}
	want := proof(cfg.Key, labelFPC, &ch.Nonce, &resp.Nonce, body)
	if !hmac.Equal(want[:], resp.Proof[:]) {
		return reg, withContext(where, fmt.Errorf("slot %d: wrong proof of the shared key: %w", reg.Slot, ErrAuth))
	}
	if err := WriteMessages(conn, &AuthConfirm{Proof: proof(cfg.Key, labelRE, &ch.Nonce, &resp.Nonce, body)}); err != nil {
		return nil, withContext(where, err)
	}
	return reg, nil
}

// ClientAuth is the FPC's side of the authentication.
type ClientAuth struct {
	// Key is the shared key (nil: the FPC does not authenticate, and
	// fails if the RE asks it to).
	Key []byte
	// Rand is the nonce source (nil: crypto/rand).
	Rand io.Reader
}

// ClientHandshake is the FPC side of an unauthenticated handshake; see
// ClientHandshakeAuth.
func ClientHandshake(conn net.Conn, reg *Register, timeout time.Duration) (*RegisterAck, error) {
	return ClientHandshakeAuth(conn, reg, ClientAuth{}, timeout)
}

// ClientHandshakeAuth is the FPC side of the handshake: it sends reg,
// answers the RE's challenge when it has a key, checks the RE's proof, and
// waits for the RegisterAck, all within timeout (0: no timeout). It reads
// nothing beyond the ack. If the RE refuses (ack.Error != AckOK) it
// returns the ack and an error wrapping ErrRejected (and ErrAuth for
// AckAuth) with the code and the reason. With a key, an RE that does not
// challenge, or whose proof is wrong, fails with ErrAuth: it does not know
// the key.
func ClientHandshakeAuth(conn net.Conn, reg *Register, auth ClientAuth, timeout time.Duration) (*RegisterAck, error) {
	where := "handshake with " + remoteOf(conn)
	undo, err := setDeadline(conn, timeout)
	if err != nil {
		return nil, withContext(where, err)
	}
	defer undo()
	if err := WriteMessages(conn, reg); err != nil {
		return nil, withContext(where, err)
	}
	m, err := readOne(conn, Limits{}, keyRegisterAck)
	if err != nil {
		return nil, withContext(where, err)
	}
	authenticated := false
	if ch, ok := m.(*AuthChallenge); ok {
		if auth.Key == nil {
			return nil, withContext(where, fmt.Errorf("the RE requires authentication and this card has no key (--auth-key-file): %w", ErrAuth))
		}
		body, err := registerBody(reg)
		if err != nil {
			return nil, withContext(where, err)
		}
		resp := &AuthResponse{}
		rnd := auth.Rand
		if rnd == nil {
			rnd = rand.Reader
		}
		if _, err := io.ReadFull(rnd, resp.Nonce[:]); err != nil {
			return nil, withContext(where, fmt.Errorf("nonce: %w", err))
		}
		resp.Proof = proof(auth.Key, labelFPC, &ch.Nonce, &resp.Nonce, body)
		if err := WriteMessages(conn, resp); err != nil {
			return nil, withContext(where, err)
		}
		if m, err = readOne(conn, Limits{}, keyAuthConfirm); err != nil {
			return nil, withContext(where, err)
		}
		if c, ok := m.(*AuthConfirm); ok {
			want := proof(auth.Key, labelRE, &ch.Nonce, &resp.Nonce, body)
			if !hmac.Equal(want[:], c.Proof[:]) {
				return nil, withContext(where, fmt.Errorf("the RE's proof of the shared key is wrong: %w", ErrAuth))
			}
			authenticated = true
			if m, err = readOne(conn, Limits{}, keyRegisterAck); err != nil {
				return nil, withContext(where, err)
			}
		}
	}
	ack, ok := m.(*RegisterAck)
	if !ok {
		return nil, withContext(where, unexpected(m, keyRegisterAck))
	}
	if ack.Error != AckOK {
		if ack.Error == AckAuth {
			return ack, withContext(where, fmt.Errorf("%w: %w: %s: %s", ErrRejected, ErrAuth, ack.Error, ack.Reason))
		}
		return ack, withContext(where, fmt.Errorf("%w: %s: %s", ErrRejected, ack.Error, ack.Reason))
	}
	if auth.Key != nil && !authenticated {
		return nil, withContext(where, fmt.Errorf("the RE accepted without proving the shared key (is it the RE?): %w", ErrAuth))
	}
	return ack, nil
}
