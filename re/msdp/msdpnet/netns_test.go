package msdpnet_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// capture runs tcpdump in a namespace until the returned stop is called,
// which returns how many packets the kernel dropped. Immediate mode (with
// TPACKET_V3's block batching, packets of a block not yet retired were
// lost when tcpdump stopped), file output buffered (a write per packet
// made tcpdump drop packets under load).
func capture(t *testing.T, ns, ifname, file string) (stop func() int) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("skipped: needs tcpdump")
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "--immediate-mode", "-B", "16384", "-Z", "root", "-w", file, "tcp", "port", "639")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	eventually(t, 5*time.Second, "tcpdump listening", func() bool { return strings.Contains(stderr.String(), "listening on") })
	stopped, dropped := false, 0
	stop = func() int {
		if stopped {
			return dropped
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		if m := regexp.MustCompile(`(\d+) packets? dropped by kernel`).FindStringSubmatch(stderr.String()); m != nil {
			fmt.Sscan(m[1], &dropped)
		}
		return dropped
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestNamespacesDissectedByTshark: two routers in their own namespaces
// on a veth pair, with TCP MD5; the session comes up, SAs (one of them
// spanning several segments), an SA-Request and its SA-Response flow; the
// capture shows DSCP CS6 and TCP MD5 options on every MSDP segment and
// tshark dissects every TLV with nothing Malformed.
func TestNamespacesDissectedByTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipped: needs tshark")
	}
	nsA, nsB := newNS(t, "a"), newNS(t, "b")
	link(t, nsA, "mxa0", "10.77.0.1/30", nsB, "mxb0", "10.77.0.2/30")
	const key = "mxfwd-md5"
	cfgA := fast(msdp.Config{LocalAddress: a("10.77.0.1"), ActiveSourceLimit: &msdp.Limit{}, Peers: []msdp.PeerConfig{{Address: a("10.77.0.2"), AuthenticationKey: key}}})
	cfgB := fast(msdp.Config{LocalAddress: a("10.77.0.2"), ActiveSourceLimit: &msdp.Limit{}, Peers: []msdp.PeerConfig{{Address: a("10.77.0.1"), AuthenticationKey: key}}})
	file := filepath.Join(t.TempDir(), "msdp.pcap")
	stop := capture(t, nsA, "mxa0", file)

	rB := startRouter(t, cfgB, routerOpt{netns: nsB})
	rA := startRouter(t, cfgA, routerOpt{netns: nsA})
	eventually(t, 5*time.Second, "established in namespaces", func() bool {
		return rA.peer("10.77.0.2").State == msdp.StateEstablished && rB.peer("10.77.0.1").State == msdp.StateEstablished
	})
	// B originates 600 sources: the triggered SAs, then a cache dump to a
	// new session would carry them in 255-entry SAs; here A asks for them
	// with an SA-Request after they are cached.
	rB.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		var out []msdp.Action
		for k := range 600 {
			out = e.Handle(now, msdp.LocalSourceEvent{Source: netip.AddrFrom4([4]byte{10, 78, byte(k >> 8), byte(k)}),
				Group: a("239.7.7.7"), RP: a("10.77.0.2"), Active: true}, out)
		}
		return out
	})
	eventually(t, 5*time.Second, "600 SAs at A", func() bool { return len(rA.sas()) == 600 })
	rA.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		// Clear the cache and re-learn it with SA-Request/SA-Response.
		out := e.ClearCache(now, msdp.CacheFilter{}, nil)
		out = e.Handle(now, msdp.StarGEvent{Group: a("239.7.7.7"), Joined: true}, out)
		return out
	})
	// A is no seed-001 RP, so it sends no SA-Request on its own: send
	// one as its owner would.
	rA.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		var conn msdp.ConnID
		for _, cs := range rA.tr.Conns() {
			conn = cs.Conn
		}
		b, _ := msdpmsg.Encode(&msdpmsg.SARequest{Group: a("239.7.7.7")})
		return []msdp.Action{msdp.Send{Peer: a("10.77.0.2"), Conn: conn, Data: b}}
	})
	eventually(t, 5*time.Second, "SA-Response at A", func() bool { return len(rA.sas()) == 600 })
	time.Sleep(2500 * time.Millisecond) // a KeepAlive period
	if dropped := stop(); dropped > 0 {
		t.Skipf("skipped: tcpdump lost %d packets, the capture is incomplete", dropped)
	}
	if os.Getenv("MXMSDP_KEEP_PCAP") != "" {
		_ = exec.Command("cp", file, os.Getenv("MXMSDP_KEEP_PCAP")).Run()
	}

	out, err := exec.Command("tshark", "-r", file, "-V", "-Y", "msdp").CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	for _, bad := range []string{"Malformed", "Expert Info (Error", "Unknown MSDP"} {
		if i := strings.Index(text, bad); i >= 0 {
			t.Errorf("tshark found %q: …%s…", bad, text[max(0, i-600):min(len(text), i+200)])
		}
	}
	// Count TLVs by type, and the distinct SA sources, from tshark's fields.
	typesOut, err := exec.Command("tshark", "-r", file, "-Y", "msdp", "-T", "fields", "-e", "msdp.type").Output()
	require.NoError(t, err)
	types := map[string]int{}
	for _, tt := range strings.FieldsFunc(string(typesOut), func(r rune) bool { return r == ',' || r == '\n' }) {
		types[tt]++
	}
	srcOut, err := exec.Command("tshark", "-r", file, "-Y", "msdp.type == 1", "-T", "fields", "-e", "msdp.sa.src_addr").Output()
	require.NoError(t, err)
	sources := map[string]bool{}
	for _, s := range strings.FieldsFunc(string(srcOut), func(r rune) bool { return r == ',' || r == '\n' }) {
		sources[s] = true
	}
	t.Logf("tshark: TLVs by type %v; %d distinct SA sources", types, len(sources))
	assert.Positive(t, types["4"], "KeepAlive")
	assert.GreaterOrEqual(t, types["1"], 600, "Source-Active")
	assert.Len(t, sources, 600)
	assert.Equal(t, 1, types["2"], "SA-Request")
	// 600 entries: the engine encodes 255+255+90; the writer cuts each
	// to fit a segment (MSS 1460 - 40 → 118 entries): 118+118+19 twice, 90.
	assert.Equal(t, 7, types["3"], "SA-Response")
	assert.Contains(t, text, "RP Address: 10.77.0.2")
	// DSCP CS6 and TCP MD5 on every MSDP segment, both directions.
	fields, err := exec.Command("tshark", "-r", file, "-Y", "tcp.len > 0", "-T", "fields", "-e", "ip.src", "-e", "ip.dsfield.dscp", "-e", "tcp.option_kind").Output()
	require.NoError(t, err, "%s", fields)
	srcs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(fields)), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 3, line)
		srcs[f[0]] = true
		assert.Equal(t, "48", f[1], "DSCP CS6: %s", line)
		assert.Regexp(t, regexp.MustCompile(`(^|,)19(,|$)`), f[2], "TCP MD5 option (kind 19): %s", line)
	}
	assert.Len(t, srcs, 2, "both directions captured")
}

