package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
)

func seedConfig(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed003.conf"))
	require.NoError(t, err)
	return string(b)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	// A failure deadline, not a timing assertion: generous for loaded CI
	// machines and the race detector.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func startServer(t *testing.T, cfgText string) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "re.conf")
	require.NoError(t, os.WriteFile(path, []byte(cfgText), 0o644))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	s, err := New(Options{Config: cfg, ConfigPath: path, Listen: "127.0.0.1:0", KeepaliveInterval: 100 * time.Millisecond, RegisterTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s, path
}

func startFPC(t testing.TB, slot hal.Slot, re string) *fpc.Runtime {
	t.Helper()
	rt, err := fpc.New(context.Background(), fpc.Config{Slot: slot, RE: re, DriverName: "swpfe", NewDriver: swpfe.New, KeepaliveInterval: 100 * time.Millisecond, StatsInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rt
}

func runCLI(t *testing.T, s *Server, cmd string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, s.CLI().Run(context.Background(), cmd, &b))
	return b.String()
}

var sgKey = hal.SG(netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr("232.0.7.1"))

func TestFanOutAndReload(t *testing.T) {
	s, path := startServer(t, seedConfig(t))
	f3 := startFPC(t, 3, s.Addr())
	f4 := startFPC(t, 4, s.Addr())
	for _, f := range []*fpc.Runtime{f3, f4} {
		eventually(t, "routes on the FPC", func() bool {
			_, err := f.Driver().Route(sgKey)
			return err == nil
		})
	}
	require.Len(t, s.FPCs(), 2)
	require.Contains(t, runCLI(t, s, "show chassis fpc"), "swpfe")
	require.Contains(t, runCLI(t, s, "show configuration"), "set protocols igmp interface ae91.0 static group 232.0.7.1 source 10.128.1.10")

	// Resolve-rate changes reach every card.
	cfg := seedConfig(t) + "set forwarding-options multicast resolve-rate 500\n"
	cfg = strings.Replace(cfg, "set protocols igmp interface ae91.0 static group 232.0.7.1 source 10.128.1.10\n", "", 1)
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	require.Contains(t, runCLI(t, s, "request system reload"), "reloaded")
	for _, f := range []*fpc.Runtime{f3, f4} {
		eventually(t, "resolve-rate 500 and the removed join gone", func() bool {
			_, err := f.Driver().Route(sgKey)
			return f.Throttle().Rate() == 500 && err != nil
		})
	}
	// A bad configuration is refused and the running one kept.
	require.NoError(t, os.WriteFile(path, []byte("set bogus\n"), 0o644))
	var b bytes.Buffer
	err := s.CLI().Run(context.Background(), "request system reload", &b)
	require.ErrorContains(t, err, "re.conf:1:")
	require.Equal(t, 500, s.Config().ResolveRate)
}

// A malformed frame in an established session closes that FPC only.
func TestMalformedFrameClosesOnlyThatFPC(t *testing.T) {
	s, _ := startServer(t, seedConfig(t))
	f3 := startFPC(t, 3, s.Addr())
	eventually(t, "fpc3 up", func() bool { return len(s.FPCs()) == 1 })

	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	ack, err := ipc.ClientHandshake(c, &ipc.Register{Slot: 5, Addr: ipc.FPCAddr(5), Driver: "raw"}, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, ipc.AckOK, ack.Error)
	eventually(t, "fpc5 up", func() bool { return len(s.FPCs()) == 2 })

	// A frame announcing a body of 64 MiB: refused before allocating.
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], 1)
	binary.LittleEndian.PutUint32(hdr[4:], 64<<20)
	_, err = c.Write(hdr[:])
	require.NoError(t, err)
	eventually(t, "fpc5 dropped", func() bool { return len(s.FPCs()) == 1 })
	require.Equal(t, hal.Slot(3), s.FPCs()[0].Slot)
	require.True(t, f3.Connected())

	// A TNP address that does not match the slot is refused.
	c2, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c2.Close()
	_, err = ipc.ClientHandshake(c2, &ipc.Register{Slot: 6, Addr: ipc.FPCAddr(7), Driver: "raw"}, 5*time.Second)
	require.ErrorIs(t, err, ipc.ErrRejected)
	require.ErrorContains(t, err, "does not match slot 6")
}

func TestStaticJoinWithoutUpstreamIsRefused(t *testing.T) {
	cfg, err := config.Parse("t", strings.NewReader("set interfaces ae91 unit 0 family inet address 10.1.1.1/24\nset protocols igmp interface ae91.0 static group 232.1.1.1 source 192.0.2.1\n"))
	require.NoError(t, err)
	_, err = New(Options{Config: cfg})
	require.ErrorContains(t, err, "no route to source 192.0.2.1 in inet.0")
}

// manyJoins returns n static-like joins on distinct (S,G) of the seed's
// topology.
func manyJoins(n int) []kernel.Join {
	out := make([]kernel.Join, n)
	for i := range out {
		out[i] = kernel.Join{
			Source: netip.AddrFrom4([4]byte{10, 128, 1, 10}), Group: netip.AddrFrom4([4]byte{232, 1 + byte(i>>16), byte(i >> 8), byte(i)}),
			Upstream: "ae90.0", Downstream: []string{"ae91.0"}, Protocol: "CLI",
		}
	}
	return out
}

// A card that keeps its session alive but stops reading must not stall the
// RE or the other cards; it is dropped once it lags past the change log's
// bound and resyncs to the same table when it comes back.
func TestSlowCardDoesNotStallTheRE(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.conf")
	require.NoError(t, os.WriteFile(path, []byte(seedConfig(t)), 0o644))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	s, err := New(Options{Config: cfg, ConfigPath: path, Listen: "127.0.0.1:0", KeepaliveInterval: 100 * time.Millisecond,
		RegisterTimeout: time.Second, LogMessages: 30_000})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	f4 := startFPC(t, 4, s.Addr())
	eventually(t, "FPC 4 synced", func() bool { return len(s.FPCs()) == 1 && s.FPCs()[0].Synced })

	// FPC 3: registers, then only sends keepalives and never reads. Its
	// small receive window keeps the kernel's socket buffers from holding
	// the whole download (the session's own queue is bounded).
	c := stalledCard(t, s.Addr())
	defer c.Close()
	kaCtx, kaStop := context.WithCancel(context.Background())
	defer kaStop()
	eventually(t, "FPC 3 registered", func() bool { return len(s.FPCs()) == 2 })

	// 100,000 routes, in batches, while the CLI keeps answering.
	const n = 100_000
	joins := manyJoins(n)
	cliDone := make(chan struct{})
	cliErr := make(chan error, 1)
	go func() {
		defer close(cliDone)
		for {
			select {
			case <-kaCtx.Done():
				return
			default:
			}
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			var b bytes.Buffer
			err := s.CLI().Run(cctx, "show chassis fpc", &b)
			if err == nil {
				err = s.CLI().Run(cctx, "request multicast join source 10.128.1.11 group 232.9.9.9 interface ae91.0", &b)
			}
			ccancel()
			if err != nil {
				cliErr <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Batches of 2,000 routes (6,000 messages); FPC 4 is given the time
	// to apply each, so that it never lags by more than the bound, while
	// FPC 3's backlog grows by the whole table.
	const batch = 2_000
	for i := 0; i < n; i += batch {
		require.NoError(t, s.Engine().Do(context.Background(), func() error { return s.Kernel().JoinBatch(joins[i : i+batch]) }))
		want := s.Kernel().Summary().ForwardingRoutes
		eventually(t, "FPC 4 has the batch", func() bool { return f4.Driver().Summary().Routes >= want+1 })
	}
	want := s.Kernel().Summary().ForwardingRoutes
	require.GreaterOrEqual(t, want, n)
	eventually(t, "FPC 4 has every route", func() bool { return f4.Driver().Summary().Routes == want+1 })
	eventually(t, "FPC 3 dropped for lagging", func() bool { return len(s.FPCs()) == 1 && s.stats.Lagged.Load() == 1 })
	require.Equal(t, hal.Slot(4), s.FPCs()[0].Slot, "FPC 4 was never dropped")
	kaStop()
	<-cliDone
	select {
	case err := <-cliErr:
		t.Fatalf("the CLI stopped answering: %v", err)
	default:
	}
	require.Contains(t, runCLI(t, s, "show system statistics ipc"), "lagged-cards:      1")

	// FPC 3 comes back (reading this time) and resyncs to the same table.
	c.Close()
	f3 := startFPC(t, 3, s.Addr())
	eventually(t, "FPC 3 resynced to FPC 4's table", func() bool {
		return f3.Driver().Summary().Routes == want+1 && reflect.DeepEqual(f4.Driver().Summary(), f3.Driver().Summary())
	})
}

func routeOf(t *testing.T, s *Server, src, grp string) (kernel.MulticastRoute, bool) {
	t.Helper()
	for _, r := range s.Kernel().Routes(netip.MustParseAddr(grp)) {
		if r.Source == netip.MustParseAddr(src) {
			return r, true
		}
	}
	return kernel.MulticastRoute{}, false
}

func reload(t *testing.T, s *Server, path, text string) error {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	var b bytes.Buffer
	return s.CLI().Run(context.Background(), "request system reload", &b)
}

func TestReloadIsADiff(t *testing.T) {
	base := seedConfig(t)
	s, path := startServer(t, base)
	f3 := startFPC(t, 3, s.Addr())
	eventually(t, "FPC 3 synced", func() bool { return len(s.FPCs()) == 1 && s.FPCs()[0].Synced })
	runCLI(t, s, "request multicast join source 10.128.1.10 group 232.7.7.7 interface ae101.0")

	// Move a join from ae91.0 to ae101.0: the OIL is ae101.0 alone.
	moved := strings.Replace(base, "set protocols igmp interface ae91.0 static group 232.0.7.1 source 10.128.1.10",
		"set protocols igmp interface ae101.0 static group 232.0.7.1 source 10.128.1.10", 1)
	require.NoError(t, reload(t, s, path, moved))
	r, ok := routeOf(t, s, "10.128.1.10", "232.0.7.1")
	require.True(t, ok)
	require.Equal(t, []string{"ae101.0"}, r.Downstream)
	require.Equal(t, "PIM", r.UpstreamProtocol, "PIM joins for the static group (seed 003: Upstream protocol: PIM)")

	// Two downstream interfaces, then one removed.
	two := moved + "set protocols igmp interface ae91.0 static group 232.0.7.1 source 10.128.1.10\n"
	require.NoError(t, reload(t, s, path, two))
	r, _ = routeOf(t, s, "10.128.1.10", "232.0.7.1")
	require.ElementsMatch(t, []string{"ae91.0", "ae101.0"}, r.Downstream)
	require.NoError(t, reload(t, s, path, moved))
	r, _ = routeOf(t, s, "10.128.1.10", "232.0.7.1")
	require.Equal(t, []string{"ae101.0"}, r.Downstream)
	eventually(t, "the card has the new OIL", func() bool {
		rt, err := f3.Driver().Route(sgKey)
		if err != nil {
			return false
		}
		ind, err := f3.Driver().NextHop(rt.NH)
		if err != nil {
			return false
		}
		comp, err := f3.Driver().NextHop(ind.Target)
		return err == nil && len(comp.Members) == 1
	})

	// Files that fail late change nothing: the kernel's state, the running
	// configuration and the host name stay.
	before := s.Kernel().Export()
	for name, text := range map[string]string{
		"static join without an upstream": strings.Replace(moved, "set system host-name bob", "set system host-name alice", 1) +
			"set protocols igmp interface ae91.0 static group 232.5.5.5 source 192.0.2.1\n",
		"two interfaces with one index": moved + "set interfaces xe-5/0/0 unit 0 ifl-index 331\n",
		"does not parse":                "set interfaces\n",
	} {
		err := reload(t, s, path, text)
		require.Error(t, err, name)
		require.Equal(t, before, s.Kernel().Export(), name)
		require.Equal(t, "bob", s.Config().HostName, name)
		require.NotContains(t, runCLI(t, s, "show configuration"), "232.5.5.5", name)
	}
	// Run-time joins survive reloads (runtime state is not configuration).
	_, ok = routeOf(t, s, "10.128.1.10", "232.7.7.7")
	require.True(t, ok)
	require.NotContains(t, runCLI(t, s, "show configuration"), "232.7.7.7")
}

// `re config check` (Check) and `re run` (New) accept and refuse the same
// files, for every configuration used in the tests.
func TestCheckAndRunAgree(t *testing.T) {
	files := map[string]string{
		"seed 003":       seedConfig(t),
		"empty":          "",
		"no upstream":    "set interfaces ae91 unit 0 family inet address 10.1.1.1/24\nset protocols igmp interface ae91.0 static group 232.1.1.1 source 192.0.2.1\n",
		"duplicate ifl":  seedConfig(t) + "set interfaces xe-5/0/0 unit 0 ifl-index 331\n",
		"reserved nh":    "set interfaces xe-5/0/0 unit 0 nh-index 983\n",
		"unknown iface":  "set interfaces ae1 unit 0 family inet address 10.1.1.1/24\nset protocols igmp interface ae9.0 static group 232.1.1.1 source 10.1.1.2\n",
		"member as join": seedConfig(t) + "set protocols igmp interface xe-3/1/0.0 static group 232.1.1.1 source 10.128.1.10\n",
	}
	for _, ex := range []string{"demo.conf", "seed003.conf"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "examples", ex)); err == nil {
			files[ex] = string(b)
		}
	}
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			cfg, perr := config.Parse(name, strings.NewReader(text))
			if perr != nil {
				return // refused by the parser for both
			}
			_, cerr := Check(cfg)
			_, rerr := New(Options{Config: cfg})
			require.Equal(t, cerr == nil, rerr == nil, "check: %v / run: %v", cerr, rerr)
		})
	}
}
