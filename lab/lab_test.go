package lab

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/topo"
	"github.com/mxfwd/mxfwd/lab/traffic"
)

// afpacketRingSurvivesStalls says whether the afpacket driver's default
// RX ring rides out a worker descheduled for a few hundred milliseconds at
// 1,000 pps (issue #12: "size RX blocks and timeouts so that a busy
// machine does not drop at low rates"). The old default (16 blocks of
// 256 KiB, retired after 2 ms) held about 32 ms of a 1,000 pps stream, and
// with two CPU hogs on this two-core machine every 3-second run lost
// 79-493 datagrams, all of them RX ring drops; with the same 4 MiB cut into
// 256 blocks of 16 KiB, three runs under the same load lost none. That is
// the driver's default since issue #12 (drivers/afpacket/options.go), so
// the traffic tests run with the defaults; interimRing is kept to put the
// interim ring back should the default change.
const afpacketRingSurvivesStalls = true

// interimRing gives a topology's mxfwd nodes the ring above.
func interimRing(top *topo.Topology) {
	if afpacketRingSurvivesStalls {
		return
	}
	for _, n := range top.Nodes {
		if n.Kind == topo.KindMxfwd {
			n.FPCOptions = append(n.FPCOptions, "rx-blocks=256", "rx-block-size=16384")
		}
	}
}

func TestExampleLabsUpAndDown(t *testing.T) {
	needLab(t)
	files, err := filepath.Glob(filepath.Join(exampleDir(t), "*.clab.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		tag := strings.TrimSuffix(filepath.Base(f), ".clab.yml")
		t.Run(tag, func(t *testing.T) {
			top, _ := loadTopo(t, f)
			if hasKind(top, topo.KindFRR) {
				needFRR(t)
			}
			l := startLab(t, tag, f)
			st := l.Status()
			require.True(t, st.Healthy, "status: %+v", st)
			assert.Equal(t, PhaseUp, st.Phase)
			ctx := context.Background()
			for _, n := range top.Nodes {
				switch n.Kind {
				case topo.KindMxfwd:
					out, err := l.CLI(ctx, n.Name, "show version")
					require.NoError(t, err)
					assert.Contains(t, out, "Hostname: "+n.Name)
					out, err = l.CLI(ctx, n.Name, "show tnp addresses")
					require.NoError(t, err)
					for _, s := range n.Slots() {
						assert.Contains(t, out, fmt.Sprintf("fpc%d ", s))
						vty, err := l.Vty(ctx, n.Name, s, "show afpacket ports")
						require.NoError(t, err)
						for _, i := range n.Interfaces {
							assert.Contains(t, vty, i.Linux, "port %s bound on the FPC", i.Name)
						}
					}
					// The node's own IP stack is kept off its ports.
					for _, i := range n.Interfaces {
						out, err := l.Exec(ctx, n.Name, "tc", "filter", "show", "dev", i.Linux, "ingress")
						require.NoError(t, err, "%s", out)
						assert.Contains(t, string(out), "direct-action", "ingress drop on %s", i.Name)
					}
				case topo.KindFRR:
					out, err := l.CLI(ctx, n.Name, "show ip pim interface json")
					require.NoError(t, err)
					var ifs map[string]struct {
						Address string `json:"address"`
					}
					require.NoError(t, json.Unmarshal([]byte(out), &ifs), out)
					for _, i := range n.Interfaces {
						assert.NotEqual(t, "0.0.0.0", ifs[i.Linux].Address, "pimd knows the address of %s", i.Linux)
					}
				case topo.KindLinux:
					out, err := l.Exec(ctx, n.Name, "ip", "-4", "-o", "addr", "show", "dev", n.Interfaces[0].Linux)
					require.NoError(t, err, "%s", out)
					assert.Contains(t, string(out), "inet 10.", "exec lines set the address")
				}
			}
			var text strings.Builder
			st.WriteText(&text)
			if l.Mroute().Available {
				assert.Contains(t, text.String(), "kernel has IP_MROUTE")
			} else {
				assert.Contains(t, text.String(), "kernel lacks IP_MROUTE")
			}
			for _, lk := range st.Links {
				assert.Equal(t, "up", lk.AState, lk.A)
				assert.Equal(t, "up", lk.BState, lk.B)
			}
		})
	}
}

// The kernel check agrees with the kernel's configuration where it is
// readable.
func TestDetectMroute(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (unshares a network namespace)")
	}
	m := DetectMroute()
	t.Logf("IP_MROUTE: %v (%s)", m.Available, m.How)
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		t.Skipf("skipped the cross-check: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	cfg, err := io.ReadAll(zr)
	require.NoError(t, err)
	switch {
	case strings.Contains(string(cfg), "\nCONFIG_IP_MROUTE=y"):
		assert.True(t, m.Available)
	case strings.Contains(string(cfg), "# CONFIG_IP_MROUTE is not set"):
		assert.False(t, m.Available)
		assert.Contains(t, m.FRRNote(), "control-plane only")
	}
}

// receive runs a receiver in the background; wait returns its report.
func receive(t *testing.T, l *Lab, node string, cfg traffic.RecvConfig) (wait func() traffic.Report) {
	t.Helper()
	p, err := l.NetnsPath(node)
	require.NoError(t, err)
	cfg.Netns = p
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	var rep traffic.Report
	var rerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, rerr = traffic.Receive(context.Background(), cfg)
	}()
	select {
	case <-ready:
	case <-done:
		require.NoError(t, rerr)
	}
	return func() traffic.Report {
		<-done
		require.NoError(t, rerr)
		return rep
	}
}

