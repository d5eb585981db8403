package msdpnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/internal/netns"
	"github.com/mxfwd/mxfwd/re/msdp"
)

// Defaults of Options.
const (
	// DefaultQueueLen bounds the Events channel: 64 reads of at most 64
	// KiB each, about 16 MB of decoded SAs at worst, which the owner
	// processes in well under a second at 500,000 SA entries/s, so a read
	// loop never waits long behind it.
	DefaultQueueLen = 64
	// DefaultUrgentLen bounds the Urgent channel; Alive events beyond it
	// are dropped (the next read sends another one).
	DefaultUrgentLen = 4096
	// DefaultOutputLimit bounds one connection's output queue: 4 MiB is
	// about 350,000 SA entries, more than one 16,384-entry step of a
	// paced cache dump and a burst of floods.
	DefaultOutputLimit = 4 << 20
	// readBufferSize is one read: 64 KiB takes about 5,400 SA entries
	// per system call.
	readBufferSize = 64 << 10
	// aliveInterval is the most often a reader sends Alive: the hold time
	// is counted in seconds.
	aliveInterval = 500 * time.Millisecond
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("msdp transport closed")

// ErrNoConn is returned for a connection id that is not open.
var ErrNoConn = errors.New("no such MSDP connection")

// Options configure a Transport.
type Options struct {
	// Port is the MSDP port, 639 (RFC 3618 §11) when zero.
	Port int
	// Netns is the network namespace the sockets live in: a name under
	// /run/netns or a path; "" is the caller's.
	Netns string
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// QueueLen, UrgentLen and OutputLimit override the defaults above.
	QueueLen    int
	UrgentLen   int
	OutputLimit int
	// WriteStall is how long a peer may accept no byte while output is
	// queued before its connection is reset: the hold time, 75 s, when
	// zero.
	WriteStall time.Duration
	// DialTimeout bounds one active open; 30 s (the ConnectRetry
	// period) when zero.
	DialTimeout time.Duration
	// Tap, if set, sees every inbound byte of every connection before it
	// is decoded (non-stop routing mirrors them). It runs on the reader
	// goroutine, must not block and must copy what it keeps.
	Tap func(peer netip.Addr, conn msdp.ConnID, b []byte)
	// Mirror, if set, makes this Transport a non-stop routing master
	// (issue #17): each exported connection's inbound bytes are given to
	// Mirror.In before they are consumed, its outbound batches to
	// Mirror.Out before they are written (see Mirror, Export). Unset,
	// connections read and write as without non-stop routing.
	Mirror Mirror
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = msdp.Port
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.UrgentLen <= 0 {
		o.UrgentLen = DefaultUrgentLen
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	if o.WriteStall <= 0 {
		o.WriteStall = msdp.DefaultHoldTime
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = msdp.DefaultConnectRetry
	}
	return o
}

// Stats are the transport's counters.
type Stats struct {
	// Refused counts connections from addresses we do not listen for.
	Refused uint64 `json:"refused"`
	// Accepted and Dialed count connections handed to the engine.
	Accepted uint64 `json:"accepted"`
	Dialed   uint64 `json:"dialed"`
	// DialFailures counts failed active opens.
	DialFailures uint64 `json:"dial-failures"`
	// AliveDropped counts Alive events dropped on a full Urgent channel.
	AliveDropped uint64 `json:"alive-dropped"`
}

// ConnStats are one connection's counters and stream position.
type ConnStats struct {
	Conn  msdp.ConnID `json:"conn"`
	Peer  netip.Addr  `json:"peer"`
	Local netip.Addr  `json:"local"`
	// InBytes were read from the socket, InDecoded of them form whole
	// TLVs decoded, the rest is the decoder's partial TLV.
	InBytes   uint64 `json:"in-bytes"`
	InDecoded uint64 `json:"in-decoded-bytes"`
	// OutBytes were written to the socket; OutQueued wait.
	OutBytes  uint64 `json:"out-bytes"`
	OutQueued int    `json:"out-queued-bytes"`
	// OutDropped counts sends dropped on a full output queue.
	OutDropped uint64 `json:"out-dropped"`
	MaxQueued  int    `json:"out-queued-max-bytes"`
}

// listenReg is one peer the engine listens for.
type listenReg struct {
	local netip.Addr
	key   string
}

// Transport runs MSDP's sockets for one engine.
type Transport struct {
	opt    Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	events chan msdp.Event
	urgent chan msdp.Event

	mu        sync.Mutex
	closed    bool
	listens   map[netip.Addr]listenReg        // peer → registration
	listeners map[netip.Addr]*net.TCPListener // local address → listener
	dials     map[netip.Addr]*dial
	conns     map[msdp.ConnID]*conn
	nextID    msdp.ConnID

	refused, accepted, dialed, dialFailures, aliveDropped atomic.Uint64
	refuseLog                                             rateLimit

	// closing: Close has begun; replicated sockets are then closed
	// without shutdown(2), as a killed process would leave them.
	closing atomic.Bool
	// killed and the hooks are for tests only (export_test.go): killed
	// stops every connection's system calls at once, as kill -9 would,
	// and the hooks run on the reader after a mirror call and on the
	// writer after each write.
	killed atomic.Bool
	hooks  atomic.Pointer[testHooks]
}

// testHooks are set by tests only.
type testHooks struct {
	afterIn    func(conn msdp.ConnID, off uint64, n int)
	afterWrite func(conn msdp.ConnID, end uint64, n, want int)
}

// New starts a Transport; it stops when ctx is cancelled or on Close.
func New(ctx context.Context, opt Options) *Transport {
	opt = opt.withDefaults()
	t := &Transport{
		opt:       opt,
		log:       opt.Logger,
		events:    make(chan msdp.Event, opt.QueueLen),
		urgent:    make(chan msdp.Event, opt.UrgentLen),
		listens:   map[netip.Addr]listenReg{},
		listeners: map[netip.Addr]*net.TCPListener{},
		dials:     map[netip.Addr]*dial{},
		conns:     map[msdp.ConnID]*conn{},
	}
	t.ctx, t.cancel = context.WithCancel(ctx)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		<-t.ctx.Done()
		t.shutdown()
	}()
	return t
}

// Events is the transport's event stream for the engine: ConnUp,
// ConnDown, DialFailed, Received.
func (t *Transport) Events() <-chan msdp.Event { return t.events }

// Urgent is the priority stream: Alive and Drained. Serve it first.
func (t *Transport) Urgent() <-chan msdp.Event { return t.urgent }

// Close stops every goroutine, closes every socket and waits.
func (t *Transport) Close() error {
	t.cancel()
	t.wg.Wait()
	return nil
}

func (t *Transport) shutdown() {
	t.closing.Store(true)
	t.mu.Lock()
	t.closed = true
	for _, l := range t.listeners {
		l.Close()
	}
	for _, d := range t.dials {
		d.cancel()
	}
	conns := make([]*conn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.close("transport closed", false, false)
	}
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	return Stats{Refused: t.refused.Load(), Accepted: t.accepted.Load(), Dialed: t.dialed.Load(),
		DialFailures: t.dialFailures.Load(), AliveDropped: t.aliveDropped.Load()}
}

// Conns returns the open connections' counters.
func (t *Transport) Conns() []ConnStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ConnStats, 0, len(t.conns))
	for _, c := range t.conns {
		out = append(out, c.stats())
	}
	return out
}

