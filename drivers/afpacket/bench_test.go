package afpacket

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// benchRig is a driver with one input port and n output ports over veths,
// and a TX ring of our own on the sender side to feed it.
type benchRig struct {
	d    *Driver
	gen  *txRing
	outs []hal.IFLIndex
}

func newBenchRig(b *testing.B, n int) *benchRig { return newBenchRigT(b, n) }

func newBenchRigT(b testing.TB, n int) *benchRig {
	bn := newBench(b)
	rtr, snd, rcv := bn.ns("r"), bn.ns("s"), bn.ns("c")
	bn.link(rtr, "in0", snd, "snd0")
	var l links
	ports := map[string]string{"xe-3/0/0": "in0"}
	names := map[hal.IFLIndex]string{iflIn: "xe-3/0/0.0"}
	var outs []hal.IFLIndex
	for i := 0; i < n; i++ {
		l.add(rtr, fmt.Sprintf("out%d", i), rcv, fmt.Sprintf("rcv%d", i))
		phys := fmt.Sprintf("xe-4/0/%d", i)
		ports[phys] = fmt.Sprintf("out%d", i)
		idx := hal.IFLIndex(1000 + i)
		names[idx] = phys + ".0"
		outs = append(outs, idx)
	}
	l.create(bn)
	rec := haltest.NewRecorder()
	d, err := newDriver(context.Background(), hal.Config{
		Slot: 3, Logger: testLogger(b), Upcalls: rec, Now: time.Now, Ports: ports,
		// Production ring sizes.
		Options: map[string]string{"netns": rtr},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	apply(b, d, oilOps(iflIn, outs, names)...)
	r := &benchRig{d: d, outs: outs}
	err = netns.Run(netns.Path(snd), func() error {
		var err error
		ifi, err := interfaceIndex("snd0")
		if err != nil {
			return err
		}
		r.gen, err = openTXRing(ifi, txRingConfig{FrameSize: 2048, FrameNr: 4096})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.gen.close)
	return r
}

// seen is what the input port took in or the kernel dropped for it.
func (r *benchRig) seen() uint64 {
	p := r.d.byPhys["xe-3/0/0"]
	_, drops, _ := p.rx.kernelStats()
	return p.st.rxPackets.Load() + drops
}

// pump sends n frames through the generator ring, keeping at most window
// frames ahead of the driver so that the benchmark measures forwarding,
// not ring overruns.
func (r *benchRig) pump(b *testing.B, frame []byte, n int) {
	const window, burst = 512, 64
	batch := make([][]byte, burst)
	for i := range batch {
		batch[i] = frame
	}
	start := r.seen()
	sent := 0
	for sent < n {
		for uint64(sent)-(r.seen()-start) > window {
			time.Sleep(20 * time.Microsecond)
		}
		k := min(burst, n-sent)
		res, err := r.gen.send(batch[:k], nil)
		if err != nil {
			b.Fatal(err)
		}
		sent += res.Sent
		if res.Sent < k {
			time.Sleep(20 * time.Microsecond)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.seen()-start < uint64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("driver saw %d of %d frames", r.seen()-start, n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkForwardVeth measures the whole path per input packet: kernel
// veth -> RX ring -> swpfe core -> TX rings -> kernel veths, with real
// sockets. Run with -benchmem: allocs/op is per forwarded packet and must
// be 0 in steady state. CPU figures here include the generator; the perf
// harness (perf/afpacket) measures the router CPU alone.
func BenchmarkForwardVeth(b *testing.B) {
	for _, n := range []int{1, 8} {
		for _, size := range []int{64, 1518} {
			b.Run(fmt.Sprintf("fanout=%d/size=%d", n, size), func(b *testing.B) {
				r := newBenchRig(b, n)
				frame := haltest.FrameOfLen(srcAddr, groupSG, 64, size-4)
				r.pump(b, frame, 20000) // warm up: pools, rings, page faults
				tx0 := r.txTotal()
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				b.ResetTimer()
				r.pump(b, frame, b.N)
				b.StopTimer()
				b.ReportMetric(float64(r.txTotal()-tx0)/float64(b.N), "copies/pkt")
				if testing.Verbose() {
					b.Logf("%+v", r.d.Stats())
				}
			})
		}
	}
}

func (r *benchRig) txTotal() uint64 {
	var t uint64
	for _, o := range r.outs {
		t += r.d.portOf(o).st.txPackets.Load()
	}
	return t
}

// BenchmarkInput measures the in-process half of the path (core lookup,
// rewrite, replication, TX ring copy and flush) with frames injected by
// Driver.Input in batches of 64.
func BenchmarkInput(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("fanout=%d", n), func(b *testing.B) {
			r := newBenchRig(b, n)
			frame := haltest.FrameOfLen(srcAddr, groupSG, 64, 60)
			batch := make([][]byte, 64)
			for i := range batch {
				batch[i] = frame
			}
			for range 100 {
				_ = r.d.Input(iflIn, batch)
				time.Sleep(100 * time.Microsecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(batch) {
				if err := r.d.Input(iflIn, batch[:min(len(batch), b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
