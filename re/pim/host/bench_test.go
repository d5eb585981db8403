package host

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/pktio"
	"github.com/mxfwd/mxfwd/re/rib"
)

// The speed figures of issue #14 measured on the path a Join/Prune takes
// in the routing engine: a frame punted by a card onto the owner loop
// (engine.InPunt), the dispatcher, the PIM decoder, the engine, the
// host's contributions and the kernel's batched download (to a sink that
// counts the ops, standing in for the change log). The real clock runs the
// loop, so these are wall-clock figures of one loop goroutine.
//
// The world: one upstream interface (the RPF interface of every source,
// neighbour 10.0.0.2) and benchDown downstream interfaces with one
// neighbour each. Neighbour i joins the groups g with g % benchDown == i,
// one Join/Prune per group holding its 100 sources (SSM, 232/8): 1,000
// messages of 100 (S,G) for 100,000 (S,G), each with one downstream
// interface.

const (
	benchDown       = 100
	benchSGPerMsg   = 100
	benchSGs        = 100_000
	benchUpstream   = "xe-0/0/0.0"
	benchUpstreamNb = "10.0.0.2"
)

// benchSink counts the ops the kernel downloads (on the loop).
type benchSink struct{ ops int }

func (s *benchSink) Download(ops []hal.Op) { s.ops += len(ops) }

// BorrowsOps: like the RE's change-log sink, it keeps nothing of the ops.
func (s *benchSink) BorrowsOps() {}

// benchPorts is the dispatcher's transport: it drops what is sent and
// records when our Hellos leave.
type benchPorts struct {
	ifs map[string]pktio.Interface

	mu     sync.Mutex
	hellos map[string][]time.Time
}

func (p *benchPorts) Interface(ifl string) (pktio.Interface, bool) {
	i, ok := p.ifs[ifl]
	return i, ok
}

func (p *benchPorts) Inject(ifl string, frame []byte) error {
	// Ethernet, IPv4 protocol 103, PIM type 0: a Hello.
	if len(frame) < 14+20+4 || frame[14+9] != 103 {
		return nil
	}
	if ihl := int(frame[14]&0x0f) * 4; len(frame) > 14+ihl && frame[14+ihl]&0x0f == 0 {
		now := time.Now()
		p.mu.Lock()
		p.hellos[ifl] = append(p.hellos[ifl], now)
		p.mu.Unlock()
	}
	return nil
}

// benchNode is one routing engine's PIM path on the real clock.
type benchNode struct {
	kern  *kernel.Kernel
	eng   *engine.Engine
	host  *Host
	sink  *benchSink
	ports *benchPorts
	cfg   *config.Config
	ifs   []kernel.Interface
	// frames are the downstream neighbours' Join/Prunes as punts.
	frames []engine.Punt
	// msgs are the same messages, decoded, for the engine alone.
	msgs []pim.RecvJoinPrune
	stop func()
}

func benchIfName(i int) string { return fmt.Sprintf("xe-%d/%d/%d.0", 1+i/40, i/10%4, i%10) }

func benchConfigText(helloInterval int) string {
	hi := ""
	if helloInterval > 0 {
		hi = fmt.Sprintf(" hello-interval %d", helloInterval)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "set interfaces xe-0/0/0 unit 0 family inet address 10.0.0.1/30\nset protocols pim interface %s%s\n", benchUpstream, hi)
	for i := range benchDown {
		dev := strings.TrimSuffix(benchIfName(i), ".0")
		fmt.Fprintf(&b, "set interfaces %s unit 0 family inet address 10.1.%d.1/24\nset protocols pim interface %s.0%s\n", dev, i, dev, hi)
	}
	fmt.Fprintf(&b, "set routing-options static route 10.200.0.0/16 next-hop %s\n", benchUpstreamNb)
	return b.String()
}

// benchSG is the k-th (S,G): group k/100 in 232/8, source k%100.
func benchSG(k int) (src, grp netip.Addr) {
	g, s := k/benchSGPerMsg, k%benchSGPerMsg
	return netip.AddrFrom4([4]byte{10, 200, 0, byte(s)}), netip.AddrFrom4([4]byte{232, byte(g >> 16), byte(g >> 8), byte(g)})
}