// TestNamespacesMD5Mismatch: in namespaces, a wrong key gets no session,
// and the kernel drops the unsigned segments.
func TestNamespacesMD5Mismatch(t *testing.T) {
	nsA, nsB := newNS(t, "c"), newNS(t, "d")
	link(t, nsA, "mxc0", "10.77.1.1/30", nsB, "mxd0", "10.77.1.2/30")
	rA := startRouter(t, fast(msdp.Config{LocalAddress: a("10.77.1.1"), Peers: []msdp.PeerConfig{{Address: a("10.77.1.2"), AuthenticationKey: "one"}}}), routerOpt{netns: nsA})
	rB := startRouter(t, fast(msdp.Config{LocalAddress: a("10.77.1.2"), Peers: []msdp.PeerConfig{{Address: a("10.77.1.1"), AuthenticationKey: "two"}}}), routerOpt{netns: nsB})
	time.Sleep(3500 * time.Millisecond)
	assert.Equal(t, msdp.StateConnecting, rA.peer("10.77.1.2").State)
	assert.Equal(t, msdp.StateListen, rB.peer("10.77.1.1").State)
	assert.GreaterOrEqual(t, rA.peer("10.77.1.2").ConnectRetries, 2)
	snmp := run(t, "ip", "netns", "exec", nsB, "nstat", "-az", "TcpExtTCPMD5Failure")
	assert.Regexp(t, regexp.MustCompile(`TcpExtTCPMD5Failure\s+[1-9]`), snmp, "the kernel counted signature failures")
}
