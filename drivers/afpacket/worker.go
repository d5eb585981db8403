package afpacket

import (
	"errors"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// aLongTimeAgo is a read deadline in the past: setting it makes a parked
// RX worker return from the netpoller at once.
var aLongTimeAgo = time.Unix(1, 0)

func closeFD(fd int) { _ = unix.Close(fd) }

// runRX is a port's RX worker: it takes every ready block of the ring as
// one batch, hands it to the forwarding core in chunks of at most
// opts.Batch frames (the core transmits on the egress ports from this
// goroutine), gives the block back and looks at the next one. When the ring
// is empty it spins for opts.BusyPoll (poll mode), then parks in the Go
// netpoller until the kernel closes the next block, so an idle port costs
// no CPU and no OS thread.
func (d *Driver) runRX(p *port, w *rxWorker) {
	defer d.wg.Done()
	if d.opts.RTPriority > 0 {
		// The thread stays locked until the goroutine exits, so that the
		// runtime discards it instead of reusing a real-time thread.
		runtime.LockOSThread()
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(d.opts.RTPriority)}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			d.log.Warn("afpacket: cannot make the RX worker real-time; it runs at normal priority", "port", p.phys, "err", err)
		}
	}
	batch := d.opts.Batch
	// A batch may overshoot by one block's frames: blocks are taken whole.
	frames := make([][]byte, 0, batch+maxFramesPerBlock(d.opts.RXBlockSize))
	for {
		// Take ready blocks until they hold a batch: with small blocks
		// (see options.go) one block holds only a few large frames, and
		// every core call costs a system call per egress port.
		held := 0
		var bst blockStats
		frames = frames[:0]
		for held < p.rx.blockNr && len(frames) < batch {
			blk := p.rx.readyAt(held)
			if blk == nil {
				break
			}
			var st blockStats
			frames, st = blockPackets(blk, frames)
			bst.truncated += st.truncated
			bst.completed += st.completed
			held++
		}
		if held == 0 {
			if d.ctx.Err() != nil {
				return
			}
			if d.opts.BusyPoll > 0 && d.spin(p) {
				continue
			}
			p.st.rxWaits.Add(1)
			if err := p.rx.wait(); err != nil {
				if d.ctx.Err() != nil {
					return
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					d.log.Error("afpacket: rx wait failed; port stops receiving", "port", p.phys, "interface", p.ifname, "err", err)
					return
				}
			}
			continue
		}
		p.noteBacklog()
		frames = keepWanted(frames)
		if bst.truncated > 0 {
			p.st.rxTruncated.Add(uint64(bst.truncated))
		}
		if bst.completed > 0 {
			p.st.rxCsumCompleted.Add(uint64(bst.completed))
		}
		ifl := p.boundIFL()
		if ifl == 0 {
			p.st.rxUnbound.Add(uint64(len(frames)))
		} else if len(frames) > 0 {
			var bytes uint64
			for _, f := range frames {
				bytes += uint64(len(f))
			}
			p.st.rxPackets.Add(uint64(len(frames)))
			p.st.rxBytes.Add(bytes)
			p.st.rxBatches.Add(1)
			for i := 0; i < len(frames); i += batch {
				// Errors: ErrClosed (Close is stopping us) or an IFL deleted
				// under us; both are transient and counted by the core.
				_ = w.w.Forward(ifl, frames[i:min(i+batch, len(frames))], w.tx)
			}
		}
		clear(frames) // drop references into the ring before giving it back
		p.rx.release(held)
	}
}

// noteBacklog raises the port's backlog high-water mark while the block
// that many positions ahead is ready too: amortised, one status load per
// block, as the mark only grows. It is how close the ring came to full
// (PortStats.RxBacklogMax).
func (p *port) noteBacklog() {
	hw := int(p.st.rxBacklogMax.Load())
	n := hw
	for n < p.rx.blockNr && p.rx.readyAt(n) != nil {
		n++
	}
	if n > hw {
		p.st.rxBacklogMax.Store(uint64(n))
	}
}

// spin polls the ring for up to opts.BusyPoll and reports whether a block
// became ready.
func (d *Driver) spin(p *port) bool {
	deadline := time.Now().Add(d.opts.BusyPoll)
	for i := 0; ; i++ {
		if p.rx.ready() {
			return true
		}
		if i&63 == 63 && (time.Now().After(deadline) || d.ctx.Err() != nil) {
			return false
		}
	}
}

// maxFramesPerBlock bounds how many frames one V3 block can hold: every
// packet takes at least a tpacket3_hdr plus the minimum Ethernet frame,
// aligned (about 144 bytes for a 60-byte frame).
func maxFramesPerBlock(blockSize int) int {
	return blockSize/(unix.SizeofTpacket3Hdr+60) + 1
}

// runHousekeeping flushes TX rings whose last flush stopped on a full send
// buffer, and wakes the RX workers when the driver's context ends.
func (d *Driver) runHousekeeping() {
	defer d.wg.Done()
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			for _, p := range d.ports {
				p.rx.wake()
			}
			return
		case <-t.C:
			for _, p := range d.ports {
				p.tx.flushPending()
			}
		}
	}
}
