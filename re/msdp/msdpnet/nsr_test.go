package msdpnet_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
)

// Non-stop routing (issue #17) in one test process: a master Transport
// whose Mirror feeds a backup Transport directly, a remote MSDP speaker
// (raw TCP and msdpmsg) on loopback, and the master "killed" at chosen
// points: msdpnet.Kill stops its system calls at once and Close then
// closes its descriptors without shutdown(2), which is what the kernel
// does to a process killed with SIGKILL while another process holds a
// duplicate of its sockets. The SAs on both directions are numbered by
// their sources, so that a lost or duplicated TLV shows.

var errChannelDown = errors.New("mirror channel down")

// inprocMirror is the lead's mirror channel cut short: records go
// straight to the backup's shadow of the peer.
type inprocMirror struct {
	backup   *msdpnet.Transport
	sockHook func(f *os.File)
	fail     atomic.Bool
	mu       sync.Mutex
	shadows  map[netip.Addr]msdp.ConnID
	lastOut  []byte // the last Out record, at lastOff
	lastOff  uint64
}

func (m *inprocMirror) Socket(f *os.File, pos msdpnet.Position) error {
	if m.sockHook != nil {
		m.sockHook(f)
	}
	id, err := m.backup.Shadow(f, pos)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.shadows[pos.Peer] = id
	m.mu.Unlock()
	return nil
}

func (m *inprocMirror) shadow(p netip.Addr) msdp.ConnID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shadows[p]
}

func (m *inprocMirror) In(_ msdp.ConnID, peer netip.Addr, off uint64, b []byte) error {
	if m.fail.Load() {
		return errChannelDown
	}
	return m.backup.FeedIn(m.shadow(peer), off, b)
}

func (m *inprocMirror) Out(_ msdp.ConnID, peer netip.Addr, off uint64, b []byte) error {
	if m.fail.Load() {
		return errChannelDown
	}
	m.mu.Lock()
	m.lastOut, m.lastOff = append(m.lastOut[:0], b...), off
	m.mu.Unlock()
	return m.backup.FeedOut(m.shadow(peer), off, b)
}

// midTLV tells whether stream offset end falls inside a TLV of the last
// Out record.
func (m *inprocMirror) midTLV(end uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end <= m.lastOff || end >= m.lastOff+uint64(len(m.lastOut)) {
		return false
	}
	k := int(end - m.lastOff)
	for p := 0; p < k; {
		n := int(binary.BigEndian.Uint16(m.lastOut[p+1:]))
		if p+n > k {
			return true
		}
		p += n
	}
	return false
}

// Numbered SA series: the remote's sources are 10.100.x.y, the master's
// 10.200.x.y and the backup's 10.201.x.y, x.y the number.
const (
	seriesRemote = 100
	seriesMaster = 200
	seriesBackup = 201
)

func seriesSAs(series byte, rp netip.Addr, from, to, per int) []byte {
	var b []byte
	es := make([]msdpmsg.Entry, 0, per)
	for k := from; k < to; k++ {
		es = append(es, msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, series, byte(k >> 8), byte(k)}),
			Source: netip.AddrFrom4([4]byte{10, series, byte(k >> 8), byte(k)})})
		if len(es) == per || k == to-1 {
			b, _ = msdpmsg.AppendSA(b, msdpmsg.TypeSourceActive, rp, es, nil)
			es = es[:0]
		}
	}
	return b
}

// numbers appends the numbers of msgs' SA entries of series to out.
func numbers(msgs []msdpmsg.Message, series byte, out []int) []int {
	for _, m := range msgs {
		if sa, ok := m.(*msdpmsg.SourceActive); ok {
			for _, e := range sa.Entries {
				s := e.Source.As4()
				if s[1] == series {
					out = append(out, int(s[2])<<8|int(s[3]))
				}
			}
		}
	}
	return out
}

