package msdpnet_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// BenchmarkKeepAliveJitterUnderFlood measures what issue #15 asks: no
// hold-timer expiry while a 1M-SA flood is processed, and how late
// KeepAlives go out meanwhile. Over loopback, router R (engine +
// transport + the Host owner loop) has three peers:
//   - F floods: one million distinct SAs (255 per TLV, 12 MB) as fast as R
//     reads them, then the same million again and again (refreshes) until
//     the run ends;
//   - C observes: R exports nothing to it (a reject-all export policy), so
//     it only receives R's KeepAlives, every second (keep-alive 1 s); C
//     timestamps each one as it reads it;
//   - both keep R's hold timers (10 s) going with their own traffic.
//
// Reported: KeepAlives seen by C; the largest deviation of their spacing
// from 1 s at the owner (when the loop queued them) and on the wire (when
// C read them), and the median on the wire; the longest time the owner
// spent on one event; the largest queue wait of a decoded read in front of
// the owner (Received.At to handling); the SA entries R processed per
// second during the flood; hold-timer expiries (must be 0).
func BenchmarkKeepAliveJitterUnderFlood(b *testing.B) {
	needRoot(b)
	const (
		total    = 1_000_000
		flood    = 12 * time.Second
		kaPeriod = time.Second
	)
	ip := loopNet()
	rAddr, fAddr, cAddr := ip(5), ip(2), ip(3)
	cfg := msdp.Config{
		LocalAddress: a(rAddr), KeepAlive: kaPeriod, HoldTime: 10 * time.Second, SAHoldTime: 300 * time.Second,
		ActiveSourceLimit: &msdp.Limit{Maximum: 2 * total},
		Policies:          map[string]*msdp.Policy{"none": {Name: "none", Terms: []msdp.Term{{Name: "all", Then: msdp.VerdictReject}}}},
		Peers:             []msdp.PeerConfig{{Address: a(fAddr)}, {Address: a(cAddr), Export: []string{"none"}}},
	}
	var traceMu sync.Mutex
	var maxWait, maxWork time.Duration
	var maxWhat string
	var ownerKA []time.Time // when the owner queued a KeepAlive for C
	trace := func(ev msdp.Event, acts []msdp.Action, at time.Time) {
		traceMu.Lock()
		defer traceMu.Unlock()
		if r, ok := ev.(msdp.Received); ok {
			maxWait = max(maxWait, at.Sub(r.At))
		}
		if w := time.Since(at); w > maxWork {
			maxWork = w
			n := 0
			if r, ok := ev.(msdp.Received); ok {
				for _, m := range r.Msgs {
					if s, ok := m.(*msdpmsg.SourceActive); ok {
						n += len(s.Entries)
					}
				}
			}
			maxWhat = fmt.Sprintf("%T with %d entries, %d actions", ev, n, len(acts))
		}
		for _, x := range acts {
			if s, ok := x.(msdp.Send); ok && s.KeepAlive && s.Peer == a(cAddr) {
				ownerKA = append(ownerKA, at)
			}
		}
	}
	r := startRouter(b, cfg, routerOpt{trace: trace})

	var stream []byte
	es := make([]msdpmsg.Entry, 0, msdpmsg.MaxEntries)
	for k := range total {
		es = append(es, msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, byte(k >> 16), byte(k >> 8), byte(k)}),
			Source: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})})
		if len(es) == msdpmsg.MaxEntries || k == total-1 {
			stream, _ = msdpmsg.AppendSA(stream, msdpmsg.TypeSourceActive, a(fAddr), es, nil)
			es = es[:0]
		}
	}

	f := rawPeer(b, fAddr, rAddr)
	c := rawPeer(b, cAddr, rAddr)
	go func() { _, _ = io.Copy(io.Discard, f) }()
	var kaTimes []time.Time
	kaDone := make(chan struct{})
	go func() { // C: timestamp every KeepAlive
		defer close(kaDone)
		d := msdpmsg.NewDecoder()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				now := time.Now()
				msgs, _ := d.Decode(buf[:n], nil)
				for _, m := range msgs {
					if m.Type() == msdpmsg.TypeKeepAlive {
						kaTimes = append(kaTimes, now)
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	eventually(b, 5*time.Second, "both established", func() bool {
		return r.peer(fAddr).State == msdp.StateEstablished && r.peer(cAddr).State == msdp.StateEstablished
	})
	stopKA := make(chan struct{})
	go func() { // C's own KeepAlives keep R's hold timer for it going
		t := time.NewTicker(kaPeriod)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_, _ = c.Write(msdpmsg.KeepAliveBytes)
			case <-stopKA:
				return
			}
		}
	}()

	b.ResetTimer()
	start := time.Now()
	passes := 0
	for time.Since(start) < flood {
		if _, err := f.Write(stream); err != nil {
			b.Fatal(err)
		}
		passes++
	}
	sent := uint64(passes) * total
	eventually(b, 60*time.Second, "R processed the flood", func() bool { return r.peer(fAddr).Stats.SAEntriesReceived >= sent })
	elapsed := time.Since(start)
	b.StopTimer()
	close(stopKA)
	fInfo, cInfo := r.peer(fAddr), r.peer(cAddr)
	c.Close()
	<-kaDone

	deviations := func(ts []time.Time) []time.Duration {
		var devs []time.Duration
		for i := 1; i < len(ts); i++ {
			if ts[i].Before(start) || ts[i-1].After(start.Add(elapsed)) {
				continue
			}
			d := ts[i].Sub(ts[i-1]) - kaPeriod
			devs = append(devs, max(d, -d))
		}
		slices.Sort(devs)
		return devs
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	traceMu.Lock()
	owner := deviations(ownerKA)
	b.ReportMetric(ms(maxWait), "max-queue-wait-ms")
	b.ReportMetric(ms(maxWork), "max-event-ms")
	b.Logf("longest event: %s", maxWhat)
	traceMu.Unlock()
	wire := deviations(kaTimes)
	if len(wire) == 0 || len(owner) == 0 {
		b.Fatal("no KeepAlive seen during the flood")
	}
	b.ReportMetric(float64(len(wire)), "keepalives")
	// Owner: how much the spacing of the owner's KeepAlive actions strays
	// from 1 s (the loop's own responsiveness). Wire: the same as C reads
	// them (adds the writer, the socket and C's goroutine).
	b.ReportMetric(ms(owner[len(owner)-1]), "owner-max-jitter-ms")
	b.ReportMetric(ms(wire[len(wire)-1]), "wire-max-jitter-ms")
	b.ReportMetric(ms(wire[len(wire)/2]), "wire-median-jitter-ms")
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(passes), "passes")
	b.ReportMetric(float64(fInfo.Stats.PeerTimeouts+cInfo.Stats.PeerTimeouts), "hold-expiries")
	if fInfo.State != msdp.StateEstablished || cInfo.State != msdp.StateEstablished {
		b.Fatalf("a session went down: F %v, C %v", fInfo.State, cInfo.State)
	}
}

