package ipc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/ipc/ipctest"
)

// waitFor is long enough for any event of these tests on a loaded machine;
// it is a deadline for a hang, never a timing assertion.
const waitFor = 20 * time.Second

func routeAdds(n int) []ipc.Message {
	msgs := make([]ipc.Message, n)
	for i := range msgs {
		msgs[i] = &ipc.RouteAdd{Route: hal.Route{Key: hal.SG(source, group), NH: hal.NHID(hal.IndirectBase) + hal.NHID(i), RPF: 331, Flags: hal.RouteFlagsSG}}
	}
	return msgs
}

func receive(t *testing.T, in *ipctest.Inbox, n int) []ipc.Message {
	t.Helper()
	var got []ipc.Message
	timeout := time.After(waitFor)
	for len(got) < n {
		select {
		case m := <-in.C:
			got = append(got, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	return got
}

// noSessionGoroutines fails if a goroutine of a Session is still running.
func noSessionGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "ipc.(*Session).run") {
			t.Errorf("goroutine left running:\n%s", g)
		}
	}
}

func TestSessionExchangesMessagesInOrder(t *testing.T) {
	reIn, fpcIn := ipctest.NewInbox(10000), ipctest.NewInbox(10000)
	p := ipctest.Pipe(t, ipc.SessionConfig{Handler: reIn.Handler}, ipc.SessionConfig{Handler: fpcIn.Handler})
	ctx := context.Background()

	down := routeAdds(5000)
	for _, m := range sampleMessages() {
		if _, ok := m.(*ipc.Keepalive); !ok { // a Session consumes keepalives
			down = append(down, m)
		}
	}
	for i := 0; i < len(down); i += 7 {
		require.NoError(t, p.A.Send(ctx, down[i:min(i+7, len(down))]...))
	}
	up := []ipc.Message{seedResolve(), &ipc.WrongIIF{Ingress: 1, Expected: 2, Group: group, Source: source}}
	require.NoError(t, p.B.Send(ctx, up...))

	assert.Equal(t, down, receive(t, fpcIn, len(down)))
	assert.Equal(t, up, receive(t, reIn, len(up)))

	// The writer counts a frame once its write returned, which may be
	// after the peer read it.
	require.Eventually(t, func() bool { return p.A.Stats().MessagesOut >= uint64(len(down)) }, waitFor, time.Millisecond)
	st := p.A.Stats()
	assert.Less(t, st.FramesOut, st.MessagesOut, "batched")
}

func TestSessionKeepalives(t *testing.T) {
	cfg := ipc.SessionConfig{KeepaliveInterval: 5 * time.Millisecond, DeadAfter: 1000}
	p := ipctest.Pipe(t, cfg, cfg)
	require.Eventually(t, func() bool {
		a, b := p.A.Stats(), p.B.Stats()
		return a.KeepalivesIn >= 6 && b.KeepalivesIn >= 6 && a.LastRTT > 0 && b.LastRTT > 0
	}, waitFor, time.Millisecond)
	a := p.A.Stats()
	assert.Positive(t, a.KeepalivesOut)
	assert.Zero(t, a.KeepaliveDrops)
}

func TestSessionDetectsDeadPeer(t *testing.T) {
	ca, cb := net.Pipe()
	// The peer reads (so writes do not block) but never sends anything.
	go io.Copy(io.Discard, cb)
	defer cb.Close()
	s := ipc.NewSession(ca, ipc.SessionConfig{Local: ipc.TNPMaster, Peer: ipc.FPCAddr(3),
		KeepaliveInterval: 2 * time.Millisecond, DeadAfter: 3})
	err := s.Run(context.Background())
	require.ErrorIs(t, err, ipc.ErrPeerDead)
	assert.Contains(t, err.Error(), "ipc: peer fpc3 (tnp 0x13, pipe): peer dead: nothing received for")
	assert.Contains(t, err.Error(), "(3 keepalive intervals of 2ms)")
	noSessionGoroutines(t)
	assert.ErrorIs(t, s.Send(context.Background(), seedResolve()), ipc.ErrSessionClosed)
}