func send(t *testing.T, l *Lab, node string, cfg traffic.SendConfig) traffic.SendResult {
	t.Helper()
	p, err := l.NetnsPath(node)
	require.NoError(t, err)
	cfg.Netns = p
	res, err := traffic.Send(context.Background(), cfg)
	require.NoError(t, err)
	return res
}

// Two mxfwd routers back to back with static joins: a stream from a host
// behind R1 arrives complete at a host behind R2 that joined the group,
// counted by the receiving application; then a run with R1's link to R2
// down for half a second proves the loss counter.
func TestBackToBackTraffic(t *testing.T) {
	// The hosts send with checksum offload on, as hosts do: the routers
	// complete the checksums the senders left to the hardware.
	l := startLab(t, "b2b", filepath.Join(exampleDir(t), "b2b.clab.yml"), interimRing)
	g := netip.MustParseAddr("239.1.1.1")
	src := netip.MustParseAddr("10.1.0.2")
	const rate, n = 1000, 3000 // 3 s

	// The afpacket driver's RX ring can still overflow when its worker is
	// descheduled for long on a busy machine (issue #12; `make test` runs
	// packages in parallel on two cores). Loss that is exactly the
	// routers' RX ring drops is that known overflow and the run is
	// repeated (at most three times); any other loss fails at once.
	t.Run("no loss", func(t *testing.T) {
		for attempt := 1; ; attempt++ {
			drops0 := ringDrops(t, l, "r1", "xe-3/0/0") + ringDrops(t, l, "r2", "xe-3/0/0")
			wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
			res := send(t, l, "src", traffic.SendConfig{Group: g, Source: src, Iface: "eth1", Rate: rate, Count: n, Size: 200})
			rep := wait()
			drops := ringDrops(t, l, "r1", "xe-3/0/0") + ringDrops(t, l, "r2", "xe-3/0/0") - drops0
			t.Logf("attempt %d: sent %d in %.2f s (%d schedule restarts); received %+v; router RX ring drops %d", attempt, res.Sent, res.Seconds, res.Restarts, rep.Streams, drops)
			require.Equal(t, uint64(n), res.Sent)
			require.Zero(t, res.Errors)
			require.Len(t, rep.Streams, 1, "one stream from %s", src)
			s := rep.Streams[0]
			assert.Equal(t, src.String(), s.Source)
			require.True(t, s.EndSeen, "end marker arrived")
			assert.Equal(t, uint64(n), s.Sent)
			assert.Equal(t, s.Sent-s.Unique, s.Lost)
			assert.Zero(t, s.Duplicates)
			assert.Zero(t, s.Reordered)
			if s.Lost > 0 {
				require.Equal(t, drops, s.Lost, "lost datagrams that are not RX ring drops on the routers")
				require.Less(t, attempt, 3, "lost datagrams in every attempt (RX ring drops: issue #12)")
				t.Logf("attempt %d lost %d datagrams, all of them RX ring drops on the routers (the machine is busy; issue #12): again", attempt, s.Lost)
				continue
			}
			assert.Equal(t, uint64(n), s.Unique)
			assert.Equal(t, uint64(n*200), s.Bytes)
			assert.Zero(t, udpInCsumErrors(t, l, "rcv"), "the receiver's stack dropped datagrams with bad checksums")
			return
		}
	})

	t.Run("link down loses and is counted", func(t *testing.T) {
		wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
		var res traffic.SendResult
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			res = send(t, l, "src", traffic.SendConfig{Group: g, Source: src, Iface: "eth1", Rate: rate, Count: n, Size: 200})
		}()
		ctx := context.Background()
		time.Sleep(time.Second)
		out, err := l.Exec(ctx, "r1", "ip", "link", "set", "xe-3-1-0", "down")
		require.NoError(t, err, "%s", out)
		time.Sleep(500 * time.Millisecond)
		out, err = l.Exec(ctx, "r1", "ip", "link", "set", "xe-3-1-0", "up")
		require.NoError(t, err, "%s", out)
		wg.Wait()
		rep := wait()
		require.Len(t, rep.Streams, 1)
		s := rep.Streams[0]
		t.Logf("link down 500 ms: %+v", s)
		require.True(t, s.EndSeen, "the stream resumed after the link came back")
		assert.Equal(t, res.Sent, s.Sent)
		assert.Equal(t, s.Sent-s.Unique, s.Lost, "lost = sent - received")
		assert.Greater(t, s.Lost, uint64(rate/5), "at least 200 ms of traffic lost")
		assert.Less(t, s.Lost, s.Sent/2, "the rest arrived")
		assert.GreaterOrEqual(t, s.LongestGapMs, 200.0)
		assert.GreaterOrEqual(t, s.GapsOver, uint64(1))
		assert.Equal(t, uint64(n), s.LastSeq, "the tail arrived")
	})

	t.Run("command line", func(t *testing.T) {
		lab := []string{"-l", l.Name()}
		out, err := runLab(t, nil, append(lab, "status", "--json")...)
		require.NoError(t, err, out)
		var st struct{ Labs []Status }
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		require.Len(t, st.Labs, 1)
		assert.True(t, st.Labs[0].Healthy)
		out, err = runLab(t, nil, append(lab, "cli", "r2", "show", "multicast", "route")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "239.1.1.1")
		out, err = runLab(t, nil, append(lab, "vty", "r1", "3", "show route long_ip")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "239.1.1.1.10.1.0.2/64")
		out, err = runLab(t, nil, append(lab, "exec", "r2", "--", "re", "cli", "show version")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Hostname: r2", "re cli inside the node finds the node's RE")
		out, err = runLab(t, nil, append(lab, "cli", "src", "show")...)
		assert.Error(t, err)
		assert.Contains(t, out, "no CLI")

		recvDone := make(chan string)
		go func() {
			out, err := runLab(t, nil, append(lab, "traffic", "recv", "rcv", "-g", "239.1.1.1", "-i", "eth1", "--json", "--idle", "3s")...)
			if err != nil {
				out = "error: " + err.Error() + ": " + out
			}
			recvDone <- out
		}()
		time.Sleep(500 * time.Millisecond) // the receiver joins
		out, err = runLab(t, nil, append(lab, "traffic", "send", "src", "-g", "239.1.1.1", "-s", "10.1.0.2", "-i", "eth1", "-r", "500", "-n", "300", "--json")...)
		require.NoError(t, err, out)
		var res traffic.SendResult
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, uint64(300), res.Sent)
		out = <-recvDone
		i := strings.Index(out, "{")
		require.GreaterOrEqual(t, i, 0, out)
		var rep traffic.Report
		require.NoError(t, json.Unmarshal([]byte(out[i:]), &rep), out)
		require.Len(t, rep.Streams, 1, out)
		assert.Equal(t, uint64(300), rep.Streams[0].Sent)
		assert.Equal(t, rep.Streams[0].Sent-rep.Streams[0].Unique, rep.Streams[0].Lost)
	})
}

