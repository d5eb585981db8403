package ipc_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/ipc/ipctest"
)

var (
	testKey  = []byte("0123456789abcdef-shared-key")
	otherKey = []byte("fedcba9876543210-other-key!")
)

func testRegister() *ipc.Register {
	return &ipc.Register{Slot: 3, Addr: ipc.FPCAddr(3), Driver: "trio", PFEs: []hal.PFEID{12, 13, 14, 15},
		Ports: []ipc.Port{{IFL: "xe-3/1/0", Resource: "veth31"}}}
}

// handshake runs Accept (with reKey) and ClientHandshakeAuth (with
// fpcKey) over a TCP pair; the RE answers an accepted registration with an
// OK ack and a refused one with AckAuth, as re/server does.
func handshake(t *testing.T, reKey, fpcKey []byte) (reg *ipc.Register, reErr, fpcErr error, cli, srv net.Conn) {
	t.Helper()
	cli, srv = tcpPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg, reErr = ipc.Accept(srv, ipc.AcceptConfig{Key: reKey, Timeout: waitFor})
		switch {
		case errors.Is(reErr, ipc.ErrAuth):
			_ = ipc.WriteMessages(srv, &ipc.RegisterAck{Error: ipc.AckAuth, Reason: "authentication failed", Master: ipc.TNPMaster})
		case reErr == nil:
			_ = ipc.WriteMessages(srv, &ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: time.Second})
		default:
			srv.Close()
		}
	}()
	_, fpcErr = ipc.ClientHandshakeAuth(cli, testRegister(), ipc.ClientAuth{Key: fpcKey}, waitFor)
	if fpcErr != nil {
		cli.Close() // the RE may wait for a response that never comes
	}
	<-done
	return reg, reErr, fpcErr, cli, srv
}

func TestAuthenticatedHandshake(t *testing.T) {
	reg, reErr, fpcErr, cli, srv := handshake(t, testKey, testKey)
	require.NoError(t, reErr)
	require.NoError(t, fpcErr)
	assert.Equal(t, testRegister(), reg)

	// Nothing beyond the handshake was read: sessions take over.
	in := ipctest.NewInbox(10)
	fpc := ipc.NewSession(cli, ipc.SessionConfig{Handler: in.Handler})
	re := ipc.NewSession(srv, ipc.SessionConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { re.Run(ctx); done <- struct{}{} }()
	go func() { fpc.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()
	require.NoError(t, re.Send(ctx, &ipc.ResyncBegin{Generation: 9}))
	assert.Equal(t, []ipc.Message{&ipc.ResyncBegin{Generation: 9}}, receive(t, in, 1))
}

func TestHandshakeAuthFailures(t *testing.T) {
	t.Run("wrong key", func(t *testing.T) {
		_, reErr, fpcErr, _, _ := handshake(t, testKey, otherKey)
		require.ErrorIs(t, reErr, ipc.ErrAuth)
		assert.Contains(t, reErr.Error(), "slot 3: wrong proof of the shared key")
		require.ErrorIs(t, fpcErr, ipc.ErrRejected)
		require.ErrorIs(t, fpcErr, ipc.ErrAuth)
		assert.Contains(t, fpcErr.Error(), "auth: authentication failed")
	})
	t.Run("card without a key", func(t *testing.T) {
		_, _, fpcErr, _, _ := handshake(t, testKey, nil)
		require.ErrorIs(t, fpcErr, ipc.ErrAuth)
		assert.Contains(t, fpcErr.Error(), "the RE requires authentication and this card has no key")
	})
	t.Run("RE without a key", func(t *testing.T) {
		_, reErr, fpcErr, _, _ := handshake(t, nil, testKey)
		require.NoError(t, reErr)
		require.ErrorIs(t, fpcErr, ipc.ErrAuth)
		assert.Contains(t, fpcErr.Error(), "accepted without proving the shared key")
	})
}

// A fake RE that does not know the key cannot pass the card's check, even
// by echoing the card's own proof back.
func TestFakeREIsRefused(t *testing.T) {
	cli, srv := tcpPair(t)
	go func() {
		r := ipc.NewReader(srv, ipc.HandshakeLimits())
		if _, err := r.ReadFrame(); err != nil {
			return
		}
		_ = ipc.WriteMessages(srv, &ipc.AuthChallenge{Method: ipc.AuthMethodHMACSHA256})
		msgs, err := r.ReadFrame()
		if err != nil {
			return
		}
		resp := msgs[0].(*ipc.AuthResponse)
		_ = ipc.WriteMessages(srv, &ipc.AuthConfirm{Proof: resp.Proof})
		_ = ipc.WriteMessages(srv, &ipc.RegisterAck{Master: ipc.TNPMaster})
	}()
	_, err := ipc.ClientHandshakeAuth(cli, testRegister(), ipc.ClientAuth{Key: testKey}, waitFor)
	require.ErrorIs(t, err, ipc.ErrAuth)
	assert.Contains(t, err.Error(), "the RE's proof of the shared key is wrong")
}

// A response recorded on one connection does not authenticate another:
// the RE's nonce is fresh.
func TestRecordedResponseIsNotReplayable(t *testing.T) {
	// Record a genuine exchange.
	rec := make(chan []byte, 1)
	{
		cli, srv := net.Pipe()
		go func() {
			_, err := ipc.Accept(srv, ipc.AcceptConfig{Key: testKey, Timeout: waitFor})
			if err == nil {
				_ = ipc.WriteMessages(srv, &ipc.RegisterAck{Master: ipc.TNPMaster})
			}
		}()
		tee := &teeConn{Conn: cli}
		_, err := ipc.ClientHandshakeAuth(tee, testRegister(), ipc.ClientAuth{Key: testKey}, waitFor)
		require.NoError(t, err)
		rec <- tee.written.Bytes()
	}
	// Replay the card's bytes (register, response) to a new RE.
	replay := <-rec
	conn := &scripted{in: bytes.NewReader(replay)}
	_, err := ipc.Accept(conn, ipc.AcceptConfig{Key: testKey})
	require.ErrorIs(t, err, ipc.ErrAuth)
}

// teeConn records what is written.
type teeConn struct {
	net.Conn
	written bytes.Buffer
}

func (c *teeConn) Write(b []byte) (int, error) {
	c.written.Write(b)
	return c.Conn.Write(b)
}

// scripted is a net.Conn that reads a script and records what is written.
type scripted struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scripted) Read(b []byte) (int, error) {
	if c.in == nil {
		return 0, io.EOF
	}
	return c.in.Read(b)
}
func (c *scripted) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scripted) Close() error                { return nil }
func (c *scripted) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6234} }
func (c *scripted) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scripted) SetDeadline(time.Time) error      { return nil }
func (c *scripted) SetReadDeadline(time.Time) error  { return nil }
func (c *scripted) SetWriteDeadline(time.Time) error { return nil }

