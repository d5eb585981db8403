package ipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Session errors.
var (
	// ErrPeerDead is returned by Run when nothing arrived from the peer for
	// DeadAfter keepalive intervals.
	ErrPeerDead = errors.New("peer dead")
	// ErrSessionClosed is returned by Send once Run has ended.
	ErrSessionClosed = errors.New("session closed")
	// ErrControlFull is wrapped by SendControl when the control lane is
	// full: the messages are dropped (and counted in ControlDrops), never
	// queued behind bulk messages.
	ErrControlFull = errors.New("control queue full")
)

// Session defaults.
const (
	DefaultKeepaliveInterval = time.Second
	DefaultDeadAfter         = 3
	// DefaultSendQueue bounds the messages waiting for the writer: one full
	// frame's worth (DefaultMaxMessages), so that a download of a whole
	// table in one Send call is still batched into full frames.
	DefaultSendQueue = DefaultMaxMessages
)

// Bounds of the session queues.
const (
	// queueBytes bounds the queued bytes whatever the message count:
	// SendQueue punts of 1.5 KB would otherwise be 100 MB. Four default
	// frames (16 MiB) keep the writer busy (it takes the whole queue at
	// once) while senders refill.
	queueBytes = 4 * DefaultMaxFrameBytes
	// maxPriority bounds keepalive requests and replies waiting for the
	// writer; a peer that floods keepalive requests loses replies (counted
	// in KeepaliveDrops), never memory.
	maxPriority = 64
	// maxControl and maxControlBytes bound the control lane (SendControl:
	// injected and punted packets, link state): 1024 messages is a second
	// of the host path's card-wide punt budget at its default rate with
	// room to spare (the FPC's host path polices before it queues), and 1
	// MiB holds ~700 full-size Ethernet frames.
	maxControl      = 1024
	maxControlBytes = 1 << 20
	// bulkChunk is how much of the bulk queue the writer writes before it
	// looks at the control lane again: with 256 KiB (0.1-0.3 ms on
	// loopback) a control message waits for at most that, or for one
	// frame if frames are larger, not for the whole queue (16 MiB).
	bulkChunk = 256 << 10
	// keepaliveLen is the encoded size of a keepalive: header and body.
	keepaliveLen = messageHeaderLen + 12
)

// SessionConfig configures a Session.
type SessionConfig struct {
	// Local and Peer are the TNP addresses of the two ends; Peer names
	// the peer in errors and logs.
	Local, Peer TNPAddr
	// KeepaliveInterval is how often a keepalive request is sent (default
	// 1 s; the RE tells the FPC in RegisterAck).
	KeepaliveInterval time.Duration
	// DeadAfter is how many keepalive intervals may pass with nothing
	// received before the peer is declared dead (default 3). Any frame
	// counts, not only keepalives, and time spent in Handler does not:
	// a slow Handler delays reading, not the peer.
	DeadAfter int
	// Handler is called on the read goroutine, in order, for every message
	// except keepalives. It may keep the message. Run waits for a running
	// Handler before returning, so it must not block for long; if it calls
	// Send it should pass a context that ends (a full queue on both ends
	// with both readers blocked in Send would otherwise never drain).
	Handler func(Message)
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Limits apply to frames read, and to the frames the writer builds
	// (the peer is assumed to use the same limits).
	Limits Limits
	// SendQueue is the maximum number of queued messages before Send
	// blocks (default DefaultSendQueue).
	SendQueue int
	// Now is the clock (default time.Now); timers are real.
	Now func() time.Time
}

// SessionStats are a session's counters.
type SessionStats struct {
	FramesIn, FramesOut     uint64
	MessagesIn, MessagesOut uint64 // keepalives included
	BytesIn, BytesOut       uint64 // frame bytes, headers included
	KeepalivesIn            uint64 // requests and replies received
	KeepalivesOut           uint64 // requests and replies sent
	KeepaliveDrops          uint64 // keepalives not queued: priority queue full
	ControlOut              uint64 // control-lane messages written (SendControl)
	ControlDrops            uint64 // control-lane messages refused: lane full
	LastRTT                 time.Duration
	Queued                  int // messages waiting for the writer
	ControlQueued           int // control-lane messages waiting for the writer
}

