package afpacket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// Addresses of the scenario tests (seed 003's flow).
var (
	srcAddr   = netip.MustParseAddr("10.128.1.10")
	groupSG   = netip.MustParseAddr("232.0.7.1")
	groupNoSG = netip.MustParseAddr("232.0.9.1")
)

// IFLs and next hops of the scenario tests.
const (
	iflIn   hal.IFLIndex = 331
	iflOut1 hal.IFLIndex = 395
	iflOut2 hal.IFLIndex = 396
	iflOut3 hal.IFLIndex = 397 // not in the OIL
	nhComp  hal.NHID     = 1173
	nhIndir hal.NHID     = 1048590
)

// testOptions keep the rings small: the tests move a handful of frames
// and the 64-port test opens 65 ports.
func testOptions(netns string) map[string]string {
	return map[string]string{
		"netns":               netns,
		"rx-block-size":       "65536",
		"rx-blocks":           "4",
		"rx-block-timeout-ms": "1",
		"tx-frames":           "128",
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startDriver opens a driver on ports in netns; opts are extra option
// key, value pairs.
func startDriver(t testing.TB, netns string, ports map[string]string, rec *haltest.Recorder, opts ...string) *Driver {
	t.Helper()
	o := testOptions(netns)
	for i := 0; i+1 < len(opts); i += 2 {
		o[opts[i]] = opts[i+1]
	}
	d, err := newDriver(context.Background(), hal.Config{
		Slot: 3, Logger: testLogger(t), Upcalls: rec, Now: time.Now,
		Ports: ports, Options: o,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func apply(t testing.TB, d hal.Driver, ops ...hal.Op) {
	t.Helper()
	n, err := d.Apply(context.Background(), ops)
	require.NoError(t, err)
	require.Equal(t, len(ops), n)
}

func physIFL(idx hal.IFLIndex, name string) hal.Op {
	return hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: name, Kind: hal.IFLPhysical, PFE: hal.PFEOf(3, 0), MTU: 1500, Up: true}}
}

func setNH(nh hal.NextHop) hal.Op { return hal.Op{Kind: hal.OpSetNH, NH: nh} }
func setRoute(r hal.Route) hal.Op { return hal.Op{Kind: hal.OpSetRoute, Route: r} }

// oilOps programs ingress iflIn and an (S,G) route whose OIL is outs, plus
// 224/4 -> Resolve and mdiscard 35.
func oilOps(in hal.IFLIndex, outs []hal.IFLIndex, names map[hal.IFLIndex]string) []hal.Op {
	ops := []hal.Op{physIFL(in, names[in])}
	for _, o := range outs {
		ops = append(ops, physIFL(o, names[o]))
	}
	ops = append(ops,
		setNH(hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}),
		setNH(hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}))
	var members []hal.NHID
	for i, o := range outs {
		id := hal.NHID(2000 + i)
		ops = append(ops, setNH(hal.NextHop{ID: id, Type: hal.NHUnicast, IFL: o}))
		members = append(members, id)
	}
	return append(ops,
		setNH(hal.NextHop{ID: nhComp, Type: hal.NHComposite, Members: members}),
		setNH(hal.NextHop{ID: nhIndir, Type: hal.NHIndirect, Target: nhComp}),
		setRoute(hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}),
		setRoute(hal.Route{Key: hal.SG(srcAddr, groupSG), NH: nhIndir, RPF: in, Flags: hal.RouteFlagsSG}),
	)
}

func counters(t testing.TB, d hal.Driver, idx hal.IFLIndex) hal.IFLCounters {
	t.Helper()
	c, err := d.IFLCounters(idx)
	require.NoError(t, err)
	return c
}

// fdCount counts this process's open file descriptors.
func fdCount(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// checkNoLeaks asserts, after the driver was closed, that the goroutine
// and descriptor counts return to what they were before it was opened.
func checkNoLeaks(t *testing.T, goroutines, fds int) {
	t.Helper()
	eventually(t, "driver goroutines to exit", 10*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines })
	eventually(t, "driver sockets to close", 10*time.Second, func() bool { return fdCount(t) <= fds })
}