// Apply carries out the engine's transport actions (others are
// ignored). It never blocks on the network.
func (t *Transport) Apply(acts []msdp.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case msdp.Send:
			t.mu.Lock()
			c := t.conns[a.Conn]
			t.mu.Unlock()
			if c != nil {
				c.enqueue(a.Data, a.KeepAlive, a.WantDrained)
			}
		case msdp.Listen:
			if err := t.listen(a.Peer, a.Local, a.Key); err != nil {
				t.log.Error("msdp listen failed", "peer", a.Peer, "local", a.Local, "err", err)
			}
		case msdp.StopListen:
			t.stopListen(a.Peer)
		case msdp.Connect:
			t.connect(a.Peer, a.Local, a.Key)
		case msdp.StopConnect:
			t.mu.Lock()
			if d := t.dials[a.Peer]; d != nil {
				d.cancel()
				delete(t.dials, a.Peer)
			}
			t.mu.Unlock()
		case msdp.Close:
			t.mu.Lock()
			c := t.conns[a.Conn]
			t.mu.Unlock()
			switch {
			case c == nil:
			case c.shadow.Load() != nil:
				// The standby engine gave up a session the master still
				// runs: drop the replica, never touching the socket.
				c.t.log.Warn("msdp standby engine closed a shadowed session: no longer replicated", "peer", c.peer, "conn", c.id, "reason", a.Reason)
				c.closeShadow()
			default:
				c.close(a.Reason, false, false)
			}
		}
	}
}

// post delivers an event on the Events channel, waiting for room.
func (t *Transport) post(ev msdp.Event, done <-chan struct{}) bool {
	select {
	case t.events <- ev:
		return true
	case <-t.ctx.Done():
	case <-done:
	}
	return false
}

func (t *Transport) addrPort(a netip.Addr) string {
	return net.JoinHostPort(a.String(), strconv.Itoa(t.opt.Port))
}

