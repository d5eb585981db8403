package afpacket

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into the TPACKET_V3 structures of <linux/if_packet.h>. We read the
// mapped ring through these rather than through struct casts so that every
// access to a field the kernel writes concurrently (block_status) is an
// explicit atomic operation.
const (
	// struct tpacket_block_desc { u32 version; u32 offset_to_priv;
	//   struct tpacket_hdr_v1 { u32 block_status; u32 num_pkts;
	//   u32 offset_to_first_pkt; ... } }
	blkStatusOff   = 8
	blkNumPktsOff  = 12
	blkFirstPktOff = 16

	// struct tpacket3_hdr { u32 tp_next_offset; u32 tp_sec; u32 tp_nsec;
	//   u32 tp_snaplen; u32 tp_len; u32 tp_status; u16 tp_mac; ... }
	p3NextOff    = 0
	p3SnaplenOff = 12
	p3LenOff     = 16
	p3StatusOff  = 20
	p3MacOff     = 24
)

// rxRing is a TPACKET_V3 receive ring on one AF_PACKET socket bound to one
// interface with ETH_P_ALL.
//
// The kernel fills fixed-size blocks with packets and hands a block to user
// space (block_status TP_STATUS_USER) when it is full or when the retire
// timer fires; user space gives it back by writing TP_STATUS_KERNEL. A block
// is therefore a natural batch: no per-packet status handshake and one
// wakeup per block instead of one per packet (which is why V3 and not V2 on
// the receive side).
//
// Only the goroutine that owns the ring (the port's RX worker) may call
// next/release; stats and close may be called from any goroutine.
type rxRing struct {
	fd        int
	file      *os.File        // the socket, registered with the Go netpoller
	rc        syscall.RawConn // for parking the worker until a block is ready
	mem       []byte
	blockSize int
	blockNr   int
	cur       int // next block to look at

	statsMu sync.Mutex
	drops   uint64 // accumulated tp_drops (PACKET_STATISTICS resets on read)
	freezes uint64
	packets uint64
}

// rxRingConfig sizes a receive ring.
type rxRingConfig struct {
	BlockSize int // bytes, multiple of the page size
	BlockNr   int
	// RetireTOVms is the block retire timeout: the longest a packet waits in
	// a partly filled block before user space sees it.
	RetireTOVms int
}

// errPermission marks failures to open a packet socket for lack of
// privileges, so that New can say what is missing.
var errPermission = errors.New("AF_PACKET sockets need root or CAP_NET_RAW")

// openPacketSocket creates a non-blocking AF_PACKET SOCK_RAW socket that
// receives nothing until bound (protocol 0).
func openPacketSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return -1, fmt.Errorf("socket(AF_PACKET): %w (%w)", errPermission, err)
		}
		return -1, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRXRing opens a receive socket on ifindex with a V3 ring, the given
// classic BPF filter and PACKET_IGNORE_OUTGOING (so that frames we transmit
// on the same interface are not looped back into our own ring, and the
// kernel does not clone every transmitted skb for this tap).
func openRXRing(ifindex int, cfg rxRingConfig, filter []unix.SockFilter) (r *rxRing, err error) {
	fd, err := openPacketSocket()
	if err != nil {
		return nil, err
	}
	r = &rxRing{fd: fd, blockSize: cfg.BlockSize, blockNr: cfg.BlockNr}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return r, fmt.Errorf("PACKET_VERSION v3: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return r, fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	if len(filter) > 0 {
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return r, fmt.Errorf("SO_ATTACH_FILTER: %w", err)
		}
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.BlockNr),
		Frame_size:     rxNominalFrame,
		Frame_nr:       uint32(cfg.BlockSize / rxNominalFrame * cfg.BlockNr),
		Retire_blk_tov: uint32(cfg.RetireTOVms),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return r, fmt.Errorf("PACKET_RX_RING (%d blocks of %d bytes): %w", cfg.BlockNr, cfg.BlockSize, err)
	}
	r.mem, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.BlockNr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED)
	if err != nil {
		// MAP_LOCKED can fail under RLIMIT_MEMLOCK; the ring pages are
		// kernel memory anyway, so retry without it.
		r.mem, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.BlockNr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return r, fmt.Errorf("mmap rx ring: %w", err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return r, fmt.Errorf("bind ifindex %d: %w", ifindex, err)
	}
	// Real NICs filter multicast MACs in hardware; ask for all of them.
	// The membership goes away with the socket.
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_ALLMULTI}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return r, fmt.Errorf("PACKET_ADD_MEMBERSHIP allmulti: %w", err)
	}
	r.file = os.NewFile(uintptr(fd), fmt.Sprintf("afpacket-rx-%d", ifindex))
	if r.file == nil {
		return r, fmt.Errorf("os.NewFile on fd %d failed", fd)
	}
	r.rc, err = r.file.SyscallConn()
	if err != nil {
		return r, fmt.Errorf("rx socket raw conn: %w", err)
	}
	return r, nil
}