func newBenchNode(b *testing.B, helloInterval int) *benchNode {
	b.Helper()
	cfg, err := config.Parse("bench.conf", strings.NewReader(benchConfigText(helloInterval)))
	if err != nil {
		b.Fatal(err)
	}
	n := &benchNode{cfg: cfg, sink: &benchSink{}}
	n.kern = kernel.New(kernel.Config{Sink: n.sink})
	var ifs []kernel.Interface
	for _, dev := range slices.Sorted(maps.Keys(cfg.Interfaces)) {
		ifs = append(ifs, kernel.Interface{Name: dev + ".0", Addr: cfg.Interfaces[dev].Units[0].Address})
	}
	if _, err := n.kern.SetInterfaces(ifs); err != nil {
		b.Fatal(err)
	}
	n.ifs = ifs
	n.ports = &benchPorts{ifs: map[string]pktio.Interface{}, hellos: map[string][]time.Time{}}
	byName := map[string]hal.IFLIndex{}
	for _, f := range n.kern.Interfaces() {
		mac, _ := net.ParseMAC(f.MAC)
		n.ports.ifs[f.Name] = pktio.Interface{Name: f.Name, MAC: mac, Addr: f.Addr, Up: f.Up}
		byName[f.Name] = f.Index
	}
	ribs := rib.New(rib.Options{})
	if _, err := ribs.ApplyConfig(cfg, time.Now()); err != nil {
		b.Fatal(err)
	}
	pkt := pktio.NewDispatcher(n.ports, nil, time.Now)
	n.eng = engine.New(engine.Config{Kernel: n.kern, OnPunt: func(slot hal.Slot, p engine.Punt) {
		_, logical, ok := n.kern.InterfaceByIndex(p.Ingress)
		if ok {
			pkt.Deliver(slot, logical, p.Trap, p.Frame)
		}
	}})
	n.host = New(Env{Kernel: n.kern, Engine: n.eng, Packets: pkt, RIB: ribs, Seed: [2]uint64{1, 2},
		Inject: func(string, []byte, bool) error { return nil }})
	n.eng.Subscribe(n.host.KernelEvents)
	if err := n.host.Configure(cfg); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.eng.Run(ctx) }()
	n.stop = func() { cancel(); <-done }
	b.Cleanup(n.stop)

	frame := func(ifl string, src netip.Addr, m pimmsg.Message) engine.Punt {
		p, err := pimmsg.Packet(src, pim.AllPIMRouters, m)
		if err != nil {
			b.Fatal(err)
		}
		f := append([]byte{0x01, 0x00, 0x5e, 0, 0, 13, 0x02, 0xbb, 0, 0, 0, 2, 0x08, 0x00}, p...)
		return engine.Punt{Ingress: byName[ifl], Frame: f}
	}
	// The neighbours' Hellos (holdtime 0xffff: they never time out).
	hello := &pimmsg.Hello{HasHoldtime: true, Holdtime: 0xffff}
	hellos := []engine.Punt{frame(benchUpstream, netip.MustParseAddr(benchUpstreamNb), hello)}
	for i := range benchDown {
		hellos = append(hellos, frame(benchIfName(i), netip.AddrFrom4([4]byte{10, 1, byte(i), 2}), hello))
	}
	n.post(b, hellos)
	for g := 0; g*benchSGPerMsg < benchSGs; g++ {
		i := g % benchDown
		_, grp := benchSG(g * benchSGPerMsg)
		jg := pimmsg.JPGroup{Group: pimmsg.HostGroup(grp)}
		for k := range benchSGPerMsg {
			s, _ := benchSG(g*benchSGPerMsg + k)
			jg.Joins = append(jg.Joins, pimmsg.Source{Addr: s, Sparse: true})
		}
		m := &pimmsg.JoinPrune{UpstreamNeighbor: netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), Holdtime: 210, Groups: []pimmsg.JPGroup{jg}}
		n.frames = append(n.frames, frame(benchIfName(i), netip.AddrFrom4([4]byte{10, 1, byte(i), 2}), m))
		jp, _ := joinPruneIn(m)
		n.msgs = append(n.msgs, pim.RecvJoinPrune{If: pim.IfIndex(byName[benchIfName(i)]), Src: netip.AddrFrom4([4]byte{10, 1, byte(i), 2}), Msg: jp})
	}
	return n
}

// post queues punts on the loop (waiting when the queue is full) and
// returns once the loop has handled them.
func (n *benchNode) post(b *testing.B, ps []engine.Punt) {
	ctx := context.Background()
	for _, p := range ps {
		if err := n.eng.PostWait(ctx, engine.Input{Kind: engine.InPunt, Slot: 1, Punt: p}); err != nil {
			b.Fatal(err)
		}
	}
	n.barrier(b)
}

