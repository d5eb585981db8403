package msdp_test

import (
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// benchStream is n distinct (S,G)s from originator rp in SAs of per
// entries.
func benchStream(b *testing.B, n, per int, rp netip.Addr) []byte {
	b.Helper()
	var out []byte
	es := make([]msdpmsg.Entry, 0, per)
	for k := range n {
		es = append(es, msdpmsg.Entry{
			Group:  netip.AddrFrom4([4]byte{239, byte(k >> 16), byte(k >> 8), byte(k)}),
			Source: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
		})
		if len(es) == per || k == n-1 {
			var err error
			if out, err = msdpmsg.AppendSA(out, msdpmsg.TypeSourceActive, rp, es, nil); err != nil {
				b.Fatal(err)
			}
			es = es[:0]
		}
	}
	return out
}

// pipelineRig is an engine with three established peers; SAs come from
// 10.0.0.2 with originator 10.9.9.9, which passes peer-RPF by the
// platform's interface rule (two RIB lookups, then the cached result), and
// are flooded to the two others.
func pipelineRig(b *testing.B) (*msdp.Engine, time.Time) {
	rib := &fakeRIB{}
	rib.add(msdp.Route{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoOSPF, NextHop: a("10.7.0.2"), Interface: "xe-0/0/0"})
	rib.add(msdp.Route{Prefix: pf("10.0.0.0/24"), Protocol: msdp.ProtoOSPF, NextHop: a("10.7.0.2"), Interface: "xe-0/0/0"})
	cfg := rpfConfig()
	cfg.ActiveSourceLimit = &msdp.Limit{Maximum: 2_000_000}
	cfg.SAHoldTime = 300 * time.Second
	e, err := msdp.New(cfg, msdp.Options{RIB: rib}, t0)
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	e.Start(now, nil)
	for i, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		e.Handle(now, msdp.ConnUp{Peer: a(p), Conn: msdp.ConnID(i + 1), Active: true}, nil)
	}
	return e, now
}

// BenchmarkReceivePipeline measures what issue #15 asks (≥ 500,000 SA
// entries/s received): bytes in 64 KiB reads → stream decoder → Handle
// (peer-RPF, cache insert or refresh, flood decision and encoding for two
// peers), one million distinct SAs per op.
func BenchmarkReceivePipeline(b *testing.B) {
	const total = 1_000_000
	for _, tc := range []struct {
		name    string
		per     int
		refresh bool
	}{
		{"new-255-per-SA", 255, false},
		{"refresh-255-per-SA", 255, true},
		{"new-1-per-SA", 1, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			stream := benchStream(b, total, tc.per, a("10.9.9.9"))
			var acts []msdp.Action
			var msgs []msdpmsg.Message
			feed := func(e *msdp.Engine, now time.Time) {
				d := msdpmsg.NewDecoder()
				for off := 0; off < len(stream); off += 64 << 10 {
					var err error
					msgs, err = d.Decode(stream[off:min(off+64<<10, len(stream))], msgs[:0])
					if err != nil {
						b.Fatal(err)
					}
					acts = e.Handle(now, msdp.Received{Peer: a("10.0.0.2"), Conn: 1, At: now, Msgs: msgs}, acts[:0])
				}
			}
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				e, now := pipelineRig(b)
				if tc.refresh {
					feed(e, now)
					now = now.Add(10 * time.Second)
				}
				c0 := cpuTime()
				b.StartTimer()
				feed(e, now)
				b.StopTimer()
				cpu += cpuTime() - c0
				if n := len(e.SourceActive(now, msdp.SAFilter{Group: a("239.0.0.1")}).SAs); n != 1 {
					b.Fatalf("cache lost entries: %d", n)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			// Per CPU second of the whole process (GC included): steadier
			// than wall time on a shared machine.
			b.ReportMetric(float64(total)*float64(b.N)/cpu.Seconds(), "entries/cpu-s")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCacheMemory caches one million SAs and reports the heap they
// hold (issue #15: ≤ 256 bytes per cached SA).
func BenchmarkCacheMemory(b *testing.B) {
	const total = 1_000_000
	stream := benchStream(b, total, 255, a("10.9.9.9"))
	msgs, err := msdpmsg.DecodeAll(stream)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e, now := pipelineRig(b)
		b.StartTimer()
		for i := 0; i < len(msgs); i += 64 {
			e.Handle(now, msdp.Received{Peer: a("10.0.0.2"), Conn: 1, At: now, Msgs: msgs[i:min(i+64, len(msgs))]}, nil)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := e.Statistics(now).Peers[0]; n.SAEntriesReceived != total {
			b.Fatalf("received %d", n.SAEntriesReceived)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/total, "bytes/SA")
		runtime.KeepAlive(e)
		b.StartTimer()
	}
}

// BenchmarkLongestEvent reports the longest single Handle of one 64 KiB
// read (about 5,400 new SA entries) while one million SAs are cached: the
// owner's worst stall between two timer checks, which bounds KeepAlive
// lateness.
func BenchmarkLongestEvent(b *testing.B) {
	stream := benchStream(b, 1_000_000, 255, a("10.9.9.9"))
	var worst time.Duration
	for b.Loop() {
		b.StopTimer()
		e, now := pipelineRig(b)
		d := msdpmsg.NewDecoder()
		b.StartTimer()
		for off := 0; off < len(stream); off += 64 << 10 {
			msgs, _ := d.Decode(stream[off:min(off+64<<10, len(stream))], nil)
			t := time.Now()
			e.Handle(now, msdp.Received{Peer: a("10.0.0.2"), Conn: 1, At: now, Msgs: msgs}, nil)
			worst = max(worst, time.Since(t))
		}
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-event-ms")
}
