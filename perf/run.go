package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Runner runs a workload. Fill the exported fields and call Run.
type Runner struct {
	W       Workload
	Drivers map[string]DriverSpec // DefaultDrivers() unless a test adds fakes
	// Out is the results directory; "" writes nothing (tests).
	Out string
	// Log receives progress lines and driver warnings; nil discards them.
	Log io.Writer
	Env Env
	// IsRoot gates afpacket and the kernel tier (tests override it).
	IsRoot bool
	// Kernel tier: kbase.sh, the sweep wrapper (perf/datapath/bench.sh)
	// and the directory with the re and fpc binaries it starts.
	KBase, DatapathBench, BinDir string

	veth        *vethRig
	maxRigPorts int
	jr          *journal
	res         *Results
}

// Run runs every tier of the workload and returns the results; files are
// written to Out as it goes (results.jsonl) and at the end (results.json,
// table.md, bench.txt, plots). The error is for the run as a whole (bad
// workload, results directory); failed points are in the results.
func (r *Runner) Run(ctx context.Context) (*Results, error) {
	if err := r.W.Check(); err != nil {
		return nil, err
	}
	if r.Drivers == nil {
		r.Drivers = DefaultDrivers()
	}
	start := time.Now()
	r.res = &Results{Env: r.Env, Workload: r.W}
	if r.Out != "" {
		if err := os.MkdirAll(r.Out, 0o755); err != nil {
			return nil, err
		}
		jr, err := openJournal(filepath.Join(r.Out, "results.jsonl"))
		if err != nil {
			return nil, err
		}
		r.jr = jr
		defer jr.close()
	}
	if err := r.jr.put(record{Kind: "env", Env: &r.res.Env, Workload: &r.W}); err != nil {
		return nil, err
	}
	defer func() {
		if r.veth != nil {
			r.veth.close()
			r.veth = nil
		}
	}()
	if r.W.has(TierMem) {
		r.runMem(ctx)
	}
	if r.W.has(TierControl) && ctx.Err() == nil {
		r.runControl(ctx)
	}
	if r.W.has(TierKernel) && ctx.Err() == nil {
		r.runKernel(ctx)
	}
	if ctx.Err() != nil {
		r.note("run interrupted: %v; the results hold what was measured before", context.Cause(ctx))
	}
	r.res.Elapsed = time.Since(start).Seconds()
	Finish(r.res)
	if r.Out != "" {
		if err := WriteAll(r.Out, r.res); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

// Finish sorts the points and computes ratios and goals (also used by
// `perf report` on a journal).
func Finish(res *Results) {
	sortPoints(res.Points)
	computeRatios(res)
	res.Goals = evaluateGoals(res)
}

func (r *Runner) logf(format string, a ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", a...)
	}
}

func (r *Runner) note(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	r.res.Notes = append(r.res.Notes, s)
	r.logf("note: %s", s)
	_ = r.jr.put(record{Kind: "note", Note: s})
}

func (r *Runner) addPoint(p Point) {
	if len(p.Reps) > 0 {
		p.Summary = summarizeReps(p.Reps)
	}
	r.res.Points = append(r.res.Points, p)
	_ = r.jr.put(record{Kind: "point", Point: &p})
	r.logf("%s", progressLine(&p))
}

func (r *Runner) addControl(c ControlResult) {
	if len(c.Reps) > 0 && c.Summary == nil {
		c.Summary = summarizeReps(c.Reps)
	}
	r.res.Control = append(r.res.Control, c)
	_ = r.jr.put(record{Kind: "control", Control: &c})
	r.logf("%s", controlLine(&c))
}

// guard runs fn on its own goroutine with a timeout and turns a panic into
// an error. On timeout the goroutine is abandoned (a driver stuck in Input
// cannot be stopped from outside) and its result is never read.
func guard[T any](ctx context.Context, timeout time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				var zero T
				done <- result{zero, fmt.Errorf("panic: %v (%s)", p, panicSite(debug.Stack()))}
			}
		}()
		v, err := fn(ctx)
		done <- result{v, err}
	}()
	select {
	case res := <-done:
		return res.v, res.err
	case <-ctx.Done():
		var zero T
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return zero, fmt.Errorf("timed out after %v (the code under test did not return; abandoned)", timeout)
		}
		return zero, context.Cause(ctx)
	}
}

// panicSite returns "function file:line" of the frame that panicked: the
// frame after runtime's panic() in a debug.Stack taken while recovering.
func panicSite(st []byte) string {
	l := strings.Split(string(st), "\n")
	for i, s := range l {
		if strings.HasPrefix(s, "panic(") && i+2 < len(l) {
			fn := l[i+1]
			if k := strings.LastIndex(fn, "("); k > 0 {
				fn = fn[:k]
			}
			file := strings.TrimSpace(l[i+2])
			if k := strings.LastIndex(file, " +0x"); k > 0 {
				file = file[:k]
			}
			return "at " + fn + " " + file
		}
	}
	return "stack unavailable"
}