// Session is one established connection between the RE and an FPC, after
// registration. Run drives it; Send queues messages for the peer.
//
// The writer takes the whole send queue at once: messages sent while it
// is busy accumulate in one frame (up to Limits), so a burst of Sends
// becomes few large frames. Keepalives and the control lane (SendControl)
// bypass the queue: the writer writes them first, and looks for them again
// after every bulkChunk bytes of bulk, so that a control message never
// waits behind more than one chunk (or one frame) of a large download.
type Session struct {
	conn   net.Conn
	cfg    SessionConfig
	lim    Limits
	log    *slog.Logger
	peer   string // "fpc3 (tnp 0x13, 127.0.0.1:40000)"
	reader *Reader
	wake   chan struct{} // capacity 1: work for the writer

	mu      sync.Mutex
	out     []byte // queued frames; the last one is open if open >= 0
	open    int    // offset of the open frame's header, -1 if none
	openN   int    // messages in the open frame
	queued  int    // messages in out
	frames  int    // closed frames in out
	prio    []Keepalive
	ctrl    []byte // encoded control-lane messages (no frame header)
	ctrlN   int    // messages in ctrl
	closed  bool
	space   chan struct{} // closed (and replaced) when the queue drains
	waiting bool          // a Send waits on space

	urgent   atomic.Bool // keepalives or control messages wait for the writer
	started  atomic.Bool
	lastRecv atomic.Int64 // Unix nanoseconds of the last frame received
	busy     atomic.Bool  // the reader is in the Handler, not reading
	seq      uint32       // keepalive sequence; keepalive goroutine only

	framesIn, framesOut     atomic.Uint64
	messagesIn, messagesOut atomic.Uint64
	bytesIn, bytesOut       atomic.Uint64
	kaIn, kaOut, kaDrops    atomic.Uint64
	ctrlOut, ctrlDrops      atomic.Uint64
	rtt                     atomic.Int64
}

// NewSession returns a session on conn, which it owns from Run on. conn
// must be past the registration handshake; bytes already buffered by
// another reader would be lost (ReadRegister and ClientHandshake read
// nothing beyond the handshake).
func NewSession(conn net.Conn, cfg SessionConfig) *Session {
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		conn:  conn,
		cfg:   cfg,
		lim:   cfg.Limits.withDefaults(),
		peer:  describePeer(cfg.Peer, conn),
		wake:  make(chan struct{}, 1),
		open:  -1,
		space: make(chan struct{}),
	}
	s.log = log.With("peer", s.peer)
	s.reader = NewReader(conn, s.lim)
	return s
}

func describePeer(a TNPAddr, conn net.Conn) string {
	remote := "unknown address"
	if ra := conn.RemoteAddr(); ra != nil {
		remote = ra.String()
	}
	switch {
	case a == 0:
		return remote
	case a.Name() == "":
		return fmt.Sprintf("tnp %s (%s)", a, remote)
	}
	return fmt.Sprintf("%s (tnp %s, %s)", a.Name(), a, remote)
}

func (s *Session) peerErr(err error) error { return withContext("peer "+s.peer, err) }

// Run drives the session until ctx is done, the connection fails or the
// peer is declared dead, then closes the connection, waits for its
// goroutines (reader, writer, keepalive) and returns: ctx's error when ctx
// ended it, otherwise an error naming the peer that wraps ErrPeerDead, the
// decode error (ErrMalformed) or the I/O error (io.EOF when the peer closed
// the connection). Messages still queued are dropped. Run may be called
// once.
func (s *Session) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("ipc: peer %s: Run called twice", s.peer)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.lastRecv.Store(s.cfg.Now().UnixNano())
	s.log.Debug("ipc session start", "keepalive", s.cfg.KeepaliveInterval, "dead_after", s.cfg.DeadAfter)

	var wg sync.WaitGroup
	wg.Go(func() { s.runReader(cancel) })
	wg.Go(func() { s.runWriter(ctx, cancel) })
	wg.Go(func() { s.runKeepalive(ctx, cancel) })
	<-ctx.Done()
	s.conn.Close()
	s.closeQueue()
	wg.Wait()

	err := context.Cause(ctx)
	s.log.Info("ipc session end", "err", err)
	return err
}

