// Command compare turns the results of one interleaved kbase sweep
// (perf/datapath/bench.sh) into the comparison of issue #12: per frame
// size, fan-out N and router, the medians (and ranges) of output copies/s,
// router CPU ns per copy and loss, the ratios against the baselines, the
// goals, and plots.
//
//	go run ./perf/datapath/compare [-plots DIR] [-loss loss.jsonl] results.jsonl
//
// Loss of a point is the share of the copies the receivers should have got
// (N x offered input) that their interfaces did not receive: input refused
// by the router's receive backlog, copies the router did not make, and
// output backlog drops, together. At the generator's full rate that is the
// router saturating; -loss reads exact counts of fixed-size runs at a
// lower rate (bench.sh's loss phase).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// point is the part of a kb_measure.py JSON line used here.
type point struct {
	Router   string             `json:"router"`
	N        int                `json:"n"`
	Size     int                `json:"size"`
	Dur      float64            `json:"dur_s"`
	Offered  float64            `json:"offered_pps"`
	InPPS    float64            `json:"in_rx_pps"`
	OutPPS   float64            `json:"total_out_pps"`
	NsPerOut *float64           `json:"ns_per_out_pkt"`
	RtrCPU   float64            `json:"rtr_cpu_busy_pct"`
	Rcv      map[string]float64 `json:"rcv_rx_pps"`
}

// loss is one line of the loss phase (bench.sh): a fixed number of frames
// at a fixed rate, counted exactly at every receiver.
type loss struct {
	Router   string  `json:"router"`
	N        int     `json:"n"`
	Size     int     `json:"size"`
	Rate     float64 `json:"rate_pps"`
	MaxRate  float64 `json:"max_in_pps"`
	Sent     int64   `json:"sent"`
	Received []int64 `json:"received"`
	// Where copies went missing (see bench.sh).
	RinRx        int64   `json:"rin_rx"`
	SoftnetDrops int64   `json:"softnet_dropped"`
	OutTxDrops   int64   `json:"out_tx_dropped"`
	Seconds      float64 `json:"seconds"` // the generator's run: Sent/Seconds is the rate achieved
	Load         string  `json:"load"`
}

type key struct {
	size, n int
	router  string
}

type stat struct{ med, lo, hi float64 }

func summarize(v []float64) stat {
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{m, s[0], s[len(s)-1]}
}

// agg holds one (size, N, router) cell.
type agg struct {
	in, copies, nsCopy, lossPct, cpu stat
	reps                             int
}

