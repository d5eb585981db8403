package perf

import (
	"fmt"
	"math"
)

// findPoint returns the OK point with these coordinates, or nil.
func findPoint(res *Results, tier, driver string, fanout, flows, lag, size int) *Point {
	for i := range res.Points {
		p := &res.Points[i]
		if p.Status == StatusOK && p.Tier == tier && p.Driver == driver && p.Fanout == fanout && p.Size == size &&
			(tier == TierKernel || (p.Flows == flows && p.LAG == lag)) {
			return p
		}
	}
	return nil
}

func findControl(res *Results, name string) *ControlResult {
	for i := range res.Control {
		if res.Control[i].Name == name && res.Control[i].Status == StatusOK {
			return &res.Control[i]
		}
	}
	return nil
}

// goalAtLeast / goalAtMost build a goal row from a stat (judged on the
// median).
func goalCheck(name, target string, s Stat, ok func(float64) bool, f unitFmt, missing string) Goal {
	g := Goal{Name: name, Target: target}
	if !s.Valid() {
		g.Value, g.Met = missing, "n/a"
		return g
	}
	g.Value = fmtStat(s, f.num) + f.unit
	g.Met = "no"
	if ok(s.Median) {
		g.Met = "yes"
	}
	return g
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func below(x float64) func(float64) bool   { return func(v float64) bool { return v < x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }

func pointStat(p *Point, metric string) Stat {
	if p == nil {
		return Stat{Median: math.NaN()}
	}
	return p.Summary[metric]
}

func controlStat(c *ControlResult, metric string) Stat {
	if c == nil {
		return Stat{Median: math.NaN()}
	}
	return c.Summary[metric]
}

// unitFmt prints a figure's numbers and then its unit once.
type unitFmt struct {
	num  func(float64) string
	unit string
}

func withUnit(u string, f func(float64) string) unitFmt { return unitFmt{f, u} }

// evaluateGoals checks the figures the project set itself (see the issue
// that created perf/): each row names the exact point it reads.
func evaluateGoals(res *Results) []Goal {
	var gs []Goal
	notRun := "not measured in this run"
	mem := func(driver string, fanout int) *Point { return findPoint(res, TierMem, driver, fanout, 1, 0, 64) }

	gs = append(gs, goalCheck("swpfe Mpps, fan-out 1 (mem, 64 B, 1 flow, no LAG)", ">= 10 Mpps",
		pointStat(mem("swpfe", 1), MInMpps), atLeast(10), withUnit(" Mpps", trim3), notRun))
	gs = append(gs, goalCheck("swpfe copies/s, fan-out 16 (mem, 64 B, 1 flow, no LAG)", ">= 30 M/s",
		pointStat(mem("swpfe", 16), MCopiesPerSec), atLeast(30e6), withUnit("/s", fmtNum), notRun))
	// Allocations: the worst median over every swpfe point.
	worst := Stat{Median: math.NaN()}
	n := 0
	for i := range res.Points {
		p := &res.Points[i]
		if p.Tier == TierMem && p.Driver == "swpfe" && p.Status == StatusOK {
			s := p.Summary[MAllocsPerPkt]
			if s.Valid() && (n == 0 || s.Median > worst.Median) {
				worst = s
			}
			n++
		}
	}
	// 0.0005 allocs/pkt prints as 0.000: one allocation per 2000 packets
	// (the runtime's own, e.g. a timer) is below what the table shows.
	gs = append(gs, goalCheck(fmt.Sprintf("swpfe allocations per packet (worst of %d mem points)", n), "0",
		worst, below(0.0005), withUnit("", fmtAllocs), notRun))

	trioName := "trio Mpps, fan-out 16 over 8 PFEs (mem, 64 B, 1 flow, no LAG)"
	if res.Workload.PFEs == 8 {
		gs = append(gs, goalCheck(trioName, ">= 2 Mpps", pointStat(mem("trio", 16), MInMpps), atLeast(2), withUnit(" Mpps", trim3), notRun))
	} else {
		gs = append(gs, Goal{Name: trioName, Target: ">= 2 Mpps", Value: fmt.Sprintf("run used %d egress PFEs", res.Workload.PFEs), Met: "n/a"})
	}
	tree := findControl(res, CtlTree)
	gs = append(gs, goalCheck("trio tree build (48 PFEs, 8 sublists: expansion + 16 trees)", "< 50 µs",
		controlStat(tree, "tree_build_us"), below(50), withUnit(" µs", trim3), notRun))
	gs = append(gs, goalCheck("trio composites programmed per second", ">= 10k/s",
		controlStat(tree, "composites_per_s"), atLeast(10e3), withUnit("/s", fmtNum), notRun))

	inst := findControl(res, CtlInstall)
	gs = append(gs, goalCheck("RE -> FPC route install, (S,G)/s until on the PFE", ">= 100k/s",
		controlStat(inst, "routes_per_s"), atLeast(installGoal), withUnit("/s", fmtNum), notRun))
	rs := findControl(res, CtlResolve)
	gs = append(gs, goalCheck("resolves/s, throttle off (closed loop)", ">= 50k/s",
		controlStat(rs, "resolves_per_s"), atLeast(50e3), withUnit("/s", fmtNum), notRun))
	latName := "resolve latency p99 (open loop)"
	if rs != nil {
		if s := rs.Summary["offered_per_s"]; s.Valid() {
			latName = fmt.Sprintf("resolve latency p99 at %s/s offered (open loop)", fmtNum(s.Median))
		}
	}
	gs = append(gs, goalCheck(latName, "< 1 ms",
		controlStat(rs, "lat_p99_us"), below(1000), withUnit(" µs", trim3), notRun))

	ipc := findControl(res, CtlIPC)
	gs = append(gs, goalCheck("IPC codec encode, msgs/s", ">= 5M/s", controlStat(ipc, "encode_msgs_per_s"), atLeast(5e6), withUnit("/s", fmtNum), notRun))
	gs = append(gs, goalCheck("IPC codec decode, msgs/s", ">= 5M/s", controlStat(ipc, "decode_msgs_per_s"), atLeast(5e6), withUnit("/s", fmtNum), notRun))
	gs = append(gs, goalCheck("IPC session over loopback, msgs/s", ">= 1M/s", controlStat(ipc, "loopback_msgs_per_s"), atLeast(1e6), withUnit("/s", fmtNum), notRun))
	memr := findControl(res, CtlMemory)
	gs = append(gs, goalCheck("RE memory per route", "<= 1 KiB", controlStat(memr, "re_bytes_per_route"), atMost(1024), withUnit(" B", trim3), notRun))

	// The real-port drivers against the kernel's own forwarding: ipmr, or
	// nft dup on a kernel without it (issue #12).
	base := kernelBaseline(res)
	if !hasPoint(res, TierKernel, base) {
		why := notRun
		for _, p := range res.Points {
			if p.Tier == TierKernel && p.Status != StatusOK && p.Fanout == 0 {
				why = p.Status + ": " + p.Note
				break
			}
		}
		gs = append(gs, Goal{Name: "afpacket and xdp vs the kernel (kernel tier)", Target: "see issue #12", Value: why, Met: "n/a"})
		return gs
	}
	baseName := map[string]string{"kernel": "ipmr", "nftdup": "nft dup (no ipmr in this kernel)"}[base]
	for _, size := range []int{64, 1518} {
		for _, f := range []int{1, 4, 8} {
			k := findPoint(res, TierKernel, base, f, 0, 0, size)
			a := findPoint(res, TierKernel, "afpacket", f, 0, 0, size)
			label := fmt.Sprintf("afpacket/%s %%s, %d B, fan-out %d (kernel tier)", baseName, size, f)
			if k == nil || a == nil {
				continue
			}
			// Forwarding rate = copies delivered per second: input taken in
			// and dropped on the way does not count.
			gs = append(gs, ratioGoal(fmt.Sprintf(label, "forwarding rate (copies/s)"), ">= 1.0x", pointStat(a, MCopiesPerSec), pointStat(k, MCopiesPerSec), atLeast(1)))
			gs = append(gs, ratioGoal(fmt.Sprintf(label, "router CPU per copy"), "<= 1.0x", pointStat(a, MNsPerCopy), pointStat(k, MNsPerCopy), atMost(1)))
		}
	}
	// xdp (issue #12): >= 1.4x nft dup's copies/s at N=4 and 8, <= 0.7x its
	// CPU per copy, >= 1.5x ipmr where the kernel has it.
	for _, f := range []int{4, 8} {
		x := findPoint(res, TierKernel, "xdp", f, 0, 0, 64)
		if x == nil {
			continue
		}
		if n := findPoint(res, TierKernel, "nftdup", f, 0, 0, 64); n != nil {
			gs = append(gs, ratioGoal(fmt.Sprintf("xdp/nft dup copies/s, 64 B, fan-out %d (kernel tier)", f), ">= 1.4x", pointStat(x, MCopiesPerSec), pointStat(n, MCopiesPerSec), atLeast(1.4)))
			gs = append(gs, ratioGoal(fmt.Sprintf("xdp/nft dup router CPU per copy, 64 B, fan-out %d (kernel tier)", f), "<= 0.7x", pointStat(x, MNsPerCopy), pointStat(n, MNsPerCopy), atMost(0.7)))
		}
		if k := findPoint(res, TierKernel, "kernel", f, 0, 0, 64); k != nil {
			gs = append(gs, ratioGoal(fmt.Sprintf("xdp/ipmr copies/s, 64 B, fan-out %d (kernel tier)", f), ">= 1.5x", pointStat(x, MCopiesPerSec), pointStat(k, MCopiesPerSec), atLeast(1.5)))
		}
	}
	return gs
}

// ratioGoal judges a/b on the medians; the value also shows both figures.
func ratioGoal(name, target string, a, b Stat, ok func(float64) bool) Goal {
	g := Goal{Name: name, Target: target, Met: "n/a", Value: "-"}
	if !a.Valid() || !b.Valid() || b.Median == 0 {
		return g
	}
	r := a.Median / b.Median
	g.Value = fmt.Sprintf("%.2fx (%s vs %s)", r, fmtNum(a.Median), fmtNum(b.Median))
	g.Met = "no"
	if ok(r) {
		g.Met = "yes"
	}
	return g
}