// barrier returns once the loop has handled every input queued before it
// (an input of its own: Do's calls are served beside the input queue,
// not after it).
func (n *benchNode) barrier(b *testing.B) {
	done := make(chan struct{})
	if err := n.eng.PostWait(context.Background(), engine.Input{Kind: engine.InCall, Call: func() { close(done) }}); err != nil {
		b.Fatal(err)
	}
	<-done
}

// engineAlone is the baseline: the same messages, decoded, into a bare
// engine configured as the host configured its own (no decode, no
// contributions, no kernel).
func (n *benchNode) engineAlone(b *testing.B) time.Duration {
	var pc pim.Config
	up := pim.IfIndex(0)
	if err := n.eng.Do(context.Background(), func() error {
		pc = n.host.pimConfig(n.cfg)
		up = pim.IfIndex(n.host.index(benchUpstream))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	nb := netip.MustParseAddr(benchUpstreamNb)
	rpf := pim.RPFLookupFunc(func(a netip.Addr) pim.RPF {
		if a.As4()[1] == 200 {
			return pim.RPF{Iface: up, NextHop: nb, Preference: 5}
		}
		return pim.RPF{}
	})
	now := time.Now()
	e, err := pim.New(pc, pim.Options{Seed: [2]uint64{1, 2}, RPF: rpf}, now)
	if err != nil {
		b.Fatal(err)
	}
	e.Handle(now, pim.InterfaceUp{If: up, Addr: netip.MustParseAddr("10.0.0.1")})
	e.Handle(now, pim.RecvHello{If: up, Src: nb, Msg: pim.Hello{Holdtime: 0xffff}})
	byName := map[string]pim.IfIndex{}
	for _, ic := range pc.Interfaces {
		byName[ic.Name] = ic.Index
	}
	for i := range benchDown {
		idx := byName[benchIfName(i)]
		e.Handle(now, pim.InterfaceUp{If: idx, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i), 1})})
		e.Handle(now, pim.RecvHello{If: idx, Src: netip.AddrFrom4([4]byte{10, 1, byte(i), 2}), Msg: pim.Hello{Holdtime: 0xffff}})
	}
	start := time.Now()
	for _, m := range n.msgs {
		e.Handle(time.Now(), m)
	}
	d := time.Since(start)
	if got := len(e.ShowJoin(time.Now(), netip.Addr{})); got != benchSGs {
		b.Fatalf("engine alone: %d entries", got)
	}
	return d
}