// Send queues msgs for the peer, in order. It encodes them at once, so an
// invalid message fails here (ErrInvalidMessage) and the message may be
// reused as soon as Send returns. When the queue is full Send blocks until
// the writer drains it (backpressure) or ctx is done. On error, a prefix
// of msgs may have been queued. After Run has ended Send returns
// ErrSessionClosed.
func (s *Session) Send(ctx context.Context, msgs ...Message) error {
	for len(msgs) > 0 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return s.peerErr(ErrSessionClosed)
		}
		n := 0
		var err error
		for n < len(msgs) && !s.fullLocked() {
			if err = s.appendLocked(msgs[n]); err != nil {
				break
			}
			n++
		}
		msgs = msgs[n:]
		var space chan struct{}
		if err == nil && len(msgs) > 0 {
			s.waiting = true
			space = s.space
		}
		s.mu.Unlock()
		if n > 0 {
			s.kick()
		}
		if err != nil || space == nil {
			return err
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// SendControl queues msgs, in order, on the control lane, which the writer
// drains ahead of the bulk queue (Send): injected and punted packets and
// link state, which must not wait behind a download. It never blocks: when
// the lane is full (maxControl messages or maxControlBytes) nothing is
// queued and the error wraps ErrControlFull; the messages are counted in
// ControlDrops. An invalid message fails with ErrInvalidMessage and
// nothing is queued. Control messages keep their order among themselves,
// not with respect to bulk messages. After Run has ended SendControl
// returns ErrSessionClosed.
func (s *Session) SendControl(ctx context.Context, msgs ...Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.peerErr(ErrSessionClosed)
	}
	at := len(s.ctrl)
	var err error
	for _, m := range msgs {
		if s.ctrl, err = appendMessage(s.ctrl, m); err != nil {
			s.ctrl = s.ctrl[:at]
			s.mu.Unlock()
			return s.peerErr(err)
		}
	}
	// The lane goes out as one frame with the queued keepalives: it must
	// fit the limits too.
	if s.ctrlN+len(msgs) > min(maxControl, s.lim.MaxMessages-maxPriority) ||
		len(s.ctrl) > min(maxControlBytes, s.lim.MaxFrameBytes-maxPriority*keepaliveLen) {
		s.ctrl = s.ctrl[:at]
		n, queued := len(msgs), s.ctrlN
		s.mu.Unlock()
		s.ctrlDrops.Add(uint64(n))
		return s.peerErr(fmt.Errorf("%w: %d messages queued", ErrControlFull, queued))
	}
	s.ctrlN += len(msgs)
	s.mu.Unlock()
	s.urgent.Store(true)
	s.kick()
	return nil
}

// SendEncoded queues messages pre-encoded by AppendMessages, in order, with
// the blocking and error behaviour of Send. raw may be reused as soon as
// SendEncoded returns. Malformed input (a truncated message) fails with
// ErrInvalidMessage before anything is queued.
func (s *Session) SendEncoded(ctx context.Context, raw []byte) error {
	for rest := raw; len(rest) > 0; {
		n, err := nextEncoded(rest)
		if err != nil {
			return s.peerErr(err)
		}
		rest = rest[n:]
	}
	for len(raw) > 0 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return s.peerErr(ErrSessionClosed)
		}
		n := 0
		for len(raw) > 0 && !s.fullLocked() {
			m, _ := nextEncoded(raw)
			s.appendRawLocked(raw[:m])
			raw = raw[m:]
			n++
		}
		var space chan struct{}
		if len(raw) > 0 {
			s.waiting = true
			space = s.space
		}
		s.mu.Unlock()
		if n > 0 {
			s.kick()
		}
		if space == nil {
			return nil
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// appendRawLocked appends one encoded message into the open frame, as
// appendLocked does for a Message.
func (s *Session) appendRawLocked(m []byte) {
	if s.open < 0 {
		s.open = len(s.out)
		s.out = append(s.out, 0, 0, 0, 0, 0, 0, 0, 0)
		s.openN = 0
	}
	if s.openN > 0 && len(s.out)+len(m)-s.open-frameHeaderLen > s.lim.MaxFrameBytes {
		s.closeFrameLocked()
		s.open = len(s.out)
		s.out = append(s.out, 0, 0, 0, 0, 0, 0, 0, 0)
		s.openN = 0
	}
	s.out = append(s.out, m...)
	s.openN++
	s.queued++
	if s.openN >= s.lim.MaxMessages {
		s.closeFrameLocked()
	}
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	queued, ctrlQueued := s.queued, s.ctrlN
	s.mu.Unlock()
	return SessionStats{
		FramesIn:       s.framesIn.Load(),
		FramesOut:      s.framesOut.Load(),
		MessagesIn:     s.messagesIn.Load(),
		MessagesOut:    s.messagesOut.Load(),
		BytesIn:        s.bytesIn.Load(),
		BytesOut:       s.bytesOut.Load(),
		KeepalivesIn:   s.kaIn.Load(),
		KeepalivesOut:  s.kaOut.Load(),
		KeepaliveDrops: s.kaDrops.Load(),
		ControlOut:     s.ctrlOut.Load(),
		ControlDrops:   s.ctrlDrops.Load(),
		LastRTT:        time.Duration(s.rtt.Load()),
		Queued:         queued,
		ControlQueued:  ctrlQueued,
	}
}

// kick wakes the writer.
func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) fullLocked() bool {
	return s.queued >= s.cfg.SendQueue || len(s.out) >= max(queueBytes, s.lim.MaxFrameBytes)
}

