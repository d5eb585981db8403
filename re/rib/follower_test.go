package rib

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Namespace tests create namespaces named mxrib<pid>-<n>, remove them (and
// stop the daemons they started) in t.Cleanup, and also on SIGINT/SIGTERM
// (TestMain), so that an interrupted run leaves nothing behind.

var (
	nsMu     sync.Mutex
	nsLive   = map[string]bool{}
	procLive = map[*os.Process]bool{} // daemons started by tests
	dirLive  = map[string]bool{}      // their run directories
	nsSeq    int
)

func TestMain(m *testing.M) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		nsMu.Lock()
		for p := range procLive {
			_ = p.Kill()
		}
		for ns := range nsLive {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
		for d := range dirLive {
			_ = os.RemoveAll(d)
		}
		nsMu.Unlock()
		fmt.Fprintf(os.Stderr, "rib tests: %v: daemons stopped, namespaces removed\n", s)
		os.Exit(1)
	}()
	os.Exit(m.Run())
}

func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces and veth links)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip) to create namespaces")
	}
}

// newNS creates a namespace with lo up and returns its name.
func newNS(t *testing.T) string {
	t.Helper()
	needNetns(t)
	nsMu.Lock()
	nsSeq++
	name := fmt.Sprintf("mxrib%d-%d", os.Getpid(), nsSeq)
	nsLive[name] = true
	nsMu.Unlock()
	ipc(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("cleanup: ip netns del %s: %v: %s", name, err, out)
		}
		nsMu.Lock()
		delete(nsLive, name)
		nsMu.Unlock()
	})
	ipc(t, "-n", name, "link", "set", "lo", "up")
	return name
}