func main() {
	plots := flag.String("plots", "", "write PNG plots into this directory")
	lossFile := flag.String("loss", "", "exact loss runs (bench.sh's loss phase)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: compare [-plots DIR] [-loss FILE] results.jsonl")
		os.Exit(2)
	}
	pts, err := readPoints(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	var losses []loss
	if *lossFile != "" {
		if losses, err = readLosses(*lossFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
	}
	cells := aggregate(pts)
	report(os.Stdout, cells, losses)
	if *plots != "" {
		if err := writePlots(*plots, cells); err != nil {
			fmt.Fprintln(os.Stderr, "compare: plots:", err)
			os.Exit(1)
		}
	}
}

func readPoints(path string) ([]point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parsePoints(f)
}

func parsePoints(r io.Reader) ([]point, error) {
	var pts []point
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var p point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if p.Router == "off" {
			continue // the generator ceiling
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}

func readLosses(path string) ([]loss, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []loss
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l loss
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func aggregate(pts []point) map[key]*agg {
	type raw struct{ in, copies, ns, loss, cpu []float64 }
	rs := map[key]*raw{}
	for _, p := range pts {
		k := key{p.Size, p.N, p.Router}
		r := rs[k]
		if r == nil {
			r = &raw{}
			rs[k] = r
		}
		r.in = append(r.in, p.InPPS)
		r.copies = append(r.copies, p.OutPPS)
		r.cpu = append(r.cpu, p.RtrCPU)
		if p.NsPerOut != nil {
			r.ns = append(r.ns, *p.NsPerOut)
		}
		want := float64(p.N) * p.Offered
		var got float64
		for _, v := range p.Rcv {
			got += v
		}
		if want > 0 {
			r.loss = append(r.loss, math.Max(0, 100*(want-got)/want))
		}
	}
	out := map[key]*agg{}
	for k, r := range rs {
		out[k] = &agg{in: summarize(r.in), copies: summarize(r.copies), nsCopy: summarize(r.ns), lossPct: summarize(r.loss), cpu: summarize(r.cpu), reps: len(r.in)}
	}
	return out
}

// baselineOrder is how routers are listed; others follow alphabetically.
var baselineOrder = []string{"kernel", "nftdup", "bridge", "afpold", "afpacket", "xdpgeneric", "xdp"}

func routersOf(cells map[key]*agg) []string {
	seen := map[string]bool{}
	for k := range cells {
		seen[k.router] = true
	}
	var out []string
	for _, r := range baselineOrder {
		if seen[r] {
			out = append(out, r)
			delete(seen, r)
		}
	}
	var rest []string
	for r := range seen {
		rest = append(rest, r)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func dims(cells map[key]*agg) (sizes, ns []int) {
	ss, nn := map[int]bool{}, map[int]bool{}
	for k := range cells {
		ss[k.size], nn[k.n] = true, true
	}
	for s := range ss {
		sizes = append(sizes, s)
	}
	for n := range nn {
		ns = append(ns, n)
	}
	sort.Ints(sizes)
	sort.Ints(ns)
	return
}

func k(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v/1000)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func report(w io.Writer, cells map[key]*agg, losses []loss) {
	routers := routersOf(cells)
	sizes, ns := dims(cells)
	base := ""
	for _, b := range []string{"kernel", "nftdup"} {
		if slices.Contains(routers, b) {
			base = b
			break
		}
	}
	fmt.Fprintln(w, "Medians over the repetitions, [min-max]. copies/s and input in thousands; ns/copy is router-CPU time per output copy;")
	fmt.Fprintln(w, "loss = copies the receivers did not get / (N x offered input), at the generator's full rate.")
	if base != "" {
		fmt.Fprintf(w, "Ratios are against %s in the same run (copies/s: higher is better; ns/copy: lower is better).\n", base)
	}
	for _, size := range sizes {
		fmt.Fprintf(w, "\n### %d-byte frames\n\n", size)
		bn := base
		if bn == "" {
			bn = "baseline"
		}
		fmt.Fprintf(w, "| N | router | input kpps | copies/s (k) | router ns/copy | loss %% | copies vs %s | ns/copy vs %s |\n|---|---|---|---|---|---|---|---|\n", bn, bn)
		for _, n := range ns {
			b := cells[key{size, n, base}]
			for _, r := range routers {
				c := cells[key{size, n, r}]
				if c == nil {
					continue
				}
				rc, rn := "-", "-"
				if b != nil && r != base {
					rc, rn = ratio(c.copies.med, b.copies.med), ratio(c.nsCopy.med, b.nsCopy.med)
				}
				fmt.Fprintf(w, "| %d | %s | %s | %s [%s-%s] | %.0f [%.0f-%.0f] | %.2f [%.2f-%.2f] | %s | %s |\n",
					n, r, k(c.in.med), k(c.copies.med), k(c.copies.lo), k(c.copies.hi),
					c.nsCopy.med, c.nsCopy.lo, c.nsCopy.hi, c.lossPct.med, c.lossPct.lo, c.lossPct.hi, rc, rn)
			}
		}
	}
	goals(w, cells, routers, losses)
}

// goals evaluates issue #12's goals that one sweep can answer.
func goals(w io.Writer, cells map[key]*agg, routers []string, losses []loss) {
	fmt.Fprintf(w, "\n### Goals (issue #12), 64-byte frames unless said\n\n| goal | target | measured | met? |\n|---|---|---|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	has := func(r string) bool { return slices.Contains(routers, r) }
	cmp := func(label, a, b string, target float64, higher bool, metric func(*agg) float64) {
		if !has(a) || !has(b) {
			fmt.Fprintf(w, "| %s | %s%.2fx | %s or %s not measured | - |\n", label, map[bool]string{true: ">= ", false: "<= "}[higher], target, a, b)
			return
		}
		var parts []string
		ok := true
		for _, n := range []int{4, 8} {
			for _, size := range []int{64, 1518} {
				ca, cb := cells[key{size, n, a}], cells[key{size, n, b}]
				if ca == nil || cb == nil {
					continue
				}
				r := metric(ca) / metric(cb)
				parts = append(parts, fmt.Sprintf("N=%d/%dB %.2fx", n, size, r))
				if size == 64 && ((higher && r < target) || (!higher && r > target)) {
					ok = false
				}
			}
		}
		if len(parts) == 0 {
			fmt.Fprintf(w, "| %s | %s%.2fx | not measured at N=4 or 8 | n/a |\n", label, map[bool]string{true: ">= ", false: "<= "}[higher], target)
			return
		}
		fmt.Fprintf(w, "| %s | %s%.2fx | %s | %s |\n", label, map[bool]string{true: ">= ", false: "<= "}[higher], target, strings.Join(parts, ", "), yes(ok))
	}
	copies := func(c *agg) float64 { return c.copies.med }
	nsc := func(c *agg) float64 { return c.nsCopy.med }
	cmp("xdp output copies/s vs nft dup, N=4 and 8", "xdp", "nftdup", 1.4, true, copies)
	cmp("xdp router CPU per copy vs nft dup", "xdp", "nftdup", 0.7, false, nsc)
	if has("kernel") {
		cmp("xdp output copies/s vs ipmr", "xdp", "kernel", 1.5, true, copies)
	} else {
		fmt.Fprintln(w, "| xdp output copies/s vs ipmr | >= 1.50x | no ipmr in this kernel | n/a |")
	}
	if has("afpold") {
		cmp("afpacket copies/s vs the build before issue #12 (afpold)", "afpacket", "afpold", 1.0, true, copies)
	}
	for _, l := range losses {
		var lost int64
		for _, r := range l.Received {
			lost += l.Sent - r
		}
		where := ""
		if lost > 0 {
			where = fmt.Sprintf(" (router input took %d; input backlogs refused %d; outputs refused %d; load %s)", l.RinRx, l.SoftnetDrops, l.OutTxDrops, l.Load)
		}
		achieved := ""
		if l.Seconds > 0 {
			achieved = fmt.Sprintf(", %.0f achieved", float64(l.Sent)/l.Seconds)
		}
		fmt.Fprintf(w, "| %s loses nothing at 50%% of its maximum rate (N=%d, %d B) | 0 lost | %d sent at %.0f pps asked (max %.0f%s), %d of %d copies lost%s | %s |\n",
			l.Router, l.N, l.Size, l.Sent, l.Rate, l.MaxRate, achieved, lost, l.Sent*int64(len(l.Received)), where, yes(lost == 0 && len(l.Received) == l.N))
	}
}

// writePlots draws copies/s and ns/copy against N, one line per router and
// one file per frame size.
func writePlots(dir string, cells map[key]*agg) error {
	routers := routersOf(cells)
	sizes, ns := dims(cells)
	for _, size := range sizes {
		for _, m := range []struct {
			file, title, y string
			val            func(*agg) stat
		}{
			{"copies", "Output copies/s", "copies/s (millions)", func(a *agg) stat {
				return stat{a.copies.med / 1e6, a.copies.lo / 1e6, a.copies.hi / 1e6}
			}},
			{"ns_per_copy", "Router CPU per output copy", "ns per copy", func(a *agg) stat { return a.nsCopy }},
		} {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s, %d-byte frames, veth (kbase)", m.title, size)
			p.X.Label.Text = "fan-out N"
			p.Y.Label.Text = m.y
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = nTicks(ns)
			p.Legend.Top = true
			for i, r := range routers {
				var xys plotter.XYs
				var errs plotter.YErrors
				for _, n := range ns {
					c := cells[key{size, n, r}]
					if c == nil {
						continue
					}
					s := m.val(c)
					if math.IsNaN(s.med) {
						continue
					}
					xys = append(xys, plotter.XY{X: float64(n), Y: s.med})
					errs = append(errs, struct{ Low, High float64 }{s.med - s.lo, s.hi - s.med})
				}
				if len(xys) == 0 {
					continue
				}
				l, pts, err := plotter.NewLinePoints(xys)
				if err != nil {
					return err
				}
				l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
				pts.Shape = plotutil.Shape(i)
				if r == "bridge" {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				eb, err := plotter.NewYErrorBars(struct {
					plotter.XYer
					plotter.YErrorer
				}{xys, errs})
				if err != nil {
					return err
				}
				eb.Color = plotutil.Color(i)
				p.Add(l, pts, eb)
				p.Legend.Add(r, l, pts)
			}
			p.Y.Min = 0
			name := filepath.Join(dir, fmt.Sprintf("%s_%d.png", m.file, size))
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, name); err != nil {
				return err
			}
		}
	}
	return nil
}

type nTicks []int

func (t nTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, n := range t {
		out = append(out, plot.Tick{Value: float64(n), Label: fmt.Sprint(n)})
	}
	return out
}
