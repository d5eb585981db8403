package perf

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

// fmtNum prints a value with about three significant digits and an SI
// suffix (k, M, G) for large ones.
func fmtNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim3(v/1e9) + "G"
	case a >= 1e6:
		return trim3(v/1e6) + "M"
	case a >= 1e4:
		return trim3(v/1e3) + "k"
	}
	return trim3(v)
}

func trim3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// fmtStat prints "median [min-max]" (just the median for one value).
func fmtStat(s Stat, f func(float64) string) string {
	if !s.Valid() {
		return "-"
	}
	if s.N == 1 || s.Min == s.Max {
		return f(s.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", f(s.Median), f(s.Min), f(s.Max))
}

// fmtAllocs prints allocations per packet; below 0.01 as "1/N" (one
// allocation per N packets), so that a rare runtime allocation does not
// read as zero or as noise.
func fmtAllocs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0"
	case v < 0.01:
		return "1/" + fmtNum(math.Round(1/v))
	}
	return fmt.Sprintf("%.2f", v)
}

// fmtCount prints a count: 1, 100, 100k, 1M.
func fmtCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// progressLine is the one-line summary of a point printed while running.
func progressLine(p *Point) string {
	if p.Status != StatusOK || p.Summary == nil {
		return fmt.Sprintf("%-58s %s: %s", p.ID(), p.Status, p.Note)
	}
	s := p.Summary
	line := fmt.Sprintf("%-58s %s Mpps, %s copies/s, %s ns/pkt, %s ns/copy",
		p.ID(), fmtStat(s[MInMpps], trim3), fmtNum(s[MCopiesPerSec].Median),
		trim3(s[MNsPerPkt].Median), trim3(s[MNsPerCopy].Median))
	if a, ok := s[MAllocsPerPkt]; ok {
		line += ", " + fmtAllocs(a.Median) + " allocs/pkt"
	}
	if p.Note != "" {
		line += " (" + p.Note + ")"
	}
	return line
}

func controlLine(c *ControlResult) string {
	if c.Status != StatusOK {
		return fmt.Sprintf("control/%-10s %s: %s", c.Name, c.Status, c.Note)
	}
	var parts []string
	for _, k := range sortedKeys(c.Summary) {
		parts = append(parts, fmt.Sprintf("%s=%s", k, fmtNum(c.Summary[k].Median)))
	}
	return fmt.Sprintf("control/%-10s %s", c.Name, strings.Join(parts, " "))
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// TableOptions tune WriteTable.
type TableOptions struct {
	// Plots adds image links to the plots (next to table.md).
	Plots bool
	// PlotDir prefixes the image links (e.g. "results/2026-11-21/").
	PlotDir string
	// Heading is the level of the top heading ("#" by default).
	Heading string
	// Compact replaces the full mem-tier table by one pivot per frame
	// size (the README's view; table.md has everything).
	Compact bool
}

// WriteEnv writes the provenance block every result file starts with.
func WriteEnv(w io.Writer, e Env, prefix string) {
	fmt.Fprintf(w, "%sdate: %s\n", prefix, e.Date.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "%sgo: %s %s/%s\n", prefix, e.GoVersion, e.GOOS, e.GOARCH)
	fmt.Fprintf(w, "%scpu: %s, %d cores\n", prefix, e.CPUModel, e.Cores)
	fmt.Fprintf(w, "%skernel: %s\n", prefix, e.Kernel)
	fmt.Fprintf(w, "%shost: %s, load average at start %s\n", prefix, e.Host, e.LoadAvg)
	if e.Commit != "" {
		fmt.Fprintf(w, "%scommit: %s\n", prefix, e.Commit)
	}
	fmt.Fprintf(w, "%scommand: %s\n", prefix, e.Command)
}

// WriteTable writes the human-readable report (Markdown).
func WriteTable(w io.Writer, res *Results, o TableOptions) {
	h := o.Heading
	if h == "" {
		h = "#"
	}
	fmt.Fprintf(w, "%s mxfwd perf results, %s\n\n", h, res.Env.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "```")
	WriteEnv(w, res.Env, "")
	fmt.Fprintf(w, "elapsed: %.0fs\n", res.Elapsed)
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	writeGoals(w, h+"#", res)
	if o.Compact {
		writeMemPivot(w, h+"#", res)
	} else {
		writeMem(w, h+"#", res)
	}
	writeKernel(w, h+"#", res)
	writeControl(w, h+"#", res)
	if o.Plots {
		fmt.Fprintf(w, "%s# Plots\n\n", h)
		for _, p := range plotFiles {
			fmt.Fprintf(w, "![%s](%s%s.svg)\n\n", p.title, o.PlotDir, p.name)
		}
	}
	writeProblems(w, h+"#", res)
}

func writeGoals(w io.Writer, h string, res *Results) {
	if len(res.Goals) == 0 {
		return
	}
	fmt.Fprintf(w, "%s Goals\n\n", h)
	fmt.Fprintln(w, "| goal | target | measured: median [min-max] | met? |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, g := range res.Goals {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", mdEscape(g.Name), g.Target, mdEscape(g.Value), g.Met)
	}
	fmt.Fprintln(w)
}

