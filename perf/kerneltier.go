package perf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// kernelCeiling is the driver name of kbase's generator-only points
// (router "off": nothing forwards, counted at the router's input).
const kernelCeiling = "trafgen-ceiling"

// kbPoint is the part of a kb_measure.py JSON line the harness reads.
type kbPoint struct {
	Router      string   `json:"router"`
	N           int      `json:"n"`
	Size        int      `json:"size"`
	Rep         int      `json:"rep"`
	Dur         float64  `json:"dur_s"`
	OfferedPPS  float64  `json:"offered_pps"`
	InPPS       float64  `json:"in_rx_pps"`
	OutPPS      float64  `json:"total_out_pps"`
	OutDropPPS  float64  `json:"total_out_drop_pps"`
	OutGbps     float64  `json:"total_out_gbps"`
	NsPerIn     *float64 `json:"ns_per_in_pkt"`
	NsPerOut    *float64 `json:"ns_per_out_pkt"`
	RtrCPU      float64  `json:"rtr_cpu_busy_pct"`
	GenCPU      float64  `json:"gen_cpu_busy_pct"`
	RtrProcCPU  *float64 `json:"rtr_proc_cpu_pct"`
	ForeignCPU  float64  `json:"foreign_cpu_pct"`
	RtrSoftirq  float64  `json:"rtr_cpu_softirq_pct"`
	LayoutLabel string   `json:"layout"`
}

func (k *kbPoint) metrics() Metrics {
	fanout := float64(max(1, k.N))
	m := Metrics{
		MInMpps:        k.InPPS / 1e6,
		MCopiesPerSec:  k.OutPPS,
		MFwdMpps:       k.OutPPS / fanout / 1e6,
		MCPUPct:        k.RtrCPU,
		MOtherCPUPct:   k.ForeignCPU,
		MOutDropsPS:    k.OutDropPPS,
		MGbps:          k.OutGbps,
		"offered_mpps": k.OfferedPPS / 1e6,
		"gen_cpu_pct":  k.GenCPU,
		"packets":      k.InPPS * k.Dur,
	}
	if k.InPPS > 0 {
		m[MCopiesPerPkt] = k.OutPPS / k.InPPS
	}
	if k.NsPerIn != nil {
		m[MNsPerPkt] = *k.NsPerIn
	}
	if k.NsPerOut != nil {
		m[MNsPerCopy] = *k.NsPerOut
	}
	if k.RtrProcCPU != nil {
		m["router_proc_cpu_pct"] = *k.RtrProcCPU
	}
	return m
}

// kernelNSPrefix is the namespace prefix of perf's kbase runs (NSP of
// perf/kbase/kbase.sh): never "kb-", so that a run never deletes or reuses
// the namespaces of someone using shared/perf/kbase.sh by hand.
const kernelNSPrefix = "mxp-"

// kernelBusy reports another kbase measurement in progress on this machine
// ("" if none): two at once would measure each other. It looks for a
// kbase.sh or trafgen process.
func kernelBusy() string {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for i, a := range args {
			if strings.HasSuffix(a, "kbase.sh") || (i == 0 && filepath.Base(a) == "trafgen") {
				return fmt.Sprintf("another kbase measurement is running (pid %d: %s)", pid, strings.Join(args[:min(len(args), 4)], " "))
			}
		}
	}
	return ""
}

// mrouteMissing says, in one line, why this kernel cannot be the ipmr
// baseline ("" when it can): kernels built without CONFIG_IP_MROUTE have
// no /proc/net/ip_mr_vif and refuse MRT_INIT.
func mrouteMissing() string {
	if fileExists("/proc/net/ip_mr_vif") {
		return ""
	}
	return "this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE off, no /proc/net/ip_mr_vif): no ipmr baseline; the kernel tier compares against nft dup and the bridge"
}