// frrPeer is one mxfwd router and one FRR router on one link; FRR says
// hello every second. (FRR 8.4 applies "ip pim hello" given after "ip pim"
// only when the hello timer it already armed, 30 s, fires: it comes first.)
const frrPeer = `
name: frrpeer
topology:
  nodes:
    r1:
      kind: mxfwd
      startup-config: |
        set interfaces xe-3/0/0 unit 0 family inet address 10.30.0.1/30
        set protocols pim interface xe-3/0/0.0
    frr1:
      kind: frr
      startup-config: |
        hostname frr1
        interface eth1
         ip address 10.30.0.2/30
         ip pim hello 1
         ip pim
        exit
        ip pim rp 10.30.0.2 224.0.0.0/4
  links:
    - endpoints: ["r1:xe-3/0/0", "frr1:eth1"]
`

// FRR's PIM hellos reach our router's port (captured in the router's
// namespace, where the FPC's port is) and are well formed.
func TestFRRPeerHellos(t *testing.T) {
	needLab(t)
	needFRR(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipped: needs tshark (apt-get install tshark)")
	}
	l := startLab(t, "frrhello", frrPeer)
	ctx := context.Background()
	out, err := l.CLI(ctx, "frr1", "show ip pim rp-info")
	require.NoError(t, err)
	assert.Contains(t, out, "10.30.0.2", "the RP applied after start-up")
	pcap := filepath.Join(t.TempDir(), "pim.pcap")
	_, err = l.StartCapture(ctx, "r1", "xe-3/0/0", pcap, "pim")
	require.NoError(t, err)
	// FRR's first hello waits up to the triggered-hello delay (5 s), then
	// one a second.
	var fields string
	require.Eventually(t, func() bool {
		b, _ := exec.Command("tshark", "-r", pcap, "-Y", "pim.type == 0", "-T", "fields",
			"-e", "ip.src", "-e", "ip.dst", "-e", "ip.ttl", "-e", "pim.version", "-e", "pim.holdtime", "-E", "separator=,").Output()
		fields = strings.TrimSpace(string(b))
		return strings.Count(fields, "\n") >= 1 // two hellos
	}, 15*time.Second, 250*time.Millisecond, "no PIM hello from FRR captured on r1:xe-3/0/0")
	rep, err := l.StopCaptures("r1", pcap)
	require.NoError(t, err)
	t.Logf("%s%s", rep, fields)
	first := strings.Split(fields, "\n")[0]
	assert.Equal(t, "10.30.0.2,224.0.0.13,1,2,3", first, "hello from FRR's address to ALL-PIM-ROUTERS, TTL 1, PIMv2, holdtime 3.5 x 1 s")
	b, err := exec.Command("tshark", "-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity == error").Output()
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(b)), "tshark finds no malformed PIM")
	assert.Empty(t, l.Captures(""), "capture record removed")
}

