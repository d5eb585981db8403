package xdp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// BenchmarkProgram measures the data path programs' own cost per packet on
// the fast path: a 64-byte frame that hits the (S,G) route and no trap,
// without traps and with the host-path traps an RE programs
// (haltest.TrapOps: ARP and local for the router's address, PIM, IGMP,
// 224.0.0.0/24) in place: the ratio of the two is what classifying the
// traps costs the fast path. The kernel
// times the runs (BPF_PROG_RUN with a repeat count; the metric is its
// nanoseconds per run, without the system call).
//
// A test run of XDP does not perform the broadcast redirect it decides
// (only the decision is made), and one of tc does not perform the final
// bpf_redirect, but its bpf_clone_redirect copies are real: xdp/N is the
// classification, the lookups, the rewrite and the accounting; tc/N adds
// N-1 clones transmitted to the veths. The packet is rewritten in place
// run after run, so it starts with TTL 255 and a call runs it at most
// repeatPerCall times (TTL 255 lasts 254 forwarding runs).
func BenchmarkProgram(b *testing.B) {
	for _, prog := range []string{"xdp", "tc"} {
		for _, n := range []int{1, 8} {
			for _, traps := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/N=%d/traps=%v", prog, n, traps), func(b *testing.B) { benchProgram(b, prog, n, traps) })
			}
		}
	}
}

const repeatPerCall = 200

func benchProgram(b *testing.B, which string, oil int, traps bool) {
	n := porttest.NewNet(b, oil)
	mode := ModeTC
	if which == "xdp" {
		mode = ModeGeneric // the OIL devmaps exist only with an XDP port
	}
	d, err := newDriver(context.Background(), hal.Config{
		Slot: 3, Logger: testLogger(b), Upcalls: porttest.NopUpcalls{}, Now: time.Now, Ports: n.Ports,
		Options: map[string]string{"netns": n.Router, "mode": string(mode)},
	})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	b.Cleanup(func() { _ = d.Close() })
	n.Program(b, d)
	if traps {
		if k, err := d.Apply(b.Context(), haltest.TrapOps()); err != nil || k != len(haltest.TrapOps()) {
			b.Fatalf("traps: %d applied: %v", k, err)
		}
	}
	// A test run without a context sees the namespace's loopback as its
	// ingress device (ifindex 1): make it an alias of the input port.
	in := d.byPhys["xe-3/0/0"]
	pv := d.portVals[in.ifindex]
	if err := d.ob.ports.Put(uint32(1), &pv); err != nil {
		b.Fatal(err)
	}
	prog, want := d.ob.xdpFwd, uint32(4) // XDP_REDIRECT
	if which == "tc" {
		prog, want = d.ob.tcFwd, 7 // TC_ACT_REDIRECT
	}
	frame := haltest.FrameOfLen(porttest.Source, porttest.Group, 255, 64)
	var total time.Duration
	runs := 0
	b.ResetTimer()
	err = netns.Run(netns.Path(n.Router), func() error {
		for runs < b.N {
			ret, per, err := prog.Benchmark(frame, repeatPerCall, nil)
			if err != nil {
				return err
			}
			if ret != want {
				return fmt.Errorf("program returned %d, want %d: not the fast path", ret, want)
			}
			total += per * repeatPerCall
			runs += repeatPerCall
		}
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(runs), "prog-ns/pkt")
}