// TestForwarding is the main scenario over real veths: a sender namespace,
// the router namespace holding the driver's ports, one receiver namespace
// per output port.
func TestForwarding(t *testing.T) {
	for _, mode := range []string{"mmsg", "ring"} {
		t.Run("tx-mode="+mode, func(t *testing.T) { testForwarding(t, mode) })
	}
}

func testForwarding(t *testing.T, txMode string) {
	b := newBench(t)
	rtr, snd := b.ns("r"), b.ns("s")
	rcv := []string{b.ns("c1"), b.ns("c2"), b.ns("c3")}
	b.link(rtr, "in0", snd, "snd0")
	b.addr(snd, "snd0", "10.128.1.10/24")
	for i, ns := range rcv {
		b.link(rtr, fmt.Sprintf("out%d", i+1), ns, "rcv0")
		b.addr(ns, "rcv0", fmt.Sprintf("10.128.%d.2/24", 10+i))
	}
	caps := make([]*capture, 3)
	for i, ns := range rcv {
		caps[i] = captureOn(t, ns, "rcv0", groupSG, 5)
	}
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)

	rec := haltest.NewRecorder()
	d := startDriver(t, rtr, map[string]string{"xe-3/0/0": "in0", "xe-3/1/0": "out1", "xe-3/2/0": "out2", "xe-3/3/0": "out3"}, rec, "tx-mode", txMode)
	names := map[hal.IFLIndex]string{iflIn: "xe-3/0/0.0", iflOut1: "xe-3/1/0.0", iflOut2: "xe-3/2/0.0", iflOut3: "xe-3/3/0.0"}
	apply(t, d, oilOps(iflIn, []hal.IFLIndex{iflOut1, iflOut2}, names)...)
	apply(t, d, physIFL(iflOut3, names[iflOut3]))

	t.Run("forwards to every OIL port and only there", func(t *testing.T) {
		sendUDP(t, snd, "snd0", srcAddr, groupSG, 64, 20, "fwd")
		eventually(t, "20 frames on each OIL port", 20*time.Second, func() bool {
			return caps[0].tagged("fwd") == 20 && caps[1].tagged("fwd") == 20
		})
		// A marker through out3's own route would need another OIL; instead
		// send a second burst and check out3 saw none of either.
		sendUDP(t, snd, "snd0", srcAddr, groupSG, 64, 1, "fwd2")
		eventually(t, "second burst", 20*time.Second, func() bool { return caps[1].tagged("fwd2") == 1 })
		assert.Equal(t, 0, caps[2].tagged("fwd")+caps[2].tagged("fwd2"), "port outside the OIL got frames")
		sndMAC := b.mac(snd, "snd0")
		for i, c := range caps[:2] {
			out := b.mac(rtr, fmt.Sprintf("out%d", i+1))
			for _, f := range c.kept() {
				p := haltest.MustParse(f)
				assert.Equal(t, uint8(63), p.TTL, "TTL decremented")
				assert.True(t, p.ChecksumOK, "IPv4 checksum")
				assert.Equal(t, haltest.MulticastMAC(groupSG).String(), p.DstMAC.String())
				assert.Equal(t, out.String(), p.SrcMAC.String(), "source MAC of the egress port")
				assert.NotEqual(t, sndMAC.String(), p.SrcMAC.String())
				assert.Equal(t, srcAddr, p.Source)
			}
		}
		assert.GreaterOrEqual(t, counters(t, d, iflIn).RxPackets, uint64(21))
		assert.Equal(t, uint64(21), counters(t, d, iflOut1).TxPackets)
		assert.Equal(t, uint64(21), counters(t, d, iflOut2).TxPackets)
		assert.Zero(t, counters(t, d, iflOut3).TxPackets)
		assert.Empty(t, rec.Resolves())
		assert.Empty(t, rec.WrongInterfaces())
	})

	t.Run("TTL 1 is not forwarded", func(t *testing.T) {
		before := counters(t, d, iflIn).TTLExpiry
		sendUDP(t, snd, "snd0", srcAddr, groupSG, 1, 5, "ttl1")
		sendUDP(t, snd, "snd0", srcAddr, groupSG, 64, 1, "after-ttl1")
		// Frames of one port are forwarded in order: once the marker is
		// through, the TTL 1 frames had their chance.
		eventually(t, "marker after the TTL 1 frames", 20*time.Second, func() bool {
			return caps[0].tagged("after-ttl1") == 1 && caps[1].tagged("after-ttl1") == 1
		})
		assert.Zero(t, caps[0].tagged("ttl1")+caps[1].tagged("ttl1")+caps[2].tagged("ttl1"))
		assert.Equal(t, before+5, counters(t, d, iflIn).TTLExpiry)
	})

	t.Run("unknown (S,G) resolves once then mdiscard", func(t *testing.T) {
		resolvesFor := func() int {
			n := 0
			for _, r := range rec.Resolves() {
				if r.Group == groupNoSG {
					n++
				}
			}
			return n
		}
		sendUDP(t, snd, "snd0", srcAddr, groupNoSG, 64, 1, "nosg")
		require.True(t, rec.WaitFor(20*time.Second, func(*haltest.Recorder) bool { return resolvesFor() >= 1 }), "OnResolve")
		assert.Contains(t, rec.Resolves(), hal.ResolveRequest{NH: hal.NHResolveID, Ingress: iflIn, Source: srcAddr, Group: groupNoSG})
		// The RE answers with mdiscard for the unwanted flow (seed 003).
		apply(t, d, setRoute(hal.Route{Key: hal.SG(srcAddr, groupNoSG), NH: hal.NHMDiscardID, RPF: iflIn, Flags: hal.RouteFlagsMDiscard}))
		before := counters(t, d, iflIn).Discard
		sendUDP(t, snd, "snd0", srcAddr, groupNoSG, 64, 5, "nosg")
		eventually(t, "5 mdiscard drops", 20*time.Second, func() bool { return counters(t, d, iflIn).Discard == before+5 })
		assert.Equal(t, 1, resolvesFor(), "exactly one resolve request")
		for _, c := range caps {
			assert.Zero(t, c.tagged("nosg"))
		}
	})

	t.Run("wrong interface is dropped and counted", func(t *testing.T) {
		// The source sends from behind out3 instead of in0.
		b.addr(rcv[2], "rcv0", "10.128.1.10/32")
		sendUDP(t, rcv[2], "rcv0", srcAddr, groupSG, 64, 3, "wrongif")
		eventually(t, "3 RPF failures", 20*time.Second, func() bool { return counters(t, d, iflOut3).RPFFail == 3 })
		require.True(t, rec.WaitFor(20*time.Second, func(r *haltest.Recorder) bool { return len(r.WrongInterfaces()) >= 1 }))
		assert.Equal(t, hal.WrongInterface{Ingress: iflOut3, Expected: iflIn, Source: srcAddr, Group: groupSG}, rec.WrongInterfaces()[0])
		sendUDP(t, snd, "snd0", srcAddr, groupSG, 64, 1, "after-wrongif")
		eventually(t, "marker", 20*time.Second, func() bool { return caps[0].tagged("after-wrongif") == 1 })
		assert.Zero(t, caps[0].tagged("wrongif")+caps[1].tagged("wrongif"), "RPF failures are not forwarded")
	})

	t.Run("trapped packets are punted from the wire", func(t *testing.T) {
		apply(t, d, haltest.TrapOps()...)
		igmp := haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: netip.MustParseAddr("224.0.0.22"), TTL: 1, Proto: haltest.ProtoIGMP, Payload: 8})
		pim := haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 30})
		// ARP and unicast reach the ring only through the trap-built
		// socket filter.
		arp := haltest.ARPFrame(1, b.mac(snd, "snd0"), srcAddr, haltest.RouterAddr)
		ping := haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: haltest.RouterAddr, DstMAC: b.mac(rtr, "in0"), TTL: 64, Proto: 1, Payload: 16})
		other := haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: netip.MustParseAddr("10.128.1.77"), DstMAC: b.mac(rtr, "in0"), TTL: 64, Proto: 1, Payload: 16})
		sendFrames(t, snd, "snd0", igmp, pim, arp, other, ping)
		sent := [][]byte{igmp, pim, arp, ping}
		ours := func() []haltest.Punt {
			var out []haltest.Punt
			for _, p := range rec.Punts() {
				for _, f := range sent {
					if bytes.Equal(f, p.Frame) {
						out = append(out, p)
					}
				}
			}
			return out
		}
		require.True(t, rec.WaitFor(20*time.Second, func(*haltest.Recorder) bool { return len(ours()) >= 4 }))
		punts := ours()
		for i, want := range []hal.TrapID{haltest.TrapIGMP, haltest.TrapPIM, haltest.TrapARPRouter, haltest.TrapLocalRouter} {
			assert.Equal(t, iflIn, punts[i].Ingress)
			assert.Equal(t, sent[i], punts[i].Frame)
			assert.Equal(t, want, punts[i].Trap)
		}
		for _, p := range rec.Punts() {
			assert.NotEqual(t, other, p.Frame, "unicast to another address is not punted")
		}
	})

	t.Run("transmit injects unchanged", func(t *testing.T) {
		f := haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: groupSG, TTL: 9, Payload: 40})
		copy(f[14+20+8:], "injected.")
		require.NoError(t, d.Transmit(iflOut3, [][]byte{f}))
		eventually(t, "injected frame", 20*time.Second, func() bool { return caps[2].tagged("injected") == 1 })
		got := caps[2].kept()
		require.NotEmpty(t, got)
		assert.Equal(t, f, got[len(got)-1])
		assert.ErrorIs(t, d.Transmit(4242, [][]byte{f}), hal.ErrNotFound)
	})

	t.Run("stats and vty", func(t *testing.T) {
		st := d.Stats()
		require.Len(t, st.Ports, 4)
		var out1 PortStats
		for _, p := range st.Ports {
			if p.Port == "xe-3/1/0" {
				out1 = p
			}
		}
		assert.Equal(t, "out1", out1.Interface)
		assert.Equal(t, iflOut1, out1.IFL)
		assert.GreaterOrEqual(t, out1.TxPackets, uint64(22))
		var txMetric float64
		for _, m := range d.Metrics() {
			if m.Name == "mxfwd_afpacket_port_packets_total" && m.Labels[0][1] == "xe-3/1/0" && m.Labels[2] == [2]string{"direction", "tx"} {
				txMetric = m.Value
				assert.True(t, m.Counter)
				assert.Equal(t, [2]string{"interface", "out1"}, m.Labels[1])
			}
		}
		assert.GreaterOrEqual(t, txMetric, float64(22))
		var sb strings.Builder
		handled, err := d.HandleVty(strings.Fields("show afpacket ports"), &sb)
		require.NoError(t, err)
		require.True(t, handled)
		assert.Contains(t, sb.String(), "xe-3/1/0")
		assert.Contains(t, sb.String(), "out1")
		sb.Reset()
		handled, err = d.HandleVty(strings.Fields("show afpacket ports | display json"), &sb)
		require.NoError(t, err)
		require.True(t, handled)
		var js Stats
		require.NoError(t, json.Unmarshal([]byte(sb.String()), &js))
		assert.Len(t, js.Ports, 4)
		sb.Reset()
		handled, err = d.HandleVty(strings.Fields("show afpacket ports detail"), &sb)
		require.NoError(t, err)
		require.True(t, handled)
		assert.Contains(t, sb.String(), "tx drops: ring full")
		handled, err = d.HandleVty(strings.Fields("show afpacket ports bogus"), &sb)
		assert.True(t, handled)
		assert.ErrorIs(t, err, hal.ErrInvalid)
		handled, _ = d.HandleVty([]string{"show", "nhdb"}, &sb)
		assert.False(t, handled)
		assert.Equal(t, []string{"show afpacket ports"}, d.VtyCommands())
	})

	require.NoError(t, d.Close())
	assert.ErrorIs(t, d.Transmit(iflOut1, nil), hal.ErrClosed)
	checkNoLeaks(t, goroutines, fds)
}

