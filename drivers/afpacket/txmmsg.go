package afpacket

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// transmitter sends batches of frames out of one port. Both
// implementations are safe for concurrent use (one lock per batch).
type transmitter interface {
	// send queues frames to the kernel; srcMAC, if not nil, replaces the
	// Ethernet source of every frame on the way (the frames themselves
	// are not modified).
	send(frames [][]byte, srcMAC []byte) (txResult, error)
	// flushPending retries work a full send buffer left behind.
	flushPending()
	close()
}

// mmsgBatch is how many messages one sendmmsg carries: the largest batch
// the core hands over at once for one egress in practice (a 256-frame
// chunk); bigger batches take several calls.
const mmsgBatch = 256

// txMmsg transmits with sendmmsg(2) on a send-only AF_PACKET socket with
// PACKET_QDISC_BYPASS: one system call per batch, each message built
// straight from the caller's buffer (the core's rewritten copy), so user
// space copies nothing and the kernel copies each frame once into its skb.
//
// This is the default on veth: there a PACKET_TX_RING skb, whose data
// pages belong to the ring, is copied again anyway when veth hands it to
// the peer (skb_copy_ubufs in __dev_forward_skb2 allocates a page per
// frame and copies; measured on kernel 6.18), so the ring's zero-copy
// promise does not hold and sendmmsg does strictly less work. On a NIC the
// ring is zero-copy; choose it with option tx-mode=ring.
type txMmsg struct {
	mu       sync.Mutex
	fd       int
	maxFrame int
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec // 3 per message: dst MAC, src MAC, rest
	lens     []uint64     // frame length per message
}

func openTXMmsg(ifindex, maxFrame int) (t *txMmsg, err error) {
	fd, err := openPacketSocket()
	if err != nil {
		return nil, err
	}
	t = &txMmsg{fd: fd, maxFrame: maxFrame, hdrs: make([]unix.Mmsghdr, mmsgBatch), iovs: make([]unix.Iovec, 3*mmsgBatch), lens: make([]uint64, mmsgBatch)}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return t, fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	// Every skb in flight is charged to the send buffer; on veth up to
	// netdev_max_backlog (1000) wait on the peer's CPU. 4 MiB covers 1000
	// full-size frames with their skb overhead (about 2.3 KiB each).
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}); err != nil {
		return t, fmt.Errorf("bind ifindex %d: %w", ifindex, err)
	}
	return t, nil
}

func (t *txMmsg) send(frames [][]byte, srcMAC []byte) (res txResult, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return res, errClosedRing
	}
	for len(frames) > 0 {
		k, used := 0, 0
		for used < len(frames) && k < len(t.hdrs) {
			f := frames[used]
			used++
			if len(f) > t.maxFrame || len(f) == 0 {
				res.TooBig++
				continue
			}
			iov := t.iovs[3*k : 3*k+3]
			n := 1
			if srcMAC != nil && len(f) > 12 {
				iov[0] = unix.Iovec{Base: &f[0], Len: 6}
				iov[1] = unix.Iovec{Base: &srcMAC[0], Len: 6}
				iov[2] = unix.Iovec{Base: &f[12], Len: uint64(len(f) - 12)}
				n = 3
			} else {
				iov[0] = unix.Iovec{Base: &f[0], Len: uint64(len(f))}
			}
			h := &t.hdrs[k].Hdr
			h.Iov = &iov[0]
			h.Iovlen = uint64(n)
			t.lens[k] = uint64(len(f))
			k++
		}
		frames = frames[used:]
		if k == 0 {
			continue
		}
		sent, bytes, refused, e := t.sendmmsg(k)
		res.Sent += sent
		res.Bytes += bytes
		res.Refused += refused
		if sent+refused < k {
			// The socket buffer is full (EAGAIN) or the device refused:
			// the rest of this batch is dropped, like a full TX ring.
			res.RingFull += k - sent - refused + len(frames)
			frames = nil
			if e != 0 && e != unix.EAGAIN && e != unix.ENOBUFS && e != unix.EINTR {
				err = fmt.Errorf("sendmmsg: %w", e)
			}
		}
	}
	return res, err
}

// txRetryBudget bounds how long one batch waits for a device that refuses
// frames (ENOBUFS: on veth the peer CPU's backlog already holds
// netdev_max_backlog packets; on a NIC its TX queue is full) before the
// refused frame is dropped. The peer drains its backlog at several hundred
// thousand packets per second, i.e. a few microseconds per slot, so 50 us
// turns a burst into a paced send instead of a loss; a device that stays
// full costs at most 50 us per batch before frames are dropped.
const txRetryBudget = 50 * time.Microsecond

// sendmmsg sends the k prepared messages and returns how many went out.
// A message the device refused is sent again until txRetryBudget is spent,
// then dropped (counted by the caller). EAGAIN (send buffer full) stops the
// batch.
func (t *txMmsg) sendmmsg(k int) (sent int, bytes uint64, refused int, stop unix.Errno) {
	var deadline time.Time
	i := 0
	for i < k {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd), uintptr(unsafe.Pointer(&t.hdrs[i])), uintptr(k-i), unix.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			for _, l := range t.lens[i : i+int(r)] {
				bytes += l
			}
			sent += int(r)
			i += int(r)
			if i == k {
				break
			}
			// Partial: message i failed; sendmmsg parked its error in
			// sk_err, which would fail the next message. Collect it.
			e = t.sockError()
			if e == 0 {
				continue
			}
		}
		switch e {
		case unix.ENOBUFS:
			if deadline.IsZero() {
				deadline = time.Now().Add(txRetryBudget)
			} else if time.Now().After(deadline) {
				refused++
				i++
			}
		case unix.EINTR:
		default:
			return sent, bytes, refused, e
		}
	}
	return sent, bytes, refused, 0
}

func (t *txMmsg) sockError() unix.Errno {
	v, err := unix.GetsockoptInt(t.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || v == 0 {
		return 0
	}
	return unix.Errno(v)
}

func (t *txMmsg) flushPending() {}

func (t *txMmsg) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
	clear(t.iovs)
}
