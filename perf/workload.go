package perf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tier names.
const (
	TierMem     = "mem"
	TierKernel  = "kernel"
	TierControl = "control"
)

// Control benchmark names.
const (
	CtlInstall = "install" // RE -> FPC route install rate, by table size
	CtlResolve = "resolve" // resolve rate (closed loop) and latency (open loop)
	CtlIPC     = "ipc"     // codec and loopback session messages/s
	CtlDedup   = "dedup"   // OIL -> multicast NH dedup rate in the RE kernel
	CtlMemory  = "memory"  // bytes per route in the RE, the FPC and each driver
	CtlTree    = "tree"    // trio composite expansion + tree build, composites/s
)

// AllControl lists the control benchmarks in run order.
var AllControl = []string{CtlIPC, CtlDedup, CtlTree, CtlInstall, CtlResolve, CtlMemory}

// Chain layouts of the in-memory topology.
const (
	// ChainPerFlow gives every (S,G) its own indirect and composite NH over
	// the shared OIL members, as the RE downloads them (re/kernel).
	ChainPerFlow = "per-flow"
	// ChainShared points every route at one indirect and one composite:
	// the route table grows, the NH state does not.
	ChainShared = "shared"
)

// Workload is what `perf run` measures. Zero values are filled from the
// profile (see Profile).
type Workload struct {
	Profile string   `json:"profile"`
	Tiers   []string `json:"tiers"`

	// Data plane.
	Drivers  []string      `json:"drivers"`
	Fanouts  []int         `json:"fanouts"`
	Flows    []int         `json:"flows"`
	LAGs     []int         `json:"lags"`  // members per aggregate; 0 = plain ports
	Sizes    []int         `json:"sizes"` // Ethernet frame incl. FCS (RFC 2544): 64 -> 60 bytes in memory
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	Reps     int           `json:"reps"`
	Batch    int           `json:"batch"` // frames per Input call
	PFEs     int           `json:"pfes"`  // egress PFEs the ports are spread over
	Chain    string        `json:"chain"`
	// Options are driver options by driver name (hal.Config.Options).
	Options map[string]map[string]string `json:"options,omitempty"`

	// Kernel tier (kbase.sh): sizes come from Sizes, fan-outs from
	// KernelFanouts or, if empty, Fanouts (fan-outs above KernelMaxFanout
	// are reported impossible). Every point costs ~8 s of wall time.
	KernelFanouts  []int         `json:"kernel_fanouts,omitempty"`
	KernelDuration time.Duration `json:"kernel_duration"`
	KernelReps     int           `json:"kernel_reps"`
	// KernelWait is how long to wait for another kbase run on this machine
	// to finish before skipping the tier (0: skip at once).
	KernelWait time.Duration `json:"kernel_wait"`

	// Baseline is the driver (or "kernel") ratios are computed against.
	Baseline string `json:"baseline"`

	Control Control `json:"control"`
	// PointTimeout bounds one point (setup and every repetition); 0 picks
	// a bound from the duration.
	PointTimeout time.Duration `json:"point_timeout"`
}

// Control configures the control-plane benchmarks.
type Control struct {
	Benches []string `json:"benches"`
	// Routes are the table sizes at which the install rate is reported;
	// the largest is the number of routes installed (and measured for
	// memory per route).
	Routes []int `json:"routes"`
	// Resolves is the number of new flows of the closed-loop resolve run;
	// ResolveRate the offered rate of the open-loop latency run (the goal
	// rate, 50k/s) and ResolveLatencyN its number of flows.
	Resolves        int `json:"resolves"`
	ResolveRate     int `json:"resolve_rate"`
	ResolveLatencyN int `json:"resolve_latency_n"`
	// IPCMessages is the number of messages of the loopback run.
	IPCMessages int `json:"ipc_messages"`
	// DedupJoins is the number of joins of the dedup run.
	DedupJoins int `json:"dedup_joins"`
	Reps       int `json:"reps"`
}

// Profiles: tiny is the CI smoke test (a second or two), short is `make
// bench` (a few minutes on a 2-core VM), full is `make bench-full`.
var profiles = map[string]Workload{
	"tiny": {
		Tiers:   []string{TierMem, TierControl},
		Drivers: []string{"swpfe", "trio"}, Fanouts: []int{1, 4}, Flows: []int{1, 100},
		LAGs: []int{0}, Sizes: []int{64}, Duration: 30 * time.Millisecond, Warmup: 5 * time.Millisecond,
		Reps: 2, Batch: 32, PFEs: 8, Chain: ChainPerFlow, Baseline: "swpfe",
		KernelDuration: 2 * time.Second, KernelReps: 1,
		Control: Control{Benches: AllControl, Routes: []int{500, 1000}, Resolves: 300,
			ResolveRate: 5000, ResolveLatencyN: 200, IPCMessages: 20000, DedupJoins: 2000, Reps: 1},
	},
	"short": {
		Tiers:   []string{TierMem, TierKernel, TierControl},
		Drivers: []string{"swpfe", "trio", "afpacket", "xdp"}, Fanouts: []int{1, 4, 8, 16, 64}, Flows: []int{1, 100000},
		LAGs: []int{0}, Sizes: []int{64, 1518}, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Reps: 3, Batch: 32, PFEs: 8, Chain: ChainPerFlow, Baseline: "swpfe",
		KernelFanouts: []int{1, 4, 8}, KernelDuration: 2 * time.Second, KernelReps: 1, KernelWait: 3 * time.Minute,
		Control: Control{Benches: AllControl, Routes: []int{10000, 25000, 50000, 100000}, Resolves: 20000,
			ResolveRate: 50000, ResolveLatencyN: 10000, IPCMessages: 1000000, DedupJoins: 100000, Reps: 3},
	},
	"full": {
		Tiers:   []string{TierMem, TierKernel, TierControl},
		Drivers: []string{"swpfe", "trio", "afpacket", "xdp"}, Fanouts: []int{1, 2, 4, 8, 16, 64}, Flows: []int{1, 1000, 100000},
		LAGs: []int{0, 2}, Sizes: []int{64, 512, 1518}, Duration: time.Second, Warmup: 200 * time.Millisecond,
		Reps: 5, Batch: 32, PFEs: 8, Chain: ChainPerFlow, Baseline: "swpfe",
		KernelFanouts: []int{1, 2, 4, 8, 16}, KernelDuration: 5 * time.Second, KernelReps: 3, KernelWait: 30 * time.Minute,
		Control: Control{Benches: AllControl, Routes: []int{10000, 50000, 100000, 250000, 500000, 1000000},
			Resolves: 100000, ResolveRate: 50000, ResolveLatencyN: 50000, IPCMessages: 5000000, DedupJoins: 500000, Reps: 5},
	},
}