// listen registers peer and makes sure a listener runs on local.
func (t *Transport) listen(peer, local netip.Addr, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	l := t.listeners[local]
	if l == nil {
		var err error
		err = netns.Run(netns.Path(t.opt.Netns), func() error {
			lc := net.ListenConfig{Control: control(netip.Addr{}, "")}
			// Plain TCP: Go listens with MPTCP by default where the kernel
			// has it, and MPTCP sockets refuse TCP_MD5SIG (ENOPROTOOPT).
			lc.SetMultipathTCP(false)
			ln, lerr := lc.Listen(t.ctx, "tcp4", t.addrPort(local))
			if lerr != nil {
				return lerr
			}
			l = ln.(*net.TCPListener)
			return nil
		})
		if err != nil {
			return fmt.Errorf("listen on %s: %w", t.addrPort(local), err)
		}
		t.listeners[local] = l
		t.wg.Add(1)
		go t.runAccept(local, l)
	}
	if old, ok := t.listens[peer]; ok && old.local != local {
		t.releaseLocked(peer, old)
	}
	if err := withFD(l, func(fd int) error { return md5Key(fd, peer, key) }); err != nil {
		if key != "" {
			return err
		}
	}
	t.listens[peer] = listenReg{local: local, key: key}
	return nil
}

func (t *Transport) stopListen(peer netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if reg, ok := t.listens[peer]; ok {
		t.releaseLocked(peer, reg)
	}
}

// releaseLocked forgets a registration; the last one of a local address
// closes its listener.
func (t *Transport) releaseLocked(peer netip.Addr, reg listenReg) {
	delete(t.listens, peer)
	l := t.listeners[reg.local]
	if l == nil {
		return
	}
	if reg.key != "" {
		_ = withFD(l, func(fd int) error { return md5Key(fd, peer, "") })
	}
	for _, r := range t.listens {
		if r.local == reg.local {
			return
		}
	}
	l.Close()
	delete(t.listeners, reg.local)
}

// runAccept accepts on one local address until the listener closes.
func (t *Transport) runAccept(local netip.Addr, l *net.TCPListener) {
	defer t.wg.Done()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || t.ctx.Err() != nil {
				return
			}
			t.log.Warn("msdp accept failed", "local", local, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		remote := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		t.mu.Lock()
		reg, ok := t.listens[remote]
		t.mu.Unlock()
		if !ok || reg.local != local {
			t.refused.Add(1)
			if t.refuseLog.allow() {
				t.log.Warn("msdp connection refused: not a peer this router listens for", "remote", remote, "local", local)
			}
			refuse(c)
			continue
		}
		_ = withFD(c, setTOS)
		t.accepted.Add(1)
		t.start(c, remote, local, false, false, nil)
	}
}

// dial is one active open in progress.
type dial struct{ cancel context.CancelFunc }

// connect starts an active open to peer from local, abandoning a pending
// one. Only the current attempt of a peer reports its outcome.
func (t *Transport) connect(peer, local netip.Addr, key string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if old := t.dials[peer]; old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.opt.DialTimeout)
	me := &dial{cancel: cancel}
	t.dials[peer] = me
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		defer cancel()
		var c *net.TCPConn
		err := netns.Run(netns.Path(t.opt.Netns), func() error {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Control: control(peer, key)}
			d.SetMultipathTCP(false)
			nc, derr := d.DialContext(ctx, "tcp4", t.addrPort(peer))
			if derr != nil {
				return derr
			}
			c = nc.(*net.TCPConn)
			return nil
		})
		t.mu.Lock()
		current := t.dials[peer] == me && !t.closed
		if current {
			delete(t.dials, peer)
		}
		t.mu.Unlock()
		switch {
		case !current:
			if c != nil {
				c.Close()
			}
		case err != nil:
			t.dialFailures.Add(1)
			t.post(msdp.DialFailed{Peer: peer, Err: err}, nil)
		default:
			t.dialed.Add(1)
			t.start(c, peer, local, true, false, nil)
		}
	}()
}

// start registers a connection, announces it and starts its goroutines.
// The ConnUp is queued before the reader starts, so the engine always
// learns of the connection before its first TLV.
func (t *Transport) start(nc *net.TCPConn, peer, local netip.Addr, active, adopted bool, h *Handoff) msdp.ConnID {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		nc.Close()
		return 0
	}
	t.nextID++
	c := newConn(t, t.nextID, nc, peer, local, active, h)
	t.conns[c.id] = c
	t.mu.Unlock()
	if sm, ok := t.opt.Mirror.(SocketMirror); ok {
		if err := c.export(sm.Socket); err != nil {
			t.log.Warn("msdp session not replicated to the backup", "peer", peer, "conn", c.id, "err", err)
		}
	}
	if !t.post(msdp.ConnUp{Peer: peer, Local: local, Conn: c.id, Active: active, Adopted: adopted}, nil) {
		c.close("transport closed", false, false)
		return 0
	}
	c.run()
	return c.id
}

func (t *Transport) forget(c *conn) {
	t.mu.Lock()
	if t.conns[c.id] == c {
		delete(t.conns, c.id)
	}
	t.mu.Unlock()
}

// rateLimit lets a log line through at most once a second, 10 at once.
type rateLimit struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (r *rateLimit) allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.last.IsZero() {
		r.tokens = 10
	} else {
		r.tokens = min(10, r.tokens+now.Sub(r.last).Seconds())
	}
	r.last = now
	if r.tokens >= 1 {
		r.tokens--
		return true
	}
	return false
}