// checkSeq asserts that got is exactly 0..n-1.
func checkSeq(t *testing.T, what string, got []int, n int) {
	t.Helper()
	if len(got) == n {
		ok := true
		for i, k := range got {
			if k != i {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	// Say where it breaks.
	for i, k := range got {
		if k != i {
			t.Fatalf("%s: entry %d is number %d (got %d entries, want %d): a TLV lost or repeated", what, i, k, len(got), n)
		}
	}
	t.Fatalf("%s: %d entries, want %d", what, len(got), n)
}

// remote is the MSDP router at the other end: a raw TCP speaker that
// decodes everything it reads.
type remote struct {
	c        *net.TCPConn
	addr     netip.Addr
	mu       sync.Mutex
	master   []int // numbers of the master's SAs received
	backup   []int
	badOrder bool // a master SA after a backup one
	kas      []time.Time
	err      error // the decoder's error or how the stream ended
	done     chan struct{}
}

func startRemote(t *testing.T, local, to string, rcvbuf int, readDelay time.Duration) *remote {
	r := &remote{addr: a(local), done: make(chan struct{})}
	if rcvbuf > 0 {
		// Before connect, so that the window the master sees stays
		// small: its segments, and so its writes, are cut small too.
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a(local), 0)), Timeout: 2 * time.Second,
			Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf) })
			}}
		var c net.Conn
		eventually(t, 5*time.Second, "remote connects", func() bool {
			var err error
			c, err = d.Dial("tcp4", net.JoinHostPort(to, "639"))
			return err == nil
		})
		t.Cleanup(func() { c.Close() })
		r.c = c.(*net.TCPConn)
	} else {
		r.c = rawPeer(t, local, to)
	}
	go func() {
		defer close(r.done)
		d := msdpmsg.NewDecoder()
		buf := make([]byte, 64<<10)
		if readDelay > 0 {
			buf = buf[:2048]
		}
		for {
			n, err := r.c.Read(buf)
			if n > 0 {
				msgs, derr := d.Decode(buf[:n], nil)
				now := time.Now()
				r.mu.Lock()
				for _, m := range msgs {
					if m.Type() == msdpmsg.TypeKeepAlive {
						r.kas = append(r.kas, now)
					}
				}
				before := len(r.backup)
				r.backup = numbers(msgs, seriesBackup, r.backup)
				m0 := len(r.master)
				r.master = numbers(msgs, seriesMaster, r.master)
				if len(r.master) > m0 && (before > 0 || len(r.backup) > before) {
					r.badOrder = true
				}
				if derr != nil {
					r.err = derr
				}
				r.mu.Unlock()
				if derr != nil {
					return
				}
			}
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			if readDelay > 0 {
				time.Sleep(readDelay)
			}
		}
	}()
	// KeepAlives keep the routers' hold timers going.
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				if _, err := r.c.Write(msdpmsg.KeepAliveBytes); err != nil {
					return
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop) })
	return r
}

func (r *remote) snapshot() (master, backup []int, kas []time.Time, err error, badOrder bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.master...), append([]int(nil), r.backup...), append([]time.Time(nil), r.kas...), r.err, r.badOrder
}

// saTrace collects the remote's SA numbers as an engine receives them.
type saTrace struct {
	peer netip.Addr
	mu   sync.Mutex
	nums []int
}

func (s *saTrace) trace(ev msdp.Event, _ []msdp.Action, _ time.Time) {
	if rv, ok := ev.(msdp.Received); ok && rv.Peer == s.peer {
		s.mu.Lock()
		s.nums = numbers(rv.Msgs, seriesRemote, s.nums)
		s.mu.Unlock()
	}
}

func (s *saTrace) get() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.nums...)
}

// nsrRig: remote .1, our master and backup .2 (the higher address
// listens; the master accepts the remote's connection).
type nsrRig struct {
	t              *testing.T
	ip             func(int) string
	cfg            msdp.Config
	backup, master *router
	mir            *inprocMirror
	btrace         *saTrace
	rem            *remote
}

type rigOpt struct {
	sockHook  func(f *os.File)
	rcvbuf    int
	readDelay time.Duration
}

func newNSRRig(t *testing.T, o rigOpt) *nsrRig {
	needRoot(t)
	g := &nsrRig{t: t, ip: loopNet()}
	g.cfg = fast(msdp.Config{LocalAddress: a(g.ip(2)), ActiveSourceLimit: &msdp.Limit{}, Peers: []msdp.PeerConfig{{Address: a(g.ip(1))}}})
	g.btrace = &saTrace{peer: a(g.ip(1))}
	g.backup = startRouter(t, g.cfg, routerOpt{standby: true, trace: g.btrace.trace})
	g.mir = &inprocMirror{backup: g.backup.tr, sockHook: o.sockHook, shadows: map[netip.Addr]msdp.ConnID{}}
	g.master = startRouter(t, g.cfg, routerOpt{mirror: g.mir})
	g.rem = startRemote(t, g.ip(1), g.ip(2), o.rcvbuf, o.readDelay)
	eventually(t, 5*time.Second, "master and backup established", func() bool {
		return g.master.peer(g.ip(1)).State == msdp.StateEstablished && g.mir.shadow(a(g.ip(1))) != 0 &&
			g.backup.peer(g.ip(1)).State == msdp.StateEstablished
	})
	return g
}