func TestSessionCancelStopsCleanly(t *testing.T) {
	ca, cb := net.Pipe()
	a := ipc.NewSession(ca, ipc.SessionConfig{})
	b := ipc.NewSession(cb, ipc.SessionConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- a.Run(ctx) }()
	go func() { errs <- b.Run(ctx) }()
	require.NoError(t, a.Send(ctx, routeAdds(100)...))
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			// A session may also see its peer close first.
			if !errors.Is(err, context.Canceled) {
				assert.ErrorIs(t, err, io.EOF)
			}
		case <-time.After(waitFor):
			t.Fatal("Run did not return after cancel")
		}
	}
	noSessionGoroutines(t)
	assert.ErrorIs(t, a.Send(context.Background(), seedResolve()), ipc.ErrSessionClosed)
	assert.ErrorContains(t, a.Run(context.Background()), "Run called twice")
}

// runPair runs a on ca and a receiving session on cb and returns b's inbox
// and a's Run result channel.
func runPair(t *testing.T, a *ipc.Session, cb net.Conn, n int) (*ipctest.Inbox, *ipc.Session) {
	in := ipctest.NewInbox(n)
	b := ipc.NewSession(cb, ipc.SessionConfig{Handler: in.Handler, KeepaliveInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	go func() { b.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return in, b
}

func TestSessionBatchesSends(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lim    ipc.Limits
		frames int // frames of route adds
	}{
		{"one frame", ipc.Limits{}, 1},
		{"split by message limit", ipc.Limits{MaxMessages: 100}, 10},
		// Route adds take 31 bytes with their header: 1000 bytes hold 32.
		{"split by byte limit", ipc.Limits{MaxFrameBytes: 1000}, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := net.Pipe()
			a := ipc.NewSession(ca, ipc.SessionConfig{KeepaliveInterval: time.Hour, Limits: tc.lim})
			want := routeAdds(1000)
			// Queued one by one before the writer runs: they share frames.
			for _, m := range want {
				require.NoError(t, a.Send(context.Background(), m))
			}
			assert.Equal(t, 1000, a.Stats().Queued)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done }()

			// The peer is a plain Reader, to see the frames.
			r := ipc.NewReader(cb, tc.lim)
			var got []ipc.Message
			frames := 0
			for len(got) < len(want) {
				msgs, err := r.ReadFrame()
				require.NoError(t, err)
				if _, ok := msgs[0].(*ipc.Keepalive); ok {
					require.Len(t, msgs, 1, "keepalives travel in their own frame")
					continue
				}
				frames++
				got = append(got, msgs...)
			}
			assert.Equal(t, want, got)
			assert.Equal(t, tc.frames, frames)
			assert.Zero(t, a.Stats().Queued)
		})
	}
}

// Pre-encoded messages (encoded once for every card) travel exactly like
// Send's, split into frames at the same limits.
func TestSessionSendEncoded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lim    ipc.Limits
		frames int
	}{
		{"one frame", ipc.Limits{}, 1},
		{"split by message limit", ipc.Limits{MaxMessages: 100}, 10},
		{"split by byte limit", ipc.Limits{MaxFrameBytes: 1000}, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := net.Pipe()
			a := ipc.NewSession(ca, ipc.SessionConfig{KeepaliveInterval: time.Hour, Limits: tc.lim})
			want := routeAdds(1000)
			raw, err := ipc.AppendMessages(nil, want...)
			require.NoError(t, err)
			require.NoError(t, a.SendEncoded(context.Background(), raw))
			assert.Equal(t, 1000, a.Stats().Queued)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done }()
			r := ipc.NewReader(cb, tc.lim)
			var got []ipc.Message
			frames := 0
			for len(got) < len(want) {
				msgs, err := r.ReadFrame()
				require.NoError(t, err)
				if _, ok := msgs[0].(*ipc.Keepalive); ok {
					continue
				}
				frames++
				got = append(got, msgs...)
			}
			assert.Equal(t, want, got)
			assert.Equal(t, tc.frames, frames)
		})
	}
	// Truncated input is refused whole.
	ca, _ := net.Pipe()
	a := ipc.NewSession(ca, ipc.SessionConfig{KeepaliveInterval: time.Hour})
	raw, err := ipc.AppendMessages(nil, routeAdds(3)...)
	require.NoError(t, err)
	require.ErrorIs(t, a.SendEncoded(context.Background(), raw[:len(raw)-1]), ipc.ErrInvalidMessage)
	assert.Zero(t, a.Stats().Queued)
}

func TestSessionSendBackpressure(t *testing.T) {
	ca, cb := net.Pipe()
	a := ipc.NewSession(ca, ipc.SessionConfig{SendQueue: 10, KeepaliveInterval: time.Hour})
	require.NoError(t, a.Send(context.Background(), routeAdds(10)...))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, a.Send(cancelled, seedResolve()), context.Canceled, "full queue, context done")

	// A Send larger than the queue blocks until the writer drains it.
	sent := make(chan error, 1)
	go func() { sent <- a.Send(context.Background(), routeAdds(95)...) }()
	in, _ := runPair(t, a, cb, 200)
	require.NoError(t, <-sent)
	assert.Len(t, receive(t, in, 105), 105)
}

