package traffic

import (
	"math"
	"time"
)

// maxTrackedSeq bounds the duplicate-detection bitmap (32 MiB): at 10 kpps
// that is 7 hours of one stream. Datagrams with a higher sequence number
// are counted in Untracked and otherwise ignored.
const maxTrackedSeq = 1 << 28

// StreamStats is what a receiver measured for one stream (one sender
// socket: source address and stream id).
type StreamStats struct {
	Source string `json:"source"`
	Stream uint32 `json:"stream"`
	// Received counts every data datagram, duplicates included; Unique
	// the distinct sequence numbers among them.
	Received   uint64 `json:"received"`
	Unique     uint64 `json:"unique"`
	Duplicates uint64 `json:"duplicates"`
	// Reordered counts datagrams that arrived after one with a higher
	// sequence number.
	Reordered uint64 `json:"reordered"`
	// Lost is Sent-Unique once the end marker arrived, else LastSeq-Unique
	// (datagrams lost after the last one received are then not counted).
	Lost uint64 `json:"lost"`
	// Sent is the sender's count from its end marker (0 if none arrived).
	Sent     uint64 `json:"sent"`
	EndSeen  bool   `json:"end_seen"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"` // highest sequence number received
	// LongestGapMs is the longest time between two consecutive arrivals;
	// GapsOver counts the gaps longer than GapThresholdMs.
	LongestGapMs   float64 `json:"longest_gap_ms"`
	GapsOver       uint64  `json:"gaps_over_threshold"`
	GapThresholdMs float64 `json:"gap_threshold_ms"`
	// One-way latency from the send time in the header (sender and
	// receiver share the host's clock in a lab).
	LatencyMinMs float64   `json:"latency_min_ms"`
	LatencyAvgMs float64   `json:"latency_avg_ms"`
	LatencyMaxMs float64   `json:"latency_max_ms"`
	Bytes        uint64    `json:"bytes"`
	Untracked    uint64    `json:"untracked,omitempty"`
	FirstArrival time.Time `json:"first_arrival"`
	LastArrival  time.Time `json:"last_arrival"`
}

// tracker accumulates one stream's statistics. It is a pure function of
// the datagrams fed to it (arrival times are arguments) and is owned by one
// goroutine.
type tracker struct {
	s         StreamStats
	threshold time.Duration
	seen      []uint64 // bitmap of received sequence numbers
	latSum    float64
	latN      uint64
}

func newTracker(source string, stream uint32, threshold time.Duration) *tracker {
	return &tracker{
		s:         StreamStats{Source: source, Stream: stream, GapThresholdMs: ms(threshold)},
		threshold: threshold,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (t *tracker) has(seq uint64) bool {
	w := seq / 64
	return w < uint64(len(t.seen)) && t.seen[w]&(1<<(seq%64)) != 0
}

func (t *tracker) mark(seq uint64) {
	w := seq / 64
	for uint64(len(t.seen)) <= w {
		n := max(2*len(t.seen), 1024)
		if uint64(n) > maxTrackedSeq/64 {
			n = maxTrackedSeq / 64
		}
		t.seen = append(t.seen, make([]uint64, n-len(t.seen))...)
	}
	t.seen[w] |= 1 << (seq % 64)
}

// add records one datagram of size bytes that arrived at now.
func (t *tracker) add(h Header, size int, now time.Time) {
	s := &t.s
	if h.End() {
		s.EndSeen = true
		s.Sent = max(s.Sent, h.Seq)
		return
	}
	if h.Seq >= maxTrackedSeq {
		s.Untracked++
		return
	}
	s.Received++
	s.Bytes += uint64(size)
	if !s.LastArrival.IsZero() {
		gap := now.Sub(s.LastArrival)
		if g := ms(gap); g > s.LongestGapMs {
			s.LongestGapMs = g
		}
		if t.threshold > 0 && gap > t.threshold {
			s.GapsOver++
		}
	} else {
		s.FirstArrival = now
		s.FirstSeq = h.Seq
	}
	s.LastArrival = now
	if lat := ms(now.Sub(time.Unix(0, h.SentNs))); lat >= 0 {
		if t.latN == 0 || lat < s.LatencyMinMs {
			s.LatencyMinMs = lat
		}
		s.LatencyMaxMs = math.Max(s.LatencyMaxMs, lat)
		t.latSum += lat
		t.latN++
	}
	if t.has(h.Seq) {
		s.Duplicates++
		return
	}
	t.mark(h.Seq)
	s.Unique++
	if h.Seq < s.LastSeq {
		s.Reordered++
	} else {
		s.LastSeq = h.Seq
	}
	s.FirstSeq = min(s.FirstSeq, h.Seq)
}

// stats returns the statistics so far.
func (t *tracker) stats() StreamStats {
	s := t.s
	expect := s.LastSeq
	if s.EndSeen {
		expect = max(expect, s.Sent)
	}
	if expect > s.Unique {
		s.Lost = expect - s.Unique
	}
	if t.latN > 0 {
		s.LatencyAvgMs = t.latSum / float64(t.latN)
	}
	return s
}
