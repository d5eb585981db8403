package msdpnet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

// nsPrefix names every namespace this test binary creates: the area
// prefix and the pid, so that parallel runs never collide and an
// interrupted run can be cleaned up.
var nsPrefix = fmt.Sprintf("mxmsdp%d", os.Getpid())

var (
	nsMu  sync.Mutex
	nsAll = map[string]bool{}
)

func TestMain(m *testing.M) {
	// A re-executed test binary playing the non-stop routing master.
	if env := os.Getenv(nsrChildEnv); env != "" {
		os.Exit(nsrMasterMain(env))
	}
	// Delete our namespaces on SIGINT/SIGTERM too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		deleteAllNS()
		os.Exit(2)
	}()
	code := m.Run()
	deleteAllNS()
	os.Exit(code)
}

func deleteAllNS() {
	nsMu.Lock()
	defer nsMu.Unlock()
	for ns := range nsAll {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		delete(nsAll, ns)
	}
}

// needRoot skips a test that binds port 639, sets up namespaces or runs
// tcpdump.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (binds TCP port 639, creates network namespaces)")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// newNS creates namespace nsPrefix-name with lo up; removed at cleanup.
func newNS(t testing.TB, name string) string {
	t.Helper()
	return newNSPrefixed(t, nsPrefix, name)
}

// newNSPrefixed creates namespace prefix-name with lo up.
func newNSPrefixed(t testing.TB, prefix, name string) string {
	t.Helper()
	needRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
	ns := prefix + "-" + name
	run(t, "ip", "netns", "add", ns)
	nsMu.Lock()
	nsAll[ns] = true
	nsMu.Unlock()
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		nsMu.Lock()
		delete(nsAll, ns)
		nsMu.Unlock()
	})
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// link joins two namespaces with a veth pair and addresses.
func link(t testing.TB, nsA, ifA, cidrA, nsB, ifB, cidrB string) {
	t.Helper()
	run(t, "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	run(t, "ip", "-n", nsA, "addr", "add", cidrA, "dev", ifA)
	run(t, "ip", "-n", nsB, "addr", "add", cidrB, "dev", ifB)
	run(t, "ip", "-n", nsA, "link", "set", ifA, "up")
	run(t, "ip", "-n", nsB, "link", "set", ifB, "up")
}

// loopNet returns a random 127.x.y.0 prefix base for one test's
// addresses on the host's loopback.
func loopNet() func(host int) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return func(host int) string { return fmt.Sprintf("127.%d.%d.%d", 10+b[0]%200, b[1], host) }
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// router is an engine, its transport and a Host running them.
type router struct {
	t    testing.TB
	h    *msdpnet.Host
	tr   *msdpnet.Transport
	logs *syncBuffer
	pimM sync.Mutex
	pim  []msdp.Action
	stop func()
}

type routerOpt struct {
	netns      string
	writeStall time.Duration
	outLimit   int
	trace      func(msdp.Event, []msdp.Action, time.Time)
	standby    bool
	rib        msdp.RIB
	mirror     msdpnet.Mirror
}

func startRouter(t testing.TB, cfg msdp.Config, o routerOpt) *router {
	t.Helper()
	r := &router{t: t, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := msdp.New(cfg, msdp.Options{Logger: log, Seed: 1, RIB: o.rib}, time.Now())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r.tr = msdpnet.New(ctx, msdpnet.Options{Logger: log, Netns: o.netns, WriteStall: o.writeStall, OutputLimit: o.outLimit, DialTimeout: 2 * time.Second, Mirror: o.mirror})
	r.h = msdpnet.NewHost(e, r.tr, func(x msdp.Action) {
		r.pimM.Lock()
		r.pim = append(r.pim, x)
		r.pimM.Unlock()
	})
	r.h.Trace = o.trace
	r.h.Standby = o.standby
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.h.Run(ctx)
	}()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			r.tr.Close()
		})
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("router %v log:\n%s", cfg.LocalAddress, r.logs.String())
		}
	})
	return r
}

// do runs fn on the router's owner goroutine.
func (r *router) do(fn func(e *msdp.Engine, now time.Time) []msdp.Action) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(r.t, r.h.Do(ctx, fn))
}

func (r *router) peer(p string) msdp.PeerInfo {
	r.t.Helper()
	var info msdp.PeerInfo
	r.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		var err error
		info, err = e.Peer(now, a(p))
		require.NoError(r.t, err)
		return nil
	})
	return info
}

func (r *router) sas() []msdp.SAInfo {
	var out []msdp.SAInfo
	r.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		out = e.SourceActive(now, msdp.SAFilter{}).SAs
		return nil
	})
	return out
}

// eventually polls cond every 20 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// fast are RFC-legal short timers for tests.
func fast(c msdp.Config) msdp.Config {
	c.ConnectRetry = time.Second
	c.KeepAlive = 2 * time.Second
	c.HoldTime = 6 * time.Second
	return c
}
