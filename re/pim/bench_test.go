package pim

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// scaleWorld is one router with an upstream interface (neighbour U, the RPF
// neighbour of every source) and nIf downstream interfaces with one
// neighbour each: 100 neighbours for 100 interfaces.
type scaleWorld struct {
	e    *Engine
	now  time.Time
	msgs []RecvJoinPrune
	n    int
}

const scaleSourcesPerGroup = 100

func scaleSG(i int) (src, grp netip.Addr) {
	g, s := i/scaleSourcesPerGroup, i%scaleSourcesPerGroup
	return netip.AddrFrom4([4]byte{10, 200, byte(s >> 8), byte(s)}), netip.AddrFrom4([4]byte{232, byte(g >> 16), byte(g >> 8), byte(g)})
}

func newScaleWorld(tb testing.TB, nSG, nIf int) *scaleWorld {
	rib := RPFLookupFunc(func(x netip.Addr) RPF {
		if x.As4()[1] == 200 {
			return RPF{Iface: 1, NextHop: a("10.0.1.2"), Preference: 10, Metric: 1}
		}
		return RPF{}
	})
	cfg := Config{}
	for i := 1; i <= nIf+1; i++ {
		cfg.Interfaces = append(cfg.Interfaces, InterfaceConfig{Index: IfIndex(i), Name: fmt.Sprintf("ge-0/0/%d.0", i)})
	}
	e, err := New(cfg, Options{Seed: [2]uint64{3, 4}, RPF: rib}, t0)
	if err != nil {
		tb.Fatal(err)
	}
	w := &scaleWorld{e: e, now: t0, n: nSG}
	for i := 1; i <= nIf+1; i++ {
		e.Handle(w.now, InterfaceUp{If: IfIndex(i), Addr: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})})
		e.Handle(w.now, RecvHello{If: IfIndex(i), Src: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 2}), Msg: Hello{Holdtime: 0xffff, HasGenID: true}})
	}
	w.now = w.now.Add(10 * time.Second)
	e.Advance(w.now)
	// One Join/Prune message per (group, downstream interface): the
	// sources of a group are spread over the downstream interfaces, one
	// downstream interface per (S,G).
	for gi := 0; gi*scaleSourcesPerGroup < nSG; gi++ {
		per := map[int][]JPSource{}
		for k := 0; k < scaleSourcesPerGroup && gi*scaleSourcesPerGroup+k < nSG; k++ {
			src, _ := scaleSG(gi*scaleSourcesPerGroup + k)
			ifn := 2 + (gi*scaleSourcesPerGroup+k)%nIf
			per[ifn] = append(per[ifn], JPSource{Addr: src})
		}
		_, grp := scaleSG(gi * scaleSourcesPerGroup)
		for ifn := 2; ifn <= nIf+1; ifn++ {
			if len(per[ifn]) == 0 {
				continue
			}
			w.msgs = append(w.msgs, RecvJoinPrune{If: IfIndex(ifn), Src: netip.AddrFrom4([4]byte{10, byte(ifn >> 8), byte(ifn), 2}),
				Msg: JoinPrune{UpstreamNeighbor: netip.AddrFrom4([4]byte{10, byte(ifn >> 8), byte(ifn), 1}), Holdtime: 210,
					Groups: []JPGroup{{Group: grp, Joins: per[ifn]}}}})
		}
	}
	return w
}

func (w *scaleWorld) joinAll() {
	for _, m := range w.msgs {
		w.e.Handle(w.now, m)
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScale100k builds 100,000 (S,G) entries with one downstream
// interface each, joined by 100 neighbours, and reports the PIM state per
// (S,G) and the Join/Prune processing rate of the pure logic: creating the
// entries (first Joins) and refreshing them (the periodic Joins of the
// steady state). Run with -benchtime=1x.
func BenchmarkScale100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newScaleWorld(b, 100_000, 100)
		before := heapInUse()
		b.StartTimer()
		start := time.Now()
		w.joinAll()
		create := time.Since(start)
		b.StopTimer()
		after := heapInUse()
		if len(w.e.sgs) != w.n {
			b.Fatalf("%d entries", len(w.e.sgs))
		}
		w.now = w.now.Add(30 * time.Second)
		start = time.Now()
		w.joinAll()
		refresh := time.Since(start)
		b.ReportMetric(float64(after-before)/float64(w.n), "B/SG")
		b.ReportMetric(float64(w.n)/create.Seconds(), "create-entries/s")
		b.ReportMetric(float64(w.n)/refresh.Seconds(), "refresh-entries/s")
		runtime.KeepAlive(w)
	}
}

// TestMemoryPerSG checks the ≤ 1 KiB per (S,G) budget (issue #14) on
// 20,000 entries with one downstream interface each.
func TestMemoryPerSG(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 20,000 entries")
	}
	w := newScaleWorld(t, 20_000, 100)
	before := heapInUse()
	w.joinAll()
	after := heapInUse()
	per := float64(after-before) / float64(w.n)
	t.Logf("%.0f bytes of PIM state per (S,G)", per)
	if per > 1024 {
		t.Fatalf("%.0f bytes per (S,G), budget 1024", per)
	}
	runtime.KeepAlive(w)
}
