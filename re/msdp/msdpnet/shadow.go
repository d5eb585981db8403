package msdpnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// The backup's side of socket replication (issue #17, seed 000 §2.3):
// a shadow connection holds a duplicate of the master's socket and never
// reads or writes it; the master's mirror records feed it, and it decodes
// the inbound ones into the same events a reader would produce, so the
// standby engine builds its own peers and SA cache from the network's
// messages (SAs are not replicated). Takeover makes it an ordinary
// connection.

// Errors of the backup side.
var (
	// ErrNotShadow: a feed for a connection that is not (or no longer) a
	// shadow, for instance after Takeover.
	ErrNotShadow = errors.New("not a shadow connection")
	// ErrOutOfSync: a mirror record skipped bytes; the shadow decodes
	// nothing more until the master exports the connection again.
	ErrOutOfSync = errors.New("shadow out of sync with the master")
	// ErrTakeover is wrapped when Takeover cannot continue a session
	// exactly and resets it instead.
	ErrTakeover = errors.New("non-stop routing takeover failed")
)

// Bounds of a shadow's memory. tailMax keeps the last fed inbound bytes:
// the master peeks at most readBufferSize at a time and mirrors them
// before consuming, so at most that many fed bytes are unconsumed when it
// dies, and Takeover checks them against the socket before discarding
// them. maxOutRecord bounds one Out record: a batch of at most maxBatch
// octets grows when SAs longer than the MSS are re-encoded as several
// (5 octets per extra header), far less than doubling.
const (
	tailMax      = readBufferSize
	maxOutRecord = 2 * maxBatch
)

// tcpEstablished is TCP_ESTABLISHED (include/net/tcp_states.h), the
// tcpi_state of an established connection.
const tcpEstablished = 1

// shadow is a shadow connection's replica state. in is guarded by the
// connection's rxMu, out by its txMu.
type shadow struct {
	base       Position // the last export: relates kernel counters to offsets
	in         inFeed
	out        outFeed
	suppressed atomic.Uint64
}

// takeoverInfo is what Takeover did, for Sockets.
type takeoverInfo struct {
	discarded, completed, suppressed uint64
}

// inFeed decodes fed inbound bytes exactly once by stream offset.
type inFeed struct {
	next uint64 // stream offset of the next byte to decode
	dec  *msdpmsg.Decoder
	tail []byte // the last fed bytes, ending at next
	gap  bool   // a record skipped bytes: nothing more is decoded
	dup  uint64 // bytes fed again and ignored
}

// feed decodes the part of b (stream offset off) not seen yet, appending
// the TLVs to out. Bytes before next are duplicates (a record re-sent
// after a reconnect) and skipped; a record starting after next leaves a
// gap that cannot be decoded across: the feed stops (ErrOutOfSync).
func (f *inFeed) feed(off uint64, b []byte, out []msdpmsg.Message) ([]msdpmsg.Message, error, error) {
	if f.gap {
		return out, nil, ErrOutOfSync
	}
	end := off + uint64(len(b))
	if end <= f.next {
		f.dup += uint64(len(b))
		return out, nil, nil
	}
	if off > f.next {
		f.gap = true
		return out, nil, fmt.Errorf("%w: record at offset %d, expected %d", ErrOutOfSync, off, f.next)
	}
	skip := f.next - off
	f.dup += skip
	b = b[skip:]
	out, derr := f.dec.Decode(b, out)
	f.next = end
	f.keep(b)
	return out, derr, nil
}

// keep appends b to the tail, which holds at most tailMax bytes.
func (f *inFeed) keep(b []byte) {
	if len(b) >= tailMax {
		f.tail = append(f.tail[:0], b[len(b)-tailMax:]...)
		return
	}
	if over := len(f.tail) + len(b) - tailMax; over > 0 {
		n := copy(f.tail, f.tail[over:])
		f.tail = f.tail[:n]
	}
	f.tail = append(f.tail, b...)
}

// outFeed is the master's last mirrored outbound batch.
type outFeed struct {
	off uint64 // stream offset of rec[0]
	rec []byte // whole TLVs, the master's next bytes from off on
}

func (o *outFeed) end() uint64 { return o.off + uint64(len(o.rec)) }

// feed records a batch; a batch older than the one held is ignored.
func (o *outFeed) feed(off uint64, b []byte) error {
	if len(b) > maxOutRecord {
		return fmt.Errorf("out record of %d octets (max %d)", len(b), maxOutRecord)
	}
	if off < o.off {
		return nil
	}
	o.off = off
	o.rec = append(o.rec[:0], b...)
	return nil
}

