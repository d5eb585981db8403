package msdpnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// Mirror is the master's side of socket replication (issue #17, seed 000
// §6.a III, §6.b): it carries each replicated connection's stream to the
// backup routing engine, whose Transport feeds it to a shadow connection
// (FeedIn, FeedOut).
//
// In is called on the connection's reader goroutine with bytes that are
// still in the socket (read with MSG_PEEK); only after In returns nil does
// the reader consume exactly those bytes and decode them, so that a
// master killed at any instant has never consumed a byte the backup was
// not given. Out is called on the writer goroutine with the bytes of a
// batch before the first of them is written: the backup then knows every
// byte of a TLV the master may have half-written. offset is the stream
// position of b[0] (bytes since the session began, as counted by the
// master). b is valid only during the call: copy what is kept.
//
// Both are synchronous: the connection waits for them, so the backup
// pushes back on the peer through TCP flow control instead of the master
// buffering. They may be called concurrently (In and Out, different
// connections) and must not call back into the Transport for the same
// connection. An error (channel down, backup gone) stops mirroring of that
// direction of that connection: the session goes on unmirrored, the error
// is counted and logged, and the connection shows out of sync until the
// next Export.
type Mirror interface {
	In(conn msdp.ConnID, peer netip.Addr, offset uint64, b []byte) error
	Out(conn msdp.ConnID, peer netip.Addr, offset uint64, b []byte) error
}

// SocketMirror is an optional interface of a Mirror: a Transport whose
// Mirror implements it exports every new connection through Socket before
// the connection's reader and writer start (as Export would), so the
// backup sees a session from its first byte. An error leaves the
// connection unmirrored until Export.
type SocketMirror interface {
	Mirror
	// Socket takes ownership of f (a duplicate of the connection's
	// socket, for SCM_RIGHTS) and must close it when done with it.
	Socket(f *os.File, pos Position) error
}

// Position is where a replicated connection's streams stand, taken at an
// instant when neither of its goroutines is between a system call on the
// socket and the counting of its bytes (Export holds both of the
// connection's stream locks): the stream offsets of this Transport and
// the kernel socket's own counters at the same instant. The kernel's
// counters move together with the stream offsets for the rest of the
// socket's life, whoever reads or writes it, so a backup holding a
// duplicate of the socket can tell at takeover how far a dead master got
// (Takeover). Sent to the backup with the descriptor (JSON).
type Position struct {
	// Conn is the master's connection id (for logs; the backup names its
	// shadow with its own id).
	Conn   msdp.ConnID `json:"conn"`
	Peer   netip.Addr  `json:"peer"`
	Local  netip.Addr  `json:"local"`
	Active bool        `json:"active"`
	// Cookie is the socket's kernel cookie (SO_COOKIE): the same number
	// in every process holding the socket.
	Cookie uint64 `json:"cookie"`
	// In is the inbound stream offset consumed (read out of the socket);
	// InPending is the decoder's partial TLV at In.
	In        uint64          `json:"in"`
	InPending msdpmsg.Pending `json:"in-pending"`
	// Out is the outbound stream offset written into the socket.
	// OutRecord, starting at stream offset OutRecordOffset, is the batch
	// the writer was in the middle of (mirrored with Out before Export
	// took the position), empty if it had none.
	Out             uint64 `json:"out"`
	OutRecordOffset uint64 `json:"out-record-offset"`
	OutRecord       []byte `json:"out-record,omitempty"`
	// KernelIn is the count of bytes read out of the socket since it was
	// established, tcpi_bytes_received − SIOCINQ; KernelOut the count of
	// bytes written into it, tcpi_bytes_acked + SIOCOUTQ. Both are read
	// until stable (see kernelCounters).
	KernelIn  uint64 `json:"kernel-in"`
	KernelOut uint64 `json:"kernel-out"`
}

// ErrNotReplicated is wrapped by Export and Quiesce for a connection that
// cannot be replicated (a shadow, a quiesced connection).
var ErrNotReplicated = errors.New("connection not replicable")

// Export hands out a duplicate of connection id's socket and its Position
// without disturbing the session: send is called with both while the
// connection's reader and writer are held between two system calls (at
// most one mirror call long), so whatever send queues on the mirror
// channel is ordered before every In and Out record the connection
// mirrors afterwards. send takes ownership of f. When send returns nil
// and the Transport has a Mirror, mirroring of both directions (re)starts
// at the exported position: the way to bring a connection back in sync
// after a mirror error. Export does not need the owner goroutine.
func (t *Transport) Export(id msdp.ConnID, send func(f *os.File, pos Position) error) error {
	t.mu.Lock()
	c := t.conns[id]
	t.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: export conn %d: %w", ErrDetach, id, ErrNoConn)
	}
	return c.export(send)
}

