package perfcli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/internal/daemon"
	"github.com/mxfwd/mxfwd/perf"
)

// runFlags are `perf run`'s flags; a flag left alone keeps the profile's
// value.
type runFlags struct {
	profile, drivers, fanouts, flows, lags, sizes, tiers, baseline, chain string
	control, routes, kernelFanouts                                        string
	duration, warmup, kernelDur, kernelWait, pointTimeout                 time.Duration
	reps, batch, pfes, kernelReps, resolves, resolveRate, ipcMsgs         int
	opts                                                                  []string
	out, kbase, datapathBench, bin, readme                                string
	jsonOut, quiet                                                        bool
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run",
		Short: "Run a workload through every driver (and the kernel) and the control-plane benchmarks",
		Long: `Run measures a workload: every driver through the HAL in memory, the kernel's
multicast forwarding next to afpacket on veth ports (root), and the control
plane. Flags override the profile (tiny: CI smoke test; short: make bench;
full: make bench-full). Results go to --out: results.jsonl (written as points
finish), results.json, table.md, bench.txt (benchstat), *.png and *.svg.

Exit status 1 when a point or benchmark failed (its message names it; the
rest of the matrix still ran) or the run was interrupted (what was measured
is written), 0 otherwise (skips included).`,
		Example: `  perf run --profile short
  perf run --profile tiny --out /tmp/p
  perf run --drivers swpfe,trio --fanout 1,16 --flows 1,100k --sizes 64 --tiers mem --duration 1s --reps 5
  benchstat old/bench.txt new/bench.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.run(cmd, &f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.profile, "profile", "short", "base workload: "+strings.Join(perf.ProfileNames(), ", "))
	fl.StringVar(&f.tiers, "tiers", "", "tiers to run: mem, kernel, control")
	fl.StringVar(&f.drivers, "drivers", "", "drivers, e.g. swpfe,trio,afpacket")
	fl.StringVar(&f.fanouts, "fanout", "", "fan-outs, e.g. 1,2,4,8,16,64")
	fl.StringVar(&f.flows, "flows", "", "concurrent (S,G) flows, e.g. 1,1k,100k")
	fl.StringVar(&f.lags, "lag", "", "LAG layouts: none, or members per aggregate (2, ae4)")
	fl.StringVar(&f.sizes, "sizes", "", "Ethernet frame sizes incl. FCS, e.g. 64,512,1518")
	fl.DurationVar(&f.duration, "duration", 0, "measured time per repetition (mem tier)")
	fl.DurationVar(&f.warmup, "warmup", 0, "warm-up before each repetition (mem tier)")
	fl.IntVar(&f.reps, "reps", 0, "repetitions per point (mem tier)")
	fl.IntVar(&f.batch, "batch", 0, "frames per Input call")
	fl.IntVar(&f.pfes, "pfes", 0, "egress PFEs the ports are spread over")
	fl.StringVar(&f.chain, "chain", "", "NH chain per route: per-flow (as the RE downloads) or shared")
	fl.StringArrayVar(&f.opts, "opt", nil, "driver option DRIVER.KEY=VALUE (repeatable), e.g. trio.mcast-lists=65536")
	fl.StringVar(&f.baseline, "baseline", "", "driver (or kernel) the ratios are computed against")
	fl.StringVar(&f.kernelFanouts, "kernel-fanout", "", "fan-outs of the kernel tier (default: --fanout if given, else the profile's)")
	fl.DurationVar(&f.kernelDur, "kernel-duration", 0, "measured time per kernel-tier point")
	fl.IntVar(&f.kernelReps, "kernel-reps", 0, "repetitions per kernel-tier point")
	fl.DurationVar(&f.kernelWait, "kernel-wait", 0, "wait this long for another kbase run to finish before skipping the kernel tier")
	fl.StringVar(&f.control, "control", "", "control benchmarks: all, none or a list of "+strings.Join(perf.AllControl, ","))
	fl.StringVar(&f.routes, "routes", "", "route table sizes of the install benchmark (the largest is also used for memory)")
	fl.IntVar(&f.resolves, "resolves", 0, "new flows of the closed-loop resolve run")
	fl.IntVar(&f.resolveRate, "resolve-rate", 0, "offered resolves/s of the open-loop latency run")
	fl.IntVar(&f.ipcMsgs, "ipc-messages", 0, "messages of the IPC loopback run")
	fl.DurationVar(&f.pointTimeout, "point-timeout", 0, "give up on a point after this long (0: from the duration)")
	fl.StringVar(&f.out, "out", "", "results directory (default perf/results/<date>)")
	fl.StringVar(&f.kbase, "kbase", "perf/kbase/kbase.sh", "the kernel baseline harness (a copy of ../shared/perf/kbase.sh with its own namespace prefix)")
	fl.StringVar(&f.datapathBench, "datapath-bench", "perf/datapath/bench.sh", "the kernel tier's sweep: real-port drivers next to the in-kernel baselines")
	fl.StringVar(&f.bin, "bin", "bin", "directory holding the re and fpc binaries (make build)")
	fl.StringVar(&f.readme, "readme", "", "update the latest-results section of this README")
	fl.BoolVar(&f.jsonOut, "json", false, "print the results as JSON on stdout instead of the table")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	return c
}

// workload builds the workload from the profile and the flags that were set.
func (f *runFlags) workload(cmd *cobra.Command) (perf.Workload, error) {
	w, err := perf.Profile(f.profile)
	if err != nil {
		return w, err
	}
	set := cmd.Flags().Changed
	ints := func(name, v string, dst *[]int) error {
		if !set(name) {
			return nil
		}
		x, err := perf.ParseInts(v)
		if err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
		*dst = x
		return nil
	}
	for _, e := range []error{
		ints("fanout", f.fanouts, &w.Fanouts),
		ints("flows", f.flows, &w.Flows),
		ints("sizes", f.sizes, &w.Sizes),
		ints("routes", f.routes, &w.Control.Routes),
		ints("kernel-fanout", f.kernelFanouts, &w.KernelFanouts),
	} {
		if e != nil {
			return w, e
		}
	}
	if set("fanout") && !set("kernel-fanout") {
		w.KernelFanouts = nil // the kernel tier follows --fanout
	}
	if set("lag") {
		if w.LAGs, err = perf.ParseLAGs(f.lags); err != nil {
			return w, fmt.Errorf("--lag: %w", err)
		}
	}
	if set("drivers") {
		w.Drivers = perf.SplitList(f.drivers)
	}
	if set("tiers") {
		w.Tiers = perf.SplitList(f.tiers)
	}
	if set("control") {
		switch f.control {
		case "all":
			w.Control.Benches = perf.AllControl
		case "none", "":
			w.Control.Benches = nil
		default:
			w.Control.Benches = perf.SplitList(f.control)
		}
	}
	dur := func(name string, v time.Duration, dst *time.Duration) {
		if set(name) {
			*dst = v
		}
	}
	dur("duration", f.duration, &w.Duration)
	dur("warmup", f.warmup, &w.Warmup)
	dur("kernel-duration", f.kernelDur, &w.KernelDuration)
	dur("kernel-wait", f.kernelWait, &w.KernelWait)
	dur("point-timeout", f.pointTimeout, &w.PointTimeout)
	num := func(name string, v int, dst *int) {
		if set(name) {
			*dst = v
		}
	}
	num("reps", f.reps, &w.Reps)
	num("batch", f.batch, &w.Batch)
	num("pfes", f.pfes, &w.PFEs)
	num("kernel-reps", f.kernelReps, &w.KernelReps)
	num("resolves", f.resolves, &w.Control.Resolves)
	num("resolve-rate", f.resolveRate, &w.Control.ResolveRate)
	num("ipc-messages", f.ipcMsgs, &w.Control.IPCMessages)
	if set("chain") {
		w.Chain = f.chain
	}
	if set("baseline") {
		w.Baseline = f.baseline
	}
	for _, o := range f.opts {
		dk, v, ok := strings.Cut(o, "=")
		d, k, ok2 := strings.Cut(dk, ".")
		if !ok || !ok2 || d == "" || k == "" {
			return w, fmt.Errorf("--opt %q: want DRIVER.KEY=VALUE", o)
		}
		if w.Options == nil {
			w.Options = map[string]map[string]string{}
		}
		if w.Options[d] == nil {
			w.Options[d] = map[string]string{}
		}
		w.Options[d][k] = v
	}
	return w, w.Check()
}

func (a *app) run(cmd *cobra.Command, f *runFlags) error {
	w, err := f.workload(cmd)
	if err != nil {
		return err
	}
	out := f.out
	if out == "" {
		out = filepath.Join("perf", "results", time.Now().Format("2006-01-02"))
		if _, err := os.Stat("perf"); err != nil {
			out = filepath.Join("perf-results", time.Now().Format("2006-01-02"))
		}
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, _, stop := daemon.SignalContext(parent)
	defer stop()
	r := &perf.Runner{
		W:             w,
		Out:           out,
		Env:           perf.CaptureEnv(commandLine(os.Args)),
		IsRoot:        os.Geteuid() == 0,
		KBase:         absOrEmpty(f.kbase),
		DatapathBench: absOrEmpty(f.datapathBench),
		BinDir:        absOrEmpty(f.bin),
	}
	if !f.quiet {
		r.Log = cmd.ErrOrStderr()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "perf: profile %s, tiers %s, results in %s\n", w.Profile, strings.Join(w.Tiers, ","), out)
	res, err := r.Run(ctx)
	if err != nil && res == nil {
		return err
	}
	if f.readme != "" && res != nil {
		if rerr := perf.UpdateReadme(f.readme, out, res); rerr != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "perf: readme:", rerr)
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if e := enc.Encode(res); e != nil {
			return e
		}
	} else {
		perf.WriteTable(cmd.OutOrStdout(), res, perf.TableOptions{})
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "perf: results in %s (table.md, results.json, bench.txt, plots) after %.0fs\n", out, res.Elapsed)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; the points measured before are in %s", out)
	}
	if perf.Failed(res) {
		fmt.Fprintln(cmd.ErrOrStderr(), "perf: some points failed; see \"Problems and notes\" in table.md")
		return ErrFailed
	}
	return nil
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// commandLine quotes the arguments that need it, so that the command in
// the results can be pasted back into a shell.
func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, s := range args {
		if s == "" || strings.ContainsAny(s, " \t'\"$\\*?;&|<>()") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}
