package perf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// timedEvery: one batch in timedEvery is timed on its own (two clock reads);
// the others run back to back. With 16, the clock costs (2 x ~60 ns on
// this VM) are spread over 16 batches of 32 frames: under 0.3 ns per
// packet, against ~0.3-2 ns per packet if every batch were timed.
const timedEvery = 16

// countingSink is the Egress of swpfe and trio: it counts frames and bytes
// and keeps nothing. Output runs on the goroutine calling Input (both
// drivers replicate synchronously), but the counters are atomics so that a
// driver that outputs from its own goroutines is still counted right.
type countingSink struct {
	frames, bytes atomic.Uint64
}

func (s *countingSink) Output(_ hal.IFLIndex, frames [][]byte) {
	var n uint64
	for _, f := range frames {
		n += uint64(len(f))
	}
	s.frames.Add(uint64(len(frames)))
	s.bytes.Add(n)
}

// countingUpcalls counts upcalls: a benchmark whose packets resolve or fail
// RPF is measuring the wrong path, and the point says so.
type countingUpcalls struct {
	resolves, wrong, punts atomic.Uint64
}

func (u *countingUpcalls) OnResolve(hal.ResolveRequest)            { u.resolves.Add(1) }
func (u *countingUpcalls) OnWrongInterface(hal.WrongInterface)     { u.wrong.Add(1) }
func (u *countingUpcalls) OnPunt(hal.IFLIndex, hal.TrapID, []byte) { u.punts.Add(1) }
func (u *countingUpcalls) OnLinkState(hal.LinkState)               {}

// memSetup is a driver programmed with a point's topology.
type memSetup struct {
	drv    hal.Driver
	topo   *topo
	sink   *countingSink
	up     *countingUpcalls
	real   bool // copies are counted from IFL Tx counters
	note   string
	cancel context.CancelFunc
}