func TestSessionSendEncodeError(t *testing.T) {
	ca, _ := net.Pipe()
	a := ipc.NewSession(ca, ipc.SessionConfig{Peer: ipc.FPCAddr(1)})
	err := a.Send(context.Background(), seedResolve(), &ipc.RouteAdd{}, seedResolve())
	require.ErrorIs(t, err, ipc.ErrInvalidMessage)
	assert.EqualError(t, err, "ipc: peer fpc1 (tnp 0x11, pipe): route/add: group is not set")
	assert.Equal(t, 1, a.Stats().Queued, "the messages before the bad one are queued")
}

// TestMalformedPeerClosesOnlyItsSession runs two RE-side sessions; one peer
// sends a malformed frame, the other keeps working.
func TestMalformedPeerClosesOnlyItsSession(t *testing.T) {
	type side struct {
		s    *ipc.Session
		raw  net.Conn
		in   *ipctest.Inbox
		errc chan error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sides []side
	for slot := range 2 {
		ca, cb := net.Pipe()
		go io.Copy(io.Discard, cb)
		in := ipctest.NewInbox(10)
		sd := side{
			s:    ipc.NewSession(ca, ipc.SessionConfig{Local: ipc.TNPMaster, Peer: ipc.FPCAddr(hal.Slot(slot + 3)), Handler: in.Handler}),
			raw:  cb,
			in:   in,
			errc: make(chan error, 1),
		}
		go func() { sd.errc <- sd.s.Run(ctx) }()
		sides = append(sides, sd)
	}
	bad := rawFrame(2, -1, rawMsg{6, 14, 1, resolveBody(), -1}, rawMsg{7, 1, 1, func() []byte {
		b, _ := (&ipc.RouteAdd{Route: hal.Route{Key: hal.SG(source, group)}}).AppendBody(nil)
		b[2] = 40
		return b
	}(), -1})
	_, err := sides[0].raw.Write(bad)
	require.NoError(t, err)
	select {
	case err := <-sides[0].errc:
		require.ErrorIs(t, err, ipc.ErrMalformed)
		assert.EqualError(t, err, "ipc: peer fpc3 (tnp 0x13, pipe): message 2 (route/add): prefix length 40, want 0..32 or 64")
	case <-time.After(waitFor):
		t.Fatal("session with the malformed peer still running")
	}
	assert.Empty(t, sides[0].in.C, "nothing of the bad frame is delivered")

	_, err = sides[1].raw.Write(seedFrame())
	require.NoError(t, err)
	assert.Equal(t, []ipc.Message{seedResolve()}, receive(t, sides[1].in, 1))
	select {
	case err := <-sides[1].errc:
		t.Fatalf("the other session ended: %v", err)
	default:
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestSessionPeerCloses(t *testing.T) {
	// TCP, not net.Pipe: the session's keepalive write must not fail
	// before its reader sees the end of the stream.
	ca, cb := tcpPair(t)
	s := ipc.NewSession(ca, ipc.SessionConfig{Peer: ipc.FPCAddr(0), KeepaliveInterval: time.Hour})
	cb.Write(seedFrame()[:10])
	cb.Close()
	err := s.Run(context.Background())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "ipc: peer fpc0 (tnp 0x10, "+ca.RemoteAddr().String()+"): unexpected EOF", err.Error())

	ca, cb = tcpPair(t)
	s = ipc.NewSession(ca, ipc.SessionConfig{Peer: ipc.TNPMaster, KeepaliveInterval: time.Hour})
	cb.Close()
	err = s.Run(context.Background())
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, "ipc: peer master (tnp 0x1, "+ca.RemoteAddr().String()+"): connection closed by peer: EOF", err.Error())
}

func TestHandshake(t *testing.T) {
	reg := sampleMessages()[0].(*ipc.Register)
	ca, cb := net.Pipe() // ca: FPC, cb: RE
	var got *ipc.Register
	reErr := make(chan error, 1)
	go func() {
		var err error
		got, err = ipc.ReadRegister(cb, ipc.Limits{}, waitFor)
		if err == nil {
			// The ack and the first download in one write: the client must
			// not swallow the download.
			b, _ := ipc.AppendFrame(nil, &ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: 250 * time.Millisecond})
			b, _ = ipc.AppendFrame(b, &ipc.ResyncBegin{Generation: 1})
			_, err = cb.Write(b)
		}
		reErr <- err
	}()
	ack, err := ipc.ClientHandshake(ca, reg, waitFor)
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, ack.Keepalive)

	// net.Pipe delivers the rest of the RE's write to the FPC session.
	fpcIn := ipctest.NewInbox(10)
	fpc := ipc.NewSession(ca, ipc.SessionConfig{Handler: fpcIn.Handler, KeepaliveInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fpc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	assert.Equal(t, []ipc.Message{&ipc.ResyncBegin{Generation: 1}}, receive(t, fpcIn, 1))
	require.NoError(t, <-reErr)
	assert.Equal(t, reg, got)
	go io.Copy(io.Discard, cb)
}

func TestHandshakeRejected(t *testing.T) {
	ca, cb := net.Pipe()
	go func() {
		ipc.ReadRegister(cb, ipc.Limits{}, 0)
		ipc.WriteMessages(cb, &ipc.RegisterAck{Error: ipc.AckSlotInUse, Reason: "slot 3 is held by 10.0.0.3:14340"})
	}()
	ack, err := ipc.ClientHandshake(ca, &ipc.Register{Slot: 3}, waitFor)
	require.ErrorIs(t, err, ipc.ErrRejected)
	assert.EqualError(t, err, "ipc: handshake with pipe: registration rejected: slot-in-use: slot 3 is held by 10.0.0.3:14340")
	assert.Equal(t, ipc.AckSlotInUse, ack.Error)
}

func TestReadRegisterErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []ipc.Message
		want string
	}{
		{"not a register", []ipc.Message{seedResolve()}, "first message is next-hop/resolve-addr-request, want tnp/register: handshake failed"},
		{"two messages", []ipc.Message{&ipc.Register{}, &ipc.Register{}}, "waiting for tnp/register: ipc: frame: count 2 exceeds limit 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := net.Pipe()
			go ipc.WriteMessages(ca, tc.send...)
			_, err := ipc.ReadRegister(cb, ipc.Limits{}, waitFor)
			if len(tc.send) == 1 {
				require.ErrorIs(t, err, ipc.ErrHandshake)
			} else {
				require.ErrorIs(t, err, ipc.ErrMalformed, "refused by the handshake limits")
			}
			assert.EqualError(t, err, "ipc: handshake with pipe: "+tc.want)
		})
	}

	ca, cb := net.Pipe()
	defer ca.Close()
	_, err := ipc.ReadRegister(cb, ipc.Limits{}, time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Contains(t, err.Error(), "ipc: handshake with pipe: waiting for tnp/register: ")
}