// A frame header announcing 4 MiB before registration is refused from the
// header alone: nothing near its size is allocated.
func TestOversizeHandshakeHeaderIsNotAllocated(t *testing.T) {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], 1)
	binary.LittleEndian.PutUint32(hdr[4:], 4<<20)
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		_, err := ipc.Accept(&scripted{in: bytes.NewReader(hdr[:])}, ipc.AcceptConfig{Key: testKey})
		require.ErrorIs(t, err, ipc.ErrMalformed)
		require.ErrorContains(t, err, "bytes 4194304 exceeds limit 32768")
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	assert.Less(t, perRun, uint64(16<<10), "bytes allocated per refused header")

	// Even when the caller passes the session's (4 MiB) limits.
	_, err := ipc.ReadRegister(&scripted{in: bytes.NewReader(hdr[:])}, ipc.DefaultLimits(), 0)
	require.ErrorContains(t, err, "exceeds limit 32768")
	// And the client side reading the RE's answer.
	_, err = ipc.ClientHandshake(&scripted{in: bytes.NewReader(hdr[:])}, testRegister(), 0)
	require.ErrorContains(t, err, "exceeds limit 32768")
}

// fixedRand is a deterministic nonce source for the fuzz targets.
type fixedRand byte

func (r fixedRand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r) + byte(i)
	}
	return len(b), nil
}

// cardScript is what a card with key sends to an RE whose nonces come
// from fixedRand(1): register, then the response to that nonce.
func cardScript(t testing.TB, key []byte, reg *ipc.Register) []byte {
	var reNonce [ipc.NonceLen]byte
	fixedRand(1).Read(reNonce[:])
	resp := &ipc.AuthResponse{}
	fixedRand(7).Read(resp.Nonce[:])
	resp.Proof = fpcProof(t, key, reNonce, resp.Nonce, reg)
	a, err := ipc.AppendFrame(nil, reg)
	require.NoError(t, err)
	b, err := ipc.AppendFrame(nil, resp)
	require.NoError(t, err)
	return append(a, b...)
}

// fpcProof computes the card's proof independently of the package.
func fpcProof(t testing.TB, key []byte, reNonce, fpcNonce [ipc.NonceLen]byte, reg *ipc.Register) [ipc.ProofLen]byte {
	return proofOf(t, "fpc", key, reNonce, fpcNonce, reg)
}

// proofOf is the proof of side ("fpc" or "re") as the ipc package
// documents it.
func proofOf(t testing.TB, side string, key []byte, reNonce, fpcNonce [ipc.NonceLen]byte, reg *ipc.Register) [ipc.ProofLen]byte {
	body, err := reg.AppendBody(nil)
	require.NoError(t, err)
	h := hmac.New(sha256.New, key)
	h.Write([]byte("mxfwd tnp auth v1 " + side + "\x00"))
	h.Write(reNonce[:])
	h.Write(fpcNonce[:])
	h.Write(body)
	var out [ipc.ProofLen]byte
	h.Sum(out[:0])
	return out
}

