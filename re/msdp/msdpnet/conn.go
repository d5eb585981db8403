package msdpnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// outItem is one Send: whole TLVs, written as a unit.
type outItem struct {
	data        []byte
	wantDrained bool
}

// conn is one TCP connection of a peer.
type conn struct {
	t           *Transport
	id          msdp.ConnID
	nc          *net.TCPConn
	peer, local netip.Addr
	active      bool
	mss         int              // TCP maximum segment size: the writer's chunk size
	dec         *msdpmsg.Decoder // reader goroutine only

	inBytes, inDecoded, outBytes atomic.Uint64

	mu        sync.Mutex
	q         []outItem
	qBytes    int
	maxQueued int
	dropped   uint64
	dropLog   rateLimit
	notify    chan struct{}
	chunks    [][]byte // writer's scratch
	wbuf      []byte   // writer's batch

	done       chan struct{} // closed when the connection closes or detaches
	closeOnce  sync.Once
	detaching  atomic.Bool
	readerDone chan struct{}
	writerDone chan struct{}
	// undelivered holds the reader's last event if a Detach stopped it
	// before the owner took it.
	undelivered []msdp.Event

	// Non-stop routing (mirror.go, shadow.go). rxMu is held by the
	// reader from a mirror call through consuming, counting and decoding
	// the bytes, txMu by the writer around each write and its count and
	// while it records a batch: Export takes both, so a Position never
	// falls between a system call and its count.
	rxMu, txMu          sync.Mutex
	inMirror, outMirror atomic.Bool // mirror the direction (set by Export)
	replicated          atomic.Bool // exported: the backup holds a duplicate
	quiesced            atomic.Bool
	stop                chan struct{} // closed by Quiesce
	stopOnce            sync.Once
	outRecOff           uint64 // txMu: the writer's current batch and its offset
	outRec              []byte
	inSeq, outSeq       atomic.Uint64 // records mirrored (master) or fed (shadow)
	mirrorErrs, exports atomic.Uint64
	mirrorLog           rateLimit
	cookie              uint64 // SO_COOKIE of a shadow's socket
	shadow              atomic.Pointer[shadow]
	takeover            atomic.Pointer[takeoverInfo]
	feedMu              sync.Mutex // orders a shadow's deliveries; the reader after a takeover waits for it
	feedAlive           time.Time  // feedMu: the last Alive of fed TLVs
}

func newConn(t *Transport, id msdp.ConnID, nc *net.TCPConn, peer, local netip.Addr, active bool, h *Handoff) *conn {
	c := &conn{t: t, id: id, nc: nc, peer: peer, local: local, active: active, dec: msdpmsg.NewDecoder(),
		notify: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{}),
		readerDone: make(chan struct{}), writerDone: make(chan struct{})}
	// TCP_MAXSEG is the MSS before TCP options; the options of a
	// segment (timestamps, the MD5 signature, SACK blocks) take at most
	// 40 octets of it.
	c.mss = 1400
	_ = withFD(nc, func(fd int) error {
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG); err == nil && v >= 128 {
			c.mss = v - 40
		}
		return nil
	})
	if h != nil {
		c.dec = h.decoder
		c.inBytes.Store(h.InBytes)
		c.inDecoded.Store(h.InBytes - uint64(len(h.Pending.Partial)))
		c.outBytes.Store(h.OutBytes)
		if len(h.Unsent) > 0 {
			c.q = append(c.q, outItem{data: h.Unsent})
			c.qBytes = len(h.Unsent)
		}
	}
	return c
}

func (c *conn) run() {
	c.t.wg.Add(2)
	go c.runReader()
	go c.runWriter()
	c.kick()
}

func (c *conn) kick() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *conn) stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnStats{Conn: c.id, Peer: c.peer, Local: c.local, InBytes: c.inBytes.Load(), InDecoded: c.inDecoded.Load(),
		OutBytes: c.outBytes.Load(), OutQueued: c.qBytes, OutDropped: c.dropped, MaxQueued: c.maxQueued}
}