// connOf returns the connection id a router has for the remote.
func (g *nsrRig) connOf(r *router) msdp.ConnID {
	for _, cs := range r.tr.Conns() {
		if cs.Peer == a(g.ip(1)) {
			return cs.Conn
		}
	}
	return 0
}

// send queues numbered SAs of series on router r's session.
func (g *nsrRig) send(r *router, series byte, from, to, per int) {
	conn := g.connOf(r)
	require.NotZero(g.t, conn)
	data := seriesSAs(series, a(g.ip(2)), from, to, per)
	r.do(func(*msdp.Engine, time.Time) []msdp.Action {
		return []msdp.Action{msdp.Send{Peer: a(g.ip(1)), Conn: conn, Data: data}}
	})
}

// takeOver does what the lead does when the master dies: the master's
// process is gone (its descriptors closed without FIN), every record it
// mirrored has been fed, the backup takes the session over and its
// engine starts.
func (g *nsrRig) takeOver() msdp.ConnID {
	g.master.stop()
	id := g.mir.shadow(a(g.ip(1)))
	require.NotZero(g.t, id)
	require.NoError(g.t, g.backup.tr.Takeover(id))
	require.NoError(g.t, g.backup.tr.Takeover(id), "idempotent")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(g.t, g.backup.h.Start(ctx))
	return id
}

func (g *nsrRig) socket(r *router, id msdp.ConnID) msdpnet.Socket {
	for _, s := range r.tr.Sockets() {
		if s.Conn == id {
			return s
		}
	}
	g.t.Fatalf("no socket for conn %d", id)
	return msdpnet.Socket{}
}

// finish checks both directions after a takeover: the backup's engine
// got every remote SA exactly once in order; the remote got a prefix of
// the master's SAs, whole, then every SA the backup sent, and a
// KeepAlive from the backup; the session was never reset.
func (g *nsrRig) finish(remoteTotal, backupTotal int, takenAt time.Time) {
	t := g.t
	eventually(t, 10*time.Second, "backup's engine has every remote SA", func() bool { return len(g.btrace.get()) >= remoteTotal })
	checkSeq(t, "remote SAs at the backup's engine", g.btrace.get(), remoteTotal)
	eventually(t, 10*time.Second, "remote has the backup's SAs and a KeepAlive", func() bool {
		_, b, kas, err, _ := g.rem.snapshot()
		return err != nil || (len(b) >= backupTotal && len(kas) > 0 && kas[len(kas)-1].After(takenAt))
	})
	m, b, _, err, badOrder := g.rem.snapshot()
	require.NoError(t, err, "the remote's stream")
	assert.False(t, badOrder, "a master SA after the backup's")
	checkSeq(t, "master SAs at the remote", m, len(m))
	checkSeq(t, "backup SAs at the remote", b, backupTotal)
	info := g.backup.peer(g.ip(1))
	assert.Equal(t, msdp.StateEstablished, info.State)
	assert.Zero(t, info.Stats.PeerTimeouts+info.Stats.ErrorsReceived+info.Stats.RemoteCloses)
	t.Logf("remote got %d master SA entries then %d backup ones; backup engine got %d remote entries", len(m), len(b), remoteTotal)
}

// TestNSRKillAfterMirrorBeforeConsume kills the master between mirroring
// a read and consuming it, mid-stream of numbered SAs: the backup must
// discard from the socket exactly the bytes fed but not consumed.
func TestNSRKillAfterMirrorBeforeConsume(t *testing.T) {
	g := newNSRRig(t, rigOpt{})
	var killed atomic.Bool
	var killOff uint64
	msdpnet.SetHooks(g.master.tr, func(_ msdp.ConnID, off uint64, n int) {
		if off >= 60_000 && !killed.Swap(true) {
			killOff = off
			msdpnet.Kill(g.master.tr)
		}
	}, nil)
	const total = 30000 // 1500 SAs of 20 entries, 372 kB
	g.send(g.master, seriesMaster, 0, 200, 50)
	go func() { _, _ = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 0, total, 20)) }()
	eventually(t, 5*time.Second, "master killed", killed.Load)
	shadowIn := g.socket(g.backup, g.mir.shadow(a(g.ip(1)))).InOffset
	takenAt := time.Now()
	id := g.takeOver()
	s := g.socket(g.backup, id)
	t.Logf("killed at inbound offset %d, fed to %d; takeover discarded %d, completed %d", killOff, shadowIn, s.Discarded, s.Completed)
	assert.Positive(t, s.Discarded, "the bytes mirrored but not consumed are discarded")
	assert.Equal(t, shadowIn-killOff, s.Discarded)
	assert.True(t, s.TakenOver)
	assert.Equal(t, msdpnet.RoleOwned, s.Role)
	g.send(g.backup, seriesBackup, 0, 500, 50)
	g.finish(total, 500, takenAt)
}