// needHostInterfaces skips with an re binary that cannot mirror its
// interfaces into its namespace (one built before issue #10).
func needHostInterfaces(t *testing.T) {
	t.Helper()
	needLab(t)
	if !HasHostInterfaces(filepath.Join(binDir, "re")) {
		t.Skip("skipped: this `re` binary has no --host-interfaces flag (rebuild it: make build): an mxfwd node has no IP stack on its ports, so nothing answers ping or TCP on the router's addresses")
	}
}

// With host interfaces, TCP from FRR's namespace to port 639 on our
// router's address reaches a listener in our RE's namespace.
func TestHostInterfacesTCP639FromFRR(t *testing.T) {
	needHostInterfaces(t)
	needFRR(t)
	l := startLab(t, "frrtcp", frrPeer)
	r1, err := l.NetnsPath("r1")
	require.NoError(t, err)
	var ln net.Listener
	require.NoError(t, netns.Do(r1, func() error {
		var err error
		ln, err = net.Listen("tcp4", "0.0.0.0:639")
		return err
	}))
	defer ln.Close()
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		_, _ = io.ReadFull(c, buf)
		accepted <- c.RemoteAddr().String() + " " + string(buf)
	}()
	frr, err := l.NetnsPath("frr1")
	require.NoError(t, err)
	var conn net.Conn
	require.NoError(t, netns.Do(frr, func() error {
		var err error
		conn, err = net.DialTimeout("tcp4", "10.30.0.1:639", 5*time.Second)
		return err
	}))
	defer conn.Close()
	_, err = conn.Write([]byte("hello"))
	require.NoError(t, err)
	select {
	case got := <-accepted:
		assert.True(t, strings.HasPrefix(got, "10.30.0.2:"), got)
		assert.True(t, strings.HasSuffix(got, " hello"), got)
	case <-time.After(5 * time.Second):
		t.Fatal("the listener in r1's namespace accepted nothing")
	}
}

