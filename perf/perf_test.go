package perf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/perf"
)

// faulty is swpfe that misbehaves on its failAt-th Input call: it returns
// an error, panics or hangs until release is closed.
type faulty struct {
	hal.Driver
	calls   atomic.Int64
	failAt  int64
	mode    string
	release chan struct{}
}

func (f *faulty) Input(in hal.IFLIndex, frames [][]byte) error {
	if f.mode == "hang-big" && len(frames[0]) > 1000 {
		<-f.release
	}
	if f.calls.Add(1) == f.failAt {
		switch f.mode {
		case "error":
			return errors.New("injected fault")
		case "panic":
			panic("injected panic")
		case "hang":
			<-f.release
		}
	}
	return f.Driver.Input(in, frames)
}

func faultySpec(mode string, release chan struct{}) perf.DriverSpec {
	return perf.DriverSpec{New: func(ctx context.Context, cfg hal.Config) (hal.Driver, error) {
		d, err := swpfe.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &faulty{Driver: d, failAt: 50, mode: mode, release: release}, nil
	}}
}

func tinyWorkload(t *testing.T) perf.Workload {
	t.Helper()
	w, err := perf.Profile("tiny")
	require.NoError(t, err)
	w.Duration, w.Warmup, w.Reps = 10*time.Millisecond, 2*time.Millisecond, 1
	return w
}

func pointsOf(res *perf.Results, driver string) []perf.Point {
	var out []perf.Point
	for _, p := range res.Points {
		if p.Driver == driver {
			out = append(out, p)
		}
	}
	return out
}