func writeMem(w io.Writer, h string, res *Results) {
	var ps []*Point
	for i := range res.Points {
		p := &res.Points[i]
		if p.Tier == TierMem && p.Status == StatusOK {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	wl := res.Workload
	fmt.Fprintf(w, "%s In-memory tier: the driver's own cost on one core\n\n", h)
	fmt.Fprintf(w, "Input in batches of %d from one goroutine locked to its thread; %d x %v per point after %v of warm-up; "+
		"chain %s; ports spread over %d egress PFEs; size = Ethernet frame incl. FCS (size-4 bytes in memory). "+
		"ns/pkt and ns/copy are wall time; CPU %% is the process (100 = one core); other = the rest of the machine during the window. "+
		"p50/p99 = time of one batch / its size. Ratio = input pps / %s's at the same point.\n\n",
		wl.Batch, wl.Reps, wl.Duration, wl.Warmup, wl.Chain, wl.PFEs, baselineName(wl.Baseline))
	fmt.Fprintln(w, "| driver | fan-out | flows | LAG | size | in Mpps | copies/s | ns/pkt | ns/copy | allocs/pkt | p50 / p99 ns/pkt | CPU % | other CPU % | ratio | note |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range ps {
		s := p.Summary
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s |\n",
			p.Driver, p.Fanout, fmtCount(p.Flows), lagName(p.LAG), p.Size,
			fmtStat(s[MInMpps], trim3), fmtStat(s[MCopiesPerSec], fmtNum),
			fmtStat(s[MNsPerPkt], trim3), fmtStat(s[MNsPerCopy], trim3),
			fmtAllocs(s[MAllocsPerPkt].Median),
			trim3(s[MP50Ns].Median), trim3(s[MP99Ns].Median),
			trim3(s[MCPUPct].Median), trim3(s[MOtherCPUPct].Median),
			fmtRatio(p.Ratio), mdEscape(p.Note))
	}
	fmt.Fprintln(w)
}

// writeMemPivot prints the mem tier as one table per frame size and LAG
// layout: a row per fan-out, a column per (flows, driver), each cell
// "forwarded Mpps / ns per copy".
func writeMemPivot(w io.Writer, h string, res *Results) {
	type key struct{ size, lag int }
	var keys []key
	var flows []int
	cell := map[string]*Point{}
	fanouts := map[int]bool{}
	for i := range res.Points {
		p := &res.Points[i]
		if p.Tier != TierMem || p.Status != StatusOK {
			continue
		}
		if k := (key{p.Size, p.LAG}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if !slices.Contains(flows, p.Flows) {
			flows = append(flows, p.Flows)
		}
		fanouts[p.Fanout] = true
		cell[fmt.Sprintf("%d/%d/%d/%d/%s", p.Size, p.LAG, p.Flows, p.Fanout, p.Driver)] = p
	}
	if len(keys) == 0 {
		return
	}
	slices.Sort(flows)
	drivers := driversIn(res, TierMem)
	fo := slices.Sorted(maps.Keys(fanouts))
	fmt.Fprintf(w, "%s In-memory tier (forwarded Mpps / ns per copy, median of %d x %v on one core; full table with ranges, CPU and latency in table.md)\n\n",
		h, res.Workload.Reps, res.Workload.Duration)
	for _, k := range keys {
		fmt.Fprintf(w, "%d B frames, LAG %s:\n\n", k.size, lagName(k.lag))
		head, sep := "| fan-out |", "|---|"
		for _, f := range flows {
			for _, d := range drivers {
				head += fmt.Sprintf(" %s, %s flow%s |", d, fmtCount(f), plural(f))
				sep += "---|"
			}
		}
		fmt.Fprintln(w, head)
		fmt.Fprintln(w, sep)
		for _, n := range fo {
			row := fmt.Sprintf("| %d |", n)
			for _, f := range flows {
				for _, d := range drivers {
					p := cell[fmt.Sprintf("%d/%d/%d/%d/%s", k.size, k.lag, f, n, d)]
					if p == nil {
						row += " - |"
						continue
					}
					row += fmt.Sprintf(" %s / %s |", trim3(plotStat(p, MFwdMpps).Median), trim3(p.Summary[MNsPerCopy].Median))
				}
			}
			fmt.Fprintln(w, row)
		}
		fmt.Fprintln(w)
	}
}

func baselineName(b string) string {
	if b == "kernel" {
		return "the kernel's (kernel tier, same fan-out and size)"
	}
	return b
}

func fmtRatio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

func writeKernel(w io.Writer, h string, res *Results) {
	var ps []*Point
	for i := range res.Points {
		p := &res.Points[i]
		if p.Tier == TierKernel && p.Status == StatusOK {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	fmt.Fprintf(w, "%s Kernel tier: real veth ports, kbase.sh (trafgen -> router netns -> N receivers)\n\n", h)
	fmt.Fprintln(w, "One (S,G), routers interleaved per point in one sweep; the router runs on CPU1, the generator and sinks on CPU0, so "+
		"pps is a joint limit of both CPUs and the figures that transfer are the router CPU's ns per packet and per copy "+
		"(busy ticks / packets; /proc/stat ticks). \"trafgen-ceiling\" is the generator alone (nothing forwards). "+
		"copies/pkt is the fan-out actually delivered (below N: copies lost). "+
		"Ratios over the kernel's ipmr at the same point (over nft dup on a kernel without ipmr): output copies/s (forwarding rate) and router CPU per copy.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| router | fan-out | size | in Mpps | copies/s | copies/pkt | router ns/pkt | router ns/copy | router CPU % | other CPU % | out drops/s | Gbit/s out | copies/s ratio | CPU/copy ratio | note |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	kern := map[pointKey]*Point{}
	base := kernelBaseline(res)
	for _, p := range ps {
		if p.Driver == base {
			kern[p.key()] = p
		}
	}
	for _, p := range ps {
		s := p.Summary
		cpuRatio := "-"
		if k := kern[p.key()]; k != nil && k != p {
			if a, b := s[MNsPerCopy], k.Summary[MNsPerCopy]; a.Valid() && b.Valid() && b.Median > 0 {
				cpuRatio = fmt.Sprintf("%.2fx", a.Median/b.Median)
			}
		}
		fan := fmt.Sprint(p.Fanout)
		if p.Fanout == 0 {
			fan = "-"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.Driver, fan, p.Size, fmtStat(s[MInMpps], trim3), fmtStat(s[MCopiesPerSec], fmtNum), trim3(s[MCopiesPerPkt].Median),
			fmtStat(s[MNsPerPkt], trim3), fmtStat(s[MNsPerCopy], trim3), fmtStat(s[MCPUPct], trim3), trim3(s[MOtherCPUPct].Median),
			fmtNum(s[MOutDropsPS].Median), trim3(s[MGbps].Median), fmtRatio(p.Ratio), cpuRatio, mdEscape(p.Note))
	}
	fmt.Fprintln(w)
}

// controlRows says how each control figure is printed: label and order.
var controlRows = []struct{ bench, metric, label string }{
	{CtlInstall, "routes_per_s", "RE -> FPC route install, joins/s until programmed on the PFE (whole table)"},
	{CtlInstall, "routes", "routes installed"},
	{CtlResolve, "resolves_per_s", "resolves/s, closed loop (throttle off)"},
	{CtlResolve, "closed_p50_us", "closed-loop latency p50, µs (packet in -> route on the PFE)"},
	{CtlResolve, "closed_p99_us", "closed-loop latency p99, µs"},
	{CtlResolve, "offered_per_s", "open loop: offered resolves/s"},
	{CtlResolve, "achieved_per_s", "open loop: achieved resolves/s"},
	{CtlResolve, "lat_p50_us", "open-loop latency p50, µs"},
	{CtlResolve, "lat_p99_us", "open-loop latency p99, µs"},
	{CtlResolve, "lat_max_us", "open-loop latency max, µs"},
	{CtlResolve, "unresolved", "flows never resolved"},
	{CtlResolve, "retries", "flows re-sent after a stall"},
	{CtlIPC, "encode_msgs_per_s", "IPC codec encode, msgs/s"},
	{CtlIPC, "decode_msgs_per_s", "IPC codec decode, msgs/s"},
	{CtlIPC, "loopback_msgs_per_s", "IPC session over loopback TCP, msgs/s"},
	{CtlIPC, "loopback_mbit_per_s", "IPC session over loopback TCP, Mbit/s"},
	{CtlDedup, "joins_per_s", "joins/s with shared OILs (dedup hits)"},
	{CtlDedup, "oil_nhs", "multicast (OIL) NHs after the joins"},
	{CtlDedup, "dedup_ratio", "joins per OIL NH"},
	{CtlMemory, "re_bytes_per_route", "RE kernel, bytes per (S,G) route"},
	{CtlMemory, "e2e_bytes_per_route", "RE + FPC in one process, bytes per route"},
	{CtlMemory, "fpc_bytes_per_route", "FPC runtime + swpfe (e2e - RE), bytes per route"},
	{CtlMemory, "swpfe_bytes_per_route", "swpfe driver alone (route + indirect + composite), bytes per route"},
	{CtlMemory, "trio_bytes_per_route", "trio driver alone (route + indirect + composite), bytes per route"},
	{CtlMemory, "routes", "routes installed"},
	{CtlTree, "tree_build_us", "trio composite expansion + 16 trees (48 PFEs, 8 sublists), µs"},
	{CtlTree, "expand_us", "of which Apply of the composite, µs"},
	{CtlTree, "trees_us", "of which 16 BuildTree, µs"},
	{CtlTree, "composites_per_s", "trio composites/s (Apply, batches of 64)"},
}

func writeControl(w io.Writer, h string, res *Results) {
	if len(res.Control) == 0 {
		return
	}
	fmt.Fprintf(w, "%s Control plane\n\n", h)
	fmt.Fprintln(w, "In-process RE (re/server) and FPC (fpc runtime, swpfe) over loopback TCP unless the row says otherwise; "+
		"see perf/README.md for the method of each figure.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | figure | median [min-max] | reps |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range res.Control {
		if c.Status != StatusOK {
			fmt.Fprintf(w, "| %s | %s: %s | | |\n", c.Name, c.Status, mdEscape(c.Note))
			continue
		}
		seen := map[string]bool{}
		for _, row := range controlRows {
			if row.bench != c.Name {
				continue
			}
			if s, ok := c.Summary[row.metric]; ok {
				seen[row.metric] = true
				fmt.Fprintf(w, "| %s | %s | %s | %d |\n", c.Name, row.label, fmtStat(s, fmtNum), s.N)
			}
		}
		for _, k := range sortedKeys(c.Summary) {
			if !seen[k] && !strings.HasPrefix(k, "_") {
				s := c.Summary[k]
				fmt.Fprintf(w, "| %s | %s | %s | %d |\n", c.Name, k, fmtStat(s, fmtNum), s.N)
			}
		}
		if c.Note != "" {
			fmt.Fprintf(w, "| %s | note: %s | | |\n", c.Name, mdEscape(c.Note))
		}
	}
	fmt.Fprintln(w)
	for _, c := range res.Control {
		if len(c.Series) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s# Route install rate vs table size\n\n", h)
		fmt.Fprintln(w, "| table size (routes) | joins/s to reach it from the previous size |")
		fmt.Fprintln(w, "|---|---|")
		for _, sp := range c.Series {
			fmt.Fprintf(w, "| %s | %s |\n", fmtCount(int(sp.X)), fmtStat(summarize(sp.Y), fmtNum))
		}
		fmt.Fprintln(w)
	}
}

func writeProblems(w io.Writer, h string, res *Results) {
	var lines []string
	for i := range res.Points {
		p := &res.Points[i]
		if p.Status != StatusOK {
			lines = append(lines, fmt.Sprintf("- **%s** %s: %s", p.Status, p.ID(), p.Note))
		}
	}
	for _, c := range res.Control {
		if c.Status != StatusOK {
			lines = append(lines, fmt.Sprintf("- **%s** control/%s: %s", c.Status, c.Name, c.Note))
		}
	}
	if len(lines) == 0 && len(res.Notes) == 0 {
		return
	}
	fmt.Fprintf(w, "%s Problems and notes\n\n", h)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	fmt.Fprintln(w)
}

// benchUnits maps data-plane metrics to Go benchmark units; an op is one
// input packet, so benchstat's allocs/op and B/op read as per packet.
var benchUnits = []struct{ metric, unit string }{
	{MNsPerPkt, "ns/op"},
	{MInMpps, "Mpps"},
	{MCopiesPerSec, "copies/s"},
	{MNsPerCopy, "ns/copy"},
	{MAllocsPerPkt, "allocs/op"},
	{MBytesPerPkt, "B/op"},
	{MP50Ns, "p50-ns/op"},
	{MP99Ns, "p99-ns/op"},
	{MCPUPct, "cpu-%"},
	{MCPUNsPerPkt, "cpu-ns/op"},
	{MCopiesPerPkt, "copies/op"},
}

// benchName makes a benchmark name element safe (no spaces).
func benchName(s string) string { return strings.ReplaceAll(s, " ", "_") }

// WriteBench writes the results in Go benchmark format, one line per
// repetition, for benchstat.
func WriteBench(w io.Writer, res *Results) {
	e := res.Env
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/mxfwd/mxfwd/perf\ncpu: %s\n", e.GOOS, e.GOARCH, e.CPUModel)
	WriteEnv(w, e, "# ")
	procs := e.Cores
	for i := range res.Points {
		p := &res.Points[i]
		if p.Status != StatusOK {
			continue
		}
		var name string
		if p.Tier == TierKernel {
			name = fmt.Sprintf("BenchmarkKernel/router=%s/fanout=%d/size=%d-%d", p.Driver, p.Fanout, p.Size, procs)
		} else {
			name = fmt.Sprintf("BenchmarkMem/driver=%s/fanout=%d/flows=%d/lag=%s/size=%d-%d", p.Driver, p.Fanout, p.Flows, lagName(p.LAG), p.Size, procs)
		}
		for _, rep := range p.Reps {
			n := int64(rep["packets"])
			if n <= 0 {
				n = 1
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s\t%d", benchName(name), n)
			for _, u := range benchUnits {
				if v, ok := rep[u.metric]; ok && !math.IsNaN(v) {
					fmt.Fprintf(&b, "\t%s %s", benchValue(v), u.unit)
				}
			}
			fmt.Fprintln(w, b.String())
		}
	}
	for _, c := range res.Control {
		if c.Status != StatusOK {
			continue
		}
		for _, rep := range c.Reps {
			var b strings.Builder
			fmt.Fprintf(&b, "BenchmarkControl/%s-%d\t1", c.Name, procs)
			for _, k := range sortedKeys(rep) {
				if strings.HasPrefix(k, "_") || math.IsNaN(rep[k]) {
					continue
				}
				fmt.Fprintf(&b, "\t%s %s", benchValue(rep[k]), controlUnit(k))
			}
			fmt.Fprintln(w, b.String())
		}
	}
}

func benchValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// controlUnit turns "routes_per_s" into "routes/s" and "lat_p99_us" into
// "lat-p99-us".
func controlUnit(k string) string {
	k = strings.ReplaceAll(k, "_per_", "/")
	return strings.ReplaceAll(k, "_", "-")
}

// driversIn lists the drivers of the points of a tier, in workload order
// (the kernel last).
func driversIn(res *Results, tier string) []string {
	var out []string
	for _, d := range res.Workload.Drivers {
		if hasPoint(res, tier, d) {
			out = append(out, d)
		}
	}
	for _, p := range res.Points {
		if p.Tier == tier && p.Status == StatusOK && !slices.Contains(out, p.Driver) {
			out = append(out, p.Driver)
		}
	}
	return out
}
