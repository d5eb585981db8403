package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
)

func seedConfig(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed003.conf"))
	require.NoError(t, err)
	return string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
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

func startFPC(t *testing.T, slot hal.Slot, re string) *fpc.Runtime {
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
	require.ErrorContains(t, err, "no interface has a subnet containing source 192.0.2.1")
}