// TestBadInputKeepsTheMatrixGoing checks every failure the harness must
// survive: an unknown driver, afpacket without root, a fan-out above what a
// driver supports, and drivers that fail, panic or hang mid-run. Each is
// reported naming its point; everything else is measured and kept, also in
// results.jsonl.
func TestBadInputKeepsTheMatrixGoing(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	w := tinyWorkload(t)
	w.Tiers = []string{perf.TierMem}
	w.Drivers = []string{"swpfe", "nosuch", "afpacket", "failing", "panicking", "hanging", "small"}
	w.Fanouts = []int{1, 4}
	w.Flows = []int{1}
	w.PointTimeout = time.Second
	drivers := perf.DefaultDrivers()
	drivers["failing"] = faultySpec("error", release)
	drivers["panicking"] = faultySpec("panic", release)
	drivers["hanging"] = faultySpec("hang", release)
	small := drivers["swpfe"]
	small.MaxPorts = 2
	drivers["small"] = small
	out := t.TempDir()
	r := &perf.Runner{W: w, Drivers: drivers, Out: out, Env: perf.CaptureEnv("test"), IsRoot: false}
	res, err := r.Run(t.Context())
	require.NoError(t, err)

	for _, p := range pointsOf(res, "swpfe") {
		assert.Equal(t, perf.StatusOK, p.Status, p.ID())
		assert.Greater(t, p.Summary[perf.MInMpps].Median, 0.0)
	}
	unknown := pointsOf(res, "nosuch")
	require.Len(t, unknown, 1)
	assert.Equal(t, perf.StatusError, unknown[0].Status)
	assert.Contains(t, unknown[0].Note, `unknown driver "nosuch"`)
	afp := pointsOf(res, "afpacket")
	require.Len(t, afp, 1)
	assert.Equal(t, perf.StatusSkipped, afp[0].Status)
	assert.Contains(t, afp[0].Note, "needs root")
	for _, c := range []struct{ driver, want string }{
		{"failing", "injected fault"},
		{"panicking", "panic: injected panic"},
		{"hanging", "timed out"},
	} {
		ps := pointsOf(res, c.driver)
		require.Len(t, ps, 2, c.driver)
		// Fan-out 1 fails at its 50th Input; the failure names the point.
		assert.Equal(t, perf.StatusError, ps[0].Status, c.driver)
		assert.Contains(t, ps[0].Note, c.want, c.driver)
		assert.Equal(t, "mem/"+c.driver+"/fanout=1/flows=1/lag=none/size=64", ps[0].ID())
		// A fresh driver at fan-out 4 (50 calls go by in warm-up on a
		// new instance too, so it fails the same way, independently).
		assert.Equal(t, perf.StatusError, ps[1].Status, c.driver)
	}
	sm := pointsOf(res, "small")
	require.Len(t, sm, 2)
	assert.Equal(t, perf.StatusOK, sm[0].Status)
	assert.Equal(t, perf.StatusError, sm[1].Status)
	assert.Contains(t, sm[1].Note, "impossible")
	assert.True(t, perf.Failed(res))

	// The journal holds every point, and report rebuilds the same table.
	f, err := os.Open(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	again, err := perf.ReadJournal(f)
	require.NoError(t, err)
	assert.Len(t, again.Points, len(res.Points))
	table, err := os.ReadFile(filepath.Join(out, "table.md"))
	require.NoError(t, err)
	assert.Contains(t, string(table), "Problems and notes")
	assert.Contains(t, string(table), "- **error** mem/nosuch: unknown driver")
	assert.Contains(t, string(table), "- **error** mem/panicking/fanout=1/flows=1/lag=none/size=64: panic: injected panic (at ")
}

// TestRunTiny runs the whole tiny profile (both in-memory drivers and
// every control benchmark) and checks the files a run leaves behind.
func TestRunTiny(t *testing.T) {
	w := tinyWorkload(t)
	out := t.TempDir()
	r := &perf.Runner{W: w, Out: out, Env: perf.CaptureEnv("go test"), IsRoot: false}
	res, err := r.Run(t.Context())
	require.NoError(t, err)
	assert.False(t, perf.Failed(res), "%+v", res.Control)
	assert.Len(t, res.Points, 2*2*2) // drivers x fan-outs x flows
	for _, c := range res.Control {
		assert.Equal(t, perf.StatusOK, c.Status, c.Name+": "+c.Note)
	}
	for _, name := range []string{"results.json", "results.jsonl", "table.md", "bench.txt",
		"mpps_vs_fanout.png", "mpps_vs_fanout.svg", "ns_per_copy_vs_fanout.png", "ns_per_copy_vs_fanout.svg",
		"install_rate_vs_table_size.png", "install_rate_vs_table_size.svg"} {
		st, err := os.Stat(filepath.Join(out, name))
		if assert.NoError(t, err, name) {
			assert.Positive(t, st.Size(), name)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "bench.txt"))
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^BenchmarkMem/driver=swpfe/fanout=1/flows=1/lag=none/size=64-\d+\t\d+\t[0-9.e+]+ ns/op\t`)
	assert.Regexp(t, line, string(b))
	assert.Contains(t, string(b), "BenchmarkControl/install-")
	for _, s := range []string{"date:", "go:", "cpu:", "kernel:", "command: go test"} {
		assert.Contains(t, string(b), s)
	}
	table, err := os.ReadFile(filepath.Join(out, "table.md"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(table), "| goal | target |"))
}

// TestFinishedSizesSurviveALaterHang: a driver that hangs on 1518-byte
// frames keeps its 64-byte figures; the 1518 point says it timed out.
func TestFinishedSizesSurviveALaterHang(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	w := tinyWorkload(t)
	w.Tiers = []string{perf.TierMem}
	w.Drivers = []string{"hangbig"}
	w.Fanouts, w.Flows, w.Sizes = []int{2}, []int{1}, []int{64, 1518}
	w.PointTimeout = time.Second
	drivers := perf.DefaultDrivers()
	drivers["hangbig"] = faultySpec("hang-big", release)
	r := &perf.Runner{W: w, Drivers: drivers, Env: perf.CaptureEnv("test")}
	res, err := r.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Points, 2)
	assert.Equal(t, perf.StatusOK, res.Points[0].Status)
	assert.Equal(t, 64, res.Points[0].Size)
	assert.Equal(t, perf.StatusError, res.Points[1].Status)
	assert.Contains(t, res.Points[1].Note, "timed out")
}
