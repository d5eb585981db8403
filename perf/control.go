package perf

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/perf/ctlbench"
)

// controlBenches maps the control benchmark names to their functions and
// repetitions (0: Control.Reps).
func (r *Runner) controlBenches() map[string]controlBench {
	c := r.W.Control
	win := r.benchWindow()
	return map[string]controlBench{
		CtlIPC:     {run: func(ctx context.Context) (ctlbench.Result, error) { return ctlbench.IPC(ctx, win, c.IPCMessages) }},
		CtlDedup:   {run: func(context.Context) (ctlbench.Result, error) { return ctlbench.Dedup(c.DedupJoins) }},
		CtlTree:    {run: func(ctx context.Context) (ctlbench.Result, error) { return ctlbench.Tree(ctx, win) }},
		CtlInstall: {run: func(ctx context.Context) (ctlbench.Result, error) { return ctlbench.Install(ctx, c.Routes) }},
		CtlResolve: {run: func(ctx context.Context) (ctlbench.Result, error) {
			return ctlbench.Resolve(ctx, c.Resolves, c.ResolveLatencyN, c.ResolveRate)
		}},
		// Heap figures barely move between repetitions and take long.
		CtlMemory: {run: r.benchMemory, reps: 1},
	}
}

// controlBench is one control benchmark: a repetition, and how many.
type controlBench struct {
	run  func(ctx context.Context) (ctlbench.Result, error)
	reps int // 0: Control.Reps
}

// runControl runs the control-plane benchmarks, each repetition guarded on
// its own.
func (r *Runner) runControl(ctx context.Context) {
	benches := r.controlBenches()
	for _, name := range AllControl {
		if !r.W.hasControl(name) || ctx.Err() != nil {
			continue
		}
		b := benches[name]
		n := b.reps
		if n == 0 {
			n = max(1, r.W.Control.Reps)
		}
		res := ControlResult{Name: name, Status: StatusOK}
		series := map[float64][]float64{}
		var xs []float64
		for rep := range n {
			o, err := guard(ctx, r.controlTimeout(), b.run)
			if err != nil {
				res.Status = StatusError
				res.Note = fmt.Sprintf("repetition %d of %d: %v", rep+1, n, err)
				if rep > 0 {
					res.Note += fmt.Sprintf(" (the %d finished repetitions are kept)", rep)
				}
				break
			}
			res.Reps = append(res.Reps, Metrics(o.Metrics))
			if o.Note != "" {
				res.Note = o.Note
			}
			for _, sp := range o.Series {
				if _, seen := series[sp.X]; !seen {
					xs = append(xs, sp.X)
				}
				series[sp.X] = append(series[sp.X], sp.Y)
			}
		}
		for _, x := range xs {
			res.Series = append(res.Series, SeriesPoint{X: x, Y: series[x]})
		}
		r.addControl(res)
	}
}

// controlTimeout bounds one repetition of a control benchmark.
func (r *Runner) controlTimeout() time.Duration {
	c := r.W.Control
	big := max(c.Resolves+c.ResolveLatencyN, c.DedupJoins, c.IPCMessages/10)
	for _, n := range c.Routes {
		big = max(big, n)
	}
	// 10k objects/s is 10x below every goal: anything slower is stuck.
	return 2*time.Minute + time.Duration(big/10_000)*time.Second
}

// benchWindow is how long the rate loops of the codec and tree benchmarks
// run: the data-plane duration, within 50 ms..1 s.
func (r *Runner) benchWindow() time.Duration {
	return min(max(r.W.Duration, 50*time.Millisecond), time.Second)
}

// driverMemoryPerRoute programs n flows of a fan-out 4 per-flow chain (the
// objects the RE downloads per (S,G): route, indirect, composite) into a
// driver and returns the live heap per route.
func driverMemoryPerRoute(ctx context.Context, name string, spec DriverSpec, n int) (float64, error) {
	t := topoSpec{Fanout: 4, Flows: n, PFEs: 8, Chain: ChainPerFlow}
	tp := buildTopo(t)
	var opts map[string]string
	if spec.Sized != nil {
		opts, _ = spec.Sized(&t)
	}
	before := ctlbench.HeapInUse()
	d, err := spec.New(ctx, hal.Config{Logger: slog.New(slog.DiscardHandler), Upcalls: &countingUpcalls{}, Egress: &countingSink{}, Options: opts})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	defer d.Close()
	if _, err := d.Apply(ctx, tp.ops); err != nil {
		return 0, fmt.Errorf("%s: apply: %w", name, firstErrors(err, 3))
	}
	after := ctlbench.HeapInUse()
	runtime.KeepAlive(tp)
	if s := d.Summary(); s.Routes != n+1 {
		return 0, fmt.Errorf("%s: %d routes installed, want %d", name, s.Routes, n+1)
	}
	return float64(after-before) / float64(n), nil
}

// benchMemory measures bytes per route in the RE kernel alone, in RE + FPC
// in one process (and so the FPC as the difference), and in each in-memory
// driver alone, at the largest table size of Control.Routes.
func (r *Runner) benchMemory(ctx context.Context) (ctlbench.Result, error) {
	n := 0
	for _, x := range r.W.Control.Routes {
		n = max(n, x)
	}
	m := map[string]float64{"routes": float64(n)}
	re, err := ctlbench.REMemoryPerRoute(n)
	if err != nil {
		return ctlbench.Result{}, fmt.Errorf("RE kernel: %w", err)
	}
	m["re_bytes_per_route"] = re
	e2e, err := ctlbench.E2EMemoryPerRoute(ctx, n)
	if err != nil {
		return ctlbench.Result{}, fmt.Errorf("RE + FPC: %w", err)
	}
	m["e2e_bytes_per_route"] = e2e
	m["fpc_bytes_per_route"] = e2e - re
	for _, name := range []string{swpfe.Name, trio.Name} {
		spec, ok := r.Drivers[name]
		if !ok {
			continue
		}
		b, err := driverMemoryPerRoute(ctx, name, spec, n)
		if err != nil {
			return ctlbench.Result{}, err
		}
		m[name+"_bytes_per_route"] = b
	}
	return ctlbench.Result{Metrics: m, Note: "live heap after GC; e2e includes IPC buffers and the FPC's shadow tables; FPC = e2e - RE kernel alone"}, nil
}
