package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/topo"
	"github.com/mxfwd/mxfwd/lab/traffic"
)

// onXDP runs every mxfwd node's FPCs on the xdp driver.
func onXDP(top *topo.Topology) {
	for _, n := range top.Nodes {
		if n.Kind == topo.KindMxfwd {
			n.FPCDriver = "xdp"
		}
	}
}

// TestXDPBackToBack is the back-to-back lab with both routers' FPCs on the
// xdp driver (issue #12's in-kernel data path, with issue #10's host path):
// every port runs a BPF program; the routers' PIM Hellos go out through
// the driver's inject and come in through its PIM trap, so each router
// sees the other as a neighbour; a stream from the source host arrives
// complete at the receiver (sent with checksum offload on, no checksum
// error at the receiver); R1's link to R2 down for half a second loses
// that much traffic, the RE shows the link down and up again (the
// driver's link state reports) and the stream comes back with the link;
// with host interfaces, the routers answer each other's ping
// through the driver's ARP and local traps.
func TestXDPBackToBack(t *testing.T) {
	l := startLab(t, "xdpb2b", filepath.Join(exampleDir(t), "b2b.clab.yml"), onXDP)
	ctx := context.Background()
	for _, r := range []string{"r1", "r2"} {
		out, err := l.Vty(ctx, r, 3, "show xdp ports")
		require.NoError(t, err)
		for _, port := range []string{"xe-3/0/0", "xe-3/1/0"} {
			line := ""
			for _, ln := range strings.Split(out, "\n") {
				if strings.HasPrefix(ln, port+" ") {
					line = ln
				}
			}
			assert.Contains(t, line, " tc ", "%s %s runs the tc program (a veth): %s", r, port, out)
		}
	}

	t.Run("PIM neighbours through the driver", func(t *testing.T) {
		for _, c := range []struct{ node, nbr string }{{"r1", "10.0.12.2"}, {"r2", "10.0.12.1"}} {
			var pim string
			ok := assert.Eventually(t, func() bool {
				var err error
				pim, err = l.CLI(ctx, c.node, "show pim neighbors")
				return err == nil && strings.Contains(pim, c.nbr)
			}, 40*time.Second, 250*time.Millisecond, "%s sees %s as a PIM neighbour", c.node, c.nbr)
			if !ok {
				t.Logf("%s: show pim neighbors:\n%s", c.node, pim)
			}
		}
		out, err := l.Vty(ctx, "r1", 3, "show xdp ports detail")
		require.NoError(t, err)
		t.Logf("r1 fpc3:\n%s", out)
		assert.Regexp(t, `xe-3/1/0 [^\n]*\n[^\n]*\n\s+rx: [^\n]*punted [1-9]`, out, "r2's hellos punted on r1's xe-3/1/0")
		assert.Regexp(t, `xe-3/1/0 [^\n]*\n[^\n]*\n[^\n]*\n\s+tx: [^\n]*\([1-9][0-9]* injected\)`, out, "r1's hellos injected on xe-3/1/0")
	})

	g := netip.MustParseAddr("239.1.1.1")
	src := netip.MustParseAddr("10.1.0.2")
	const rate, n = 1000, 3000
	t.Run("no loss", func(t *testing.T) {
		csum0 := udpInCsumErrors(t, l, "rcv")
		wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
		res := send(t, l, "src", traffic.SendConfig{Group: g, Source: src, Iface: "eth1", Rate: rate, Count: n, Size: 200})
		rep := wait()
		t.Logf("sent %d in %.2f s; received %+v", res.Sent, res.Seconds, rep.Streams)
		require.Equal(t, uint64(n), res.Sent)
		require.Len(t, rep.Streams, 1, "one stream from %s", src)
		s := rep.Streams[0]
		require.True(t, s.EndSeen, "end marker arrived")
		assert.Equal(t, uint64(n), s.Unique)
		assert.Zero(t, s.Lost)
		assert.Zero(t, s.Duplicates)
		assert.Equal(t, uint64(n*200), s.Bytes)
		assert.Equal(t, csum0, udpInCsumErrors(t, l, "rcv"), "the receiver's stack dropped datagrams with bad checksums")
	})

	t.Run("link down loses and comes back", func(t *testing.T) {
		wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
		done := make(chan traffic.SendResult)
		go func() {
			done <- send(t, l, "src", traffic.SendConfig{Group: g, Source: src, Iface: "eth1", Rate: rate, Count: n, Size: 200})
		}()
		// The RE's view of the link, from the driver's reports.
		link := func(want string) func() bool {
			return func() bool {
				out, err := l.CLI(ctx, "r1", "show interfaces terse")
				if err != nil {
					return false
				}
				for _, ln := range strings.Split(out, "\n") {
					if f := strings.Fields(ln); len(f) >= 3 && f[0] == "xe-3/1/0.0" {
						return f[2] == want
					}
				}
				return false
			}
		}
		require.True(t, link("up")(), "xe-3/1/0.0 up on r1 before")
		time.Sleep(time.Second)
		out, err := l.Exec(ctx, "r1", "ip", "link", "set", "xe-3-1-0", "down")
		require.NoError(t, err, "%s", out)
		downAt := time.Now()
		assert.Eventually(t, link("down"), 2*time.Second, 20*time.Millisecond, "the RE marks xe-3/1/0.0 link down")
		time.Sleep(500*time.Millisecond - time.Since(downAt))
		out, err = l.Exec(ctx, "r1", "ip", "link", "set", "xe-3-1-0", "up")
		require.NoError(t, err, "%s", out)
		assert.Eventually(t, link("up"), 2*time.Second, 20*time.Millisecond, "the RE marks xe-3/1/0.0 link up again")
		res := <-done
		rep := wait()
		require.Len(t, rep.Streams, 1)
		s := rep.Streams[0]
		t.Logf("link down 500 ms: %+v", s)
		require.True(t, s.EndSeen, "the stream resumed after the link came back")
		assert.Equal(t, res.Sent, s.Sent)
		assert.Greater(t, s.Lost, uint64(rate/5), "at least 200 ms of traffic lost")
		assert.Less(t, s.Lost, s.Sent/2, "the rest arrived")
		assert.Equal(t, uint64(n), s.LastSeq, "the tail arrived")
	})

	t.Run("TCP to port 639 from the source host", func(t *testing.T) {
		if !HasHostInterfaces(filepath.Join(binDir, "re")) {
			t.Skip("skipped: `re run` has no --host-interfaces flag (issue #10)")
		}
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
			n, err := io.Copy(io.Discard, c)
			accepted <- fmt.Sprintf("%s %s %d %v", c.RemoteAddr(), buf, n, err)
		}()
		srcNS, err := l.NetnsPath("src")
		require.NoError(t, err)
		var conn net.Conn
		defer func() {
			if t.Failed() {
				out, _ := l.Exec(ctx, "r1", "cat", "/proc/net/snmp")
				t.Logf("r1's /proc/net/snmp (TCP InCsumErrors: segments with unfinished checksums):\n%s", out)
			}
		}()
		require.NoError(t, netns.Do(srcNS, func() error {
			var err error
			conn, err = net.DialTimeout("tcp4", "10.1.0.1:639", 5*time.Second)
			return err
		}), "TCP handshake with r1's host stack through the xdp card")
		defer conn.Close()
		_, err = conn.Write([]byte("hello"))
		require.NoError(t, err)
		// A bulk transfer: the sender's veth does TSO, so its stack hands
		// the veth packets of up to 64 KiB that the xdp card punts whole
		// and cuts into segments (none lost: no bad upcall record).
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write(make([]byte, 200000))
		require.NoError(t, err)
		require.NoError(t, conn.(*net.TCPConn).CloseWrite())
		select {
		case got := <-accepted:
			assert.Equal(t, "10.1.0.2:", got[:min(len(got), 9)], got)
			assert.True(t, strings.HasSuffix(got, " hello 200000 <nil>"), got)
			out, err := l.Vty(ctx, "r1", 3, "show xdp summary")
			require.NoError(t, err)
			t.Logf("r1 fpc3: %s", out)
			assert.Contains(t, out, "(0 bad)")
		case <-time.After(5 * time.Second):
			t.Fatal("the listener in r1's namespace accepted nothing")
		}
	})

	t.Run("ping between the routers", func(t *testing.T) {
		if !HasHostInterfaces(filepath.Join(binDir, "re")) {
			t.Skip("skipped: `re run` has no --host-interfaces flag (issue #10)")
		}
		for _, tc := range []struct{ from, to string }{{"r1", "10.0.12.2"}, {"r2", "10.0.12.1"}} {
			p, err := l.NetnsPath(tc.from)
			require.NoError(t, err)
			require.NoError(t, ping(p, tc.to), "ping %s from %s", tc.to, tc.from)
		}
	})
}