// TestNSRKillMidWrite kills the master after a partial write that ends
// inside a large SA (a tiny send buffer and a slow reader force partial
// writes): the backup completes the TLV from the mirrored batch.
func TestNSRKillMidWrite(t *testing.T) {
	g := newNSRRig(t, rigOpt{
		sockHook:  smallSendBuffer,
		rcvbuf:    4096,
		readDelay: time.Millisecond,
	})
	var killed atomic.Bool
	var killEnd uint64
	msdpnet.SetHooks(g.master.tr, nil, func(_ msdp.ConnID, end uint64, n, want int) {
		if n < want && end > 40_000 && g.mir.midTLV(end) && !killed.Swap(true) {
			killEnd = end
			msdpnet.Kill(g.master.tr)
		}
	})
	// 60 SAs each carrying a 9000-octet data packet: a TLV the writer
	// cannot cut, larger than the send buffer.
	conn := g.connOf(g.master)
	var data []byte
	for k := range 60 {
		data, _ = msdpmsg.AppendSA(data, msdpmsg.TypeSourceActive, a(g.ip(2)), []msdpmsg.Entry{{
			Group: netip.AddrFrom4([4]byte{239, seriesMaster, 0, byte(k)}), Source: netip.AddrFrom4([4]byte{10, seriesMaster, 0, byte(k)})}},
			make([]byte, 9000))
	}
	g.master.do(func(*msdp.Engine, time.Time) []msdp.Action {
		return []msdp.Action{msdp.Send{Peer: a(g.ip(1)), Conn: conn, Data: data}}
	})
	go func() { _, _ = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 0, 5000, 100)) }()
	eventually(t, 10*time.Second, "master killed mid-TLV", killed.Load)
	takenAt := time.Now()
	id := g.takeOver()
	s := g.socket(g.backup, id)
	t.Logf("killed with the stream written to %d; takeover completed %d bytes", killEnd, s.Completed)
	assert.Positive(t, s.Completed, "the half-written SA is completed")
	g.send(g.backup, seriesBackup, 0, 2550, 255)
	g.finish(5000, 2550, takenAt)
}

// smallSendBuffer shrinks the replicated socket's send buffer (through
// SyscallConn: f.Fd would put the shared file description in blocking
// mode).
func smallSendBuffer(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) })
	}
}

// TestNSRKillIdle kills an idle master; the session then carries SAs
// both ways through the backup.
func TestNSRKillIdle(t *testing.T) {
	g := newNSRRig(t, rigOpt{})
	g.send(g.master, seriesMaster, 0, 100, 50)
	eventually(t, 5*time.Second, "master's SAs at the remote", func() bool { m, _, _, _, _ := g.rem.snapshot(); return len(m) == 100 })
	time.Sleep(200 * time.Millisecond)
	msdpnet.Kill(g.master.tr)
	takenAt := time.Now()
	id := g.takeOver()
	s := g.socket(g.backup, id)
	assert.Zero(t, s.Discarded)
	assert.Zero(t, s.Completed)
	_, err := g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 0, 4000, 40))
	require.NoError(t, err)
	g.send(g.backup, seriesBackup, 0, 300, 60)
	g.finish(4000, 300, takenAt)
}