// completion returns the bytes that complete the TLV the master was
// writing when its written offset stopped at w: nil at a TLV boundary.
func (o *outFeed) completion(w uint64) ([]byte, error) {
	if w < o.off || w > o.end() {
		return nil, fmt.Errorf("the master wrote up to offset %d, outside the last batch it mirrored [%d, %d)", w, o.off, o.end())
	}
	k := int(w - o.off)
	for p := 0; p < k; {
		if p+msdpmsg.HeaderLen > len(o.rec) {
			return nil, fmt.Errorf("mirrored batch at offset %d: truncated TLV header at %d", o.off, p)
		}
		n := int(binary.BigEndian.Uint16(o.rec[p+1:]))
		if n < msdpmsg.HeaderLen || p+n > len(o.rec) {
			return nil, fmt.Errorf("mirrored batch at offset %d: TLV length %d at %d", o.off, n, p)
		}
		if p+n > k {
			return o.rec[k : p+n], nil
		}
		p += n
	}
	return nil, nil
}

// Shadow registers a replicated socket (a duplicate of the master's,
// passed with SCM_RIGHTS, and the Position Export gave with it) without
// reading or writing it, and tells the engine ConnUp with Adopted set:
// a standby engine establishes the peer. It takes ownership of f. If a
// shadow of the same socket (same SO_COOKIE) exists, this is a re-export:
// the shadow keeps its id and goes on from where it is, or restarts at
// the new position if it had lost sync; the engine hears nothing. Like a
// socket reader, Shadow waits for room in Events: call it (and FeedIn,
// FeedOut, Unshadow) from the mirror channel's goroutine, never from the
// goroutine that drains Events.
func (t *Transport) Shadow(f *os.File, pos Position) (msdp.ConnID, error) {
	defer f.Close()
	dec, err := msdpmsg.Resume(pos.InPending)
	if err != nil {
		return 0, fmt.Errorf("shadow %v: %w", pos.Peer, err)
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return 0, fmt.Errorf("shadow %v: %w", pos.Peer, err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return 0, fmt.Errorf("shadow %v: descriptor is not a TCP socket", pos.Peer)
	}
	var cookie uint64
	if err := withFD(tc, func(fd int) error { cookie, err = socketCookie(fd); return err }); err != nil {
		tc.Close()
		return 0, fmt.Errorf("shadow %v: %w", pos.Peer, err)
	}
	if pos.Cookie != 0 && pos.Cookie != cookie {
		tc.Close()
		return 0, fmt.Errorf("shadow %v: socket cookie %d, position is of socket %d", pos.Peer, cookie, pos.Cookie)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		tc.Close()
		return 0, ErrClosed
	}
	for _, c := range t.conns {
		if sh := c.shadow.Load(); sh != nil && c.cookie == cookie {
			t.mu.Unlock()
			tc.Close() // the shadow holds the socket already
			c.resync(sh, pos, dec)
			return c.id, nil
		}
	}
	t.nextID++
	c := newConn(t, t.nextID, tc, pos.Peer, pos.Local, pos.Active, nil)
	c.cookie = cookie
	sh := &shadow{base: pos, in: inFeed{next: pos.In, dec: dec}}
	sh.out.off = pos.OutRecordOffset
	sh.out.rec = append(sh.out.rec, pos.OutRecord...)
	c.shadow.Store(sh)
	c.inBytes.Store(pos.In)
	c.inDecoded.Store(pos.In - uint64(dec.Buffered()))
	c.outBytes.Store(pos.Out)
	t.conns[c.id] = c
	c.feedMu.Lock()
	t.mu.Unlock()
	defer c.feedMu.Unlock()
	if !t.post(msdp.ConnUp{Peer: c.peer, Local: c.local, Conn: c.id, Active: c.active, Adopted: true}, nil) {
		c.closeShadow()
		return 0, ErrClosed
	}
	t.log.Info("msdp session shadowed for non-stop routing", "peer", c.peer, "conn", c.id, "master-conn", pos.Conn,
		"in", pos.In, "out", pos.Out, "cookie", cookie)
	return c.id, nil
}

// resync takes a new export of the socket a shadow holds.
func (c *conn) resync(sh *shadow, pos Position, dec *msdpmsg.Decoder) {
	c.rxMu.Lock()
	if sh.in.gap || pos.In > sh.in.next {
		sh.in = inFeed{next: pos.In, dec: dec, dup: sh.in.dup}
		c.inBytes.Store(pos.In)
	}
	sh.base = pos
	c.rxMu.Unlock()
	c.txMu.Lock()
	if pos.OutRecordOffset >= sh.out.off {
		_ = sh.out.feed(pos.OutRecordOffset, pos.OutRecord)
	}
	c.txMu.Unlock()
	c.t.log.Info("msdp shadow re-exported", "peer", c.peer, "conn", c.id, "in", pos.In, "out", pos.Out)
}

// FeedIn decodes a mirrored inbound record (stream offset off) of shadow
// id and delivers its TLVs exactly as a reader would (Received on Events,
// Alive on Urgent), waiting for room in Events. Bytes already fed are
// skipped by offset; a record that skips bytes stops the shadow
// (ErrOutOfSync) until the master exports the connection again. b is not
// kept.
func (t *Transport) FeedIn(id msdp.ConnID, off uint64, b []byte) error {
	c, err := t.shadowConn(id)
	if err != nil {
		return err
	}
	c.feedMu.Lock()
	defer c.feedMu.Unlock()
	c.rxMu.Lock()
	sh := c.shadow.Load()
	if sh == nil {
		c.rxMu.Unlock()
		return fmt.Errorf("feed conn %d: %w", id, ErrNotShadow)
	}
	wasGap := sh.in.gap
	msgs, derr, ferr := sh.in.feed(off, b, nil)
	if ferr == nil {
		c.inSeq.Add(1)
		c.inBytes.Store(sh.in.next)
		c.inDecoded.Store(sh.in.next - uint64(sh.in.dec.Buffered()))
	} else if !wasGap {
		c.mirrorErrs.Add(1)
		c.t.log.Warn("msdp shadow lost sync with the master: waiting for a new export", "peer", c.peer, "conn", c.id, "err", ferr)
	}
	c.rxMu.Unlock()
	if ferr != nil {
		return fmt.Errorf("feed conn %d of %v: %w", id, c.peer, ferr)
	}
	c.deliver(msgs, derr, &c.feedAlive)
	return nil
}

// FeedOut records a mirrored outbound batch (stream offset off) of shadow
// id: only the last one is kept, for Takeover to complete a TLV the
// master half-wrote.
func (t *Transport) FeedOut(id msdp.ConnID, off uint64, b []byte) error {
	c, err := t.shadowConn(id)
	if err != nil {
		return err
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	sh := c.shadow.Load()
	if sh == nil {
		return fmt.Errorf("feed conn %d: %w", id, ErrNotShadow)
	}
	if err := sh.out.feed(off, b); err != nil {
		c.mirrorErrs.Add(1)
		return fmt.Errorf("feed conn %d of %v: %w", id, c.peer, err)
	}
	c.outSeq.Add(1)
	return nil
}

func (t *Transport) shadowConn(id msdp.ConnID) (*conn, error) {
	t.mu.Lock()
	c := t.conns[id]
	t.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("conn %d: %w", id, ErrNoConn)
	}
	return c, nil
}

// Unshadow removes shadow id because the master closed the session
// (forward the master's ConnDown): the descriptor is closed (the master
// has shut the socket down already) and the engine gets ConnDown with
// reason, after every TLV fed before. Waits for room in Events.
func (t *Transport) Unshadow(id msdp.ConnID, reason string) error {
	c, err := t.shadowConn(id)
	if err != nil {
		return err
	}
	c.feedMu.Lock()
	defer c.feedMu.Unlock()
	if c.shadow.Load() == nil {
		return fmt.Errorf("unshadow conn %d: %w", id, ErrNotShadow)
	}
	c.closeShadow()
	t.post(msdp.ConnDown{Peer: c.peer, Conn: c.id, Reason: "closed on the master: " + reason}, nil)
	return nil
}

// closeShadow forgets a shadow and closes its descriptor, never shutting
// the socket down (the master may still use it).
func (c *conn) closeShadow() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
		c.nc.Close()
		c.t.forget(c)
	})
}