func TestSessionTCP(t *testing.T) {
	cli, srv := tcpPair(t)
	in := ipctest.NewInbox(70000)
	fpc := ipc.NewSession(cli, ipc.SessionConfig{Handler: in.Handler})
	re := ipc.NewSession(srv, ipc.SessionConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { re.Run(ctx); done <- struct{}{} }()
	go func() { fpc.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	want := routeAdds(65000)
	require.NoError(t, re.Send(ctx, want...))
	assert.Equal(t, want, receive(t, in, len(want)))
}

// TestSlowHandlerIsNotADeadPeer: time spent in the Handler is the reader's,
// not the peer's silence.
func TestSlowHandlerIsNotADeadPeer(t *testing.T) {
	release := make(chan struct{})
	handled := make(chan struct{}, 1)
	// DeadAfter generous: a loaded machine stalls goroutines for milliseconds;
	// what is tested is that B keeps sending while its reader is held.
	fast := ipc.SessionConfig{KeepaliveInterval: time.Millisecond, DeadAfter: 200}
	slow := fast
	slow.Handler = func(ipc.Message) {
		handled <- struct{}{}
		<-release
	}
	p := ipctest.Pipe(t, fast, slow)
	t.Cleanup(func() { close(release) }) // runs before Pipe's cleanup
	require.NoError(t, p.A.Send(context.Background(), seedResolve()))
	<-handled
	// B's reader is blocked for many keepalive intervals.
	ka := p.B.Stats().KeepalivesOut
	require.Eventually(t, func() bool { return p.B.Stats().KeepalivesOut > ka+20 }, waitFor, time.Millisecond)
	select {
	case err := <-p.BErr:
		t.Fatalf("B ended while its handler ran: %v", err)
	default:
	}
}
