package perf

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mxfwd/mxfwd/drivers/afpacket"
	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/drivers/xdp"
	"github.com/mxfwd/mxfwd/hal"
)

// DriverSpec is a driver the harness can measure. The table is explicit
// (no init-time registration); tests add fakes to their own copy.
type DriverSpec struct {
	New hal.Constructor
	// NeedsRoot: the driver opens packet sockets and the mem tier builds a
	// veth rig in a network namespace.
	NeedsRoot bool
	// RealPorts: Input transmits on Linux interfaces (Ports), so the mem
	// tier gives it veth ports and counts copies from IFL Tx counters
	// instead of an Egress sink.
	RealPorts bool
	// MaxPorts bounds the egress ports of one mem-tier point (0: no bound).
	MaxPorts int
	// KernelTier: the driver also runs in the kernel tier, next to the
	// kernel's own replicators (ipmr, nft dup, the bridge).
	KernelTier bool
	// KernelOnly: the driver forwards in the kernel on real ports, so the
	// mem tier (Input back to back) would time BPF_PROG_RUN system calls,
	// not forwarding; it runs in the kernel tier only.
	KernelOnly bool
	// Sized returns options that size the driver's tables for a topology
	// (applied before the user's options, which win) and a note saying
	// what was changed from the driver's defaults.
	Sized func(t *topoSpec) (map[string]string, string)
}

// KernelMaxFanout bounds the kernel tier: ipmr has MAXVIFS = 32 virtual
// interfaces and the input takes one.
const KernelMaxFanout = 31

// afpRigMaxPorts bounds afpacket's mem-tier rig: each port is a veth pair
// with an RX ring (256 KiB as the rig sizes it) and a TX socket, and
// setting up and tearing down a ring waits for an RCU grace period. 128
// covers the full profile's largest point (fan-out 64 x LAG 2).
const afpRigMaxPorts = 128

// DefaultDrivers returns the drivers of cmd/fpc.
func DefaultDrivers() map[string]DriverSpec {
	return map[string]DriverSpec{
		swpfe.Name: {New: swpfe.New},
		trio.Name:  {New: trio.New, Sized: trioSized},
		afpacket.Name: {New: afpacket.New, NeedsRoot: true, RealPorts: true, MaxPorts: afpRigMaxPorts, KernelTier: true,
			Sized: func(*topoSpec) (map[string]string, string) {
				// The rig's ports never receive: keep their RX rings small
				// (2 x 128 KiB instead of 256 x 16 KiB per port).
				return map[string]string{"rx-blocks": "2", "rx-block-size": "131072"}, "rx rings 2x128KiB (ports only transmit)"
			}},
		xdp.Name: {New: xdp.New, NeedsRoot: true, RealPorts: true, KernelTier: true, KernelOnly: true},
	}
}

// trioSized grows the model's finite tables when the topology needs more
// than its defaults (1M routes and NHs, 64K multicast lists, like an MPC):
// a per-flow chain takes one multicast list per sublist per flow.
func trioSized(t *topoSpec) (map[string]string, string) {
	opts := map[string]string{}
	var notes []string
	need := func(key string, want, def int) {
		if want > def {
			opts[key] = strconv.Itoa(want)
			notes = append(notes, key+"="+strconv.Itoa(want)+" (default "+strconv.Itoa(def)+")")
		}
	}
	lists := t.composites() * max(1, t.LAG)
	need(trio.OptMcastLists, lists+16, trio.DefaultMcastLists)
	need(trio.OptRoutes, t.Flows+16, trio.DefaultRoutes)
	need(trio.OptNHs, t.nhCount()+16, trio.DefaultNHs)
	need(trio.OptIFLs, t.iflCount()+16, trio.DefaultIFLs)
	if len(notes) == 0 {
		return nil, ""
	}
	return opts, "model tables enlarged: " + strings.Join(notes, ", ")
}

// driverNames lists the names of a driver table, sorted.
func driverNames(m map[string]DriverSpec) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