// FuzzAccept feeds arbitrary card bytes to the RE side of an
// authenticated handshake: it never panics, errors wrap one of the
// handshake's sentinels (or an I/O end), and it accepts only a
// registration whose response carries the proof computed independently.
func FuzzAccept(f *testing.F) {
	f.Add(cardScript(f, testKey, testRegister()))
	f.Add(cardScript(f, otherKey, testRegister()))
	f.Add(cardScript(f, testKey, &ipc.Register{Slot: 0, Addr: ipc.FPCAddr(0), Driver: "swpfe"}))
	reg, _ := ipc.AppendFrame(nil, testRegister())
	f.Add(reg)
	f.Add(seedFrame())
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &scripted{in: bytes.NewReader(in)}
		got, err := ipc.Accept(conn, ipc.AcceptConfig{Key: testKey, Rand: fixedRand(1)})
		if err != nil {
			if !errors.Is(err, ipc.ErrMalformed) && !errors.Is(err, ipc.ErrHandshake) && !errors.Is(err, ipc.ErrAuth) &&
				!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// Accepted: the input was register + response with a valid proof.
		msgs, err := ipc.DecodeFrames(in[:len(in)-conn.in.Len()], ipc.HandshakeLimits())
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		require.Equal(t, got, msgs[0][0])
		resp := msgs[1][0].(*ipc.AuthResponse)
		var reNonce [ipc.NonceLen]byte
		fixedRand(1).Read(reNonce[:])
		require.Equal(t, fpcProof(t, testKey, reNonce, resp.Nonce, got), resp.Proof)
		// The RE wrote its challenge and its confirmation, nothing else.
		out, err := ipc.DecodeFrames(conn.out.Bytes(), ipc.HandshakeLimits())
		require.NoError(t, err)
		require.Len(t, out, 2)
		require.IsType(t, &ipc.AuthChallenge{}, out[0][0])
		require.IsType(t, &ipc.AuthConfirm{}, out[1][0])
	})
}

// FuzzClientHandshake feeds arbitrary RE bytes to an FPC with a key: it
// never panics, and never reports success unless the RE proved the key.
func FuzzClientHandshake(f *testing.F) {
	// A genuine RE's answer to testRegister with the card's nonce from
	// fixedRand(7) and the RE's from fixedRand(1).
	var genuine bytes.Buffer
	{
		script := cardScript(f, testKey, testRegister())
		re := &scripted{in: bytes.NewReader(script)}
		_, err := ipc.Accept(re, ipc.AcceptConfig{Key: testKey, Rand: fixedRand(1)})
		require.NoError(f, err)
		genuine.Write(re.out.Bytes())
		ack, _ := ipc.AppendFrame(nil, &ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: time.Second})
		genuine.Write(ack)
	}
	f.Add(genuine.Bytes())
	ack, _ := ipc.AppendFrame(nil, &ipc.RegisterAck{Master: ipc.TNPMaster})
	f.Add(ack)
	refused, _ := ipc.AppendFrame(nil, &ipc.RegisterAck{Error: ipc.AckAuth, Reason: "no"})
	f.Add(refused)
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &scripted{in: bytes.NewReader(in)}
		_, err := ipc.ClientHandshakeAuth(conn, testRegister(), ipc.ClientAuth{Key: testKey, Rand: fixedRand(7)}, 0)
		if err != nil {
			return
		}
		// Success: the RE's bytes held a challenge and a confirmation with
		// the proof computed independently, then the ack.
		frames, derr := ipc.DecodeFrames(in[:len(in)-conn.in.Len()], ipc.HandshakeLimits())
		require.NoError(t, derr)
		require.Len(t, frames, 3, "challenge, confirm, ack")
		ch := frames[0][0].(*ipc.AuthChallenge)
		var fpcNonce [ipc.NonceLen]byte
		fixedRand(7).Read(fpcNonce[:])
		require.Equal(t, proofOf(t, "re", testKey, ch.Nonce, fpcNonce, testRegister()), frames[1][0].(*ipc.AuthConfirm).Proof)
	})
}

// The fuzz seeds reach the accepting paths, so the properties checked
// there are exercised.
func TestHandshakeFuzzSeedsAuthenticate(t *testing.T) {
	re := &scripted{in: bytes.NewReader(cardScript(t, testKey, testRegister()))}
	reg, err := ipc.Accept(re, ipc.AcceptConfig{Key: testKey, Rand: fixedRand(1)})
	require.NoError(t, err)
	assert.Equal(t, testRegister(), reg)
	ack, _ := ipc.AppendFrame(nil, &ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: time.Second})
	fpc := &scripted{in: bytes.NewReader(append(re.out.Bytes(), ack...))}
	_, err = ipc.ClientHandshakeAuth(fpc, testRegister(), ipc.ClientAuth{Key: testKey, Rand: fixedRand(7)}, 0)
	require.NoError(t, err)
}