func (c *conn) export(send func(f *os.File, pos Position) error) error {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if c.shadow.Load() != nil || c.quiesced.Load() {
		return fmt.Errorf("%w: export conn %d: %w", ErrDetach, c.id, ErrNotReplicated)
	}
	select {
	case <-c.done:
		return fmt.Errorf("%w: export conn %d: %w", ErrDetach, c.id, ErrNoConn)
	default:
	}
	pos, err := c.positionLocked()
	if err != nil {
		return fmt.Errorf("%w: export conn %d: %w", ErrDetach, c.id, err)
	}
	f, err := c.nc.File()
	if err != nil {
		return fmt.Errorf("%w: dup conn %d: %w", ErrDetach, c.id, err)
	}
	c.replicated.Store(true)
	if err := send(f, pos); err != nil {
		return fmt.Errorf("export conn %d of %v: %w", c.id, c.peer, err)
	}
	if c.t.opt.Mirror != nil {
		c.inMirror.Store(true)
		c.outMirror.Store(true)
	}
	c.exports.Add(1)
	return nil
}

// positionLocked reads the connection's Position; rxMu and txMu held.
func (c *conn) positionLocked() (Position, error) {
	pos := Position{Conn: c.id, Peer: c.peer, Local: c.local, Active: c.active,
		In: c.inBytes.Load(), InPending: c.dec.Pending(), Out: c.outBytes.Load()}
	if end := c.outRecOff + uint64(len(c.outRec)); end > pos.Out && c.outRecOff <= pos.Out {
		pos.OutRecordOffset = c.outRecOff
		pos.OutRecord = append([]byte(nil), c.outRec...)
	} else {
		pos.OutRecordOffset = pos.Out
	}
	err := withFD(c.nc, func(fd int) error {
		k, err := kernelCounters(fd)
		if err != nil {
			return err
		}
		pos.KernelIn, pos.KernelOut, pos.Cookie = k.in, k.out, k.cookie
		return nil
	})
	return pos, err
}

// Quiesce stops connection id's reader and writer without closing its
// socket, for a planned switchover: the reader stops before consuming
// anything more (bytes it had peeked and mirrored stay in the socket; the
// backup's Takeover discards them), the writer stops between two system
// calls (a TLV it had half-written is completed by the backup from the
// mirrored batch), queued output is dropped, the engine is not told.
// The connection stays listed (role quiesced) until the engine closes it
// or the Transport closes; either closes this process's descriptor
// without shutdown(2), so the peer sees nothing. It returns the final
// position. Like Detach, it must not be called while the goroutine that
// drains Events is blocked on it.
func (t *Transport) Quiesce(id msdp.ConnID) (Position, error) {
	t.mu.Lock()
	c := t.conns[id]
	t.mu.Unlock()
	if c == nil {
		return Position{}, fmt.Errorf("%w: quiesce conn %d: %w", ErrDetach, id, ErrNoConn)
	}
	if c.shadow.Load() != nil {
		return Position{}, fmt.Errorf("%w: quiesce conn %d: %w", ErrDetach, id, ErrNotReplicated)
	}
	if !c.quiesced.Swap(true) {
		c.stopOnce.Do(func() { close(c.stop) })
		now := time.Now()
		_ = c.nc.SetReadDeadline(now)
		_ = c.nc.SetWriteDeadline(now)
		c.kick()
		<-c.readerDone
		<-c.writerDone
		c.mu.Lock()
		c.dropped += uint64(len(c.q))
		c.q, c.qBytes = nil, 0
		c.mu.Unlock()
	}
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	c.txMu.Lock()
	defer c.txMu.Unlock()
	return c.positionLocked()
}

// kernel is a socket's stream counters at one instant.
type kernel struct {
	in, out  uint64 // bytes read out of / written into the socket
	inq      int    // bytes received, not yet read
	outq     int    // bytes written, not yet acknowledged
	state    uint8  // TCP state (tcpi_state)
	received uint64 // tcpi_bytes_received
	cookie   uint64
}

// kernelCounters reads a socket's counters consistently. The kernel
// advances tcpi_bytes_received together with rcv_nxt, and
// tcpi_bytes_acked together with snd_una, under the socket lock that
// getsockopt(TCP_INFO) also takes; SIOCINQ is rcv_nxt − copied_seq and
// SIOCOUTQ write_seq − snd_una. Reading TCP_INFO, then both queues, then
// TCP_INFO again, and accepting only when both byte counts are unchanged,
// gives the queues at an instant with the same rcv_nxt and snd_una: the
// differences are then copied_seq and write_seq, which move only when a
// process reads or writes the socket (the caller makes sure none does).
// The constant offsets (the SYN) cancel out between two readings.
func kernelCounters(fd int) (kernel, error) {
	var k kernel
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		return k, fmt.Errorf("SO_COOKIE: %w", err)
	}
	k.cookie = cookie
	for range 1000 {
		a, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return k, fmt.Errorf("TCP_INFO: %w", err)
		}
		inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		if err != nil {
			return k, fmt.Errorf("SIOCINQ: %w", err)
		}
		outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
		if err != nil {
			return k, fmt.Errorf("SIOCOUTQ: %w", err)
		}
		b, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return k, fmt.Errorf("TCP_INFO: %w", err)
		}
		if a.Bytes_received != b.Bytes_received || a.Bytes_acked != b.Bytes_acked {
			continue
		}
		k.inq, k.outq, k.state, k.received = inq, outq, b.State, b.Bytes_received
		k.in = b.Bytes_received - uint64(inq)
		k.out = b.Bytes_acked + uint64(outq)
		return k, nil
	}
	return k, errors.New("socket counters did not settle in 1000 readings")
}