// ProfileNames lists the built-in profiles.
func ProfileNames() []string { return []string{"tiny", "short", "full"} }

// Profile returns a copy of a built-in workload.
func Profile(name string) (Workload, error) {
	p, ok := profiles[name]
	if !ok {
		return Workload{}, fmt.Errorf("unknown profile %q (have %s)", name, strings.Join(ProfileNames(), ", "))
	}
	w := p
	w.Profile = name
	w.Tiers = slices.Clone(p.Tiers)
	w.Drivers = slices.Clone(p.Drivers)
	w.Fanouts = slices.Clone(p.Fanouts)
	w.Flows = slices.Clone(p.Flows)
	w.LAGs = slices.Clone(p.LAGs)
	w.Sizes = slices.Clone(p.Sizes)
	w.Control.Benches = slices.Clone(p.Control.Benches)
	w.Control.Routes = slices.Clone(p.Control.Routes)
	w.KernelFanouts = slices.Clone(p.KernelFanouts)
	return w, nil
}

// Check rejects a workload that cannot be run at all (as opposed to single
// points that cannot, which are reported per point).
func (w *Workload) Check() error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	for _, t := range w.Tiers {
		if t != TierMem && t != TierKernel && t != TierControl {
			bad("unknown tier %q (have mem, kernel, control)", t)
		}
	}
	positive := func(name string, v []int, lo, hi int) {
		for _, x := range v {
			if x < lo || x > hi {
				bad("%s %d out of range %d..%d", name, x, lo, hi)
			}
		}
	}
	positive("fan-out", w.Fanouts, 1, 1024)
	positive("kernel fan-out", w.KernelFanouts, 1, 1024)
	positive("flows", w.Flows, 1, maxFlows)
	positive("lag", w.LAGs, 0, 64)
	positive("size", w.Sizes, 64, 1518)
	if w.has(TierMem) || w.has(TierKernel) {
		if len(w.Drivers) == 0 && w.has(TierMem) {
			bad("no drivers")
		}
		if len(w.Fanouts) == 0 || len(w.Sizes) == 0 {
			bad("need at least one fan-out and one size")
		}
	}
	if w.has(TierMem) {
		if len(w.Flows) == 0 || len(w.LAGs) == 0 {
			bad("need at least one flow count and one LAG layout")
		}
		if w.Duration <= 0 || w.Reps < 1 || w.Batch < 1 || w.Batch > 4096 {
			bad("duration must be > 0, reps >= 1, batch in 1..4096")
		}
		if w.PFEs < 1 || w.PFEs > 64 {
			bad("pfes %d out of range 1..64", w.PFEs)
		}
		if w.Chain != ChainPerFlow && w.Chain != ChainShared {
			bad("chain %q: want %s or %s", w.Chain, ChainPerFlow, ChainShared)
		}
	}
	for _, b := range w.Control.Benches {
		if !slices.Contains(AllControl, b) {
			bad("unknown control benchmark %q (have %s)", b, strings.Join(AllControl, ", "))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("workload: %s", strings.Join(errs, "; "))
	}
	return nil
}

// maxFlows bounds the flow count: composite ids of the per-flow chain live
// below hal.IndirectBase (see topology.go).
const maxFlows = 1_000_000

func (w *Workload) has(tier string) bool { return slices.Contains(w.Tiers, tier) }

func (w *Workload) hasControl(b string) bool {
	return w.has(TierControl) && slices.Contains(w.Control.Benches, b)
}

// ParseInts parses "1,2,4" (also "1k", "100k", "1M" and "100,000" written
// with underscores: "100_000").
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		mul := 1
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mul, f = 1000, f[:len(f)-1]
		case strings.HasSuffix(f, "M"), strings.HasSuffix(f, "m"):
			mul, f = 1000000, f[:len(f)-1]
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n*mul)
	}
	return out, nil
}

// ParseLAGs parses LAG layouts: "none" or "0" (plain ports), "N" or "aeN"
// (every OIL entry an aggregate of N member ports).
func ParseLAGs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "none" || f == "0":
			out = append(out, 0)
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(f, "ae"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("LAG layout %q: want none or the members per aggregate (e.g. 2 or ae2)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// lagName is how a LAG layout is printed.
func lagName(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("ae%d", n)
}
