package porttest

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// TestBenchWithoutRouter checks the bench against the kernel alone: a
// sender and a receiver joined by one veth (no router between them, TTL 1
// is enough). The receiver's socket counts every datagram of the run once,
// with its payload intact and no checksum error; the collector on the
// receiver's side sees the sender's frames; frames written by the injector
// arrive on the peer byte for byte; the namespaces are gone after the
// test's cleanup.
func TestBenchWithoutRouter(t *testing.T) {
	var nss []string
	t.Run("bench", func(t *testing.T) {
		l := NewLab(t)
		a, b := l.NS("a"), l.NS("b")
		nss = []string{a, b}
		for _, ns := range nss {
			require.True(t, strings.HasPrefix(ns, Prefix), "namespace %s", ns)
		}
		l.Veth(a, "snd0", b, "rcv0")
		l.IP("-n", a, "addr", "add", Source.String()+"/24", "dev", "snd0")
		l.IP("-n", b, "addr", "add", "10.128.1.20/24", "dev", "rcv0")

		// A veth starts with transmit checksum offload on; the sender's
		// stack completes the checksums with it off.
		on, err := TxChecksumOffload(a, "snd0")
		require.NoError(t, err)
		assert.True(t, on, "veth default")
		require.NoError(t, SetTxChecksum(a, "snd0", false))
		on, err = TxChecksumOffload(a, "snd0")
		require.NoError(t, err)
		assert.False(t, on)

		col := &Collector{}
		col.Add(t, b, "rcv0", 42)
		pcap := filepath.Join(t.TempDir(), "rcv.pcap")
		stop := Capture(t, b, "rcv0", pcap, "udp")
		r := Listen(t, b, "rcv0", Group)
		s := NewSender(t, a, "snd0", Source, Group, 1, []int{12, 100, 1472})
		r.Expect(s.Run())
		base, err := ReadUDPStats(b)
		require.NoError(t, err)

		const n = 300
		require.NoError(t, s.Send(n))
		assert.Equal(t, uint32(n), s.Sent())
		ok := waitFor(5*time.Second, func() bool { return r.Got() == n })
		require.True(t, ok, "received %d of %d; missing %v", r.Got(), n, r.Missing(n, 10))
		require.Zero(t, stop(), "tcpdump dropped packets")
		lines := Tshark(t, pcap, "udp.dstport == 5000", "ip.src", "ip.dst", "ip.ttl", "ip.checksum.status", "udp.checksum.status")
		assert.Len(t, lines, n)
		for _, l := range lines {
			if !assert.Equal(t, "10.128.1.10,232.0.7.1,1,1,1", l, "tshark: source, group, TTL, IP and UDP checksums good") {
				break
			}
		}
		assert.Zero(t, r.Dups())
		assert.Zero(t, r.Bad())
		assert.Empty(t, r.Missing(n, 10))
		st, err := ReadUDPStats(b)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, st.InDatagrams-base.InDatagrams, uint64(n))
		assert.Equal(t, base.InCsumErrors, st.InCsumErrors)

		// A new run forgets the old one.
		r.Expect(12345)
		assert.Zero(t, r.Got())

		ok = waitFor(5*time.Second, func() bool {
			udp := 0
			for _, o := range col.Take() {
				p, err := haltest.ParseFrame(o.Frame)
				if err == nil && o.Egress == 42 && p.Group == Group && p.Source == Source && p.Proto == haltest.ProtoUDP {
					udp++
				}
			}
			return udp > 0
		})
		assert.True(t, ok, "the collector saw the sender's datagrams")

		// Raw frames from the injector arrive unchanged.
		inj := &Injector{}
		defer inj.Close()
		col.Take()
		var frames [][]byte
		for i := range 5 {
			frames = append(frames, haltest.BuildFrame(haltest.FrameSpec{
				Source: netip.MustParseAddr("10.128.1.99"), Group: netip.MustParseAddr("232.9.9.9"), TTL: 9, ID: uint16(i), Payload: 50 + i,
			}))
		}
		inj.Send(t, a, "snd0", frames)
		var got []haltest.Output
		ok = waitFor(5*time.Second, func() bool {
			for _, o := range col.Take() {
				if p, err := haltest.ParseFrame(o.Frame); err == nil && p.Group == netip.MustParseAddr("232.9.9.9") {
					got = append(got, o)
				}
			}
			return len(got) >= len(frames)
		})
		require.True(t, ok, "%d of %d injected frames arrived", len(got), len(frames))
		for i, o := range got {
			assert.Equal(t, hal.IFLIndex(42), o.Egress)
			assert.True(t, bytes.Equal(frames[i], o.Frame), "frame %d changed on the way", i)
		}
	})
	for _, ns := range nss {
		_, err := os.Stat("/run/netns/" + ns)
		assert.True(t, os.IsNotExist(err), "namespace %s left behind", ns)
	}
}

// TestSenderRejectsSizes: payload sizes outside [12, 1472] fail the test
// that asks for them before any socket is opened.
func TestSenderRejectsSizes(t *testing.T) {
	for _, n := range []int{0, 11, 1473} {
		ft := &fatalTB{TB: t}
		func() {
			defer func() { _ = recover() }()
			NewSender(ft, "", "lo", Source, Group, 1, []int{n})
		}()
		assert.True(t, ft.failed, "size %d accepted", n)
	}
}

// fatalTB records Fatalf instead of ending the test.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