// With host interfaces, the two routers of the back-to-back lab answer
// each other's ping on their link addresses.
func TestHostInterfacesPing(t *testing.T) {
	needHostInterfaces(t)
	l := startLab(t, "ping", filepath.Join(exampleDir(t), "b2b.clab.yml"))
	for _, tc := range []struct{ from, to string }{{"r1", "10.0.12.2"}, {"r2", "10.0.12.1"}} {
		p, err := l.NetnsPath(tc.from)
		require.NoError(t, err)
		require.NoError(t, ping(p, tc.to), "ping %s from %s", tc.to, tc.from)
	}
}

// ping sends ICMP echo requests from a namespace until one is answered
// (3 s).
func ping(nsPath, to string) error {
	var c *icmp.PacketConn
	if err := netns.Do(nsPath, func() error {
		var err error
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(to)}
	deadline := time.Now().Add(3 * time.Second)
	for seq := 1; time.Now().Before(deadline); seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: seq, Data: []byte("mxlab")}}
		b, _ := m.Marshal(nil)
		if _, err := c.WriteTo(b, dst); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			r, err := icmp.ParseMessage(1, buf[:n])
			if err == nil && r.Type == ipv4.ICMPTypeEchoReply && from.String() == to {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s", to)
}

// FRR forwarding: only on a kernel with IP_MROUTE. The frr example's
// stream goes src -> R1 -> R2 (static joins) -> FRR (static mroute) -> rcv.
func TestFRRDataPlane(t *testing.T) {
	needLab(t)
	needFRR(t)
	if m := DetectMroute(); !m.Available {
		t.Skipf("skipped: %s (%s)", m.FRRNote(), m.How)
	}
	l := startLab(t, "frrdata", filepath.Join(exampleDir(t), "frr.clab.yml"), interimRing)
	g := netip.MustParseAddr("239.2.2.2")
	wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
	res := send(t, l, "src", traffic.SendConfig{Group: g, Source: netip.MustParseAddr("10.20.1.2"), Iface: "eth1", Rate: 500, Count: 1000})
	rep := wait()
	require.Len(t, rep.Streams, 1)
	assert.Equal(t, res.Sent, rep.Streams[0].Unique, "FRR forwarded every datagram")
}

