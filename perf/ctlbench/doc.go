// Package ctlbench holds the control-plane benchmarks of `perf run`: the
// IPC codec and sessions over loopback, OIL -> NH dedup and memory per
// route in the RE kernel, trio composite expansion and tree build through
// the HAL, and, with an RE (re/server) and an FPC (fpc runtime on swpfe)
// in this process over loopback TCP, the route install rate until routes
// are programmed on the PFE and the resolve rate and latency with the FPC
// throttle off. perf/README.md describes the method of every figure.
//
// Each function runs one repetition and returns its figures; the caller
// (package perf) repeats, times out and reports. Functions start and stop
// everything they use before returning; none is safe to run concurrently
// with another that listens or measures the heap.
package ctlbench

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/mxfwd/mxfwd/hal"
)

// Result is one repetition: figures by name (units in the name, e.g.
// routes_per_s, lat_p99_us), a curve, and a caveat for the report.
type Result struct {
	Metrics map[string]float64
	Series  []XY
	Note    string
}

// XY is one point of a curve.
type XY struct{ X, Y float64 }

// ID plan of the downloads built here, as re/kernel allocates them:
// composites in the small pool, indirects in the kernel pool.
const compositeNH0 hal.NHID = 30000

// flowSG returns the (S,G) of flow f: sources 10.x.y.z, groups 232.1.y.z
// (the same flows as perf's data-plane topology).
func flowSG(f int) (netip.Addr, netip.Addr) {
	s := netip.AddrFrom4([4]byte{10, byte(f >> 16), byte(f >> 8), byte(f)})
	g := netip.AddrFrom4([4]byte{232, 1, byte(f >> 8), byte(f)})
	return s, g
}

// percentile returns the q-quantile of v (sorted in place).
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(0, min(i, len(v)-1))]
}

// firstErrors keeps the first n errors of a joined error.
func firstErrors(err error, n int) error {
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) {
		return err
	}
	all := j.Unwrap()
	if len(all) <= n {
		return err
	}
	return fmt.Errorf("%w (and %d more errors)", errors.Join(all[:n]...), len(all)-n)
}