// kernelAlone is the other baseline: the contributions the path left in
// the kernel, applied to a fresh kernel in batches of one message's worth
// (100), as the host hands them over.
func (n *benchNode) kernelAlone(b *testing.B, cs map[kernel.Entry]kernel.Contribution) time.Duration {
	k := kernel.New(kernel.Config{Sink: &benchSink{}})
	if _, err := k.SetInterfaces(n.ifs); err != nil {
		b.Fatal(err)
	}
	var batches [][]kernel.Change
	var cur []kernel.Change
	for e, c := range cs {
		cur = append(cur, kernel.Change{Owner: kernel.OwnerPIM, Entry: e, Contribution: &c})
		if len(cur) == benchSGPerMsg {
			batches, cur = append(batches, cur), nil
		}
	}
	batches = append(batches, cur)
	start := time.Now()
	for _, ch := range batches {
		if err := k.Update(ch); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkJoinPruneToKernel measures 100,000 (S,G) joins (1,000 Join/Prunes
// of 100 entries from 100 neighbours) from punted frames to the kernel's
// download, then their periodic refresh; the baselines in the same run are
// the engine alone on the same decoded messages and the kernel alone on
// the same contributions. It reports entries/s of each, the ratios, the
// kernel ops per (S,G), and the live heap per (S,G) of the whole path (PIM
// engine, host, kernel). Run with -benchtime=1x.
func BenchmarkJoinPruneToKernel(b *testing.B) {
	for range b.N {
		b.StopTimer()
		n := newBenchNode(b, 0)
		alone := n.engineAlone(b)
		before := liveHeap()
		ops0 := 0
		_ = n.eng.Do(context.Background(), func() error { ops0 = n.sink.ops; return nil })
		b.StartTimer()
		start := time.Now()
		n.post(b, n.frames)
		create := time.Since(start)
		b.StopTimer()
		after := liveHeap()
		var ops int
		var st Stats
		var cs map[kernel.Entry]kernel.Contribution
		_ = n.eng.Do(context.Background(), func() error {
			cs, ops, st = n.kern.Contributions(kernel.OwnerPIM), n.sink.ops-ops0, n.host.Stats()
			return nil
		})
		if len(cs) != benchSGs || st.KernelErrors != 0 {
			b.Fatalf("%d PIM contributions in the kernel, %d kernel errors", len(cs), st.KernelErrors)
		}
		kern := n.kernelAlone(b, cs)
		cs = nil
		start = time.Now()
		n.post(b, n.frames)
		refresh := time.Since(start)
		b.ReportMetric(float64(benchSGs)/create.Seconds(), "create-entries/s")
		b.ReportMetric(float64(benchSGs)/refresh.Seconds(), "refresh-entries/s")
		b.ReportMetric(float64(benchSGs)/alone.Seconds(), "engine-alone-entries/s")
		b.ReportMetric(create.Seconds()/alone.Seconds(), "create/engine-alone")
		b.ReportMetric(float64(benchSGs)/kern.Seconds(), "kernel-alone-entries/s")
		b.ReportMetric(create.Seconds()/kern.Seconds(), "create/kernel-alone")
		b.ReportMetric(float64(ops)/benchSGs, "ops/SG")
		b.ReportMetric(float64(after-before)/benchSGs, "B/SG")
		runtime.KeepAlive(n)
		n.stop()
	}
}

// lateness returns, for each pair of consecutive Hellos on an interface
// whose second one left in [from, to), how much later than the Hello
// period it left.
func (p *benchPorts) lateness(period time.Duration, from, to time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, ts := range p.hellos {
		for i := 1; i < len(ts); i++ {
			if !ts[i].Before(from) && ts[i].Before(to) {
				out = append(out, ts[i].Sub(ts[i-1])-period)
			}
		}
	}
	slices.Sort(out)
	return out
}

func reportLateness(b *testing.B, phase string, ls []time.Duration) {
	if len(ls) == 0 {
		b.Fatalf("%s: no Hellos", phase)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ls[len(ls)/2]), phase+"-p50-ms")
	b.ReportMetric(ms(ls[len(ls)*99/100]), phase+"-p99-ms")
	b.ReportMetric(ms(ls[len(ls)-1]), phase+"-max-ms")
	b.ReportMetric(float64(len(ls)), phase+"-hellos")
}

// BenchmarkHelloJitterUnderJoinStorm sends Hellos every second on 101
// interfaces and measures how late each leaves (its interval minus the
// period, from the transport's send times), first with the loop idle (the
// baseline), then while the downstream neighbours' Join/Prunes flood the
// loop as fast as it takes them: the 100,000 (S,G) are created ("create",
// until the loop has handled the first pass), then refreshed again and
// again ("refresh"). Run with -benchtime=1x (about 15 s).
func BenchmarkHelloJitterUnderJoinStorm(b *testing.B) {
	const (
		period = time.Second
		idle   = 3 * time.Second
		storm  = 5 * time.Second
	)
	for range b.N {
		b.StopTimer()
		n := newBenchNode(b, 1)
		// Past the triggered Hellos of the start and of the new
		// neighbours (Triggered_Hello_Delay, 5 s).
		time.Sleep(6 * time.Second)
		idleFrom := time.Now()
		time.Sleep(idle)
		stormFrom := time.Now()
		b.StartTimer()
		ctx := context.Background()
		entries := 0
		var created time.Time // on the loop, in order with the punts
		marked := false
		for i := 0; time.Since(stormFrom) < storm; i = (i + 1) % len(n.frames) {
			if err := n.eng.PostWait(ctx, engine.Input{Kind: engine.InPunt, Slot: 1, Punt: n.frames[i]}); err != nil {
				b.Fatal(err)
			}
			entries += benchSGPerMsg
			if i == len(n.frames)-1 && !marked {
				marked = true
				if err := n.eng.PostWait(ctx, engine.Input{Kind: engine.InCall, Call: func() { created = time.Now() }}); err != nil {
					b.Fatal(err)
				}
			}
		}
		n.barrier(b)
		stormTo := time.Now()
		b.StopTimer()
		var createdAt time.Time
		_ = n.eng.Do(ctx, func() error { createdAt = created; return nil })
		if createdAt.IsZero() {
			b.Fatal("the first pass was not handled within the storm")
		}
		reportLateness(b, "idle", n.ports.lateness(period, idleFrom, stormFrom))
		reportLateness(b, "create", n.ports.lateness(period, stormFrom, createdAt))
		reportLateness(b, "refresh", n.ports.lateness(period, createdAt, stormTo))
		b.ReportMetric(float64(benchSGs)/createdAt.Sub(stormFrom).Seconds(), "create-entries/s")
		b.ReportMetric(float64(entries-benchSGs)/stormTo.Sub(createdAt).Seconds(), "refresh-entries/s")
		n.stop()
	}
}