func (m *memSetup) close() {
	if m.drv != nil {
		_ = m.drv.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
}

// copies returns the copies the driver has handed to its egress so far.
func (m *memSetup) copies() uint64 {
	if !m.real {
		return m.sink.frames.Load()
	}
	var n uint64
	for _, idx := range m.topo.egress {
		c, err := m.drv.IFLCounters(idx)
		if err == nil {
			n += c.TxPackets
		}
	}
	return n
}

// setupMem builds and programs a driver for one (driver, lag, flows,
// fan-out). ports maps the topology's physical names to Linux interfaces
// for drivers with real ports.
func (r *Runner) setupMem(ctx context.Context, name string, spec DriverSpec, t topoSpec) (*memSetup, error) {
	tp := buildTopo(t)
	m := &memSetup{topo: tp, sink: &countingSink{}, up: &countingUpcalls{}, real: spec.RealPorts}
	opts := map[string]string{}
	var notes []string
	if spec.Sized != nil {
		o, note := spec.Sized(&t)
		maps.Copy(opts, o)
		if note != "" {
			notes = append(notes, note)
		}
	}
	maps.Copy(opts, r.W.Options[name])
	cfg := hal.Config{
		Slot:    0,
		Logger:  r.driverLog(),
		Upcalls: m.up,
		Egress:  m.sink,
		Now:     time.Now,
		Options: opts,
	}
	if spec.RealPorts {
		rig, err := r.rig(ctx, tp.spec.ports())
		if err != nil {
			return nil, err
		}
		cfg.Egress = nil
		cfg.Ports = map[string]string{}
		for j, n := range tp.names {
			cfg.Ports[n] = rig.port(j)
		}
		opts["netns"] = rig.ns
	}
	dctx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	d, err := spec.New(dctx, cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("new: %w", err)
	}
	m.drv = d
	start := time.Now()
	if n, err := d.Apply(ctx, tp.ops); err != nil {
		m.close()
		return nil, fmt.Errorf("apply: %d of %d ops applied: %w", n, len(tp.ops), firstErrors(err, 3))
	}
	el := time.Since(start)
	if el > time.Second {
		notes = append(notes, fmt.Sprintf("programming took %.1fs", el.Seconds()))
	}
	m.note = strings.Join(notes, "; ")
	return m, nil
}

// firstErrors keeps the first n errors of a joined error (a failed Apply
// of 100k ops can join 100k of them).
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

// measureMem runs one repetition: warm-up, then Input back to back for
// dur, on the calling goroutine locked to its OS thread.
func measureMem(m *memSetup, batches [][][]byte, warm, dur time.Duration) (Metrics, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := m.drv
	n := len(batches)
	i := 0
	input := func() error {
		err := d.Input(ingressIFL, batches[i])
		if i++; i == n {
			i = 0
		}
		return err
	}
	runtime.GC()
	for end := time.Now().Add(warm); time.Now().Before(end); {
		for range timedEvery {
			if err := input(); err != nil {
				return nil, fmt.Errorf("input (warm-up): %w", err)
			}
		}
	}
	in0 := ingressCounters(d)
	up0 := [3]uint64{m.up.resolves.Load(), m.up.wrong.Load(), m.up.punts.Load()}
	c0 := m.copies()
	var h hist
	var ms0, ms1 runtime.MemStats
	cpu0 := sampleCPU()
	runtime.ReadMemStats(&ms0)
	var pkts uint64
	batch := uint64(len(batches[0]))
	start := time.Now()
	end := start.Add(dur)
	for {
		t0 := time.Now()
		if err := input(); err != nil {
			return nil, fmt.Errorf("input after %d packets: %w", pkts, err)
		}
		t1 := time.Now()
		h.add(t1.Sub(t0).Nanoseconds())
		for range timedEvery - 1 {
			if err := input(); err != nil {
				return nil, fmt.Errorf("input after %d packets: %w", pkts, err)
			}
		}
		pkts += timedEvery * batch
		if !t1.Before(end) {
			break
		}
	}
	wall := time.Since(start)
	runtime.ReadMemStats(&ms1)
	cpu := cpuBetween(cpu0, sampleCPU())
	copies := m.copies() - c0
	sec := wall.Seconds()
	fp := float64(pkts)
	res := Metrics{
		MInMpps:       fp / sec / 1e6,
		MCopiesPerSec: float64(copies) / sec,
		MFwdMpps:      float64(copies) / sec / float64(m.topo.spec.Fanout) / 1e6,
		MNsPerPkt:     float64(wall.Nanoseconds()) / fp,
		MAllocsPerPkt: float64(ms1.Mallocs-ms0.Mallocs) / fp,
		MBytesPerPkt:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / fp,
		MP50Ns:        h.quantile(0.50) / float64(batch),
		MP99Ns:        h.quantile(0.99) / float64(batch),
		MBatchP99Ns:   h.quantile(0.99),
		MCPUPct:       100 * cpu.Process.Seconds() / sec,
		MCPUNsPerPkt:  float64(cpu.Thread.Nanoseconds()) / fp,
		MCopiesPerPkt: float64(copies) / fp,
		MOtherCPUPct:  cpu.OtherPct,
		"packets":     fp,
	}
	if copies > 0 {
		res[MNsPerCopy] = float64(wall.Nanoseconds()) / float64(copies)
	}
	if want := uint64(m.topo.spec.Fanout) * pkts; copies < want {
		in1 := ingressCounters(d)
		return res, &shortfall{
			copies: copies, want: want,
			drops: dropSummary(in0, in1) + upcallSummary(up0, m.up) + egressDrops(m),
		}
	}
	return res, nil
}

// shortfall reports a repetition that delivered fewer copies than fan-out x
// packets: the figures stand but the point carries the explanation.
type shortfall struct {
	copies, want uint64
	drops        string
}

func (s *shortfall) Error() string {
	return fmt.Sprintf("delivered %d of %d copies (%.2f%%)%s", s.copies, s.want, 100*float64(s.copies)/float64(s.want), s.drops)
}

func ingressCounters(d hal.Driver) hal.IFLCounters {
	c, _ := d.IFLCounters(ingressIFL)
	return c
}

func dropSummary(a, b hal.IFLCounters) string {
	var parts []string
	add := func(name string, x, y uint64) {
		if y > x {
			parts = append(parts, fmt.Sprintf("%s %d", name, y-x))
		}
	}
	add("rpf-fail", a.RPFFail, b.RPFFail)
	add("ttl", a.TTLExpiry, b.TTLExpiry)
	add("no-route", a.NoRoute, b.NoRoute)
	add("discard", a.Discard, b.Discard)
	add("resolve", a.Resolve, b.Resolve)
	add("malformed", a.Malformed, b.Malformed)
	add("queue-full", a.QueueFull, b.QueueFull)
	if len(parts) == 0 {
		return ""
	}
	return "; ingress drops: " + strings.Join(parts, ", ")
}

func upcallSummary(before [3]uint64, u *countingUpcalls) string {
	r, w, p := u.resolves.Load()-before[0], u.wrong.Load()-before[1], u.punts.Load()-before[2]
	if r+w+p == 0 {
		return ""
	}
	return fmt.Sprintf("; upcalls: %d resolve, %d wrong-iif, %d punt", r, w, p)
}

// egressDrops sums the egress ports' drop counters (a full TX ring for
// afpacket, a down port).
func egressDrops(m *memSetup) string {
	var qf, down uint64
	for _, idx := range m.topo.egress {
		if c, err := m.drv.IFLCounters(idx); err == nil {
			qf += c.QueueFull
			down += c.PortDown
		}
	}
	if qf+down == 0 {
		return ""
	}
	return fmt.Sprintf("; egress drops since start: queue-full %d, port-down %d", qf, down)
}

// driverLog is the logger handed to drivers: warnings and errors only, on
// the run log.
func (r *Runner) driverLog() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(r.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
