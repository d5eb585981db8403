package kernel

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// discardSink counts ops and drops them.
type discardSink struct{ ops int }

func (s *discardSink) Download(ops []hal.Op) { s.ops += len(ops) }

func benchKernel(b *testing.B) (*Kernel, *discardSink) {
	b.Helper()
	s := &discardSink{}
	k := New(Config{Sink: s})
	if _, err := k.SetInterfaces(seedInterfaces()); err != nil {
		b.Fatal(err)
	}
	return k, s
}

// benchAddr spreads i over 232.0.0.0/8 groups and 10.0.0.0/8 sources.
func benchSG(i int) (netip.Addr, netip.Addr) {
	g := netip.AddrFrom4([4]byte{232, byte(i >> 16), byte(i >> 8), byte(i)})
	s := netip.AddrFrom4([4]byte{10, byte(i >> 24), 1, 1 + byte(i%200)})
	return s, g
}

var benchOILs = [][]string{{"ae91.0"}, {"ae101.0"}, {"ae91.0", "ae101.0"}, {"xe-5/0/0.0", "ae91.0"}}

func benchJoins(from, n int) []Join {
	js := make([]Join, n)
	for i := range js {
		s, g := benchSG(from + i)
		js[i] = Join{Source: s, Group: g, Upstream: "ae90.0", Downstream: benchOILs[(from+i)%len(benchOILs)], Protocol: "PIM"}
	}
	return js
}

// BenchmarkJoinBatch measures join-to-ops: new (S,G) joins in batches of
// 1000, each installing OIL lookup, composite, indirect and route, with one
// download per batch. One op = one (S,G).
func BenchmarkJoinBatch(b *testing.B) {
	const batch = 1000
	const perKernel = 500_000 // stay clear of the small id pool (~1M)
	k, _ := benchKernel(b)
	joins := benchJoins(0, perKernel)
	done := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		if done+n > perKernel {
			b.StopTimer()
			k, _ = benchKernel(b)
			done = 0
			b.StartTimer()
		}
		if err := k.JoinBatch(joins[done : done+n]); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
}

// BenchmarkResolve measures resolve requests for new flows: half have join
// state (forwarding chain installed), half not (mdiscard). It reports
// resolves/s and the 99th percentile latency of one Resolve call.
func BenchmarkResolve(b *testing.B) {
	const perKernel = 400_000
	setup := func() *Kernel {
		k, _ := benchKernel(b)
		// Join state whose entries have expired: the resolve re-installs.
		js := benchJoins(0, perKernel)
		for i := range js {
			if i%2 == 1 {
				js[i].Group = netip.AddrFrom4([4]byte{233, 0, 0, 1}) // distinct, unused below
				js[i].Source = netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
			}
		}
		if err := k.JoinBatch(js); err != nil {
			b.Fatal(err)
		}
		k.ClearCache()
		return k
	}
	b.StopTimer()
	k := setup()
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	done := 0
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		if done == perKernel {
			b.StopTimer()
			k = setup()
			done = 0
			b.StartTimer()
		}
		s, g := benchSG(done)
		t0 := time.Now()
		res := k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, Source: s, Group: g})
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
		if res.Action != ResolveForwarding && res.Action != ResolveDiscard {
			b.Fatalf("resolve %d: %v %v", done, res.Action, res.Err)
		}
		done++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolves/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkMemoryPerRoute installs 1,000,000 (S,G) forwarding routes and
// reports the live heap they cost (join state, cache entry, NH chain, maps,
// id bitmaps) per route. Run with -benchtime=1x.
func BenchmarkMemoryPerRoute(b *testing.B) {
	const routes = 1_000_000
	const batch = 10_000
	for range b.N {
		b.StopTimer()
		joins := benchJoins(0, routes)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		k, _ := benchKernel(b)
		for i := 0; i < routes; i += batch {
			if err := k.JoinBatch(joins[i : i+batch]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s := k.Summary(); s.ForwardingRoutes != routes {
			b.Fatalf("%d routes installed", s.ForwardingRoutes)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/routes, "B/route")
		runtime.KeepAlive(k)
		runtime.KeepAlive(joins)
	}
}