// memKey is one setup of the mem tier: everything but the frame size.
type memKey struct {
	driver             string
	lag, flows, fanout int
}

// runMem runs the in-memory tier. Points are ordered so that the drivers
// measured at the same (lag, flows, fan-out) run one after the other, so
// that drift on a shared machine hits them alike.
func (r *Runner) runMem(ctx context.Context) {
	w := &r.W
	var drivers []string
	for _, name := range w.Drivers {
		spec, ok := r.Drivers[name]
		switch {
		case !ok:
			r.addPoint(Point{Tier: TierMem, Driver: name, Status: StatusError,
				Note: fmt.Sprintf("unknown driver %q (have %s); its points were not run", name, driverNames(r.Drivers))})
		case spec.KernelOnly:
			if slices.Contains(w.Tiers, TierMem) {
				r.addPoint(Point{Tier: TierMem, Driver: name, Status: StatusSkipped,
					Note: fmt.Sprintf("%s forwards in the kernel on real ports: measured in the kernel tier only", name)})
			}
		case spec.NeedsRoot && !r.IsRoot:
			r.addPoint(Point{Tier: TierMem, Driver: name, Status: StatusSkipped,
				Note: fmt.Sprintf("%s needs root (packet sockets, network namespaces); run perf as root for its points", name)})
		default:
			drivers = append(drivers, name)
			if spec.MaxPorts > 0 {
				for _, f := range w.Fanouts {
					for _, l := range w.LAGs {
						if p := f * max(1, l); p <= spec.MaxPorts {
							r.maxRigPorts = max(r.maxRigPorts, p)
						}
					}
				}
			}
		}
	}
	for _, lag := range w.LAGs {
		for _, flows := range w.Flows {
			for _, fanout := range w.Fanouts {
				for _, name := range drivers {
					if ctx.Err() != nil {
						return
					}
					r.memPoints(ctx, memKey{name, lag, flows, fanout})
				}
			}
		}
	}
}

// memPoints sets a driver up for one key and measures every frame size.
func (r *Runner) memPoints(ctx context.Context, k memKey) {
	w := &r.W
	spec := r.Drivers[k.driver]
	t := topoSpec{Fanout: k.fanout, Flows: k.flows, LAG: k.lag, PFEs: w.PFEs, Chain: w.Chain}
	base := Point{Tier: TierMem, Driver: k.driver, Fanout: k.fanout, Flows: k.flows, LAG: k.lag}
	fail := func(status, note string) {
		for _, size := range w.Sizes {
			p := base
			p.Size, p.Status, p.Note = size, status, note
			r.addPoint(p)
		}
	}
	if spec.MaxPorts > 0 && t.ports() > spec.MaxPorts {
		fail(StatusError, fmt.Sprintf("impossible: %s supports at most %d egress ports here, this point needs %d (fan-out %d x LAG %s)",
			k.driver, spec.MaxPorts, t.ports(), k.fanout, lagName(k.lag)))
		return
	}
	timeout := w.PointTimeout
	if timeout <= 0 {
		perRep := w.Warmup + w.Duration + 2*time.Second
		timeout = 2*time.Minute + time.Duration(len(w.Sizes)*w.Reps)*perRep*3
	}
	// One guarded call per key: setup, then every size and repetition.
	// Each finished size is published at once, so that it is kept even
	// when a later one fails, panics or hangs.
	type sized struct {
		size int
		reps []Metrics
		note string
		err  error
	}
	var (
		mu        sync.Mutex
		finished  []sized
		setupNote string
	)
	_, err := guard(ctx, timeout, func(ctx context.Context) (struct{}, error) {
		m, err := r.setupMem(ctx, k.driver, spec, t)
		if err != nil {
			return struct{}{}, err
		}
		defer m.close()
		mu.Lock()
		setupNote = m.note
		mu.Unlock()
		for _, size := range w.Sizes {
			s := sized{size: size}
			batches := trafficFor(k.flows, size, w.Batch)
			for range w.Reps {
				if ctx.Err() != nil {
					s.err = context.Cause(ctx)
					break
				}
				met, err := measureMem(m, batches, w.Warmup, w.Duration)
				var sf *shortfall
				if errors.As(err, &sf) {
					s.note = sf.Error()
					err = nil
				}
				if err != nil {
					s.err = err
					break
				}
				s.reps = append(s.reps, met)
			}
			mu.Lock()
			finished = append(finished, s)
			mu.Unlock()
			if s.err != nil {
				break // the driver is in an unknown state
			}
		}
		return struct{}{}, nil
	})
	mu.Lock()
	out := slices.Clone(finished)
	note := setupNote
	mu.Unlock()
	interrupted := ctx.Err() != nil
	done := map[int]bool{}
	for _, s := range out {
		p := base
		p.Size, p.Reps = s.size, s.reps
		notes := []string{}
		if note != "" {
			notes = append(notes, note)
		}
		if s.note != "" {
			notes = append(notes, s.note)
		}
		p.Status = StatusOK
		switch {
		case s.err != nil && interrupted:
			p.Status = StatusSkipped
			notes = append(notes, fmt.Sprintf("interrupted after %d of %d repetitions", len(s.reps), w.Reps))
		case s.err != nil:
			p.Status = StatusError
			notes = append(notes, fmt.Sprintf("failed after %d of %d repetitions: %v", len(s.reps), w.Reps, s.err))
		}
		p.Note = strings.Join(notes, "; ")
		r.addPoint(p)
		done[s.size] = true
	}
	// Sizes not finished: the setup failed, the guarded call timed out or
	// panicked (err), or an earlier size failed.
	why := "not run: an earlier frame size of this setup failed"
	status := StatusError
	switch {
	case interrupted:
		why, status = "interrupted", StatusSkipped
	case err != nil:
		why = err.Error()
	}
	for _, size := range w.Sizes {
		if !done[size] {
			p := base
			p.Size, p.Status, p.Note = size, status, why
			r.addPoint(p)
		}
	}
}