// enqueue queues a Send without blocking. A KeepAlive goes ahead of the
// queued data (the writer only ever takes whole items, so this is a TLV
// boundary) and is never dropped; other data beyond the output limit is
// dropped and counted.
func (c *conn) enqueue(data []byte, keepAlive, wantDrained bool) {
	if sh := c.shadow.Load(); sh != nil {
		c.suppress(sh, wantDrained)
		return
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	if c.quiesced.Load() {
		c.dropped++
		c.mu.Unlock()
		return
	}
	dropped := false
	switch {
	case keepAlive:
		c.q = append(c.q, outItem{})
		copy(c.q[1:], c.q)
		c.q[0] = outItem{data: data}
		c.qBytes += len(data)
	case c.qBytes+len(data) > c.t.opt.OutputLimit:
		c.dropped++
		dropped = true
	default:
		c.q = append(c.q, outItem{data: data, wantDrained: wantDrained})
		c.qBytes += len(data)
	}
	c.maxQueued = max(c.maxQueued, c.qBytes)
	queued := c.qBytes
	c.mu.Unlock()
	if dropped {
		if c.dropLog.allow() {
			c.t.log.Warn("msdp output queue full: dropping SAs (soft state, refreshed by the originator)",
				"peer", c.peer, "queued-bytes", queued, "dropped-bytes", len(data))
		}
		if wantDrained {
			c.urgent(msdp.Drained{Peer: c.peer, Conn: c.id})
		}
		return
	}
	c.kick()
}

// urgent delivers a Drained event: waits for room, but not past the
// connection's end.
func (c *conn) urgent(ev msdp.Event) {
	select {
	case c.t.urgent <- ev:
	case <-c.done:
	case <-c.t.ctx.Done():
	}
}

// errStall is a peer that accepts no data for the stall time.
var errStall = errors.New("peer accepts no data")

// errStopped: the connection's goroutines were stopped without closing
// it (Detach, Quiesce, or a test's simulated kill).
var errStopped = errors.New("connection stopped")

// errRetry: mirroring started while the reader waited; read again.
var errRetry = errors.New("read again")

// stopped tells the reader and writer to make no more system calls on
// the socket.
func (c *conn) stopped() bool {
	return c.detaching.Load() || c.quiesced.Load() || c.t.killed.Load()
}

// write sends b (whole TLVs) in MSS-sized chunks of whole TLVs, each
// with MSG_EOR (see segment.go), resetting the stall deadline whenever
// the peer takes data. With a Mirror, the chunks are first recorded as
// the current batch and, if the connection is mirrored, given to
// Mirror.Out; each write and its count happen under txMu.
func (c *conn) write(b []byte) error {
	rc, err := c.nc.SyscallConn()
	if err != nil {
		return err
	}
	c.chunks = splitTLVs(b, c.mss, c.chunks[:0])
	for rest := c.chunks; len(rest) > 0; {
		// With a Mirror, each group of chunks of at most maxBatch octets
		// (or one chunk) is recorded, and mirrored, before it is written.
		group := rest
		if c.t.opt.Mirror != nil {
			size := len(group[0])
			k := 1
			for k < len(group) && size+len(group[k]) <= maxBatch {
				size += len(group[k])
				k++
			}
			group = group[:k]
			if err := c.record(group); err != nil {
				return err
			}
		}
		rest = rest[len(group):]
		if err := c.writeChunks(rc, group); err != nil {
			return err
		}
	}
	return nil
}

// record makes chunks the current batch and mirrors it.
func (c *conn) record(chunks [][]byte) error {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if c.stopped() {
		return errStopped
	}
	c.outRecOff = c.outBytes.Load()
	c.outRec = c.outRec[:0]
	for _, chunk := range chunks {
		c.outRec = append(c.outRec, chunk...)
	}
	if c.outMirror.Load() {
		if err := c.t.opt.Mirror.Out(c.id, c.peer, c.outRecOff, c.outRec); err != nil {
			c.outMirror.Store(false)
			c.mirrorFailed("out", err)
		} else {
			c.outSeq.Add(1)
		}
	}
	return nil
}

// writeChunks writes chunks, each and its count under txMu.
func (c *conn) writeChunks(rc syscall.RawConn, chunks [][]byte) error {
	for _, chunk := range chunks {
		for len(chunk) > 0 {
			if err := c.nc.SetWriteDeadline(time.Now().Add(c.t.opt.WriteStall)); err != nil {
				return err
			}
			var n int
			var serr error
			werr := rc.Write(func(fd uintptr) bool {
				c.txMu.Lock()
				defer c.txMu.Unlock()
				if c.stopped() {
					serr = errStopped
					return true
				}
				n, serr = unix.SendmsgN(int(fd), chunk, nil, nil, unix.MSG_EOR|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
				if serr == nil && n > 0 {
					c.outBytes.Add(uint64(n))
					if h := c.t.hooks.Load(); h != nil && h.afterWrite != nil {
						h.afterWrite(c.id, c.outBytes.Load(), n, len(chunk))
					}
				}
				return !errors.Is(serr, unix.EAGAIN)
			})
			if werr != nil {
				if c.stopped() {
					return errStopped
				}
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					return errStall
				}
				return werr
			}
			if serr != nil {
				return serr
			}
			chunk = chunk[n:]
		}
	}
	return nil
}

// mirrorFailed counts and logs a failed mirror call.
func (c *conn) mirrorFailed(dir string, err error) {
	c.mirrorErrs.Add(1)
	if c.mirrorLog.allow() {
		c.t.log.Warn("msdp mirror to the backup failed: the session goes on unmirrored until the next export",
			"peer", c.peer, "conn", c.id, "direction", dir, "err", err)
	}
}

// maxBatch bounds how much queued output the writer takes at once: 64
// KiB of small Sends (triggered SAs, floods) become a few MSS-sized
// segments instead of one segment each.
const maxBatch = 64 << 10

func (c *conn) runWriter() {
	defer c.t.wg.Done()
	defer close(c.writerDone)
	var batch []outItem
	for {
		select {
		case <-c.notify:
		case <-c.done:
			return
		}
		for {
			if c.stopped() {
				return
			}
			// Take whole items up to maxBatch (at least one).
			c.mu.Lock()
			batch, c.wbuf = batch[:0], c.wbuf[:0]
			for len(c.q) > 0 && (len(batch) == 0 || len(c.wbuf)+len(c.q[0].data) <= maxBatch) {
				it := c.q[0]
				c.q[0] = outItem{}
				c.q = c.q[1:]
				batch = append(batch, it)
				c.wbuf = append(c.wbuf, it.data...)
			}
			c.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			err := c.write(c.wbuf)
			c.mu.Lock()
			c.qBytes -= len(c.wbuf)
			queued := c.qBytes
			c.mu.Unlock()
			if err != nil {
				if errors.Is(err, errStopped) {
					return
				}
				select {
				case <-c.done:
					return
				default:
				}
				reason := fmt.Sprintf("write failed: %v", err)
				if errors.Is(err, errStall) {
					reason = fmt.Sprintf("peer accepted no data for %v with %d bytes queued: reset", c.t.opt.WriteStall, queued+len(c.wbuf))
					c.t.log.Warn("msdp peer does not read: resetting the session", "peer", c.peer, "stall", c.t.opt.WriteStall, "queued-bytes", queued+len(c.wbuf))
				}
				c.close(reason, true, false)
				return
			}
			for _, it := range batch {
				if it.wantDrained {
					c.urgent(msdp.Drained{Peer: c.peer, Conn: c.id})
				}
			}
			clear(batch)
		}
	}
}

func (c *conn) runReader() {
	defer c.t.wg.Done()
	defer close(c.readerDone)
	// After a takeover, every TLV fed before reaches the engine first.
	c.feedMu.Lock()
	c.feedMu.Unlock() //nolint:staticcheck // a barrier, not a critical section
	rc, err := c.nc.SyscallConn()
	if err != nil {
		c.close(fmt.Sprintf("read failed: %v", err), true, false)
		return
	}
	buf := make([]byte, readBufferSize)
	var lastAlive time.Time
	for {
		msgs, derr, err := c.readOnce(rc, buf)
		if len(msgs) > 0 || derr != nil {
			if !c.deliver(msgs, derr, &lastAlive) {
				return
			}
			if derr != nil {
				// The stream cannot be resynchronised: stop reading and
				// let the engine close the session (RFC 3618 §13).
				return
			}
		}
		if err != nil {
			if errors.Is(err, errRetry) {
				continue
			}
			if errors.Is(err, errStopped) || c.stopped() {
				return
			}
			select {
			case <-c.done:
				return
			default:
			}
			remote := errors.Is(err, io.EOF)
			reason := "connection closed by the peer"
			if !remote {
				reason = fmt.Sprintf("read failed: %v", err)
			}
			c.close(reason, true, remote)
			return
		}
	}
}

// deliver hands decoded TLVs to the owner: an Alive on the priority path
// (at most every aliveInterval), then the Received. It returns false if
// the connection stopped first.
func (c *conn) deliver(msgs []msdpmsg.Message, derr error, lastAlive *time.Time) bool {
	now := time.Now()
	if len(msgs) > 0 && now.Sub(*lastAlive) >= aliveInterval {
		*lastAlive = now
		select {
		case c.t.urgent <- msdp.Alive{Peer: c.peer, Conn: c.id, At: now}:
		default:
			c.t.aliveDropped.Add(1)
		}
	}
	ev := msdp.Received{Peer: c.peer, Conn: c.id, At: now, Msgs: msgs, Err: derr}
	select {
	case c.t.events <- ev:
		return true
	case <-c.done:
		if c.detaching.Load() {
			c.undelivered = append(c.undelivered, ev)
		}
	case <-c.stop:
	case <-c.t.ctx.Done():
	}
	return false
}

// readOnce reads the next bytes of the stream and decodes them. Unmirrored,
// the read, its count and the decoding happen under rxMu (the lock is
// taken inside the poller's callback, so the reader never holds it while
// it waits). Mirrored, see readMirrored.
func (c *conn) readOnce(rc syscall.RawConn, buf []byte) ([]msdpmsg.Message, error, error) {
	if c.inMirror.Load() {
		return c.readMirrored(rc, buf)
	}
	var n int
	var rerr error
	locked := false
	err := rc.Read(func(fd uintptr) bool {
		c.rxMu.Lock()
		switch {
		case c.stopped():
			rerr = errStopped
		case c.inMirror.Load():
			// Export started mirroring while we waited: these bytes
			// must be mirrored before they are consumed.
			rerr = errRetry
		default:
			n, rerr = unix.Read(int(fd), buf)
			if errors.Is(rerr, unix.EAGAIN) {
				c.rxMu.Unlock()
				return false
			}
		}
		locked = true
		return true
	})
	if !locked {
		return nil, nil, err
	}
	defer c.rxMu.Unlock()
	if rerr != nil {
		return nil, nil, rerr
	}
	if n == 0 {
		return nil, nil, io.EOF
	}
	return c.consumedLocked(buf[:n])
}

// readMirrored peeks at the socket (MSG_PEEK, waiting in the poller),
// gives the bytes to Mirror.In, and only then consumes exactly those
// bytes (MSG_TRUNC: discarded, not copied again) and decodes them, all
// under rxMu. A master killed at any point has consumed nothing the
// backup was not given.
func (c *conn) readMirrored(rc syscall.RawConn, buf []byte) ([]msdpmsg.Message, error, error) {
	var n int
	var perr error
	err := rc.Read(func(fd uintptr) bool {
		if c.stopped() {
			perr = errStopped
			return true
		}
		n, _, perr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return !errors.Is(perr, unix.EAGAIN)
	})
	if err != nil {
		return nil, nil, err
	}
	if perr != nil {
		return nil, nil, perr
	}
	if n == 0 {
		return nil, nil, io.EOF
	}
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	if c.stopped() {
		return nil, nil, errStopped
	}
	off := c.inBytes.Load()
	if err := c.t.opt.Mirror.In(c.id, c.peer, off, buf[:n]); err != nil {
		c.inMirror.Store(false)
		c.mirrorFailed("in", err)
	} else {
		c.inSeq.Add(1)
	}
	if h := c.t.hooks.Load(); h != nil && h.afterIn != nil {
		h.afterIn(c.id, off, n)
	}
	if c.stopped() {
		return nil, nil, errStopped
	}
	if err := consume(rc, buf[:n]); err != nil {
		return nil, nil, err
	}
	return c.consumedLocked(buf[:n])
}

// consume discards len(b) bytes known to be at the head of the receive
// queue (MSG_TRUNC: TCP drops them without copying).
func consume(rc syscall.RawConn, b []byte) error {
	var cerr error
	err := rc.Control(func(fd uintptr) {
		for len(b) > 0 {
			k, _, e := unix.Recvfrom(int(fd), b, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
			if e != nil {
				cerr = fmt.Errorf("consume %d peeked bytes: %w", len(b), e)
				return
			}
			if k <= 0 {
				cerr = fmt.Errorf("consume %d peeked bytes: %w", len(b), io.ErrUnexpectedEOF)
				return
			}
			b = b[k:]
		}
	})
	if err != nil {
		return err
	}
	return cerr
}

// consumedLocked counts and decodes bytes read out of the socket; rxMu
// held.
func (c *conn) consumedLocked(b []byte) ([]msdpmsg.Message, error, error) {
	c.inBytes.Add(uint64(len(b)))
	if c.t.opt.Tap != nil {
		c.t.opt.Tap(c.peer, c.id, b)
	}
	msgs, derr := c.dec.Decode(b, nil)
	c.inDecoded.Store(c.inBytes.Load() - uint64(c.dec.Buffered()))
	return msgs, derr, nil
}

// close ends the connection once; with notify the engine gets ConnDown.
func (c *conn) close(reason string, notify, remote bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
		if c.replicated.Load() && c.shadow.Load() == nil && !c.quiesced.Load() && !c.t.killed.Load() && !c.t.closing.Load() {
			// The backup holds a duplicate of the socket: closing ours
			// alone would not end the session for the peer.
			_ = withFD(c.nc, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RDWR) })
		}
		c.nc.Close()
		c.t.forget(c)
		if notify {
			c.t.post(msdp.ConnDown{Peer: c.peer, Conn: c.id, Remote: remote, Reason: reason}, nil)
		}
	})
}