// TestFanout64 forwards one stream to 64 ports, twice the kernel's MAXVIFS
// (32): every one receives it.
func TestFanout64(t *testing.T) {
	const n = 64
	b := newBench(t)
	rtr, snd, rcv := b.ns("r"), b.ns("s"), b.ns("c")
	b.link(rtr, "in0", snd, "snd0")
	b.addr(snd, "snd0", "10.128.1.10/24")
	var l links
	ports := map[string]string{"xe-3/0/0": "in0"}
	names := map[hal.IFLIndex]string{iflIn: "xe-3/0/0.0"}
	var outs []hal.IFLIndex
	for i := 0; i < n; i++ {
		l.add(rtr, fmt.Sprintf("out%d", i), rcv, fmt.Sprintf("rcv%d", i))
		phys := fmt.Sprintf("xe-4/%d/%d", i/8, i%8)
		ports[phys] = fmt.Sprintf("out%d", i)
		idx := hal.IFLIndex(1000 + i)
		names[idx] = phys + ".0"
		outs = append(outs, idx)
	}
	l.create(b)
	caps := make([]*capture, n)
	for i := range caps {
		caps[i] = captureOn(t, rcv, fmt.Sprintf("rcv%d", i), groupSG, 1)
	}
	rec := haltest.NewRecorder()
	d := startDriver(t, rtr, ports, rec)
	apply(t, d, oilOps(iflIn, outs, names)...)

	sendUDP(t, snd, "snd0", srcAddr, groupSG, 64, 10, "fan")
	eventually(t, "10 frames on each of 64 ports", 30*time.Second, func() bool {
		for _, c := range caps {
			if c.tagged("fan") < 10 {
				return false
			}
		}
		return true
	})
	for i, c := range caps {
		assert.Equal(t, 10, c.tagged("fan"), "port %d", i)
		p := haltest.MustParse(c.kept()[0])
		assert.Equal(t, uint8(63), p.TTL)
	}
	for _, o := range outs {
		assert.Equal(t, uint64(10), counters(t, d, o).TxPackets)
	}
}