// runKernel runs the kernel tier: one interleaved kbase sweep
// (perf/datapath/bench.sh) over the workload's fan-outs and sizes with the
// kernel's own replicators - ipmr where the kernel has it, nft dup and the
// bridge - and an RE + FPC on every selected real-port driver.
func (r *Runner) runKernel(ctx context.Context) {
	w := &r.W
	var drivers []string
	var drvNote string
	for _, d := range w.Drivers {
		if spec, ok := r.Drivers[d]; ok && spec.KernelTier {
			drivers = append(drivers, d)
		}
	}
	if len(drivers) > 0 {
		switch {
		case !fileExists(r.DatapathBench):
			drvNote = fmt.Sprintf("kernel-tier wrapper %s not found", r.DatapathBench)
		case !fileExists(filepath.Join(r.BinDir, "re")) || !fileExists(filepath.Join(r.BinDir, "fpc")):
			drvNote = fmt.Sprintf("%s/re and %s/fpc missing: run make build", r.BinDir, r.BinDir)
		}
	}
	if drvNote != "" {
		for _, d := range drivers {
			r.addPoint(Point{Tier: TierKernel, Driver: d, Status: StatusSkipped, Note: drvNote})
		}
		drivers = nil
	}
	baselines := []string{"kernel", "nftdup", "bridge"}
	noMroute := mrouteMissing()
	if noMroute != "" {
		r.logf("kernel tier: %s", noMroute)
		r.note("%s", noMroute)
		baselines = baselines[1:]
	}
	routers := append(slices.Clone(baselines), drivers...)
	tierSkip := func(status, note string) {
		for _, rt := range routers {
			r.addPoint(Point{Tier: TierKernel, Driver: rt, Status: status, Note: note})
		}
	}
	if !r.IsRoot {
		tierSkip(StatusSkipped, "the kernel tier needs root (network namespaces, trafgen, tc, BPF)")
		return
	}
	if !fileExists(r.KBase) {
		tierSkip(StatusSkipped, fmt.Sprintf("kbase.sh not found at %s (--kbase)", r.KBase))
		return
	}
	if !fileExists(r.DatapathBench) {
		tierSkip(StatusSkipped, fmt.Sprintf("kernel-tier wrapper %s not found (--datapath-bench)", r.DatapathBench))
		return
	}
	for _, tool := range []string{"trafgen", "tcpdump", "python3", "gcc", "tc", "ip", "taskset", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			hint := ""
			switch tool {
			case "trafgen":
				hint = " (apt-get install netsniff-ng)"
			case "nft":
				hint = " (apt-get install nftables)"
			}
			tierSkip(StatusSkipped, fmt.Sprintf("%s not found%s", tool, hint))
			return
		}
	}
	fanouts := w.KernelFanouts
	if len(fanouts) == 0 {
		fanouts = w.Fanouts
	}
	if len(fanouts) == 0 {
		return
	}
	if slices.Contains(routers, "kernel") {
		for _, f := range fanouts {
			if f > KernelMaxFanout {
				for _, size := range w.Sizes {
					r.addPoint(Point{Tier: TierKernel, Driver: "kernel", Fanout: f, Size: size, Status: StatusError,
						Note: fmt.Sprintf("impossible for ipmr: it has %d VIFs (MAXVIFS) and the input takes one, so fan-out is at most %d; this point needs %d", KernelMaxFanout+1, KernelMaxFanout, f)})
				}
			}
		}
	}
	// Wait for another run to finish, never break into it.
	if busy := kernelBusy(); busy != "" {
		r.logf("kernel tier: %s; waiting up to %v", busy, w.KernelWait)
		deadline := time.Now().Add(w.KernelWait)
		for busy != "" && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(2 * time.Second)
			busy = kernelBusy()
		}
		if busy != "" {
			tierSkip(StatusSkipped, busy+fmt.Sprintf("; waited %v (--kernel-wait)", w.KernelWait))
			return
		}
	}
	dir, tmp := r.kernelDirs()
	// kbase appends to results.jsonl: start from an empty directory.
	if err := os.RemoveAll(dir); err != nil {
		tierSkip(StatusError, err.Error())
		return
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		tierSkip(StatusError, err.Error())
		return
	}
	maxN := 8
	for _, f := range fanouts {
		maxN = max(maxN, f)
	}
	env := append(os.Environ(),
		"OUTDIR="+dir, "RUNDIR="+tmp, "KBASE="+r.KBase, "BIN="+r.BinDir,
		"FANOUTS="+joinInts(fanouts, " "), "SIZES="+joinInts(w.Sizes, " "),
		fmt.Sprintf("REPS=%d", w.KernelReps), fmt.Sprintf("DUR=%g", w.KernelDuration.Seconds()),
		"WARM=1", fmt.Sprintf("MAXN=%d", maxN), "NSP="+kernelNSPrefix,
		"DRIVERS="+strings.Join(drivers, " "), "BASELINES="+strings.Join(baselines, " "), "LOSS_ROUTERS=")
	args := []string{"bash", r.DatapathBench}
	points := len(w.Sizes)*w.KernelReps + len(w.Sizes)*len(fanouts)*w.KernelReps*len(routers)
	perPoint := w.KernelDuration + 6*time.Second
	if len(drivers) > 0 {
		perPoint += 5 * time.Second // the RE and the FPC start for every point of ours
	}
	timeout := 3*time.Minute + 2*time.Duration(points)*perPoint
	r.logf("kernel tier: %s (routers %s, fan-outs %v, sizes %v, %d reps, ~%d points, timeout %v); log in %s",
		strings.Join(args, " "), strings.Join(routers, ","), fanouts, w.Sizes, w.KernelReps, points, timeout, filepath.Join(dir, "run.log"))
	runErr := r.runScript(ctx, timeout, dir, env, args)
	if runErr != nil {
		// Never leave namespaces behind (none existed when we started).
		tctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = run(tctx, nil, "env", "RUNDIR="+tmp, "NSP="+kernelNSPrefix, "bash", r.KBase, "teardown")
		cancel()
	}
	r.kernelPoints(dir, routers, fanouts, runErr)
}