// appendLocked encodes m into the open frame, opening one if needed and
// starting a new one when m would take the frame past the limits.
func (s *Session) appendLocked(m Message) error {
	if s.open < 0 {
		s.open = len(s.out)
		s.out = append(s.out, 0, 0, 0, 0, 0, 0, 0, 0)
		s.openN = 0
	}
	at := len(s.out)
	out, err := appendMessage(s.out, m)
	s.out = out
	if err != nil {
		if s.openN == 0 {
			s.out, s.open = s.out[:s.open], -1
		}
		return s.peerErr(err)
	}
	if s.openN > 0 && len(s.out)-s.open-frameHeaderLen > s.lim.MaxFrameBytes {
		// Close the frame before m and move m into a new one.
		n := len(s.out) - at
		s.out = append(s.out, 0, 0, 0, 0, 0, 0, 0, 0)
		copy(s.out[at+frameHeaderLen:], s.out[at:at+n])
		binary.LittleEndian.PutUint32(s.out[s.open:], uint32(s.openN))
		binary.LittleEndian.PutUint32(s.out[s.open+4:], uint32(at-s.open-frameHeaderLen))
		s.frames++
		s.open, s.openN = at, 0
	}
	s.openN++
	s.queued++
	if s.openN >= s.lim.MaxMessages {
		s.closeFrameLocked()
	}
	return nil
}

func (s *Session) closeFrameLocked() {
	if s.open < 0 {
		return
	}
	putFrameHeader(s.out, s.open, s.openN)
	s.frames++
	s.open = -1
}

// queueKeepalive queues a keepalive ahead of bulk messages.
func (s *Session) queueKeepalive(k Keepalive) {
	s.mu.Lock()
	ok := !s.closed && len(s.prio) < maxPriority
	if ok {
		s.prio = append(s.prio, k)
	}
	s.mu.Unlock()
	if !ok {
		s.kaDrops.Add(1)
		return
	}
	s.urgent.Store(true)
	s.kick()
}

// takeUrgent hands the keepalives and the control lane to the writer,
// leaving ctrlSpare as the new control buffer.
func (s *Session) takeUrgent(prio []Keepalive, ctrlSpare []byte) (_ []Keepalive, ctrl []byte, ctrlN int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeUrgentLocked(prio, ctrlSpare)
}

func (s *Session) takeUrgentLocked(prio []Keepalive, ctrlSpare []byte) (_ []Keepalive, ctrl []byte, ctrlN int) {
	s.urgent.Store(false)
	prio = append(prio, s.prio...)
	s.prio = s.prio[:0]
	ctrl, s.ctrl = s.ctrl, ctrlSpare[:0]
	ctrlN, s.ctrlN = s.ctrlN, 0
	return prio, ctrl, ctrlN
}

// take hands the queue to the writer, leaving spare as the new queue
// buffer, and wakes blocked senders.
func (s *Session) take(spare []byte) (out []byte, msgs, frames int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeFrameLocked()
	out, s.out = s.out, spare[:0]
	msgs, frames = s.queued, s.frames
	s.queued, s.frames = 0, 0
	if s.waiting && !s.closed {
		close(s.space)
		s.space = make(chan struct{})
		s.waiting = false
	}
	return out, msgs, frames
}

// closeQueue ends Send for good and wakes blocked senders.
func (s *Session) closeQueue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.space)
		s.out, s.open, s.openN, s.queued, s.frames, s.prio = nil, -1, 0, 0, 0, nil
		s.ctrl, s.ctrlN = nil, 0
	}
}