// TestNewErrors checks that New explains what is wrong.
func TestNewErrors(t *testing.T) {
	b := newBench(t)
	rtr := b.ns("r")
	b.link(rtr, "p0", rtr, "p1")
	rec := haltest.NewRecorder()
	cfg := hal.Config{Logger: testLogger(t), Upcalls: rec, Options: testOptions(rtr)}

	t.Run("missing interface names the port", func(t *testing.T) {
		cfg.Ports = map[string]string{"xe-3/0/0": "p0", "xe-3/1/0": "nosuch9"}
		_, err := New(context.Background(), cfg)
		require.Error(t, err)
		assert.ErrorIs(t, err, errNoInterface)
		assert.Contains(t, err.Error(), "xe-3/1/0")
		assert.Contains(t, err.Error(), `"nosuch9"`)
	})
	t.Run("unit in port name", func(t *testing.T) {
		cfg.Ports = map[string]string{"xe-3/0/0.0": "p0"}
		_, err := New(context.Background(), cfg)
		assert.ErrorIs(t, err, hal.ErrInvalid)
	})
	t.Run("bad option", func(t *testing.T) {
		cfg.Ports = map[string]string{"xe-3/0/0": "p0"}
		o := testOptions(rtr)
		o["rx-blocks"] = "many"
		c := cfg
		c.Options = o
		_, err := New(context.Background(), c)
		assert.ErrorIs(t, err, hal.ErrInvalid)
	})
	t.Run("kernel multicast routing on the port is refused", func(t *testing.T) {
		stop := kernelMroute(t, rtr, "p0")
		defer stop()
		cfg.Ports = map[string]string{"xe-3/0/0": "p0"}
		_, err := New(context.Background(), cfg)
		require.Error(t, err)
		assert.ErrorIs(t, err, errKernelMroute)
		assert.Contains(t, err.Error(), "xe-3/0/0")
		o := testOptions(rtr)
		o["kernel-mroute"] = "warn"
		c := cfg
		c.Options = o
		d, err := New(context.Background(), c)
		require.NoError(t, err, "kernel-mroute=warn only warns")
		require.NoError(t, d.Close())
	})
	t.Run("closed context stops the workers", func(t *testing.T) {
		cfg.Ports = map[string]string{"xe-3/0/0": "p0", "xe-3/1/0": "p1"}
		g := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		d, err := New(ctx, cfg)
		require.NoError(t, err)
		cancel()
		eventually(t, "workers to stop on ctx", 10*time.Second, func() bool { return runtime.NumGoroutine() <= g })
		require.NoError(t, d.Close())
		require.NoError(t, d.Close(), "second Close")
	})
}

