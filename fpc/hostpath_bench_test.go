package fpc

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/ipc"
)

// Host-path benchmarks: a card on swpfe connected to the fake RE over
// loopback TCP. Punt: driver Input of a PIM hello until the RE's session
// handler has the Punt. Inject: the RE's SendControl of an Inject until
// the driver's egress has the frame. One packet at a time (closed loop),
// so packets/s is 1/latency; the percentiles are of the per-packet
// latency. The policers are opened for the benchmark (the default PIM rate
// is 4000/s).

// tapEgress passes frames to the runtime's egress and signals those to one
// IFL.
type tapEgress struct {
	next hal.Egress
	ifl  hal.IFLIndex
	got  chan struct{}
}

func (e *tapEgress) Output(ifl hal.IFLIndex, frames [][]byte) {
	if ifl == e.ifl {
		select {
		case e.got <- struct{}{}:
		default:
		}
	}
	e.next.Output(ifl, frames)
}

type benchCard struct {
	rt   *Runtime
	drv  hal.Driver
	re   *fakeRE
	sess *ipc.Session
	tap  *tapEgress
	stop func()
}

func newBenchCard(b *testing.B) *benchCard {
	re := newFakeRE(b)
	lim := DefaultHostPathLimits()
	for c := range lim.Class {
		lim.Class[c] = PuntRate{Rate: 1e9, Burst: 1e9}
	}
	lim.Card = PuntRate{Rate: 1e9, Burst: 1e9}
	c := &benchCard{re: re, tap: &tapEgress{ifl: haltest.IFLDown, got: make(chan struct{}, 1)}}
	rt, err := New(context.Background(), Config{
		Slot: 3, RE: re.ln.Addr().String(), DriverName: swpfe.Name, HostPath: &lim,
		NewDriver: func(ctx context.Context, cfg hal.Config) (hal.Driver, error) {
			c.tap.next = cfg.Egress
			cfg.Egress = c.tap
			d, err := swpfe.New(ctx, cfg)
			c.drv = d
			return d, err
		},
		StatsInterval: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	c.rt = rt
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	c.stop = func() { cancel(); <-done }
	<-re.reg
	c.sess = <-re.conns
	re.send(c.sess, append(haltest.TopologyOps(), haltest.TrapOps()...), 1)
	for deadline := time.Now().Add(10 * time.Second); len(rt.HostPath().Traps) < 5; {
		if time.Now().After(deadline) {
			b.Fatal("traps not applied")
		}
		time.Sleep(time.Millisecond)
	}
	return c
}

// latencies reports percentiles of samples as benchmark metrics.
func latencies(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds()), "max-µs")
}

func BenchmarkPuntToRE(b *testing.B) {
	c := newBenchCard(b)
	defer c.stop()
	got := make(chan struct{}, 1)
	hook := func(m ipc.Message) bool {
		if _, ok := m.(*ipc.Punt); ok {
			got <- struct{}{}
			return true
		}
		return false
	}
	c.re.hook.Store(&hook)
	frames := [][]byte{pimHello(0)}
	samples := make([]time.Duration, 0, 1<<16)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := c.drv.Input(haltest.IFLOther, frames); err != nil {
			b.Fatal(err)
		}
		<-got
		samples = append(samples, time.Since(t0))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	latencies(b, samples)
}

func BenchmarkInjectToWire(b *testing.B) {
	c := newBenchCard(b)
	defer c.stop()
	m := &ipc.Inject{Egress: haltest.IFLDown, Frame: haltest.Frame(haltest.RouterAddr, netip.MustParseAddr("224.0.0.13"), 1, 40, nil)}
	ctx := context.Background()
	samples := make([]time.Duration, 0, 1<<16)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := c.sess.SendControl(ctx, m); err != nil {
			b.Fatal(err)
		}
		<-c.tap.got
		samples = append(samples, time.Since(t0))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	latencies(b, samples)
}

// BenchmarkPuntDuringDownload measures the latency of PIM hellos punted
// every 200 µs while the RE downloads 100k routes to the card (one op is
// one download of 100k new (S,G) routes, applied by the card). The card's
// two busiest goroutines then are the session reader and the applier,
// sharing the machine's cores with the host path.
func BenchmarkPuntDuringDownload(b *testing.B) {
	const routes = 100_000
	c := newBenchCard(b)
	defer c.stop()
	var mu sync.Mutex
	sent := map[byte]time.Time{}
	var samples []time.Duration
	hook := func(m ipc.Message) bool {
		p, ok := m.(*ipc.Punt)
		if !ok {
			return false
		}
		seq := p.Frame[len(p.Frame)-1]
		mu.Lock()
		if t0, ok := sent[seq]; ok {
			samples = append(samples, time.Since(t0))
			delete(sent, seq)
		}
		mu.Unlock()
		return true
	}
	c.re.hook.Store(&hook)
	ctx := context.Background()
	gen := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		msgs := make([]ipc.Message, routes)
		for i := range msgs {
			k := gen*routes + i
			src := netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
			grp := netip.AddrFrom4([4]byte{232, 10, byte(k >> 24), 1})
			msgs[i] = &ipc.RouteAdd{Route: hal.Route{Key: hal.SG(src, grp), NH: haltest.NHIndirect, RPF: haltest.IFLUpstream, Flags: hal.RouteFlagsSG}}
		}
		gen++
		want := 3 + gen*routes
		b.StartTimer()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := c.sess.Send(ctx, msgs...); err != nil {
				b.Error(err)
			}
			for c.drv.Summary().Routes < want {
				time.Sleep(100 * time.Microsecond)
			}
		}()
		tick := time.NewTicker(200 * time.Microsecond)
		seq := byte(0)
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-tick.C:
			}
			seq++
			f := pimHello(seq)
			mu.Lock()
			sent[seq] = time.Now()
			mu.Unlock()
			if err := c.drv.Input(haltest.IFLOther, [][]byte{f}); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
	}
	b.StopTimer()
	b.ReportMetric(float64(routes)*float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	mu.Lock()
	latencies(b, samples)
	b.ReportMetric(float64(len(samples))/float64(b.N), "hellos/op")
	mu.Unlock()
}
