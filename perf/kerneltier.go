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

// runKernel runs the kernel tier: kbase.sh's sweep over the workload's
// fan-outs and sizes with the kernel's ipmr, and with an RE + afpacket FPC
// alternately (perf/afpacket/bench.sh) when afpacket is among the drivers.
func (r *Runner) runKernel(ctx context.Context) {
	w := &r.W
	routers := []string{"kernel"}
	afpNote := ""
	if slices.Contains(w.Drivers, "afpacket") && r.Drivers["afpacket"].KernelTier {
		switch {
		case !fileExists(r.AFPBench):
			afpNote = fmt.Sprintf("afpacket kernel-tier wrapper %s not found", r.AFPBench)
		case !fileExists(filepath.Join(r.BinDir, "re")) || !fileExists(filepath.Join(r.BinDir, "fpc")):
			afpNote = fmt.Sprintf("%s/re and %s/fpc missing: run make build", r.BinDir, r.BinDir)
		default:
			routers = append(routers, "afpacket")
		}
	}
	tierSkip := func(status, note string) {
		r.addPoint(Point{Tier: TierKernel, Driver: "kernel", Status: status, Note: note})
	}
	if afpNote != "" {
		r.addPoint(Point{Tier: TierKernel, Driver: "afpacket", Status: StatusSkipped, Note: afpNote})
	}
	if !r.IsRoot {
		tierSkip(StatusSkipped, "the kernel tier needs root (network namespaces, trafgen, tc)")
		return
	}
	if !fileExists(r.KBase) {
		tierSkip(StatusSkipped, fmt.Sprintf("kbase.sh not found at %s (--kbase)", r.KBase))
		return
	}
	for _, tool := range []string{"trafgen", "tcpdump", "python3", "gcc", "tc", "ip", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			hint := ""
			if tool == "trafgen" {
				hint = " (apt-get install netsniff-ng)"
			}
			tierSkip(StatusSkipped, fmt.Sprintf("%s not found%s", tool, hint))
			return
		}
	}
	var fanouts []int
	want := w.KernelFanouts
	if len(want) == 0 {
		want = w.Fanouts
	}
	for _, f := range want {
		if f > KernelMaxFanout {
			for _, rt := range routers {
				for _, size := range w.Sizes {
					r.addPoint(Point{Tier: TierKernel, Driver: rt, Fanout: f, Size: size, Status: StatusError,
						Note: fmt.Sprintf("impossible in the kernel tier: the kernel's ipmr has %d VIFs (MAXVIFS) and the input takes one, so fan-out is at most %d; this point needs %d", KernelMaxFanout+1, KernelMaxFanout, f)})
				}
			}
			continue
		}
		fanouts = append(fanouts, f)
	}
	if len(fanouts) == 0 {
		return
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
		"WARM=1", fmt.Sprintf("MAXN=%d", maxN), "NSP="+kernelNSPrefix)
	var args []string
	if slices.Contains(routers, "afpacket") {
		args = []string{"bash", r.AFPBench}
	} else {
		q := shellQuote(r.KBase)
		args = []string{"bash", "-c", "bash " + q + " setup && bash " + q + " sweep; rc=$?; bash " + q + " teardown; exit $rc"}
		env = append(env, "ROUTERS=kernel")
	}
	points := len(w.Sizes)*w.KernelReps + len(w.Sizes)*len(fanouts)*w.KernelReps*len(routers)
	perPoint := w.KernelDuration + 6*time.Second
	if len(routers) > 1 {
		perPoint += 5 * time.Second // the RE and the FPC start for every afpacket point
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
