package traffic

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/lab/netns"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Stream: 1, Seq: 1, SentNs: 1},
		{Stream: 0xffffffff, Seq: 1<<64 - 1, SentNs: -5},
		{Flags: FlagEnd, Stream: 7, Seq: 0, SentNs: time.Now().UnixNano()},
	} {
		b := h.Append(nil)
		require.Len(t, b, HeaderLen)
		assert.Equal(t, "MXLT", string(b[:4]))
		got, err := Parse(append(b, make([]byte, 100)...)) // padding is ignored
		require.NoError(t, err)
		assert.Equal(t, h, got)
	}
}

func TestHeaderErrorsNameTheField(t *testing.T) {
	good := Header{Stream: 1, Seq: 1}.Append(nil)
	mutate := func(off int, v byte) []byte {
		b := bytes.Clone(good)
		b[off] = v
		return b
	}
	zeroSeq := bytes.Clone(good)
	binary.BigEndian.PutUint64(zeroSeq[16:], 0)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good[:31], "length 31"},
		{"magic", mutate(0, 'X'), "magic"},
		{"version", mutate(4, 2), "version 2"},
		{"flags", mutate(5, 0x80), "flags"},
		{"hdrlen", mutate(7, 33), "hdrlen 33"},
		{"reserved", mutate(15, 1), "reserved"},
		{"seq 0 on data", zeroSeq, "seq 0"},
	} {
		_, err := Parse(tc.in)
		require.ErrorIs(t, err, ErrHeader, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// FuzzParse: decode -> encode -> decode gives the same header, and the
// encoding is the first HeaderLen bytes of any input that decodes.
func FuzzParse(f *testing.F) {
	f.Add(Header{Stream: 1, Seq: 1, SentNs: 1}.Append(nil))
	f.Add(Header{Flags: FlagEnd, Stream: 9, Seq: 3000}.Append(make([]byte, 0, 64)))
	f.Add([]byte("MXLT"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err != nil {
			return
		}
		enc := h.Append(nil)
		require.Equal(t, b[:HeaderLen], enc)
		h2, err := Parse(enc)
		require.NoError(t, err)
		require.Equal(t, h, h2)
	})
}

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type pkt struct {
		seq uint64
		ms  int
		end bool
	}
	for _, tc := range []struct {
		name string
		pkts []pkt
		want StreamStats
	}{
		{
			name: "in order, all arrive, end marker",
			pkts: []pkt{{1, 0, false}, {2, 1, false}, {3, 2, false}, {3, 3, true}},
			want: StreamStats{Received: 3, Unique: 3, Sent: 3, EndSeen: true, FirstSeq: 1, LastSeq: 3, LongestGapMs: 1},
		},
		{
			name: "hole in the middle is lost",
			pkts: []pkt{{1, 0, false}, {2, 1, false}, {5, 100, false}, {6, 101, false}},
			want: StreamStats{Received: 4, Unique: 4, Lost: 2, FirstSeq: 1, LastSeq: 6, LongestGapMs: 99, GapsOver: 1},
		},
		{
			name: "loss at the start counts (sequence numbers start at 1)",
			pkts: []pkt{{3, 0, false}, {4, 1, false}},
			want: StreamStats{Received: 2, Unique: 2, Lost: 2, FirstSeq: 3, LastSeq: 4, LongestGapMs: 1},
		},
		{
			name: "tail loss counts only with the end marker",
			pkts: []pkt{{1, 0, false}, {2, 1, false}, {10, 2, true}},
			want: StreamStats{Received: 2, Unique: 2, Lost: 8, Sent: 10, EndSeen: true, FirstSeq: 1, LastSeq: 2, LongestGapMs: 1},
		},
		{
			name: "duplicates are received but not unique",
			pkts: []pkt{{1, 0, false}, {1, 1, false}, {2, 2, false}, {2, 3, false}},
			want: StreamStats{Received: 4, Unique: 2, Duplicates: 2, FirstSeq: 1, LastSeq: 2, LongestGapMs: 1},
		},
		{
			name: "late arrival is reordered, not lost",
			pkts: []pkt{{1, 0, false}, {3, 1, false}, {2, 2, false}, {4, 3, false}},
			want: StreamStats{Received: 4, Unique: 4, Reordered: 1, FirstSeq: 1, LastSeq: 4, LongestGapMs: 1},
		},
		{
			name: "first datagram is a late one",
			pkts: []pkt{{5, 0, false}, {4, 1, false}},
			want: StreamStats{Received: 2, Unique: 2, Reordered: 1, Lost: 3, FirstSeq: 4, LastSeq: 5, LongestGapMs: 1},
		},
		{
			name: "sequence numbers past the bitmap are set aside",
			pkts: []pkt{{1, 0, false}, {maxTrackedSeq, 1, false}},
			want: StreamStats{Received: 1, Unique: 1, Untracked: 1, FirstSeq: 1, LastSeq: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker("10.0.0.1", 7, 50*time.Millisecond)
			for _, p := range tc.pkts {
				h := Header{Stream: 7, Seq: p.seq, SentNs: at(p.ms).UnixNano()}
				if p.end {
					h.Flags = FlagEnd
				}
				tr.add(h, 64, at(p.ms))
			}
			got := tr.stats()
			want := tc.want
			want.Source, want.Stream, want.GapThresholdMs = "10.0.0.1", 7, 50
			want.Bytes = 64 * want.Received
			if want.Received > 0 {
				want.FirstArrival = at(tc.pkts[0].ms)
			}
			for _, p := range tc.pkts {
				if !p.end && p.seq < maxTrackedSeq {
					want.LastArrival = at(p.ms)
				}
			}
			// Sent time == arrival time in this table: zero latency.
			assert.Equal(t, want, got)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	g := netip.MustParseAddr("239.1.1.1")
	_, err := Send(context.Background(), SendConfig{Group: netip.MustParseAddr("10.0.0.1"), Rate: 1})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = Send(context.Background(), SendConfig{Group: g, Rate: 0})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = Send(context.Background(), SendConfig{Group: g, Rate: 1, Size: 10})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = Receive(context.Background(), RecvConfig{Group: netip.MustParseAddr("ff02::1")})
	assert.ErrorIs(t, err, ErrConfig)
}

// wire is two namespaces joined by a veth pair: a sender at 10.9.0.1 and a
// receiver at 10.9.0.2 on one segment (no router), removed at cleanup.
func wire(t *testing.T) (snd, rcv string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces and veth pairs)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
	base := fmt.Sprintf("mxl-tt%d-%s", os.Getpid(), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "")))
	if len(base) > 40 {
		base = base[:40]
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %v: %s", args, out)
	}
	var ids []netns.ID
	names := []string{base + "-s", base + "-r"}
	t.Cleanup(func() {
		for i, n := range names[:len(ids)] {
			_ = netns.Delete(n, ids[i])
		}
	})
	for _, n := range names {
		id, err := netns.Add(n)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	run("link", "add", "eth0", "netns", names[0], "type", "veth", "peer", "name", "eth0", "netns", names[1])
	for i, n := range names {
		run("-n", n, "addr", "add", fmt.Sprintf("10.9.0.%d/24", i+1), "dev", "eth0")
		run("-n", n, "link", "set", "eth0", "up")
	}
	return netns.Path(names[0]), netns.Path(names[1])
}

func TestSendReceiveOnAWire(t *testing.T) {
	snd, rcv := wire(t)
	g := netip.MustParseAddr("239.9.9.9")
	ready := make(chan struct{})
	var rep Report
	var rerr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rep, rerr = Receive(context.Background(), RecvConfig{Netns: rcv, Group: g, Iface: "eth0", Idle: 3 * time.Second,
			Ready: func() { close(ready) }})
	}()
	<-ready
	res, err := Send(context.Background(), SendConfig{Netns: snd, Group: g, Iface: "eth0", Source: netip.MustParseAddr("10.9.0.1"),
		Rate: 2000, Size: 200, Count: 1000, Stream: 42})
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, rerr)
	assert.Equal(t, uint64(1000), res.Sent)
	assert.Zero(t, res.Errors)
	assert.Equal(t, "10.9.0.1", res.Source)
	assert.Equal(t, "end of streams", rep.StopReason)
	require.Len(t, rep.Streams, 1)
	s := rep.Streams[0]
	assert.Equal(t, uint32(42), s.Stream)
	assert.Equal(t, "10.9.0.1", s.Source)
	assert.True(t, s.EndSeen)
	assert.Equal(t, uint64(1000), s.Sent)
	// A veth wire between two sockets on one host: the kernel does not lose
	// what fits in the receive buffer.
	assert.Equal(t, uint64(1000), s.Unique)
	assert.Zero(t, s.Lost)
	assert.Zero(t, s.Duplicates)
	assert.Equal(t, uint64(200*1000), s.Bytes)
}

