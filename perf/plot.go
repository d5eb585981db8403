package perf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotFiles are the plots written next to the results (PNG and SVG).
var plotFiles = []struct{ name, title string }{
	{"mpps_vs_fanout", "Forwarded Mpps vs fan-out"},
	{"ns_per_copy_vs_fanout", "ns per copy vs fan-out"},
	{"install_rate_vs_table_size", "RE -> FPC route install rate vs table size"},
}

// series is one line of a plot: medians with min-max error bars.
type series struct {
	label        string
	x, y, lo, hi []float64
	style        int
	color        int // plotutil palette index; -1: by position
}

// Line styles: mem tier with the fewest flows, with the most flows, and
// the kernel tier.
const (
	styleSolid = iota
	styleDotted
	styleKernel
)

// driverColors keeps a driver's colour the same in every plot.
var driverColors = []string{"swpfe", "trio", "afpacket", "kernel"}

func colorOf(driver string) int {
	if i := slices.Index(driverColors, driver); i >= 0 {
		return i
	}
	return len(driverColors) + len(driver)%3
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// niceLogTicks labels 1, 2 and 5 times each power of ten (gonum's LogTicks
// labels only the powers, which leaves most plots with one label).
type niceLogTicks struct{}

func (niceLogTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	if lo <= 0 || hi <= 0 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * p
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
		for m := 1.0; m < 10; m++ {
			if v := m * p; v >= lo && v <= hi && m != 1 && m != 2 && m != 5 {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	return ts
}

// add appends a point; it reports false (and adds nothing) for a missing
// or non-positive value, which a log axis cannot show.
func (s *series) add(x float64, st Stat) bool {
	if !st.Valid() || st.Median <= 0 {
		return false
	}
	s.x = append(s.x, x)
	s.y = append(s.y, st.Median)
	s.lo = append(s.lo, st.Median-st.Min)
	s.hi = append(s.hi, st.Max-st.Median)
	return true
}

// plotStat returns a point's metric, deriving the forwarded rate from
// copies/s for results written before it was recorded.
func plotStat(p *Point, metric string) Stat {
	if s, ok := p.Summary[metric]; ok || metric != MFwdMpps || p.Fanout == 0 {
		return s
	}
	c := p.Summary[MCopiesPerSec]
	k := float64(p.Fanout) * 1e6
	return Stat{Median: c.Median / k, Min: c.Min / k, Max: c.Max / k, N: c.N}
}

// errXYs adapts a series to plotter.YErrorBars.
type errXYs struct {
	plotter.XYs
	plotter.YErrors
}

// figure is a plot with its legend drawn beside it (gonum draws legends
// inside the data area, where eight entries hide the data).
type figure struct {
	p       *plot.Plot
	leg     plot.Legend
	entries int
}

func newFigure() *figure {
	f := &figure{p: plot.New(), leg: plot.NewLegend()}
	f.leg.Top = true
	return f
}

// save writes the figure as PNG or SVG (by extension), the legend in a
// column on the right.
func (f *figure) save(w, h vg.Length, file string) error {
	format := strings.TrimPrefix(filepath.Ext(file), ".")
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	pad := vg.Points(8)
	lw := vg.Length(0)
	if f.entries > 0 {
		r := f.leg.Rectangle(dc)
		lw = r.Max.X - r.Min.X + pad
	}
	f.p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	if lw > 0 {
		f.leg.Draw(draw.Crop(dc, w-lw, 0, 0, -vg.Points(40)))
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func addSeries(f *figure, s *series, i int) error {
	p := f.p
	if len(s.x) == 0 {
		return nil
	}
	xys := make(plotter.XYs, len(s.x))
	errs := make(plotter.YErrors, len(s.x))
	for k := range s.x {
		xys[k].X, xys[k].Y = s.x[k], s.y[k]
		errs[k].Low, errs[k].High = s.lo[k], s.hi[k]
	}
	line, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	if s.color >= 0 {
		i = s.color
	}
	c := plotutil.Color(i)
	line.Color, pts.Color, pts.Shape = c, c, plotutil.Shape(i)
	line.Width = vg.Points(1.5)
	switch s.style {
	case styleDotted:
		line.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
	case styleKernel:
		line.Dashes = []vg.Length{vg.Points(8), vg.Points(4)}
		line.Width = vg.Points(2.5)
	}
	eb, err := plotter.NewYErrorBars(errXYs{xys, errs})
	if err != nil {
		return err
	}
	eb.Color = c
	p.Add(line, pts, eb)
	f.leg.Add(s.label, line, pts)
	f.entries++
	return nil
}

// memSlice picks the mem-tier slice the fan-out plots show: the smallest
// frame size, no LAG (else the first layout), and the smallest and largest
// flow counts.
func memSlice(res *Results) (size, lag int, flows []int, ok bool) {
	size, lag = math.MaxInt, math.MaxInt
	var fl []int
	for _, p := range res.Points {
		if p.Tier != TierMem || p.Status != StatusOK {
			continue
		}
		size = min(size, p.Size)
		lag = min(lag, p.LAG)
		if !slices.Contains(fl, p.Flows) {
			fl = append(fl, p.Flows)
		}
	}
	if len(fl) == 0 {
		return 0, 0, nil, false
	}
	slices.Sort(fl)
	flows = []int{fl[0]}
	if len(fl) > 1 {
		flows = append(flows, fl[len(fl)-1])
	}
	return size, lag, flows, true
}

func fanoutPlot(res *Results, metric, ylabel string) (*figure, error) {
	f := newFigure()
	p := f.p
	p.X.Label.Text = "fan-out (copies per input packet)"
	p.Y.Label.Text = ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = niceLogTicks{}
	var xs []float64
	var all []*series
	i := 0
	size, lag, flows, ok := memSlice(res)
	var sub string
	if ok {
		sub = fmt.Sprintf("mem tier: %d B, LAG %s", size, lagName(lag))
		for fi, fl := range flows {
			for _, d := range driversIn(res, TierMem) {
				st := styleSolid
				if fi > 0 {
					st = styleDotted
				}
				s := &series{label: fmt.Sprintf("%s, %s flow%s", d, fmtCount(fl), plural(fl)), style: st, color: colorOf(d)}
				for _, pt := range res.Points {
					if pt.Tier == TierMem && pt.Status == StatusOK && pt.Driver == d && pt.Size == size && pt.LAG == lag && pt.Flows == fl {
						if s.add(float64(pt.Fanout), plotStat(&pt, metric)) {
							xs = append(xs, float64(pt.Fanout))
						}
					}
				}
				if len(s.x) > 0 {
					all = append(all, s)
					if err := addSeries(f, s, i); err != nil {
						return nil, err
					}
					i++
				}
			}
		}
	}
	ksize := math.MaxInt
	for _, pt := range res.Points {
		if pt.Tier == TierKernel && pt.Status == StatusOK && pt.Fanout > 0 {
			ksize = min(ksize, pt.Size)
		}
	}
	if ksize != math.MaxInt {
		sub += fmt.Sprintf("; kernel tier (veth, router CPU): %d B", ksize)
		for _, d := range driversIn(res, TierKernel) {
			if d == kernelCeiling {
				continue
			}
			label := d + ", kernel tier (veth)"
			if d == "kernel" {
				label = "Linux kernel ipmr (veth)"
			}
			s := &series{label: label, style: styleKernel, color: colorOf(d)}
			for _, pt := range res.Points {
				if pt.Tier == TierKernel && pt.Status == StatusOK && pt.Driver == d && pt.Size == ksize {
					if s.add(float64(pt.Fanout), plotStat(&pt, metric)) {
						xs = append(xs, float64(pt.Fanout))
					}
				}
			}
			all = append(all, s)
			if err := addSeries(f, s, i); err != nil {
				return nil, err
			}
			i++
		}
	}
	if len(xs) == 0 {
		p.X.Scale, p.Y.Scale = plot.LinearScale{}, plot.LinearScale{}
		p.Y.Tick.Marker = plot.DefaultTicks{}
		sub = "no data in this run"
	} else {
		yRange(p, all)
		slices.Sort(xs)
		xs = slices.Compact(xs)
		var ticks []plot.Tick
		for _, x := range xs {
			ticks = append(ticks, plot.Tick{Value: x, Label: strconv.Itoa(int(x))})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = xs[0]/1.3, xs[len(xs)-1]*1.3
	}
	p.Title.Text = ylabel + " vs fan-out\n" + sub + ", " + res.Env.Date.Format("2006-01-02")
	return f, nil
}

func installPlot(res *Results) *figure {
	f := newFigure()
	p := f.p
	p.Title.Text = "RE -> FPC route install rate vs table size (swpfe, loopback IPC)\n" + res.Env.Date.Format("2006-01-02")
	p.X.Label.Text = "routes in the table"
	p.Y.Label.Text = "joins/s until programmed on the PFE"
	c := findControl(res, CtlInstall)
	if c == nil || len(c.Series) == 0 {
		p.Title.Text += ": no data in this run"
		return f
	}
	s := &series{label: "RE -> FPC (median, min-max)", color: -1}
	for _, sp := range c.Series {
		s.add(sp.X, summarize(sp.Y))
	}
	if err := addSeries(f, s, 0); err != nil {
		p.Title.Text += ": " + err.Error()
	}
	// The goal as a reference line.
	goal := plotter.NewFunction(func(float64) float64 { return installGoal })
	goal.Color = plotutil.Color(4)
	goal.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(goal)
	f.leg.Add("goal: "+fmtNum(installGoal)+" joins/s", goal)
	f.entries++
	p.Y.Min = 0
	return f
}

// installGoal is the RE -> FPC route install goal, (S,G)/s.
const installGoal = 100e3

// yRange fits a log Y axis to the data and its error bars.
func yRange(p *plot.Plot, ss []*series) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for k := range s.y {
			if v := s.y[k] - s.lo[k]; v > 0 {
				lo = min(lo, v)
			}
			hi = max(hi, s.y[k]+s.hi[k])
		}
	}
	if math.IsInf(lo, 1) || hi <= 0 {
		return
	}
	p.Y.Min, p.Y.Max = lo/1.3, hi*1.3
}

// caption is the provenance line under every plot: when, where, how.
func caption(e Env) string {
	cmd := e.Command
	if len(cmd) > 110 {
		cmd = cmd[:107] + "..."
	}
	return fmt.Sprintf("%s; %s, %s x %d cores, Linux %s, commit %s\n%s",
		e.Date.Format("2006-01-02 15:04 MST"), e.GoVersion, e.CPUModel, e.Cores, e.Kernel, e.Commit, cmd)
}

// WritePlots writes every plot as PNG and SVG into dir. A plotting failure
// (gonum panics on data it cannot scale) is returned, never raised.
func WritePlots(dir string, res *Results) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("plot: %v", p)
		}
	}()
	var errs []error
	save := func(f *figure, name string) {
		for _, ext := range []string{".png", ".svg"} {
			if err := f.save(24*vg.Centimeter, 12*vg.Centimeter, filepath.Join(dir, name+ext)); err != nil {
				errs = append(errs, fmt.Errorf("%s%s: %w", name, ext, err))
			}
		}
	}
	for _, f := range plotFiles {
		var fig *figure
		var err error
		switch f.name {
		case "mpps_vs_fanout":
			fig, err = fanoutPlot(res, MFwdMpps, "forwarded Mpps (copies/s / fan-out)")
		case "ns_per_copy_vs_fanout":
			fig, err = fanoutPlot(res, MNsPerCopy, "ns per copy")
		case "install_rate_vs_table_size":
			fig = installPlot(res)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			continue
		}
		fig.p.X.Label.Text += "\n" + caption(res.Env)
		fig.p.X.Label.TextStyle.Font.Size = vg.Points(9)
		save(fig, f.name)
	}
	return errors.Join(errs...)
}
