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
}

func newConn(t *Transport, id msdp.ConnID, nc *net.TCPConn, peer, local netip.Addr, active bool, h *Handoff) *conn {
	c := &conn{t: t, id: id, nc: nc, peer: peer, local: local, active: active, dec: msdpmsg.NewDecoder(),
		notify: make(chan struct{}, 1), done: make(chan struct{}),
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
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
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

// write sends b (whole TLVs) in MSS-sized chunks of whole TLVs, each
// with MSG_EOR (see segment.go), resetting the stall deadline whenever
// the peer takes data.
func (c *conn) write(b []byte) error {
	rc, err := c.nc.SyscallConn()
	if err != nil {
		return err
	}
	c.chunks = splitTLVs(b, c.mss, c.chunks[:0])
	for _, chunk := range c.chunks {
		for len(chunk) > 0 {
			if err := c.nc.SetWriteDeadline(time.Now().Add(c.t.opt.WriteStall)); err != nil {
				return err
			}
			var n int
			var serr error
			werr := rc.Write(func(fd uintptr) bool {
				n, serr = unix.SendmsgN(int(fd), chunk, nil, nil, unix.MSG_EOR|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
				return !errors.Is(serr, unix.EAGAIN)
			})
			if werr != nil {
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					return errStall
				}
				return werr
			}
			if serr != nil {
				return serr
			}
			c.outBytes.Add(uint64(n))
			chunk = chunk[n:]
		}
	}
	return nil
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
			if c.detaching.Load() {
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
	buf := make([]byte, readBufferSize)
	var lastAlive time.Time
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.inBytes.Add(uint64(n))
			if c.t.opt.Tap != nil {
				c.t.opt.Tap(c.peer, c.id, buf[:n])
			}
			msgs, derr := c.dec.Decode(buf[:n], nil)
			c.inDecoded.Store(c.inBytes.Load() - uint64(c.dec.Buffered()))
			if len(msgs) > 0 || derr != nil {
				now := time.Now()
				if len(msgs) > 0 && now.Sub(lastAlive) >= aliveInterval {
					lastAlive = now
					select {
					case c.t.urgent <- msdp.Alive{Peer: c.peer, Conn: c.id, At: now}:
					default:
						c.t.aliveDropped.Add(1)
					}
				}
				ev := msdp.Received{Peer: c.peer, Conn: c.id, At: now, Msgs: msgs, Err: derr}
				select {
				case c.t.events <- ev:
				case <-c.done:
					if c.detaching.Load() {
						c.undelivered = append(c.undelivered, ev)
					}
					return
				case <-c.t.ctx.Done():
					return
				}
			}
			if derr != nil {
				// The stream cannot be resynchronised: stop reading and
				// let the engine close the session (RFC 3618 §13).
				return
			}
		}
		if err != nil {
			if c.detaching.Load() {
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

// close ends the connection once; with notify the engine gets ConnDown.
func (c *conn) close(reason string, notify, remote bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
		c.nc.Close()
		c.t.forget(c)
		if notify {
			c.t.post(msdp.ConnDown{Peer: c.peer, Conn: c.id, Remote: remote, Reason: reason}, nil)
		}
	})
}