// udpInCsumErrors reads the Udp InCsumErrors counter of a node's stack.
func udpInCsumErrors(t *testing.T, l *Lab, node string) uint64 {
	t.Helper()
	p, err := l.NetnsPath(node)
	require.NoError(t, err)
	var b []byte
	require.NoError(t, netns.Do(p, func() error {
		b, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	}))
	var names, values []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "Udp:" {
			if names == nil {
				names = f
			} else {
				values = f
			}
		}
	}
	for i, n := range names {
		if n == "InCsumErrors" && i < len(values) {
			v, err := strconv.ParseUint(values[i], 10, 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatalf("no Udp InCsumErrors in /proc/net/snmp of %s", node)
	return 0
}

// ringDrops reads an afpacket port's RX ring drop counter.
func ringDrops(t *testing.T, l *Lab, node, port string) uint64 {
	t.Helper()
	out, err := l.Vty(context.Background(), node, 3, "show afpacket ports | display json")
	require.NoError(t, err)
	var v struct {
		Ports []struct {
			Port        string `json:"port"`
			RxRingDrops uint64 `json:"rx_ring_drops"`
		} `json:"ports"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	for _, p := range v.Ports {
		if p.Port == port {
			return p.RxRingDrops
		}
	}
	t.Fatalf("%s has no afpacket port %s: %s", node, port, out)
	return 0
}

// crashTopo is the back-to-back lab: two routers, two hosts.
func crashTopo(t *testing.T) string { return filepath.Join(exampleDir(t), "b2b.clab.yml") }

// The lab runner is killed (SIGKILL, no chance to clean up) at each step
// of `lab up`; `lab down` then removes everything it had created.
func TestCrashedUpIsCleanedByDown(t *testing.T) {
	needLab(t)
	for _, step := range []string{"prepared", "netns", "links", "node:r1", "node:r2", "node:src"} {
		t.Run(strings.ReplaceAll(step, ":", "-"), func(t *testing.T) {
			name := labName("crash-" + strings.ReplaceAll(step, ":", ""))
			track(name)
			out, err := runLab(t, []string{"MXLAB_TEST_CRASH_AT=" + step}, "up", "--name", name, crashTopo(t))
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "lab up should have been killed: %v\n%s", err, out)
			require.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal(), out)
			st, err := loadState(filepath.Join(testRunRoot, name))
			require.NoError(t, err, "the state survives the crash")
			assert.Equal(t, PhaseStarting, st.Phase)
			switch step {
			case "prepared":
				assert.Empty(t, st.Namespaces)
			case "netns", "links":
				require.Len(t, st.Namespaces, 4)
				for _, ns := range st.Namespaces {
					assert.True(t, netns.Exists(ns.Name), "%s created", ns.Name)
				}
			default:
				require.NotEmpty(t, st.Procs)
				assert.True(t, aliveAll(st.Procs), "the crash left the daemons running")
			}
			out, err = runLab(t, nil, "down", name)
			require.NoError(t, err, out)
			assertGone(t, *st)
		})
	}
}

// Killed from outside at an arbitrary moment during `up` (after the first
// namespace exists): `lab down` cleans up; processes started after the
// last state write are found in the lab's namespaces.
func TestKilledUpIsCleanedByDown(t *testing.T) {
	needLab(t)
	name := labName("kill")
	track(name)
	cmd := exec.Command(filepath.Join(binDir, "lab"), "--run-dir", testRunRoot, "--bin", binDir, "up", "--name", name, crashTopo(t))
	require.NoError(t, cmd.Start())
	stateDir := filepath.Join(testRunRoot, name)
	require.Eventually(t, func() bool {
		st, err := loadState(stateDir)
		return err == nil && len(st.Procs) > 0
	}, 20*time.Second, time.Millisecond, "lab up got as far as starting a process")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	st, err := loadState(stateDir)
	require.NoError(t, err)
	require.NotEqual(t, PhaseUp, st.Phase, "killed half-way")
	out, err := runLab(t, nil, "down", name)
	require.NoError(t, err, out)
	assertGone(t, *st)
}

// Ctrl-C during `lab up` removes what it had created, without `lab down`.
func TestInterruptedUpRollsBack(t *testing.T) {
	needLab(t)
	name := labName("intr")
	track(name)
	cmd := exec.Command(filepath.Join(binDir, "lab"), "--run-dir", testRunRoot, "--bin", binDir, "up", "--name", name, crashTopo(t))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	stateDir := filepath.Join(testRunRoot, name)
	var st *State
	require.Eventually(t, func() bool {
		s, err := loadState(stateDir)
		if err == nil && len(s.Procs) > 0 {
			st = s
			return true
		}
		return false
	}, 20*time.Second, time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	require.Error(t, err, "lab up fails when interrupted: %s", out.String())
	assert.Contains(t, out.String(), "context canceled")
	assertGone(t, *st)
}

// A second lab of the same name is refused, and touches nothing of the
// first; a namespace that exists already (not the lab's) is refused and
// left alone.
func TestNameCollisions(t *testing.T) {
	l := startLab(t, "coll", crashTopo(t))
	top, _ := loadTopo(t, crashTopo(t))
	o := testOptions()
	o.Name = l.Name()
	_, err := Up(context.Background(), top, "", o)
	require.ErrorIs(t, err, ErrExists)
	assert.True(t, l.Status().Healthy, "the first lab is untouched")

	// The same file under another name runs beside it.
	l2 := startLab(t, "coll2", crashTopo(t))
	assert.True(t, l2.Status().Healthy)
	assert.True(t, l.Status().Healthy)
	n1, _ := l.Node("r1")
	n2, _ := l2.Node("r1")
	assert.NotEqual(t, n1.Netns, n2.Netns)

	// Someone else's namespace with the name a node would get.
	name := labName("collns")
	track(name)
	foreign := NetnsName(name, "r2")
	id, err := netns.Add(foreign)
	require.NoError(t, err)
	defer netns.Delete(foreign, id)
	o.Name = name
	_, err = Up(context.Background(), top, "", o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists already")
	cur, err := netns.Identify(netns.Path(foreign))
	require.NoError(t, err, "the foreign namespace is still there")
	assert.Equal(t, id, cur)
	assert.False(t, netns.Exists(NetnsName(name, "r1")), "the lab's own namespaces were removed")
	_, err = os.Stat(filepath.Join(testRunRoot, name))
	assert.True(t, os.IsNotExist(err))
}

// A configuration the RE rejects fails `up` before anything is created,
// naming the node and the line.
func TestBadConfigFailsEarly(t *testing.T) {
	needLab(t)
	top, err := topo.Parse([]byte(`
name: bad
topology:
  nodes:
    r1:
      kind: mxfwd
      startup-config: |
        set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24
        set protocols bogus statement
    h1: {kind: linux}
  links:
    - endpoints: ["r1:xe-3/0/0", "h1:eth1"]
`), t.TempDir())
	require.NoError(t, err)
	o := testOptions()
	o.Name = labName("bad")
	track(o.Name)
	_, err = Up(context.Background(), top, "", o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node r1: configuration (inline startup-config) rejected")
	assert.Contains(t, err.Error(), "re.conf:2: invalid configuration: unknown protocol \"bogus\"", "the RE's reason names the line of the node's configuration")
	assert.False(t, netns.Exists(NetnsName(o.Name, "r1")))
	_, err = os.Stat(filepath.Join(testRunRoot, o.Name))
	assert.True(t, os.IsNotExist(err))
}

// The container image's entry point (examples/labs/docker/mxfwd-node.sh),
// run in a lab namespace the way a container would run it: it finds the
// ports named xe-F-P-N, keeps the namespace's stack off them, and starts
// the RE and one FPC per slot with every port bound.
func TestDockerEntrypointInANamespace(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "re.conf")
	require.NoError(t, os.WriteFile(conf, []byte(
		"set system host-name dock\n"+
			"set interfaces xe-3/0/0 unit 0 family inet address 10.40.0.1/30\n"+
			"set interfaces xe-4/1/2 unit 0 family inet address 10.40.1.1/30\n"), 0o644))
	script, err := filepath.Abs("../examples/labs/docker/mxfwd-node.sh")
	require.NoError(t, err)
	run := filepath.Join(dir, "run")
	l := startLab(t, "dock", fmt.Sprintf(`
name: dock
topology:
  nodes:
    r1:
      kind: linux
      env: {MXFWD_BIN: %q, MXFWD_CONFIG: %q, MXFWD_RUN_DIR: %q, CLAB_INTFS: "2"}
      exec:
        - setsid sh %s > %s 2>&1 < /dev/null &
    h1: {kind: linux}
  links:
    - endpoints: ["r1:xe-3-0-0", "h1:eth1"]
    - endpoints: ["r1:xe-4-1-2", "h1:eth2"]
`, binDir, conf, run, script, filepath.Join(dir, "node.log")))
	ctx := context.Background()
	var out []byte
	require.Eventually(t, func() bool {
		out, _ = l.Exec(ctx, "r1", filepath.Join(binDir, "re"), "cli", "--cli-socket", filepath.Join(run, "re.sock"), "show tnp addresses")
		return strings.Contains(string(out), "fpc3 ") && strings.Contains(string(out), "fpc4 ")
	}, 20*time.Second, 100*time.Millisecond, "RE with fpc3 and fpc4: %s", out)
	out, err = l.Exec(ctx, "r1", filepath.Join(binDir, "fpc"), "vty", "--vty-socket", filepath.Join(run, "fpc4.sock"), "show afpacket ports")
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "xe-4/1/2")
	assert.Contains(t, string(out), "xe-4-1-2")
	out, err = l.Exec(ctx, "r1", "tc", "filter", "show", "dev", "xe-3-0-0", "ingress")
	require.NoError(t, err)
	assert.Contains(t, string(out), "direct-action")
}
