package swpfe

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

const (
	benchIngress  hal.IFLIndex = 1
	benchEgress0  hal.IFLIndex = 100 // egress i is benchEgress0+i
	benchComp     hal.NHID     = 5000
	benchIndirect hal.NHID     = hal.IndirectBase + 1
)

var (
	benchSource = netip.MustParseAddr("10.128.1.10")
	benchGroup  = netip.MustParseAddr("232.0.7.1")
)

// countingEgress is a sink that counts frames and bytes without copying.
type countingEgress struct {
	frames, bytes uint64
}

func (c *countingEgress) Output(_ hal.IFLIndex, frames [][]byte) {
	c.frames += uint64(len(frames))
	for _, f := range frames {
		c.bytes += uint64(len(f))
	}
}

type nopUp struct{}

func (nopUp) OnResolve(hal.ResolveRequest)            {}
func (nopUp) OnWrongInterface(hal.WrongInterface)     {}
func (nopUp) OnPunt(hal.IFLIndex, hal.TrapID, []byte) {}
func (nopUp) OnLinkState(hal.LinkState)               {}

// benchTopology programs one ingress, fanout physical egress IFLs, a
// composite over their unicast NHs, an indirect and the (S,G) route.
func benchTopology(fanout int) []hal.Op {
	ops := []hal.Op{
		{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: benchIngress, Name: "xe-0/0/0.0", Kind: hal.IFLPhysical, Up: true, MAC: haltest.IFLMAC(benchIngress)}},
		{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}},
		{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.GroupPrefix(haltest.Prefix224), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}},
	}
	members := make([]hal.NHID, 0, fanout)
	for i := range fanout {
		idx := benchEgress0 + hal.IFLIndex(i)
		nh := hal.NHID(2000 + i)
		ops = append(ops,
			hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: fmt.Sprintf("xe-1/0/%d.0", i), Kind: hal.IFLPhysical, Up: true, MAC: haltest.IFLMAC(idx)}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: nh, Type: hal.NHUnicast, IFL: idx}},
		)
		members = append(members, nh)
	}
	return append(ops,
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: benchComp, Type: hal.NHComposite, Members: members}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: benchIndirect, Type: hal.NHIndirect, Target: benchComp}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(benchSource, benchGroup), NH: benchIndirect, RPF: benchIngress, Flags: hal.RouteFlagsSG}},
	)
}

func benchSetup(tb testing.TB, fanout, frameLen, batch int) (*Driver, [][]byte) {
	tb.Helper()
	d, err := NewDriver(hal.Config{Upcalls: nopUp{}, Egress: &countingEgress{}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.Apply(tb.Context(), benchTopology(fanout)); err != nil {
		tb.Fatal(err)
	}
	f := haltest.FrameOfLen(benchSource, benchGroup, 64, frameLen)
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = f
	}
	return d, frames
}

// BenchmarkForward measures the packet path on one core: one op is one
// Input call with a batch of 32 64-byte frames of one flow.
func BenchmarkForward(b *testing.B) {
	const batch, frameLen = 32, 64
	for _, fanout := range []int{1, 2, 4, 8, 16, 64} {
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			d, frames := benchSetup(b, fanout, frameLen, batch)
			defer d.Close()
			// Warm up: the first call allocates the scratch buffers.
			if err := d.Input(benchIngress, frames); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(batch * frameLen))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := d.Input(benchIngress, frames); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			pkts := float64(b.N) * batch
			b.ReportMetric(pkts/sec/1e6, "Mpps")
			b.ReportMetric(pkts*float64(fanout)/sec/1e6, "Mcopies/s")
		})
	}
}

// BenchmarkForwardTraps is BenchmarkForward with the host-path traps an
// RE programs (ARP and local for an address, PIM, IGMP, 224.0.0.0/24):
// data packets are classified by hal.TrapTable before the lookup.
func BenchmarkForwardTraps(b *testing.B) {
	const batch, frameLen = 32, 64
	for _, fanout := range []int{1, 16} {
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			d, frames := benchSetup(b, fanout, frameLen, batch)
			defer d.Close()
			if _, err := d.Apply(b.Context(), haltest.TrapOps()); err != nil {
				b.Fatal(err)
			}
			if err := d.Input(benchIngress, frames); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := d.Input(benchIngress, frames); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds()/1e6, "Mpps")
		})
	}
}

