package perf

import (
	"math"
	"math/bits"
	"slices"
)

// Stat is a figure over repetitions: median, minimum, maximum and count.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// summarize returns the median, min and max of v, ignoring NaNs.
func summarize(v []float64) Stat {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(s)
	st := Stat{Min: s[0], Max: s[len(s)-1], N: len(s)}
	if len(s)%2 == 1 {
		st.Median = s[len(s)/2]
	} else {
		st.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return st
}

// Valid reports whether the stat holds at least one value.
func (s Stat) Valid() bool { return s.N > 0 && !math.IsNaN(s.Median) }

// Metrics is one repetition's figures by name (see the metric constants).
type Metrics map[string]float64

// summarizeReps folds repetitions into one Stat per metric.
func summarizeReps(reps []Metrics) map[string]Stat {
	names := map[string]bool{}
	for _, r := range reps {
		for k := range r {
			names[k] = true
		}
	}
	out := make(map[string]Stat, len(names))
	for k := range names {
		v := make([]float64, 0, len(reps))
		for _, r := range reps {
			if x, ok := r[k]; ok {
				v = append(v, x)
			}
		}
		out[k] = summarize(v)
	}
	return out
}

// hist is a log-linear histogram of non-negative integers (nanoseconds):
// values below 16 are exact, above that each power of two is split into 16
// buckets, so a bucket is at most 1/16 (6%) wide. Adding never allocates.
type hist struct {
	b [16 + 60*16]uint64
	n uint64
}

func (h *hist) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.b[histIndex(uint64(v))]++
	h.n++
}

func histIndex(u uint64) int {
	if u < 16 {
		return int(u)
	}
	e := bits.Len64(u) - 1 // >= 4
	m := (u >> (e - 4)) & 15
	return 16 + (e-4)*16 + int(m)
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	if i < 16 {
		return float64(i)
	}
	e := (i-16)/16 + 4
	m := uint64((i - 16) % 16)
	lo := (16 + m) << (e - 4)
	return float64(lo) + float64(uint64(1)<<(e-4))/2
}

// quantile returns the q-quantile (0 < q <= 1), NaN when empty.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	want := uint64(math.Ceil(q * float64(h.n)))
	if want == 0 {
		want = 1
	}
	var seen uint64
	for i, c := range h.b {
		seen += c
		if seen >= want {
			return histValue(i)
		}
	}
	return histValue(len(h.b) - 1)
}
