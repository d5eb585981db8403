package rib

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Benchmarks at the scale of a full table: 1M distinct prefixes with an
// Internet-like length mix (60% /24, 10% /22-/23, 10% /16-/21, 10%
// /25-/30, 10% /32), imported as kernel routes over two ECMP next hops.
// The bare trie is the baseline of the same run:
//
//	go test ./re/rib -run XXX -bench . -benchtime 3x
//
// Lookups cycle through 64Ki addresses: half the first address of a random
// route (a hit, often under shorter covering routes), half uniformly
// random in 1.0.0.0-223.255.255.255 (a longest match on a short prefix, or
// a miss).

const benchRoutes = 1 << 20

var (
	benchOnce     sync.Once
	benchPrefixes []netip.Prefix
	benchAddrs    []netip.Addr
)

func benchData() ([]netip.Prefix, []netip.Addr) {
	benchOnce.Do(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		seen := make(map[netip.Prefix]struct{}, benchRoutes)
		for len(benchPrefixes) < benchRoutes {
			var bits int
			switch n := rng.IntN(10); {
			case n < 6:
				bits = 24
			case n < 7:
				bits = 22 + rng.IntN(2)
			case n < 8:
				bits = 16 + rng.IntN(6)
			case n < 9:
				bits = 25 + rng.IntN(6)
			default:
				bits = 32
			}
			a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
			p := netip.PrefixFrom(a, bits).Masked()
			if _, dup := seen[p]; dup {
				continue
			}
			seen[p] = struct{}{}
			benchPrefixes = append(benchPrefixes, p)
		}
		for range 1 << 16 {
			// Half the addresses inside a random route, half anywhere.
			if rng.IntN(2) == 0 {
				p := benchPrefixes[rng.IntN(len(benchPrefixes))]
				benchAddrs = append(benchAddrs, p.Addr())
			} else {
				benchAddrs = append(benchAddrs, netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}))
			}
		}
	})
	return benchPrefixes, benchAddrs
}

var benchNHs = []NextHop{{Interface: "xe-3/1/0.0", Gateway: netip.MustParseAddr("10.0.0.2")}, {Interface: "xe-3/2/0.0", Gateway: netip.MustParseAddr("10.0.1.2")}}

func benchRIB(b *testing.B) *RIB {
	b.Helper()
	r := New(Options{})
	for _, x := range []struct{ ifl, addr string }{{"xe-3/1/0.0", "10.0.0.1/24"}, {"xe-3/2/0.0", "10.0.1.1/24"}} {
		if _, err := r.SetInterface(x.ifl, netip.MustParsePrefix(x.addr), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func loadRIB(b *testing.B, r *RIB, prefixes []netip.Prefix) {
	b.Helper()
	kr := KernelRoute{Protocol: RTProtOSPF, Priority: 20, NextHops: benchNHs}
	u := KernelUpdate{Routes: []KernelRoute{kr}}
	for _, p := range prefixes {
		u.Routes[0].Prefix = p
		if _, err := r.ApplyKernel(u, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	fullOnce sync.Once
	fullRIB  *RIB
	fullTrie *trie[int]
)

func full(b *testing.B) (*RIB, *trie[int]) {
	prefixes, _ := benchData()
	fullOnce.Do(func() {
		fullRIB = benchRIB(b)
		loadRIB(b, fullRIB, prefixes)
		fullTrie = &trie[int]{}
		for i, p := range prefixes {
			k, bits := key4(p)
			fullTrie.Insert(k, bits, i)
		}
	})
	return fullRIB, fullTrie
}

// BenchmarkRPF is RIB.RPF over 1M prefixes: lookups/s.
func BenchmarkRPF(b *testing.B) {
	r, _ := full(b)
	_, addrs := benchData()
	hits := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := r.RPF(addrs[i&(len(addrs)-1)]); ok {
			hits++
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(float64(hits)/float64(i), "hit-ratio")
}

// BenchmarkTrieLookup is the baseline: the bare trie's longest match over
// the same prefixes and addresses.
func BenchmarkTrieLookup(b *testing.B) {
	_, t := full(b)
	_, addrs := benchData()
	a4 := make([]uint32, len(addrs))
	for i, a := range addrs {
		a4[i] = addr4(a)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		t.Lookup(a4[i&(len(a4)-1)])
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkKernelInsert loads 1M routes into an empty RIB one update at a
// time (the Follower's live path): routes/s, and heap bytes per route.
func BenchmarkKernelInsert(b *testing.B) {
	prefixes, _ := benchData()
	benchInsert(b, prefixes, 0)
}

// BenchmarkKernelInsertWatched is BenchmarkKernelInsert with one watcher
// on 1000 addresses (PIM's RPF neighbours): the notification cost.
func BenchmarkKernelInsertWatched(b *testing.B) {
	prefixes, _ := benchData()
	benchInsert(b, prefixes, 1000)
}

func benchInsert(b *testing.B, prefixes []netip.Prefix, watched int) {
	_, addrs := benchData()
	var ms0, ms1 runtime.MemStats
	n, notes := 0, 0
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		r := benchRIB(b)
		if watched > 0 {
			w := r.NewWatcher("bench")
			for _, a := range addrs[:watched] {
				if _, _, err := r.Watch(w, a); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		kr := KernelRoute{Protocol: RTProtOSPF, Priority: 20, NextHops: benchNHs}
		u := KernelUpdate{Routes: []KernelRoute{kr}}
		for _, p := range prefixes {
			u.Routes[0].Prefix = p
			ch, err := r.ApplyKernel(u, time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			notes += len(ch)
		}
		n += len(prefixes)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		runtime.KeepAlive(r)
		b.StartTimer()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "routes/s")
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(len(prefixes)), "heap-B/route")
	if watched > 0 {
		b.ReportMetric(float64(notes)/float64(n/len(prefixes)), "notifications")
	}
}

// BenchmarkKernelResync applies a 1M-route table as one resync update to
// an empty RIB (the follower's first dump): routes/s.
func BenchmarkKernelResync(b *testing.B) {
	prefixes, _ := benchData()
	u := KernelUpdate{Resync: true, Routes: make([]KernelRoute, len(prefixes))}
	for i, p := range prefixes {
		u.Routes[i] = KernelRoute{Prefix: p, Protocol: RTProtOSPF, Priority: 20, NextHops: benchNHs}
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		r := benchRIB(b)
		b.StartTimer()
		if _, err := r.ApplyKernel(u, time.Time{}); err != nil {
			b.Fatal(err)
		}
		n += len(prefixes)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "routes/s")
}

// BenchmarkTrieInsert is the insert baseline: 1M prefixes into a bare trie.
func BenchmarkTrieInsert(b *testing.B) {
	prefixes, _ := benchData()
	keys := make([]uint64, len(prefixes))
	for i, p := range prefixes {
		k, bits := key4(p)
		keys[i] = uint64(k)<<8 | uint64(bits)
	}
	n := 0
	for b.Loop() {
		var t trie[int]
		for i, k := range keys {
			t.Insert(uint32(k>>8), uint8(k), i)
		}
		n += len(keys)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "routes/s")
}