// BenchmarkNSRMirror measures what socket replication costs the master:
// a remote streams SAs (255 entries each) to the master, plain and then
// with every read mirrored synchronously (peek, Mirror.In straight into a
// backup Transport's shadow, which decodes and feeds a standby engine,
// then consume), in the same run. Reported: entries/s of each and their
// ratio.
func BenchmarkNSRMirror(b *testing.B) {
	needRoot(b)
	const total = 300_000
	var stream []byte
	es := make([]msdpmsg.Entry, 0, msdpmsg.MaxEntries)
	for k := range total {
		es = append(es, msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, byte(k >> 16), byte(k >> 8), byte(k)}),
			Source: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})})
		if len(es) == msdpmsg.MaxEntries || k == total-1 {
			stream, _ = msdpmsg.AppendSA(stream, msdpmsg.TypeSourceActive, netip.MustParseAddr("127.0.0.1"), es, nil)
			es = es[:0]
		}
	}
	rate := map[bool]float64{}
	for _, mirrored := range []bool{false, true} {
		ip := loopNet()
		// The remote's SAs carry its own address as RP.
		s := append([]byte(nil), stream...)
		rp := a(ip(1)).As4()
		for off := 0; off < len(s); off += int(binary.BigEndian.Uint16(s[off+1:])) {
			copy(s[off+4:off+8], rp[:])
		}
		cfg := fast(msdp.Config{LocalAddress: a(ip(2)), ActiveSourceLimit: &msdp.Limit{}, Peers: []msdp.PeerConfig{{Address: a(ip(1))}}})
		o := routerOpt{}
		if mirrored {
			backup := startRouter(b, cfg, routerOpt{standby: true})
			o.mirror = &inprocMirror{backup: backup.tr, shadows: map[netip.Addr]msdp.ConnID{}}
		}
		master := startRouter(b, cfg, o)
		c := rawPeer(b, ip(1), ip(2))
		eventually(b, 5*time.Second, "established", func() bool { return master.peer(ip(1)).State == msdp.StateEstablished })
		start := time.Now()
		for i := range b.N {
			if _, err := c.Write(s); err != nil {
				b.Fatal(err)
			}
			want := uint64(i+1) * total
			eventually(b, 60*time.Second, "master read the stream", func() bool { return master.peer(ip(1)).Stats.SAEntriesReceived >= want })
		}
		rate[mirrored] = float64(b.N*total) / time.Since(start).Seconds()
		master.stop()
	}
	b.ReportMetric(rate[false], "plain-entries/s")
	b.ReportMetric(rate[true], "mirrored-entries/s")
	b.ReportMetric(rate[true]/rate[false], "mirrored/plain")
}