// computeRatios sets each OK point's ratio to its baseline at the same
// key: input pps over the chosen baseline driver's in the mem tier (or the
// kernel's, across tiers, when the baseline is "kernel"); in the kernel
// tier output copies/s over the kernel's, since a router that takes
// packets in and drops them (a full ring) must not look faster.
func computeRatios(res *Results) {
	base := res.Workload.Baseline
	idx := map[string]map[pointKey]*Point{}
	for i := range res.Points {
		p := &res.Points[i]
		if p.Status != StatusOK {
			continue
		}
		if idx[p.Driver] == nil {
			idx[p.Driver] = map[pointKey]*Point{}
		}
		idx[p.Driver][p.key()] = p
	}
	for i := range res.Points {
		p := &res.Points[i]
		p.Ratio, p.Baseline = 0, ""
		if p.Status != StatusOK {
			continue
		}
		var b *Point
		name := base
		switch {
		case p.Tier == TierKernel:
			name = kernelBaseline(res)
			b = idx[name][p.key()]
		case base == "kernel":
			k := p.key()
			k.tier, k.flows, k.lag = TierKernel, 0, 0
			b = idx[name][k]
		default:
			b = idx[name][p.key()]
		}
		if b == nil || b == p {
			continue
		}
		metric := MInMpps
		if p.Tier == TierKernel {
			metric = MCopiesPerSec
		}
		bv, pv := b.Summary[metric], p.Summary[metric]
		if bv.Valid() && pv.Valid() && bv.Median > 0 {
			p.Ratio, p.Baseline = pv.Median/bv.Median, name
		}
	}
}

// WriteAll writes results.json, table.md, bench.txt and the plots into dir.
func WriteAll(dir string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	var errs []error
	errs = append(errs, os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644))
	var t strings.Builder
	WriteTable(&t, res, TableOptions{Plots: true})
	errs = append(errs, os.WriteFile(filepath.Join(dir, "table.md"), []byte(t.String()), 0o644))
	var bf strings.Builder
	WriteBench(&bf, res)
	errs = append(errs, os.WriteFile(filepath.Join(dir, "bench.txt"), []byte(bf.String()), 0o644))
	if err := WritePlots(dir, res); err != nil {
		errs = append(errs, fmt.Errorf("plots: %w", err))
	}
	return errors.Join(errs...)
}

// kernelBaseline is the router the kernel tier's ratios are against: the
// kernel's ipmr, or on a kernel without it nft dup (the in-kernel
// replicator that does a router's work).
func kernelBaseline(res *Results) string {
	if hasPoint(res, TierKernel, "kernel") || !hasPoint(res, TierKernel, "nftdup") {
		return "kernel"
	}
	return "nftdup"
}

// hasPoint reports whether the results hold an OK point of driver.
func hasPoint(res *Results, tier, driver string) bool {
	return slices.ContainsFunc(res.Points, func(p Point) bool {
		return p.Tier == tier && p.Driver == driver && p.Status == StatusOK
	})
}
