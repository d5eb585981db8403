package perf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Point statuses.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusError   = "error"
)

// Data-plane metric names (Point.Reps keys). Units are in the names.
const (
	MInMpps       = "in_mpps"        // input packets per second, millions
	MFwdMpps      = "fwd_mpps"       // copies/s / fan-out, millions: packets fully forwarded (lost copies count)
	MCopiesPerSec = "copies_per_s"   // output copies per second
	MNsPerPkt     = "ns_per_pkt"     // wall (mem) or router CPU (kernel) ns per input packet
	MNsPerCopy    = "ns_per_copy"    // the same per output copy
	MAllocsPerPkt = "allocs_per_pkt" // heap allocations per input packet
	MBytesPerPkt  = "bytes_per_pkt"  // heap bytes allocated per input packet
	MP50Ns        = "p50_ns"         // per-packet latency (batch time / batch size), median
	MP99Ns        = "p99_ns"         // the same, 99th percentile
	MBatchP99Ns   = "batch_p99_ns"   // wall time of a whole batch, 99th percentile
	MCPUPct       = "cpu_pct"        // CPU used, % of one core (mem: process; kernel: router CPU)
	MCPUNsPerPkt  = "cpu_ns_per_pkt" // CPU time per input packet (mem: measuring thread)
	MCopiesPerPkt = "copies_per_pkt" // copies / input packets: the fan-out actually delivered
	MOtherCPUPct  = "other_cpu_pct"  // CPU used by the rest of the machine during the window
	MOutDropsPS   = "out_drops_per_s"
	MGbps         = "out_gbps"
)

// Point is one data-plane measurement: a driver (or the kernel) at one
// fan-out, flow count, LAG layout and frame size, with its repetitions.
type Point struct {
	Tier   string `json:"tier"`
	Driver string `json:"driver"`
	Fanout int    `json:"fanout"`
	Flows  int    `json:"flows"`
	LAG    int    `json:"lag"`
	Size   int    `json:"size"`
	Status string `json:"status"`
	// Note explains a skip or an error, or carries a caveat of an OK point
	// (options the harness changed, copies lost).
	Note    string          `json:"note,omitempty"`
	Reps    []Metrics       `json:"reps,omitempty"`
	Summary map[string]Stat `json:"summary,omitempty"`
	// Ratio is the median input pps over the baseline's at the same key.
	Ratio    float64 `json:"ratio,omitempty"`
	Baseline string  `json:"baseline,omitempty"`
}

// ID names the point in messages and benchmark lines (tier/driver alone
// for a driver-wide entry such as an unknown driver or a skipped tier).
func (p *Point) ID() string {
	if p.Fanout == 0 && p.Size == 0 {
		return p.Tier + "/" + p.Driver
	}
	if p.Tier == TierKernel {
		return fmt.Sprintf("%s/%s/fanout=%d/size=%d", p.Tier, p.Driver, p.Fanout, p.Size)
	}
	return fmt.Sprintf("%s/%s/fanout=%d/flows=%d/lag=%s/size=%d", p.Tier, p.Driver, p.Fanout, p.Flows, lagName(p.LAG), p.Size)
}

// key is the point without its driver, for baseline ratios.
type pointKey struct {
	tier                     string
	fanout, flows, lag, size int
}

func (p *Point) key() pointKey { return pointKey{p.Tier, p.Fanout, p.Flows, p.LAG, p.Size} }

// ControlResult is one control-plane benchmark.
type ControlResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	// Reps holds each repetition's figures; Summary their medians.
	Reps    []Metrics       `json:"reps,omitempty"`
	Summary map[string]Stat `json:"summary,omitempty"`
	// Series is a curve (install rate vs table size): X, and Y per rep.
	Series []SeriesPoint `json:"series,omitempty"`
}

// SeriesPoint is one X of a curve with its Y over repetitions.
type SeriesPoint struct {
	X float64   `json:"x"`
	Y []float64 `json:"y"`
}

// Goal is one figure checked against its target.
type Goal struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	// Met is "yes", "no" or "n/a" (not measured in this run).
	Met string `json:"met"`
}

// Results is a run.
type Results struct {
	Env      Env             `json:"env"`
	Workload Workload        `json:"workload"`
	Points   []Point         `json:"points"`
	Control  []ControlResult `json:"control"`
	Goals    []Goal          `json:"goals"`
	// Notes are run-level remarks (a tier skipped, where scratch files went).
	Notes []string `json:"notes,omitempty"`
	// Elapsed is the run's wall time in seconds.
	Elapsed float64 `json:"elapsed_s"`
}

// record is one line of results.jsonl.
type record struct {
	Kind     string         `json:"kind"` // env, point, control, note
	Env      *Env           `json:"env,omitempty"`
	Workload *Workload      `json:"workload,omitempty"`
	Point    *Point         `json:"point,omitempty"`
	Control  *ControlResult `json:"control,omitempty"`
	Note     string         `json:"note,omitempty"`
}

// journal appends records to results.jsonl as they are produced, so that an
// interrupted run keeps everything measured so far.
type journal struct {
	f *os.File
	w *bufio.Writer
}

func openJournal(path string) (*journal, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &journal{f: f, w: bufio.NewWriter(f)}, nil
}

func (j *journal) put(r record) error {
	if j == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return err
	}
	if err := j.w.Flush(); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) close() error {
	if j == nil {
		return nil
	}
	return j.f.Close()
}

// ReadJournal rebuilds Results from a results.jsonl, complete or not.
func ReadJournal(r io.Reader) (*Results, error) {
	res := &Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("results.jsonl line %d: %w", line, err)
		}
		switch rec.Kind {
		case "env":
			if rec.Env != nil {
				res.Env = *rec.Env
			}
			if rec.Workload != nil {
				res.Workload = *rec.Workload
			}
		case "point":
			if rec.Point != nil {
				res.Points = append(res.Points, *rec.Point)
			}
		case "control":
			if rec.Control != nil {
				res.Control = append(res.Control, *rec.Control)
			}
		case "note":
			res.Notes = append(res.Notes, rec.Note)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// sortPoints orders points by tier, driver, lag, flows, fan-out, size.
func sortPoints(ps []Point) {
	tier := func(t string) int {
		if t == TierMem {
			return 0
		}
		return 1
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := &ps[i], &ps[j]
		switch {
		case a.Tier != b.Tier:
			return tier(a.Tier) < tier(b.Tier)
		case a.Size != b.Size:
			return a.Size < b.Size
		case a.LAG != b.LAG:
			return a.LAG < b.LAG
		case a.Flows != b.Flows:
			return a.Flows < b.Flows
		case a.Fanout != b.Fanout:
			return a.Fanout < b.Fanout
		}
		return a.Driver < b.Driver
	})
}