// kernelDirs are the kernel tier's output directory and scratch directory.
func (r *Runner) kernelDirs() (string, string) {
	out := r.Out
	if out == "" {
		out = filepath.Join(os.TempDir(), fmt.Sprintf("mxperf-%d", os.Getpid()))
	}
	if abs, err := filepath.Abs(out); err == nil {
		out = abs // the scripts run with their own idea of the current directory
	}
	return filepath.Join(out, "kbase"), filepath.Join(out, "tmp", "kb-run")
}

// runScript runs a kbase command in its own process group, its output in
// dir/run.log and its "[kbase]" progress lines on the run log.
func (r *Runner) runScript(ctx context.Context, timeout time.Duration, dir string, env, args []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.HasPrefix(line, "[kbase]") || strings.HasPrefix(line, "bench.sh:") {
				r.logf("  %s", line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	})
	err = cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers of our own group
	}
	if ctx.Err() != nil {
		return fmt.Errorf("kbase run stopped: %w", context.Cause(ctx))
	}
	return err
}

// kernelPoints reads dir/results.jsonl into points; expected points that
// are missing are reported with the end of the log.
func (r *Runner) kernelPoints(dir string, routers []string, fanouts []int, runErr error) {
	w := &r.W
	raw, _ := os.ReadFile(filepath.Join(dir, "results.jsonl"))
	type key struct {
		router  string
		n, size int
	}
	groups := map[key][]Metrics{}
	var order []key
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var k kbPoint
		if err := json.Unmarshal(line, &k); err != nil {
			r.note("kernel tier: unreadable line in %s: %v", filepath.Join(dir, "results.jsonl"), err)
			continue
		}
		name := k.Router
		if name == "off" {
			name = kernelCeiling
		}
		kk := key{name, k.N, k.Size}
		if name == kernelCeiling {
			kk.n = 0
		}
		if _, ok := groups[kk]; !ok {
			order = append(order, kk)
		}
		groups[kk] = append(groups[kk], k.metrics())
	}
	for _, k := range order {
		p := Point{Tier: TierKernel, Driver: k.router, Fanout: k.n, Size: k.size, Status: StatusOK, Reps: groups[k]}
		if len(p.Reps) < w.KernelReps && k.router != kernelCeiling {
			p.Note = fmt.Sprintf("%d of %d repetitions", len(p.Reps), w.KernelReps)
		}
		if k.router == kernelCeiling {
			p.Note = "generator alone: nothing forwards; counted at the router input"
		}
		r.addPoint(p)
	}
	why := "the sweep stopped before this point"
	if runErr != nil {
		why += fmt.Sprintf(" (%v)", runErr)
	}
	why += "; end of " + filepath.Join(dir, "run.log") + ": " + tail(filepath.Join(dir, "run.log"), 4)
	for _, rt := range routers {
		for _, size := range w.Sizes {
			for _, f := range fanouts {
				if rt == "kernel" && f > KernelMaxFanout {
					continue // reported as impossible
				}
				if _, ok := groups[key{rt, f, size}]; !ok {
					r.addPoint(Point{Tier: TierKernel, Driver: rt, Fanout: f, Size: size, Status: StatusError, Note: why})
				}
			}
		}
	}
	if runErr != nil && len(order) > 0 {
		r.note("kernel tier ended with an error (%v); the %d points it finished are kept", runErr, len(order))
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func fileExists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