// BenchmarkForwardFlows is BenchmarkForward at fan-out 1 with every frame
// of a batch from a different flow out of 64k installed routes, so that
// each frame does a real hash lookup with cache misses.
func BenchmarkForwardFlows(b *testing.B) {
	const batch, flows = 32, 1 << 16
	d, _ := benchSetup(b, 1, 64, batch)
	defer d.Close()
	ops := make([]hal.Op, 0, flows)
	all := make([][]byte, flows)
	for i := range flows {
		s := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, benchGroup), NH: benchIndirect, RPF: benchIngress}})
		all[i] = haltest.FrameOfLen(s, benchGroup, 64, 64)
	}
	if _, err := d.Apply(b.Context(), ops); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := d.Input(benchIngress, all[i:i+batch]); err != nil {
			b.Fatal(err)
		}
		if i += 7 * batch; i+batch > flows {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds()/1e6, "Mpps")
}

// BenchmarkForwardLAG measures the LAG member choice: every frame of a
// 32-frame batch is a different flow, forwarded to a composite of one
// unicast port and aggregates of 2, 3 and 4 Up members (10 ports), so each
// frame hashes its (S,G) and picks a member of every aggregate.
func BenchmarkForwardLAG(b *testing.B) {
	const batch, frameLen = 32, 64
	d, _ := benchSetup(b, 1, frameLen, batch)
	defer d.Close()
	const aeBase = benchEgress0 + 10
	ops := []hal.Op{}
	members := []hal.NHID{2000} // benchSetup's unicast on benchEgress0
	port := benchEgress0 + 1
	for a, n := range []int{2, 3, 4} {
		ae := aeBase + hal.IFLIndex(a)
		var ms []hal.IFLIndex
		var nhs []hal.NHID
		for range n {
			nh := hal.NHID(2100 + int(port))
			ops = append(ops,
				hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: port, Kind: hal.IFLPhysical, Up: true, MAC: haltest.IFLMAC(port)}},
				hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: nh, Type: hal.NHUnicast, IFL: port}})
			ms, nhs = append(ms, port), append(nhs, nh)
			port++
		}
		aeNH := hal.NHID(3000 + a)
		ops = append(ops,
			hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ae, Kind: hal.IFLAggregate, Up: true, Members: ms}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: aeNH, Type: hal.NHAggregate, IFL: ae, Members: nhs}})
		members = append(members, aeNH)
	}
	ops = append(ops, hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: benchComp, Type: hal.NHComposite, Members: members}})
	frames := make([][]byte, batch)
	for i := range frames {
		s := netip.AddrFrom4([4]byte{10, 3, 0, byte(i + 1)})
		ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, benchGroup), NH: benchIndirect, RPF: benchIngress}})
		frames[i] = haltest.FrameOfLen(s, benchGroup, 64, frameLen)
	}
	if _, err := d.Apply(b.Context(), ops); err != nil {
		b.Fatal(err)
	}
	if err := d.Input(benchIngress, frames); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(batch * frameLen))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := d.Input(benchIngress, frames); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds()/1e6, "Mpps")
}

// sgOps returns n (S,G) route set operations to benchIndirect, starting at
// flow number from.
func sgOps(from, n int) []hal.Op {
	ops := make([]hal.Op, n)
	for i := range n {
		k := from + i
		s := netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
		g := netip.AddrFrom4([4]byte{232, byte(k >> 20), 0, 1})
		ops[i] = hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, g), NH: benchIndirect, RPF: benchIngress, Flags: hal.RouteFlagsSG}}
	}
	return ops
}

// BenchmarkApply measures route programming in batches of 1000 (the order
// of an RE download message train) into a table that grows to b.N*1000.
func BenchmarkApply(b *testing.B) {
	const per = 1000
	d, _ := benchSetup(b, 4, 64, 1)
	defer d.Close()
	// Build the ops outside the timed loop, a few batches at a time.
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		ops := sgOps(n, per)
		b.StartTimer()
		if _, err := d.Apply(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
		n += per
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "routes/s")
}

// BenchmarkInstall1M installs 1,000,000 (S,G) routes in batches of 10,000
// and reports the install rate and the heap bytes per route.
func BenchmarkInstall1M(b *testing.B) {
	const total, per = 1_000_000, 10_000
	for b.Loop() {
		b.StopTimer()
		d, _ := benchSetup(b, 4, 64, 1)
		before := heapInUse() // before the ops, which are freed before after
		batches := make([][]hal.Op, 0, total/per)
		for i := 0; i < total; i += per {
			batches = append(batches, sgOps(i, per))
		}
		b.StartTimer()
		start := time.Now()
		for _, ops := range batches {
			if _, err := d.Apply(b.Context(), ops); err != nil {
				b.Fatal(err)
			}
		}
		el := time.Since(start)
		b.StopTimer()
		batches = nil
		after := heapInUse()
		b.ReportMetric(float64(total)/el.Seconds(), "routes/s")
		b.ReportMetric(float64(after-before)/total, "B/route")
		if s := d.Summary(); s.Routes != total+2 {
			b.Fatalf("routes %d", s.Routes)
		}
		runtime.KeepAlive(d)
		d.Close()
		b.StartTimer()
	}
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