// iflRx returns the packets received on IFL ifl of node's card in slot 3
// (false if the card does not list the IFL).
func iflRx(t *testing.T, l *Lab, node, ifl string) (uint64, bool) {
	t.Helper()
	out, err := l.Vty(context.Background(), node, 3, "show ifl counters | display json")
	require.NoError(t, err)
	var cs []struct {
		Name      string
		RxPackets uint64
	}
	require.NoError(t, json.Unmarshal([]byte(out), &cs), out)
	for _, c := range cs {
		if c.Name == ifl {
			return c.RxPackets, true
		}
	}
	return 0, false
}

// TestXDPPIMTriangle is the PIM triangle lab (three of our routers, the RP
// in the middle) with every card on the xdp driver: the PIM register path
// through the driver's encapsulation and decapsulation interfaces. R1's
// card punts the first packets of an any-source stream on pe- (R1's RE
// sends them as Registers), R2's RE decapsulates them and injects them on
// pd-, which R2's card forwards in its tc program down the RP tree; then
// R3 switches to the shortest path, R1 stops registering, and a converged
// stream arrives complete.
func TestXDPPIMTriangle(t *testing.T) {
	l := startLab(t, "xdppt", filepath.Join(exampleDir(t), "pim-triangle.clab.yml"), onXDP)
	eventually(t, 15*time.Second, "PIM neighbours", func() error {
		for _, r := range []string{"r1", "r2", "r3"} {
			var ns []ourNeighbor
			if err := ourJSON(l, r, "show pim neighbors", &ns); err != nil {
				return err
			}
			if n := len(slices.DeleteFunc(ns, func(n ourNeighbor) bool { return n.Local })); n != 2 {
				return fmt.Errorf("%s has %d neighbours: %+v", r, n, ns)
			}
		}
		return nil
	})
	warm := receive(t, l, "rcv", traffic.RecvConfig{Group: ptASM, Iface: "eth1", Idle: 4 * time.Second, FirstWait: 10 * time.Second})
	eventually(t, 5*time.Second, "r3's (*,G) at the RP", func() error {
		js, err := ourJoins(l, "r2")
		if err != nil {
			return err
		}
		if j, _ := joinOf(js, netip.Addr{}, ptASM); j.downstream("xe-3/1/1.0", ptR3to2) != "Join/SRW" {
			return fmt.Errorf("r2's (*,G): %+v", j)
		}
		return nil
	})
	decap0 := ourStats(t, l, "r2").IO.RegistersDecap
	pd0, pdListed := iflRx(t, l, "r2", "pd-0/0/0.32768")
	res := send(t, l, "src", traffic.SendConfig{Group: ptASM, Source: ptSrc, Iface: "eth1", Rate: 500, Count: 1000, Size: 200})
	require.Equal(t, uint64(1000), res.Sent)
	eventually(t, 10*time.Second, "shortest path at r3, registers stopped at r1", func() error {
		js, err := ourJoins(l, "r3")
		if err != nil {
			return err
		}
		if j, _ := joinOf(js, ptSrc, ptASM); !slices.Contains(j.Flags, "spt") || j.UpstreamInterface != "xe-3/1/0.0" {
			return fmt.Errorf("r3's (S,G): %+v", j)
		}
		js, err = ourJoins(l, "r1")
		if err != nil {
			return err
		}
		if j, _ := joinOf(js, ptSrc, ptASM); j.Register != "Prune" {
			return fmt.Errorf("r1's (S,G): %+v (want registers stopped)", j)
		}
		return nil
	})
	rep := warm()
	require.Len(t, rep.Streams, 1)
	t.Logf("while the trees were built: %+v", rep.Streams[0])
	assert.Positive(t, ourStats(t, l, "r1").IO.RegistersSent, "r1 registered what its card punted on pe-")
	assert.Greater(t, ourStats(t, l, "r2").IO.RegistersDecap, decap0, "the RP decapsulated registers")
	if pd, ok := iflRx(t, l, "r2", "pd-0/0/0.32768"); ok && pdListed {
		t.Logf("r2's card: %d packets in on pd-", pd-pd0)
		assert.Greater(t, pd, pd0, "r2's card took the decapsulated packets in on pd-")
	} else {
		out, _ := l.Vty(context.Background(), "r2", 3, "show ifl counters")
		t.Logf("r2's card lists no pd- IFL:\n%s", out)
	}

	converged := receive(t, l, "rcv", traffic.RecvConfig{Group: ptASM, Iface: "eth1", Idle: 3 * time.Second})
	const n = 3000
	res = send(t, l, "src", traffic.SendConfig{Group: ptASM, Source: ptSrc, Iface: "eth1", Rate: 1000, Count: n, Size: 200})
	rep = converged()
	require.Len(t, rep.Streams, 1)
	st := rep.Streams[0]
	t.Logf("converged any-source stream: %+v", st)
	assert.Equal(t, uint64(n), res.Sent)
	assert.Equal(t, uint64(n), st.Unique)
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Duplicates)
}