// A source-specific join receives its source only.
func TestSourceSpecificJoin(t *testing.T) {
	snd, rcv := wire(t)
	g := netip.MustParseAddr("232.9.9.9")
	// A second address on the sender: datagrams from it must be filtered.
	out, err := exec.Command("ip", "-n", strings.TrimPrefix(snd, netns.Dir+"/"), "addr", "add", "10.9.0.11/24", "dev", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ready := make(chan struct{})
	var rep Report
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rep, err = Receive(context.Background(), RecvConfig{Netns: rcv, Group: g, Source: netip.MustParseAddr("10.9.0.1"),
			Iface: "eth0", Duration: 1500 * time.Millisecond, Ready: func() { close(ready) }})
	}()
	<-ready
	for _, src := range []string{"10.9.0.11", "10.9.0.1"} {
		_, serr := Send(context.Background(), SendConfig{Netns: snd, Group: g, Source: netip.MustParseAddr(src), Iface: "eth0", Rate: 1000, Count: 100})
		require.NoError(t, serr)
	}
	wg.Wait()
	require.NoError(t, err)
	require.Len(t, rep.Streams, 1, "only the joined source's stream")
	assert.Equal(t, "10.9.0.1", rep.Streams[0].Source)
	assert.Equal(t, uint64(100), rep.Streams[0].Unique)
	assert.Equal(t, "duration", rep.StopReason)
}
