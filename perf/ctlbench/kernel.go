package ctlbench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/mxfwd/mxfwd/re/kernel"
)

// dedupInterfaces are the RE interfaces of the dedup benchmark: one
// upstream, 16 downstream.
func dedupInterfaces() []kernel.Interface {
	ifs := []kernel.Interface{{Name: "xe-0/0/0.0"}}
	for i := range 16 {
		ifs = append(ifs, kernel.Interface{Name: fmt.Sprintf("xe-1/%d/%d.0", i/8, i%8)})
	}
	return ifs
}

// Dedup joins n (S,G) whose OILs are drawn from the 136 distinct sets
// of one or two of 16 interfaces, in batches of 1000 (the RE's
// join-to-download path), and checks that the kernel made exactly one
// multicast NH per distinct OIL.
func Dedup(n int) (Result, error) {
	k := kernel.New(kernel.Config{})
	ifs := dedupInterfaces()
	if _, err := k.SetInterfaces(ifs); err != nil {
		return Result{}, err
	}
	var oils [][]string
	for i := 1; i < len(ifs); i++ {
		oils = append(oils, []string{ifs[i].Name})
		for j := i + 1; j < len(ifs); j++ {
			oils = append(oils, []string{ifs[i].Name, ifs[j].Name})
		}
	}
	joins := make([]kernel.Join, n)
	for f := range joins {
		s, g := flowSG(f)
		joins[f] = kernel.Join{Source: s, Group: g, Upstream: "xe-0/0/0.0", Downstream: oils[f%len(oils)], Protocol: "PIM"}
	}
	start := time.Now()
	for i := 0; i < n; i += 1000 {
		if err := k.JoinBatch(joins[i:min(n, i+1000)]); err != nil {
			return Result{}, fmt.Errorf("join batch at %d: %w", i, err)
		}
	}
	el := time.Since(start).Seconds()
	s := k.Summary()
	want := min(n, len(oils))
	if s.MulticastNextHops != want || s.ForwardingRoutes != n {
		return Result{}, fmt.Errorf("after %d joins over %d OILs: %d multicast NHs (want %d), %d routes", n, len(oils), s.MulticastNextHops, want, s.ForwardingRoutes)
	}
	return Result{Metrics: map[string]float64{"joins_per_s": float64(n) / el, "oil_nhs": float64(s.MulticastNextHops), "dedup_ratio": float64(n) / float64(s.MulticastNextHops)}}, nil
}

// REMemoryPerRoute installs n (S,G) forwarding routes into a bare RE
// kernel (downloads dropped) and returns the live heap per route.
func REMemoryPerRoute(n int) (float64, error) {
	joins := e2eJoins(0, n)
	k := kernel.New(kernel.Config{})
	if _, err := k.SetInterfaces(e2eInterfaces()); err != nil {
		return 0, err
	}
	before := HeapInUse()
	for i := 0; i < n; i += 1000 {
		if err := k.JoinBatch(joins[i:min(n, i+1000)]); err != nil {
			return 0, err
		}
	}
	after := HeapInUse()
	if s := k.Summary(); s.ForwardingRoutes != n {
		return 0, fmt.Errorf("%d of %d routes installed", s.ForwardingRoutes, n)
	}
	runtime.KeepAlive(k)
	runtime.KeepAlive(joins)
	return float64(after-before) / float64(n), nil
}

// HeapInUse returns the live heap after two GCs.
func HeapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