// kernelMroute makes ifname a kernel multicast VIF in ns, as a routing
// daemon would (MRT_INIT, MRT_ADD_VIF), until the returned func is called.
func kernelMroute(t *testing.T, ns, ifname string) (stop func()) {
	t.Helper()
	var fd int
	err := netns.Run(netns.Path(ns), func() error {
		var err error
		fd, err = mrouteSocket(ifname)
		return err
	})
	if errors.Is(err, errNoMroute) {
		t.Skip("kernel without CONFIG_IP_MROUTE")
	}
	require.NoError(t, err)
	return func() { closeFD(fd) }
}

// TestOptions covers option parsing without privileges.
func TestOptions(t *testing.T) {
	o, err := parseOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, defaultRXBlocks, o.RXBlocks)
	assert.Equal(t, 2048, o.txFrameSizeFor(1500))
	assert.Equal(t, 16384, o.txFrameSizeFor(9000))
	for _, bad := range []map[string]string{
		{"rx-block-size": "1000"}, {"tx-frame-size": "3000"}, {"busy-poll": "forever"},
		{"kernel-mroute": "maybe"}, {"batch": "0"},
	} {
		_, err := parseOptions(bad)
		assert.ErrorIs(t, err, hal.ErrInvalid, "%v", bad)
	}
	o, err = parseOptions(map[string]string{"busy-poll": "20us", "netns": "x"})
	require.NoError(t, err)
	assert.Equal(t, 20*time.Microsecond, o.BusyPoll)
	assert.Equal(t, "/run/netns/x", netns.Path(o.Netns))
	assert.Equal(t, "/proc/1/ns/net", netns.Path("/proc/1/ns/net"))
}

func TestVifListed(t *testing.T) {
	content := []byte("Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote\n" +
		" 0 rin               0       0         0       0 00008 00000000 00000000\n" +
		" 1 out1              0       0         0       0 00008 00000000 00000000\n")
	assert.True(t, vifListed(content, "rin"))
	assert.True(t, vifListed(content, "out1"))
	assert.False(t, vifListed(content, "out"))
	assert.False(t, vifListed(content, "Interface"))
	assert.False(t, slices.Contains([]string{}, "x"))
}

// TestNewWithoutPrivileges runs only without root: New must say what is
// missing instead of failing on some socket call.
func TestNewWithoutPrivileges(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("skipped as root: checks the error message of an unprivileged New")
	}
	_, err := New(context.Background(), hal.Config{
		Logger: testLogger(t), Upcalls: haltest.NewRecorder(), Ports: map[string]string{"xe-3/0/0": "lo"},
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, errPermission)
	assert.Contains(t, err.Error(), "CAP_NET_RAW")
}
