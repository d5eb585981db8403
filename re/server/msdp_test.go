package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/config"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServerWith(t testing.TB, text string, opt Options) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "re.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	opt.Config, opt.ConfigPath = cfg, path
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	s, err := New(opt)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s
}

// Two routing engines peer over MSDP on loopback: the session comes up
// whichever side connects, R1's configured local source reaches R2's
// source-active cache, and the show and clear commands work.
func TestMSDPBetweenTwoREs(t *testing.T) {
	port := freePort(t)
	// R2 has the higher address: it listens (RFC 3618 §11); starting it first
	// lets R1's first connect succeed instead of waiting a connect-retry.
	r2 := startServerWith(t, `set interfaces xe-3/0/0 unit 0 family inet address 10.0.1.1/24
set protocols msdp peer 127.0.0.1 local-address 127.0.0.2
set protocols msdp keep-alive 10
`, Options{MSDPPort: port})
	r1 := startServerWith(t, `set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24
set protocols msdp peer 127.0.0.2 local-address 127.0.0.1
set protocols msdp local-source 10.0.0.9 group 239.9.9.9
`, Options{MSDPPort: port})
	eventually(t, "MSDP Established on both", func() bool {
		return strings.Contains(runCLI(t, r1, "show msdp"), "Established") && strings.Contains(runCLI(t, r2, "show msdp"), "Established")
	})
	eventually(t, "R1's SA in R2's cache", func() bool {
		return strings.Contains(runCLI(t, r2, "show msdp source-active"), "10.0.0.9")
	})
	require.Contains(t, runCLI(t, r2, "show msdp source-active group 239.9.9.9"), "239.9.9.9")
	require.Contains(t, runCLI(t, r1, "show msdp source-active local"), "10.0.0.9")
	require.Contains(t, runCLI(t, r2, "show route table inet.4"), "239.9.9.9")
	require.Contains(t, runCLI(t, r2, "show msdp peer 127.0.0.1"), "127.0.0.1")
	require.Contains(t, runCLI(t, r2, "show msdp statistics"), "127.0.0.1")
	require.Contains(t, runCLI(t, r2, "show msdp source-active | display json"), "10.0.0.9")
	// clear msdp cache acts on this RE only; the SA comes back with R1's
	// next advertisement (not waited for here).
	require.Contains(t, runCLI(t, r2, "clear msdp cache"), "Cleared")
	require.NotContains(t, runCLI(t, r2, "show msdp source-active"), "10.0.0.9")
	require.Contains(t, runCLI(t, r1, "show msdp source-active"), "10.0.0.9")
	_ = time.Second
}