func ipc(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNS runs `ip -n ns` with a command line.
func inNS(t *testing.T, ns, cmd string) {
	t.Helper()
	ipc(t, append([]string{"-n", ns}, strings.Fields(cmd)...)...)
}

// link creates a link named name in ns with an address, up: one end of a
// veth pair whose other end (peer<n>) stays in ns, up, for carrier.
func link(t *testing.T, ns, name, addr string) {
	t.Helper()
	nsMu.Lock()
	nsSeq++
	peer := fmt.Sprintf("peer%d", nsSeq)
	nsMu.Unlock()
	inNS(t, ns, "link add "+name+" type veth peer name "+peer)
	inNS(t, ns, "addr add "+addr+" dev "+name)
	inNS(t, ns, "link set "+peer+" up")
	inNS(t, ns, "link set "+name+" up")
}

// owner plays the routing engine's owner goroutine: it applies the
// follower's updates to the RIB and keeps the notifications.
type owner struct {
	t       *testing.T
	r       *RIB
	f       *Follower
	changes []Change
}

// until applies updates until cond holds (10 s limit: a hang, not a speed
// assertion).
func (o *owner) until(what string, cond func() bool) {
	o.t.Helper()
	o.within(10*time.Second, what, cond)
}

func (o *owner) within(limit time.Duration, what string, cond func() bool) {
	o.t.Helper()
	deadline := time.After(limit)
	for !cond() {
		select {
		case u, ok := <-o.f.Updates():
			require.True(o.t, ok, "updates closed while waiting for %s", what)
			ch, err := o.r.ApplyKernel(u, time.Now())
			require.NoError(o.t, err)
			o.changes = append(o.changes, ch...)
		case <-deadline:
			o.t.Fatalf("timed out waiting for %s; stats %+v; table:\n%s", what, o.f.Stats(), o.table())
		}
	}
}

func (o *owner) table() string {
	var b strings.Builder
	_ = RenderTable(&b, o.r.Table(time.Now()), false)
	return b.String()
}

// take returns and forgets the notifications for address a.
func (o *owner) take(a string) []Change {
	var out, rest []Change
	for _, c := range o.changes {
		if c.Addr == ip(a) {
			out = append(out, c)
		} else {
			rest = append(rest, c)
		}
	}
	o.changes = rest
	return out
}

func startFollower(t *testing.T, cfg FollowerConfig) (*Follower, func()) {
	t.Helper()
	f, err := NewFollower(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stop := func() {
		cancel()
		// The owner keeps reading until the follower closes the channel.
		for range f.Updates() {
		}
		require.NoError(t, <-done)
	}
	return f, stop
}

func TestFollowerImportsKernelTable(t *testing.T) {
	ns := newNS(t)
	link(t, ns, "xe-3-1-0.0", "10.1.0.1/24")
	link(t, ns, "xe-3-2-0.0", "10.2.0.1/24")
	link(t, ns, "eth9", "10.3.0.1/24")
	// Present before the follower starts: the first dump has it.
	inNS(t, ns, "route add 10.50.0.0/16 via 10.1.0.2 table 100 proto ospf metric 20")

	goroutines := runtime.NumGoroutine()
	r := lab(t) // other interfaces, to check they do not matter
	for _, x := range []struct{ ifl, addr string }{{"xe-3/1/0.0", "10.1.0.1/24"}, {"xe-3/2/0.0", "10.2.0.1/24"}} {
		_, err := r.SetInterface(x.ifl, pfx(x.addr), time.Now())
		require.NoError(t, err)
	}
	w := r.NewWatcher("pim")
	for _, a := range []string{"10.50.1.1", "10.60.1.1"} {
		_, _, err := r.Watch(w, ip(a))
		require.NoError(t, err)
	}
	f, stop := startFollower(t, FollowerConfig{Table: 100, NetNS: "/var/run/netns/" + ns, Settle: 20 * time.Millisecond})
	o := &owner{t: t, r: r, f: f}

	o.until("the first dump", func() bool { return f.Stats().Resyncs > 0 && len(o.changes) > 0 })
	res := rpf(t, r, "10.50.1.1")
	require.Equal(t, Result{Prefix: pfx("10.50.0.0/16"), Protocol: ProtoOSPF, Preference: 10, Metric: 20,
		Interface: "xe-3/1/0.0", Neighbor: ip("10.1.0.2"), NextHops: []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.1.0.2")}}}, res)
	require.Len(t, o.take("10.50.1.1"), 1)

	// ip route add, multipath: an ECMP Kernel route, RPF on the highest gateway.
	inNS(t, ns, "route add 10.60.0.0/16 table 100 nexthop via 10.1.0.2 nexthop via 10.2.0.2")
	o.until("10.60/16 added", func() bool { return len(o.take("10.60.1.1")) == 1 })
	res = rpf(t, r, "10.60.1.1")
	require.Equal(t, ProtoKernel, res.Protocol)
	require.Equal(t, "xe-3/2/0.0", res.Interface)
	require.Equal(t, ip("10.2.0.2"), res.Neighbor)
	require.Len(t, res.NextHops, 2)

	// Not imported: the main table, a next hop over a non-IFL link.
	inNS(t, ns, "route add 10.70.0.0/16 via 10.1.0.2")
	inNS(t, ns, "route add 10.80.0.0/16 via 10.3.0.2 table 100")
	inNS(t, ns, "route add 10.61.0.0/16 via 10.1.0.3 table 100 metric 7") // marker: events are ordered
	o.until("the marker route", func() bool { _, ok := r.RPF(ip("10.61.0.1")); return ok })
	require.EqualValues(t, 7, rpf(t, r, "10.61.0.1").Metric)
	for _, a := range []string{"10.70.0.1", "10.80.0.1"} {
		_, ok := r.RPF(ip(a))
		require.False(t, ok, a)
	}
	require.NotZero(t, f.Stats().Unmapped)

	// ip route replace: the RPF interface moves, the watcher is told.
	inNS(t, ns, "route replace 10.50.0.0/16 via 10.2.0.2 table 100 proto ospf metric 20")
	o.until("10.50/16 replaced", func() bool { return len(o.take("10.50.1.1")) == 1 })
	require.Equal(t, "xe-3/2/0.0", rpf(t, r, "10.50.1.1").Interface)

	// A route over a kernel nexthop object (as FRR's zebra installs them):
	// decoded from the expanded next hop the kernel adds in compat mode,
	// and followed when the nexthop object changes.
	inNS(t, ns, "nexthop add id 10 via 10.1.0.4 dev xe-3-1-0.0")
	inNS(t, ns, "route add 10.90.0.0/16 nhid 10 table 100 proto ospf")
	o.until("the nhid route", func() bool { res, ok := r.RPF(ip("10.90.0.1")); return ok && res.Neighbor == ip("10.1.0.4") })
	inNS(t, ns, "nexthop replace id 10 via 10.2.0.4 dev xe-3-2-0.0")
	o.until("the nhid route moved", func() bool { res, ok := r.RPF(ip("10.90.0.1")); return ok && res.Neighbor == ip("10.2.0.4") })
	require.Equal(t, "xe-3/2/0.0", rpf(t, r, "10.90.0.1").Interface)
	inNS(t, ns, "route del 10.90.0.0/16 table 100")

	// ip route del: gone, told.
	inNS(t, ns, "route del 10.60.0.0/16 table 100")
	var gone []Change
	o.until("10.60/16 deleted", func() bool { gone = append(gone, o.take("10.60.1.1")...); return len(gone) == 1 })
	require.False(t, gone[0].New.Found())
	require.Equal(t, "xe-3/2/0.0", gone[0].Old.Interface)

	// Link down: the kernel flushes the routes over it without a route
	// event; the link event makes the follower dump the table again.
	resyncs := f.Stats().Resyncs
	inNS(t, ns, "link set xe-3-2-0.0 down")
	o.until("10.50/16 flushed", func() bool { _, ok := r.RPF(ip("10.50.1.1")); return !ok })
	require.Greater(t, f.Stats().Resyncs, resyncs)
	require.Len(t, o.take("10.50.1.1"), 1)
	_, ok := r.RPF(ip("10.61.0.1"))
	require.True(t, ok, "routes over other links stay")

	stop()
	_, open := <-f.Updates()
	require.False(t, open)
	// (Polled here: assert.Eventually runs its condition in a goroutine.)
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("follower goroutines left behind (%d > %d):\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestFollowerOverflowResync fills a two-slot queue while the owner does
// not read: the follower counts overflows and resends the table, and once
// the owner drains, the RIB holds exactly the kernel's routes.
func TestFollowerOverflowResync(t *testing.T) {
	ns := newNS(t)
	link(t, ns, "xe-3-1-0.0", "10.1.0.1/24")
	r := New(Options{})
	_, err := r.SetInterface("xe-3/1/0.0", pfx("10.1.0.1/24"), time.Now())
	require.NoError(t, err)
	f, stop := startFollower(t, FollowerConfig{Table: 200, NetNS: "/var/run/netns/" + ns, Queue: 2})
	defer stop()
	o := &owner{t: t, r: r, f: f}
	o.until("the first dump", func() bool { return f.Stats().Resyncs > 0 })

	var batch []string
	for i := 0; i < 300; i++ {
		batch = append(batch, fmt.Sprintf("route add 10.%d.%d.0/24 via 10.1.0.2 table 200", 100+i/256, i%256))
	}
	for i := 0; i < 100; i++ { // and delete a third of them again
		batch = append(batch, fmt.Sprintf("route del 10.%d.%d.0/24 table 200", 100+i/256, i%256))
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(batch, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Now drain: the imported routes converge on the table's 200.
	// (Once the last add is in, the count only falls, and reaches 200
	// with the last delete.)
	o.until("200 imported routes", func() bool {
		_, last := r.RPF(ip("10.101.43.1"))
		return last && r.KernelRoutes() == 200
	})
	for i := 0; i < 300; i++ {
		_, ok := r.RPF(ip(fmt.Sprintf("10.%d.%d.1", 100+i/256, i%256)))
		require.Equal(t, i >= 100, ok, i)
	}
	st := f.Stats()
	require.NotZero(t, st.Overflows)
	require.GreaterOrEqual(t, st.Resyncs, uint64(2))
	t.Logf("follower stats after a 400-event burst into a 2-slot queue: %+v", st)
}

func TestFollowerConfig(t *testing.T) {
	for _, table := range []int{-1, 255} {
		_, err := NewFollower(FollowerConfig{Table: table})
		require.ErrorIs(t, err, ErrInvalid)
	}
	f, err := NewFollower(FollowerConfig{})
	require.NoError(t, err)
	require.Equal(t, TableMain, f.cfg.Table)
	// A namespace that does not exist: Run fails at once.
	f, err = NewFollower(FollowerConfig{NetNS: "/var/run/netns/mxrib-does-not-exist"})
	require.NoError(t, err)
	require.Error(t, f.Run(context.Background()))
	_, open := <-f.Updates()
	require.False(t, open)
}