// runReader reads frames until the connection fails, answering
// keepalives and passing everything else to the Handler.
func (s *Session) runReader(fail context.CancelCauseFunc) {
	for {
		msgs, err := s.reader.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("connection closed by peer: %w", err)
			case !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF):
				err = fmt.Errorf("read: %w", err)
			}
			fail(s.peerErr(err))
			return
		}
		now := s.cfg.Now()
		s.lastRecv.Store(now.UnixNano())
		s.busy.Store(true)
		s.framesIn.Add(1)
		s.messagesIn.Add(uint64(len(msgs)))
		s.bytesIn.Add(uint64(s.reader.last))
		for _, m := range msgs {
			if k, ok := m.(*Keepalive); ok {
				s.kaIn.Add(1)
				if k.Reply {
					if rtt := now.UnixNano() - k.Sent; rtt >= 0 {
						s.rtt.Store(rtt)
					}
				} else {
					s.queueKeepalive(Keepalive{Seq: k.Seq, Sent: k.Sent, Reply: true})
				}
				continue
			}
			if s.cfg.Handler != nil {
				s.cfg.Handler(m)
			}
		}
		// Silence is counted from here: the peer's frames may have waited
		// in the socket while the Handler ran.
		s.lastRecv.Store(s.cfg.Now().UnixNano())
		s.busy.Store(false)
	}
}

// runWriter writes whatever is queued, keepalives and the control lane
// first, until ctx is done or a write fails. The bulk queue is written in
// chunks of whole frames (bulkChunk), and keepalives or control messages
// queued meanwhile go out between two chunks.
func (s *Session) runWriter(ctx context.Context, fail context.CancelCauseFunc) {
	var (
		spare, ctrlSpare []byte
		prio             []Keepalive
		pbuf             []byte
	)
	// writeUrgent writes the keepalives and control messages queued now,
	// in one frame.
	writeUrgent := func() error {
		var ctrl []byte
		var ctrlN int
		prio, ctrl, ctrlN = s.takeUrgent(prio[:0], ctrlSpare)
		ctrlSpare = ctrl
		if len(prio) == 0 && ctrlN == 0 {
			return nil
		}
		pbuf = append(pbuf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
		for i := range prio {
			pbuf, _ = appendMessage(pbuf, &prio[i]) // keepalives always encode
		}
		pbuf = append(pbuf, ctrl...)
		putFrameHeader(pbuf, 0, len(prio)+ctrlN)
		n, err := s.conn.Write(pbuf)
		s.bytesOut.Add(uint64(n))
		if err != nil {
			return err
		}
		s.framesOut.Add(1)
		s.messagesOut.Add(uint64(len(prio) + ctrlN))
		s.kaOut.Add(uint64(len(prio)))
		s.ctrlOut.Add(uint64(ctrlN))
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			if err := writeUrgent(); err != nil {
				fail(s.peerErr(fmt.Errorf("write: %w", err)))
				return
			}
			out, msgs, frames := s.take(spare)
			if len(out) == 0 {
				spare = out
				if s.urgent.Load() {
					continue
				}
				break
			}
			for pos := 0; pos < len(out); {
				end := chunkEnd(out, pos)
				n, err := s.conn.Write(out[pos:end])
				s.bytesOut.Add(uint64(n))
				if err != nil {
					fail(s.peerErr(fmt.Errorf("write: %w", err)))
					return
				}
				pos = end
				if pos < len(out) && s.urgent.Load() {
					if err := writeUrgent(); err != nil {
						fail(s.peerErr(fmt.Errorf("write: %w", err)))
						return
					}
				}
			}
			s.framesOut.Add(uint64(frames))
			s.messagesOut.Add(uint64(msgs))
			spare = out
		}
	}
}

// chunkEnd returns the end of the whole frames of out starting at pos that
// make at least bulkChunk bytes (or the end of out).
func chunkEnd(out []byte, pos int) int {
	end := pos
	for end < len(out) && end-pos < bulkChunk {
		end += frameHeaderLen + int(binary.LittleEndian.Uint32(out[end+4:]))
	}
	return min(end, len(out))
}

// runKeepalive sends a keepalive request every interval and declares the
// peer dead when nothing arrived for DeadAfter intervals.
func (s *Session) runKeepalive(ctx context.Context, fail context.CancelCauseFunc) {
	interval := s.cfg.KeepaliveInterval
	deadAfter := time.Duration(s.cfg.DeadAfter) * interval
	t := time.NewTicker(interval)
	defer t.Stop()
	s.sendKeepalive()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		silent := time.Duration(s.cfg.Now().UnixNano() - s.lastRecv.Load())
		if silent > deadAfter && !s.busy.Load() {
			s.log.Warn("ipc peer dead", "silent", silent)
			fail(s.peerErr(fmt.Errorf("%w: nothing received for %v (%d keepalive intervals of %v)",
				ErrPeerDead, silent.Round(time.Millisecond), s.cfg.DeadAfter, interval)))
			return
		}
		s.sendKeepalive()
	}
}

func (s *Session) sendKeepalive() {
	s.seq++
	s.queueKeepalive(Keepalive{Seq: s.seq, Sent: s.cfg.Now().UnixNano()})
}