// TestNSRMirrorFailureAndReexport: while the mirror channel is down the
// session goes on unmirrored and shows out of sync; a takeover then
// would lose bytes, so it resets the session with a clear reason. After
// a re-export the replica is exact again.
func TestNSRMirrorFailureAndReexport(t *testing.T) {
	for _, reexport := range []bool{true, false} {
		name := "re-exported"
		if !reexport {
			name = "not re-exported: takeover resets"
		}
		t.Run(name, func(t *testing.T) {
			g := newNSRRig(t, rigOpt{})
			mconn := g.connOf(g.master)
			_, err := g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 0, 1000, 50))
			require.NoError(t, err)
			eventually(t, 5*time.Second, "backup fed", func() bool { return len(g.btrace.get()) == 1000 })
			g.mir.fail.Store(true)
			_, err = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 1000, 2000, 50))
			require.NoError(t, err)
			eventually(t, 5*time.Second, "master read while unmirrored", func() bool {
				s := g.socket(g.master, mconn)
				return s.MirrorErrors > 0 && !s.InSync
			})
			eventually(t, 5*time.Second, "master consumed it", func() bool {
				return g.master.peer(g.ip(1)).Stats.SAEntriesReceived >= 2000
			})
			g.mir.fail.Store(false)
			if reexport {
				require.NoError(t, g.master.tr.Export(mconn, g.mir.Socket))
				assert.True(t, g.socket(g.master, mconn).InSync)
				_, err = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 2000, 3000, 50))
				require.NoError(t, err)
				eventually(t, 5*time.Second, "backup fed again", func() bool {
					n := g.btrace.get()
					return len(n) > 0 && n[len(n)-1] == 2999
				})
				msdpnet.Kill(g.master.tr)
				takenAt := time.Now()
				g.takeOver()
				// The backup missed what came while the channel was
				// down (the SAs come again with the next refresh), never
				// anything twice or out of order.
				got := g.btrace.get()
				want := []int{}
				for k := range 1000 {
					want = append(want, k)
				}
				for k := 2000; k < 3000; k++ {
					want = append(want, k)
				}
				require.Equal(t, want, got)
				_, err = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 3000, 4000, 50))
				require.NoError(t, err)
				eventually(t, 5*time.Second, "backup reads after takeover", func() bool { return len(g.btrace.get()) == 3000 })
				g.send(g.backup, seriesBackup, 0, 100, 50)
				eventually(t, 5*time.Second, "remote has the backup's SAs", func() bool { _, b, _, _, _ := g.rem.snapshot(); return len(b) == 100 })
				_, _, kas, rerr, _ := g.rem.snapshot()
				require.NoError(t, rerr)
				_ = kas
				_ = takenAt
				return
			}
			msdpnet.Kill(g.master.tr)
			g.master.stop()
			id := g.mir.shadow(a(g.ip(1)))
			err = g.backup.tr.Takeover(id)
			require.ErrorIs(t, err, msdpnet.ErrTakeover)
			assert.Contains(t, err.Error(), "the master consumed")
			eventually(t, 5*time.Second, "backup's engine told", func() bool { return g.backup.peer(g.ip(1)).State != msdp.StateEstablished })
			eventually(t, 5*time.Second, "remote sees the end", func() bool { _, _, _, rerr, _ := g.rem.snapshot(); return rerr != nil })
			_, _, _, rerr, _ := g.rem.snapshot()
			assert.True(t, errors.Is(rerr, io.EOF) || errors.Is(rerr, unix.ECONNRESET), "%v", rerr)
		})
	}
}

// TestNSRPlannedSwitchover: Quiesce on the master instead of a kill,
// with traffic both ways; the master process stays alive.
func TestNSRPlannedSwitchover(t *testing.T) {
	g := newNSRRig(t, rigOpt{})
	mconn := g.connOf(g.master)
	go func() { _, _ = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 0, 20000, 20)) }()
	g.send(g.master, seriesMaster, 0, 10200, 255)
	time.Sleep(20 * time.Millisecond)
	pos, err := g.master.tr.Quiesce(mconn)
	require.NoError(t, err)
	t.Logf("quiesced at in %d out %d", pos.In, pos.Out)
	assert.Equal(t, msdpnet.RoleQuiesced, g.socket(g.master, mconn).Role)
	id := g.mir.shadow(a(g.ip(1)))
	takenAt := time.Now()
	require.NoError(t, g.backup.tr.Takeover(id))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.backup.h.Start(ctx))
	g.send(g.backup, seriesBackup, 0, 500, 50)
	g.finish(20000, 500, takenAt)
	// The old master closes its descriptor without disturbing anything.
	g.master.stop()
	time.Sleep(100 * time.Millisecond)
	_, err = g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, 20000, 21000, 20))
	require.NoError(t, err)
	eventually(t, 5*time.Second, "backup reads on", func() bool { return len(g.btrace.get()) == 21000 })
	checkSeq(t, "remote SAs at the backup's engine", g.btrace.get(), 21000)
}