// socketCookie is the socket's SO_COOKIE.
func socketCookie(fd int) (uint64, error) {
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
}

// Role is what a Transport does with a connection's socket.
type Role string

// Roles.
const (
	// RoleOwned: this process reads and writes the socket.
	RoleOwned Role = "owned"
	// RoleShadow: a backup's replica, fed from the master's mirror; the
	// socket is never read or written until Takeover.
	RoleShadow Role = "shadow"
	// RoleQuiesced: a master's connection stopped for a planned
	// switchover (Quiesce).
	RoleQuiesced Role = "quiesced"
)

// Socket is one connection's replication state, for `show msdp socket`
// (issue #17) on either routing engine.
type Socket struct {
	Conn  msdp.ConnID `json:"conn"`
	Role  Role        `json:"role"`
	Peer  netip.Addr  `json:"peer"`
	Local netip.Addr  `json:"local"`
	// FD is this process's descriptor number; Cookie the socket's kernel
	// cookie (equal on master and backup for the same socket).
	FD     int    `json:"fd"`
	Cookie uint64 `json:"cookie"`
	// InOffset and OutOffset are the stream offsets: consumed and
	// written by this process (owned), fed by the master and the end of
	// its last mirrored batch (shadow).
	InOffset  uint64 `json:"in-offset"`
	OutOffset uint64 `json:"out-offset"`
	// MirrorSeq counts mirror records: mirrored (master) or fed (backup).
	MirrorSeq uint64 `json:"mirror-sequence"`
	// Replicated: exported at least once (master) or a shadow or taken
	// over (backup). InSync: every byte since the last export mirrored
	// (master), or fed without a gap (backup).
	Replicated bool `json:"replicated"`
	InSync     bool `json:"in-sync"`
	// MirrorErrors counts failed In/Out calls (master) and gaps in fed
	// records (backup); Exports counts Export calls.
	MirrorErrors uint64 `json:"mirror-errors"`
	Exports      uint64 `json:"exports,omitempty"`
	// DuplicateBytes are fed bytes already seen (ignored). Suppressed
	// counts Sends of the standby engine not written to a shadow.
	DuplicateBytes uint64 `json:"duplicate-bytes,omitempty"`
	Suppressed     uint64 `json:"suppressed-sends,omitempty"`
	// TakenOver marks a shadow this process took over; Discarded and
	// Completed are what the takeover discarded from the inbound queue
	// (mirrored, not consumed by the master) and wrote to complete the
	// master's half-written TLV.
	TakenOver bool   `json:"taken-over,omitempty"`
	Discarded uint64 `json:"takeover-discarded-bytes,omitempty"`
	Completed uint64 `json:"takeover-completed-bytes,omitempty"`
	// KernelIn and KernelOut are the socket's own counters (see Position).
	KernelIn  uint64 `json:"kernel-in"`
	KernelOut uint64 `json:"kernel-out"`
}

// Sockets returns the replication state of every connection.
func (t *Transport) Sockets() []Socket {
	t.mu.Lock()
	conns := make([]*conn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	out := make([]Socket, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.socket())
	}
	return out
}

func (c *conn) socket() Socket {
	s := Socket{Conn: c.id, Role: RoleOwned, Peer: c.peer, Local: c.local, FD: -1,
		InOffset: c.inBytes.Load(), OutOffset: c.outBytes.Load(),
		MirrorSeq: c.inSeq.Load() + c.outSeq.Load(), MirrorErrors: c.mirrorErrs.Load(),
		Exports: c.exports.Load(), Replicated: c.replicated.Load(),
		InSync: c.replicated.Load() && c.inMirror.Load() && c.outMirror.Load()}
	if c.quiesced.Load() {
		s.Role = RoleQuiesced
	}
	if sh := c.shadow.Load(); sh != nil {
		s.Role = RoleShadow
		s.Replicated = true
		c.rxMu.Lock()
		s.InOffset, s.InSync, s.DuplicateBytes = sh.in.next, !sh.in.gap, sh.in.dup
		c.rxMu.Unlock()
		c.txMu.Lock()
		s.OutOffset = sh.out.end()
		c.txMu.Unlock()
		s.Suppressed = sh.suppressed.Load()
	}
	if to := c.takeover.Load(); to != nil {
		s.TakenOver, s.Discarded, s.Completed, s.Suppressed = true, to.discarded, to.completed, to.suppressed
		s.Replicated = true
	}
	_ = withFD(c.nc, func(fd int) error {
		s.FD = fd
		if k, err := kernelCounters(fd); err == nil {
			s.Cookie, s.KernelIn, s.KernelOut = k.cookie, k.in, k.out
		}
		return nil
	})
	return s
}