// rxNominalFrame is the frame size declared for a V3 RX ring. V3 packs
// packets of any size into a block (up to the block size), so the value
// only has to pass the kernel's consistency checks: at least the 68-byte
// header, aligned, dividing the block.
const rxNominalFrame = 2048

func (r *rxRing) blockAt(i int) []byte {
	return r.mem[i*r.blockSize : (i+1)*r.blockSize : (i+1)*r.blockSize]
}

func (r *rxRing) statusPtr(blk []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(&blk[blkStatusOff]))
}

// ready reports whether the next block belongs to user space.
func (r *rxRing) ready() bool {
	return atomic.LoadUint32(r.statusPtr(r.blockAt(r.cur)))&unix.TP_STATUS_USER != 0
}

// readyAt returns the block k positions after the next one to process if
// user space owns it, else nil. The caller walks it with blockPackets and
// hands it back with release.
func (r *rxRing) readyAt(k int) []byte {
	i := r.cur + k
	if i >= r.blockNr {
		i -= r.blockNr
	}
	blk := r.blockAt(i)
	if atomic.LoadUint32(r.statusPtr(blk))&unix.TP_STATUS_USER == 0 {
		return nil
	}
	return blk
}

// release gives the next n blocks back to the kernel, in ring order, and
// advances past them.
func (r *rxRing) release(n int) {
	for ; n > 0; n-- {
		atomic.StoreUint32(r.statusPtr(r.blockAt(r.cur)), unix.TP_STATUS_KERNEL)
		r.cur++
		if r.cur == r.blockNr {
			r.cur = 0
		}
	}
}

// blockStats counts what blockPackets did besides collecting frames.
type blockStats struct {
	// truncated frames were skipped (snaplen < len; cannot happen with our
	// ring sizing unless the interface MTU grows after the ring was made).
	truncated int
	// completed frames arrived TP_STATUS_CSUMNOTREADY and got their UDP/TCP
	// checksum finished in place (checksum.go).
	completed int
}

// blockPackets appends the frames of a user-owned block to frames (which
// should have capacity for a whole block) and returns it. Frames the kernel
// marked TP_STATUS_CSUMNOTREADY get their transport checksum completed in
// place (see checksum.go). The frames alias the ring and are valid until
// release.
func blockPackets(blk []byte, frames [][]byte) ([][]byte, blockStats) {
	n := int(le32(blk, blkNumPktsOff))
	off := int(le32(blk, blkFirstPktOff))
	var st blockStats
	for i := 0; i < n; i++ {
		if off <= 0 || off+unix.SizeofTpacket3Hdr > len(blk) {
			break
		}
		snap := int(le32(blk, off+p3SnaplenOff))
		plen := int(le32(blk, off+p3LenOff))
		mac := int(le16(blk, off+p3MacOff))
		start := off + mac
		if start+snap <= len(blk) {
			if snap < plen {
				st.truncated++
			} else {
				f := blk[start : start+snap : start+snap]
				if le32(blk, off+p3StatusOff)&unix.TP_STATUS_CSUMNOTREADY != 0 && completeChecksum(f) {
					st.completed++
				}
				frames = append(frames, f)
			}
		}
		nxt := int(le32(blk, off+p3NextOff))
		if nxt == 0 {
			break
		}
		off += nxt
	}
	return frames, st
}

func le32(b []byte, off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }
func le16(b []byte, off int) uint16 { return *(*uint16)(unsafe.Pointer(&b[off])) }

// wait parks the calling goroutine in the Go netpoller until a block is
// ready or the socket's read deadline passes / it is closed. The kernel
// signals readiness when it closes a block (full, or retire timeout).
func (r *rxRing) wait() error {
	var ok bool
	err := r.rc.Read(func(uintptr) bool {
		ok = r.ready()
		return ok
	})
	return err
}

// wake makes a parked wait return (used by Close).
func (r *rxRing) wake() {
	if r.file != nil {
		_ = r.file.SetReadDeadline(aLongTimeAgo)
	}
}

// kernelStats reads PACKET_STATISTICS (which the kernel resets on every
// read) and returns the accumulated totals: packets the kernel passed to
// the ring, packets dropped because the ring was full, and queue freezes.
func (r *rxRing) kernelStats() (packets, drops, freezes uint64) {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	if r.fd >= 0 {
		if st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			r.packets += uint64(st.Packets)
			r.drops += uint64(st.Drops)
			r.freezes += uint64(st.Freeze_q_cnt)
		}
	}
	return r.packets, r.drops, r.freezes
}

// close unmaps the ring and closes the socket. The worker must have exited.
func (r *rxRing) close() {
	r.kernelStats()
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.file != nil {
		_ = r.file.Close()
		r.file = nil
	} else if r.fd >= 0 {
		_ = unix.Close(r.fd)
	}
	r.fd = -1
}
