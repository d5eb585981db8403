package afpacket

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// txDataOff is where frame data starts in a TPACKET_V2 TX slot:
// TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) = 52 - 20 (af_packet.c,
// tpacket_parse_header without PACKET_TX_HAS_OFF).
const txDataOff = 32

// Offsets into struct tpacket2_hdr { u32 tp_status; u32 tp_len; ... }.
const (
	t2StatusOff = 0
	t2LenOff    = 4
)

// txRingConfig sizes a transmit ring.
type txRingConfig struct {
	FrameSize int // bytes per slot incl. the 32-byte header; power of two
	FrameNr   int
}

// txRing is a PACKET_TX_RING (TPACKET_V2) on a send-only AF_PACKET socket
// with PACKET_QDISC_BYPASS.
//
// Producers copy a frame into the next slot, mark it TP_STATUS_SEND_REQUEST,
// and one sendto(MSG_DONTWAIT) per batch makes the kernel build skbs that
// point at the slot pages (no second copy) and hand them straight to the
// driver. A slot returns to TP_STATUS_AVAILABLE when its skb is freed, i.e.
// when the receiver of the veth (or the NIC) is done with it, so the ring
// must hold everything in flight: on veth that is up to netdev_max_backlog
// (1000) packets queued on the peer's CPU.
//
// Several goroutines transmit on one port (every RX worker whose OIL
// contains it, and Transmit from the RE), so the ring is guarded by mu; it
// is taken once per batch, not per packet.
type txRing struct {
	mu        sync.Mutex
	fd        int
	mem       []byte
	frameSize int
	frameNr   int
	head      int  // next slot to fill (the kernel consumes in the same order)
	pending   bool // frames may still be SEND_REQUEST after the last flush
}

// openTXRing opens a send-only socket (protocol 0: it never receives) bound
// to ifindex, with a TX ring.
func openTXRing(ifindex int, cfg txRingConfig) (t *txRing, err error) {
	fd, err := openPacketSocket()
	if err != nil {
		return nil, err
	}
	t = &txRing{fd: fd, frameSize: cfg.FrameSize, frameNr: cfg.FrameNr}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return t, fmt.Errorf("PACKET_VERSION v2: %w", err)
	}
	// Hand frames to the device directly; veth has no queue anyway and a
	// NIC's own TX ring is the queue we want.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return t, fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	// Without PACKET_LOSS a malformed slot stops the ring for good
	// (TP_STATUS_WRONG_FORMAT); with it the kernel skips the slot.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return t, fmt.Errorf("PACKET_LOSS: %w", err)
	}
	// Every in-flight slot is charged to the socket's send buffer; the
	// default (212992) would stall at about 150 full-size frames.
	sndbuf := cfg.FrameNr * (cfg.FrameSize + 1024)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
	}
	blockSize := 1 << 16
	if cfg.FrameSize > blockSize {
		blockSize = cfg.FrameSize
	}
	perBlock := blockSize / cfg.FrameSize
	blockNr := (cfg.FrameNr + perBlock - 1) / perBlock
	t.frameNr = blockNr * perBlock
	req := unix.TpacketReq{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blockNr),
		Frame_size: uint32(cfg.FrameSize),
		Frame_nr:   uint32(t.frameNr),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return t, fmt.Errorf("PACKET_TX_RING (%d frames of %d bytes): %w", t.frameNr, cfg.FrameSize, err)
	}
	t.mem, err = unix.Mmap(fd, 0, blockSize*blockNr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return t, fmt.Errorf("mmap tx ring: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return t, fmt.Errorf("bind ifindex %d: %w", ifindex, err)
	}
	return t, nil
}

// maxFrame is the largest frame a slot holds.
func (t *txRing) maxFrame() int { return t.frameSize - txDataOff }

func (t *txRing) slot(i int) []byte {
	o := i * t.frameSize
	return t.mem[o : o+t.frameSize : o+t.frameSize]
}

func slotStatus(s []byte) *uint32 { return (*uint32)(unsafe.Pointer(&s[t2StatusOff])) }

// txResult counts what one send did.
type txResult struct {
	Sent     int    // frames queued to the kernel
	Bytes    uint64 // their bytes
	RingFull int    // frames dropped: no free TX slot or send buffer space
	TooBig   int    // frames dropped: larger than a slot / the MTU
	Refused  int    // frames dropped: the device refused them (ENOBUFS) for txRetryBudget
}

// sendLocked copies frames into free slots, then flushes. If srcMAC is not
// nil it is written over bytes 6..11 of each copy (the Ethernet source),
// which costs nothing extra since the frame is being copied anyway. t.mu
// must be held.
func (t *txRing) sendLocked(frames [][]byte, srcMAC []byte) (res txResult, err error) {
	if t.mem == nil {
		return res, errClosedRing
	}
	maxLen := t.maxFrame()
	for i, f := range frames {
		if len(f) > maxLen {
			res.TooBig++
			continue
		}
		s := t.slot(t.head)
		st := slotStatus(s)
		v := atomic.LoadUint32(st)
		if v != unix.TP_STATUS_AVAILABLE && v&unix.TP_STATUS_WRONG_FORMAT == 0 {
			res.RingFull += len(frames) - i
			break
		}
		n := copy(s[txDataOff:], f)
		if srcMAC != nil && n >= 12 {
			copy(s[txDataOff+6:txDataOff+12], srcMAC)
		}
		*(*uint32)(unsafe.Pointer(&s[t2LenOff])) = uint32(n)
		atomic.StoreUint32(st, unix.TP_STATUS_SEND_REQUEST)
		t.head++
		if t.head == t.frameNr {
			t.head = 0
		}
		res.Sent++
		res.Bytes += uint64(n)
	}
	if res.Sent > 0 || t.pending {
		err = t.flushLocked()
	}
	return res, err
}

// flushLocked asks the kernel to send every SEND_REQUEST slot. With
// MSG_DONTWAIT the kernel stops early when the send buffer is full and
// leaves the rest marked; pending then stays set and the driver's
// housekeeping goroutine flushes again.
//
// A frame the device refuses (ENOBUFS) stays marked in the ring and the
// kernel stops there; it is sent again until txRetryBudget is spent.
func (t *txRing) flushLocked() error {
	var e unix.Errno
	var deadline time.Time
	for {
		_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if e != unix.ENOBUFS {
			break
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(txRetryBudget)
		} else if time.Now().After(deadline) {
			break
		}
	}
	last := t.head - 1
	if last < 0 {
		last = t.frameNr - 1
	}
	t.pending = atomic.LoadUint32(slotStatus(t.slot(last))) == unix.TP_STATUS_SEND_REQUEST
	switch e {
	case 0, unix.EAGAIN, unix.ENOBUFS, unix.EINTR:
		return nil
	}
	return fmt.Errorf("sendto tx ring: %w", e)
}

// send is sendLocked under the ring lock.
func (t *txRing) send(frames [][]byte, srcMAC []byte) (txResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sendLocked(frames, srcMAC)
}

// flushPending retries a flush left incomplete by a full send buffer.
func (t *txRing) flushPending() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending && t.mem != nil {
		_ = t.flushLocked()
	}
}

var errClosedRing = errors.New("tx ring closed")

// close unmaps the ring and closes the socket. Slots still in flight keep
// their pages alive in the kernel until their skbs are freed.
func (t *txRing) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mem != nil {
		_ = unix.Munmap(t.mem)
		t.mem = nil
	}
	if t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
}
