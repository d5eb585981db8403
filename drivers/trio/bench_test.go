package trio

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// bigComposite programs the benchmark composite: 48 unicast ports, one on
// each of PFEs 0..47, plus an aggregate of 8 members on PFEs 0..7, so that
// the composite has 8 sublists whose trees span all 48 PFEs. It returns the
// kernel nh-list.
func bigComposite(b testing.TB, d *Driver) []hal.NHID {
	var ops []hal.Op
	var members, lag []hal.NHID
	var lagIFLs []hal.IFLIndex
	for p := range 48 {
		idx := hal.IFLIndex(1000 + p)
		ops = append(ops, setIFL(phys(idx, "xe-p", hal.PFEID(p))), setNH(hal.NextHop{ID: hal.NHID(2000 + p), Type: hal.NHUnicast, IFL: idx}))
		members = append(members, hal.NHID(2000+p))
	}
	for k := range 8 {
		idx := hal.IFLIndex(1100 + k)
		ops = append(ops, setIFL(phys(idx, "xe-m", hal.PFEID(k))), setNH(hal.NextHop{ID: hal.NHID(2100 + k), Type: hal.NHUnicast, IFL: idx}))
		lag, lagIFLs = append(lag, hal.NHID(2100+k)), append(lagIFLs, idx)
	}
	ops = append(ops,
		setIFL(hal.IFL{Index: 1200, Name: "ae0.0", Kind: hal.IFLAggregate, Members: lagIFLs, Up: true}),
		setNH(hal.NextHop{ID: 2200, Type: hal.NHAggregate, IFL: 1200, Members: lag}))
	mustApply(b, d, ops...)
	return append(members, 2200)
}

// BenchmarkTreeBuild expands the 48-PFE, 8-sublist composite and lays out
// both trees of every sublist (what `show nhdb id` and a tree-shape study
// do). Target: < 50 µs.
func BenchmarkTreeBuild(b *testing.B) {
	d := newTestDriver(b, haltest.NewRecorder(), nil)
	members := bigComposite(b, d)
	set := d.set.Load()
	b.ReportAllocs()
	for b.Loop() {
		d.mu.Lock()
		c := d.compileLocked(1173, members, nil)
		d.mu.Unlock()
		if len(c.sublists) != 8 || len(c.sublists[0].pfes) != 48 {
			b.Fatalf("composite: %d sublists, %d PFEs", len(c.sublists), len(c.sublists[0].pfes))
		}
		for j := range c.sublists {
			for _, rev := range []bool{false, true} {
				_ = buildTree(ModeBinary, c.id, c.sublists[j].pfes, -1, 0, false, rev, set)
			}
		}
	}
}

// BenchmarkProgramComposites measures Apply of composite NHs (the 48-PFE,
// 8-sublist one, replaced under 1024 ids in batches of 64). Target: >=
// 10,000 composites/s.
func BenchmarkProgramComposites(b *testing.B) {
	d := newTestDriver(b, haltest.NewRecorder(), map[string]string{OptMcastLists: "1000000"})
	members := bigComposite(b, d)
	const batch = 64
	ops := make([]hal.Op, batch)
	ctx := context.Background()
	id := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range ops {
			ops[i] = setNH(hal.NextHop{ID: hal.NHID(5000 + id%1024), Type: hal.NHComposite, Members: members})
			id++
		}
		if _, err := d.Apply(ctx, ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "composites/s")
}

// BenchmarkInputFanout16 sends 64-byte frames through a composite of 16
// ports on 8 PFEs (binary tree: the ingress PFE and 7 fabric hops) in
// batches of 32. Target: >= 2 Mpps per core, 0 allocs/op.
func BenchmarkInputFanout16(b *testing.B) {
	for _, c := range []struct {
		name  string
		flows int
	}{{"1flow", 1}, {"8flows", 8}} {
		b.Run(c.name, func(b *testing.B) {
			d := newTestDriver(b, haltest.NewRecorder(), nil)
			sink := &countingEgress{}
			d.egress = sink
			in, frames := fanoutSetup(b, d, c.flows)
			const batch = 32
			var bs [][]byte
			for i := range batch {
				bs = append(bs, frames[i%len(frames)])
			}
			if c.flows > 1 {
				// Interleave flows so that every frame starts a new run.
				for i := range bs {
					bs[i] = frames[i%c.flows]
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(batch * len(bs[0])))
			for b.Loop() {
				_ = d.Input(in, bs)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds()/1e6, "Mpps")
			if sink.frames.Load() != uint64(b.N*batch*16) {
				b.Fatalf("copies: %d, want %d", sink.frames.Load(), b.N*batch*16)
			}
		})
	}
}

var sinkHash uint32

func BenchmarkFlowHash(b *testing.B) {
	s, g := netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr("232.0.7.1")
	for b.Loop() {
		sinkHash += FlowHash(s, g)
	}
}