// TestXDPMSDPWithFRR is the MSDP lab with FRR 8.4 (msdp-frr) with our
// router's card on the xdp driver: MSDP's TCP sessions to the router's
// addresses (one opened by r1, one accepted from FRR2) come through the
// card's local traps and its inject; SAs of a registered source reach both
// FRR peers, and an SA FRR1 originates for a source r1 registers to it
// (Registers through pe-) reaches r1.
func TestXDPMSDPWithFRR(t *testing.T) {
	needLab(t)
	needFRR(t)
	if !HasHostInterfaces(filepath.Join(binDir, "re")) {
		t.Skip("skipped: `re run` has no --host-interfaces (issue #10): MSDP runs over the routing engine's host interfaces")
	}
	m := msdpLab{t: t, Lab: startLab(t, "xdpml", filepath.Join(exampleDir(t), "msdp-frr.clab.yml"), onXDP)}
	m.established("r1", "10.61.12.2", "10.61.13.1")
	m.frrEstablished("frr1", "10.61.12.1")
	m.frrEstablished("frr2", "10.61.13.2")

	m.cli("r1", "clear msdp peer 10.61.12.2")
	m.established("r1", "10.61.12.2")
	m.send("src", "239.1.1.1", "10.61.1.2") // r1: first hop and RP of 239.1/16
	key := "10.61.1.2,239.1.1.1"
	assert.True(t, m.hasSA("r1", key).Local, "%s originated by r1", key)
	for _, f := range []string{"frr1", "frr2"} {
		assert.Equal(t, "10.61.255.1", m.frrHasSA(f, key).RP, "%s at %s", key, f)
	}

	m.send("src", "239.2.1.1", "10.61.1.2") // RP of 239.2/16: FRR1
	key = "10.61.1.2,239.2.1.1"
	assert.Equal(t, "yes", m.frrHasSA("frr1", key).Local, "FRR1 originated it (Register received from r1)")
	assert.Equal(t, "10.61.12.2", m.hasSA("r1", key).Peer)
	out, err := m.Vty(context.Background(), "r1", 3, "show xdp summary")
	require.NoError(t, err)
	t.Logf("r1 fpc3: %s", out)
	assert.Contains(t, out, "(0 bad)")
}