// Takeover makes shadow id an ordinary connection of this Transport:
// non-stop routing's switchover, after the master died (or Quiesce
// stopped it) and every mirror record it sent was fed. From the socket's
// kernel counters, relative to the export's, it finds how far the master
// consumed and wrote each stream; it discards from the socket the inbound
// bytes that were fed (and delivered) but not consumed, after checking
// them against the fed bytes; it writes first the rest of a TLV the
// master half-wrote, from the last mirrored batch; then it starts the
// reader and writer, the reader after every fed TLV has been delivered.
// If the stream cannot be continued exactly (the master consumed or
// wrote bytes the backup never saw, the socket is no longer established)
// it resets the session (shutdown, ConnDown to the engine) and returns an
// error wrapping ErrTakeover that says why. Takeover of a connection that
// is not a shadow (already taken over) does nothing. It does not wait for
// the owner goroutine.
func (t *Transport) Takeover(id msdp.ConnID) error {
	c, err := t.shadowConn(id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	c.rxMu.Lock()
	c.txMu.Lock()
	sh := c.shadow.Load()
	if sh == nil {
		c.txMu.Unlock()
		c.rxMu.Unlock()
		return nil
	}
	info, comp, reason := c.takeoverLocked(sh)
	if reason != "" {
		c.shadow.Store(nil)
		c.txMu.Unlock()
		c.rxMu.Unlock()
		c.t.log.Error("msdp non-stop routing takeover failed: resetting the session", "peer", c.peer, "conn", c.id, "reason", reason)
		c.resetAfterTakeover(reason)
		return fmt.Errorf("%w: peer %v: %s", ErrTakeover, c.peer, reason)
	}
	info.suppressed = sh.suppressed.Load()
	c.takeover.Store(&info)
	c.inBytes.Store(sh.in.next)
	c.inDecoded.Store(sh.in.next - uint64(sh.in.dec.Buffered()))
	c.dec = sh.in.dec
	if len(comp) > 0 {
		c.mu.Lock()
		c.q = append([]outItem{{data: comp}}, c.q...)
		c.qBytes += len(comp)
		c.mu.Unlock()
	}
	c.replicated.Store(false)
	c.shadow.Store(nil)
	c.txMu.Unlock()
	c.rxMu.Unlock()
	c.t.log.Info("msdp session taken over", "peer", c.peer, "conn", c.id, "in", c.inBytes.Load(), "out", c.outBytes.Load(),
		"discarded", info.discarded, "completed", info.completed)
	c.run()
	return nil
}

// takeoverLocked works out the takeover; rxMu and txMu held. A non-empty
// reason means the session cannot continue.
func (c *conn) takeoverLocked(sh *shadow) (info takeoverInfo, comp []byte, reason string) {
	var k kernel
	err := withFD(c.nc, func(fd int) error {
		var err error
		k, err = kernelCounters(fd)
		return err
	})
	if err != nil {
		return info, nil, fmt.Sprintf("cannot read the socket's counters: %v", err)
	}
	if k.state != tcpEstablished {
		return info, nil, fmt.Sprintf("the socket is no longer established (TCP state %d): the session ended on the master or the peer", k.state)
	}
	// Inbound: the master consumed up to m; the engine has every TLV up
	// to fed.
	m := sh.base.In + (k.in - sh.base.KernelIn)
	fed := sh.in.next
	if m > fed {
		return info, nil, fmt.Sprintf("the master consumed %d inbound bytes the backup was never given (consumed to offset %d, fed to %d)", m-fed, m, fed)
	}
	if d := fed - m; d > 0 {
		if d > uint64(k.inq) || d > uint64(len(sh.in.tail)) {
			return info, nil, fmt.Sprintf("%d inbound bytes were fed but not consumed, the socket holds %d and the backup kept %d", d, k.inq, len(sh.in.tail))
		}
		want := sh.in.tail[len(sh.in.tail)-int(d):]
		got := make([]byte, d)
		if err := c.peekExact(got); err != nil {
			return info, nil, fmt.Sprintf("peek the %d inbound bytes fed but not consumed: %v", d, err)
		}
		if !bytes.Equal(got, want) {
			return info, nil, fmt.Sprintf("the %d inbound bytes in the socket differ from the ones fed at offset %d", d, m)
		}
		rc, err := c.nc.SyscallConn()
		if err == nil {
			err = consume(rc, got)
		}
		if err != nil {
			return info, nil, fmt.Sprintf("discard the %d inbound bytes fed but not consumed: %v", d, err)
		}
		info.discarded = d
	}
	// Outbound: the master wrote up to w.
	w := sh.base.Out + (k.out - sh.base.KernelOut)
	comp, err = sh.out.completion(w)
	if err != nil {
		return info, nil, err.Error()
	}
	info.completed = uint64(len(comp))
	c.outBytes.Store(w)
	return info, append([]byte(nil), comp...), ""
}

// peekExact reads len(b) bytes at the head of the receive queue without
// consuming them; they are known to be there.
func (c *conn) peekExact(b []byte) error {
	return withFD(c.nc, func(fd int) error {
		n, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err != nil {
			return err
		}
		if n != len(b) {
			return fmt.Errorf("peeked %d of %d bytes", n, len(b))
		}
		return nil
	})
}

// resetAfterTakeover ends a session a takeover could not continue: the
// socket is shut down (the peer sees the end whoever else holds it) and
// the engine gets ConnDown after every TLV fed before.
func (c *conn) resetAfterTakeover(reason string) {
	_ = withFD(c.nc, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RDWR) })
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
		c.nc.Close()
		c.t.forget(c)
	})
	c.t.wg.Add(1)
	go func() {
		defer c.t.wg.Done()
		c.feedMu.Lock()
		defer c.feedMu.Unlock()
		c.t.post(msdp.ConnDown{Peer: c.peer, Conn: c.id, Reason: "non-stop routing takeover: " + reason}, nil)
	}()
}

// suppress counts a Send of the standby engine to a shadow (never
// written) and answers WantDrained as if it had been.
func (c *conn) suppress(sh *shadow, wantDrained bool) {
	sh.suppressed.Add(1)
	if wantDrained {
		c.urgent(msdp.Drained{Peer: c.peer, Conn: c.id})
	}
}
