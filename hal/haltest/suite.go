package haltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// NewDriverFunc builds the driver under test from the configuration the
// suite prepared (Upcalls and Egress are the suite's Recorder, Now its
// manual clock: drivers must stamp route LastUsed from cfg.Now). It may adjust cfg (e.g. bind cfg.Ports) and fail t. The
// suite closes the driver at the end of each subtest; a second Close by the
// caller must be harmless.
type NewDriverFunc func(t *testing.T, cfg hal.Config) hal.Driver

// Options adapt the conformance suite to drivers whose packet path is not
// purely in memory. The zero value suits swpfe, trio and Fake: frames are
// injected with Driver.Input and forwarded frames observed through
// cfg.Egress, synchronously.
type Options struct {
	// Send injects frames as if received on ingress. nil means
	// Driver.Input; if Input returns hal.ErrNotSupported the packet
	// subtests are skipped. A driver with real ports can instead write the
	// frames into the peer of the port bound to ingress. Send is called
	// from several goroutines at once by the concurrency subtest, so it
	// must be goroutine-safe and report failures with t.Error, not
	// t.Fatal.
	Send func(t *testing.T, d hal.Driver, ingress hal.IFLIndex, frames [][]byte)

	// NoEgress says forwarded frames leave through real ports rather than
	// cfg.Egress. Subtests that inspect forwarded frames then use Receive,
	// and are skipped when Receive is nil; drop subtests still check
	// counters and upcalls.
	NoEgress bool

	// Receive returns the frames that left any port of the topology since
	// its previous call, without blocking. Frames that do not parse as IPv4
	// from a 10/8 source (e.g. kernel chatter on veths) are ignored.
	Receive func(t *testing.T) []Output

	// Async says the packet path completes after Send returns (worker
	// goroutines, rings). The suite then polls for up to Timeout for
	// expected results and waits Settle before asserting that nothing more
	// arrived. Neither is a performance assertion.
	Async   bool
	Timeout time.Duration // default 2s
	Settle  time.Duration // default 100ms
}

// Run runs the conformance suite with default Options.
func Run(t *testing.T, newDriver NewDriverFunc) {
	RunWith(t, newDriver, Options{})
}

// Clock is a manual clock for hal.Config.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one driver under test with its recorder.
type env struct {
	t     *testing.T
	opts  Options
	d     hal.Driver
	rec   *Recorder
	clock *Clock
	seen  []Output // outputs collected through Receive
}

// suiteEpoch is the manual clock's start, any fixed non-zero instant.
var suiteEpoch = time.Date(2012, 12, 3, 18, 28, 0, 0, time.UTC)

func newEnv(t *testing.T, newDriver NewDriverFunc, opts Options) *env {
	t.Helper()
	e := &env{t: t, opts: opts, rec: NewRecorder(), clock: NewClock(suiteEpoch)}
	cfg := hal.Config{
		Slot:    3,
		Logger:  slog.New(slog.DiscardHandler),
		Upcalls: e.rec,
		Egress:  e.rec,
		Now:     e.clock.Now,
		Ports:   map[string]string{},
		Options: map[string]string{},
	}
	e.d = newDriver(t, cfg)
	require.NotNil(t, e.d, "newDriver returned nil")
	t.Cleanup(func() { _ = e.d.Close() })
	return e
}

func (e *env) apply(ops ...hal.Op) {
	e.t.Helper()
	n, err := e.d.Apply(context.Background(), ops)
	require.NoError(e.t, err)
	require.Equal(e.t, len(ops), n)
}

func (e *env) topology() *env {
	e.t.Helper()
	e.apply(TopologyOps()...)
	return e
}

// send injects frames; it skips the test if the driver cannot inject.
func (e *env) send(ingress hal.IFLIndex, frames ...[]byte) {
	e.t.Helper()
	if e.opts.Send != nil {
		e.opts.Send(e.t, e.d, ingress, frames)
		return
	}
	err := e.d.Input(ingress, frames)
	if errors.Is(err, hal.ErrNotSupported) {
		e.t.Skip("driver cannot inject frames (Input: ErrNotSupported) and Options.Send is nil")
	}
	require.NoError(e.t, err)
}

func (e *env) canObserveOutputs() bool { return !e.opts.NoEgress || e.opts.Receive != nil }

func (e *env) needOutputs() {
	e.t.Helper()
	if !e.canObserveOutputs() {
		e.t.Skip("driver has real ports and Options.Receive is nil")
	}
}

func (e *env) timeout() time.Duration {
	if e.opts.Timeout > 0 {
		return e.opts.Timeout
	}
	return 2 * time.Second
}

func (e *env) settle() {
	if !e.opts.Async {
		return
	}
	d := e.opts.Settle
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	time.Sleep(d)
}

// await returns cond() at once for synchronous drivers and polls it for up
// to the timeout for asynchronous ones.
func (e *env) await(cond func() bool) bool {
	if !e.opts.Async {
		return cond()
	}
	deadline := time.Now().Add(e.timeout())
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ours(o Output) bool {
	p, err := ParseFrame(o.Frame)
	if err != nil {
		return false
	}
	return p.Source.Is4() && p.Source.As4()[0] == 10
}

// outputs returns the forwarded frames observed so far (ours only).
func (e *env) outputs() []Output {
	var all []Output
	if e.opts.NoEgress {
		if e.opts.Receive != nil {
			e.seen = append(e.seen, e.opts.Receive(e.t)...)
		}
		all = e.seen
	} else {
		all = e.rec.Outputs()
	}
	return slices.DeleteFunc(slices.Clone(all), func(o Output) bool { return !ours(o) })
}

// collect waits for at least want outputs (asynchronous drivers), lets the
// path settle and returns all of them.
func (e *env) collect(want int) []Output {
	e.await(func() bool { return len(e.outputs()) >= want })
	e.settle()
	return e.outputs()
}

func (e *env) counters(idx hal.IFLIndex) hal.IFLCounters {
	e.t.Helper()
	c, err := e.d.IFLCounters(idx)
	require.NoError(e.t, err)
	return c
}

func (e *env) routeStat(k hal.RouteKey) (hal.RouteStat, bool) {
	var st hal.RouteStat
	found := false
	e.d.WalkRoutes(func(r hal.Route, s hal.RouteStat) bool {
		if r.Key == k {
			st, found = s, true
			return false
		}
		return true
	})
	return st, found
}

func setNH(nh hal.NextHop) hal.Op    { return hal.Op{Kind: hal.OpSetNH, NH: nh} }
func delNH(id hal.NHID) hal.Op       { return hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: id}} }
func setRoute(r hal.Route) hal.Op    { return hal.Op{Kind: hal.OpSetRoute, Route: r} }
func delRoute(k hal.RouteKey) hal.Op { return hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: k}} }
func delIFL(i hal.IFLIndex) hal.Op   { return hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: i}} }
func setIFL(i hal.IFL) hal.Op        { return hal.Op{Kind: hal.OpSetIFL, IFL: i} }
func setTrap(t hal.Trap) hal.Op      { return hal.Op{Kind: hal.OpSetTrap, Trap: t} }
func delTrap(id hal.TrapID) hal.Op   { return hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: id}} }

// RunWith runs the conformance suite: every subtest builds a fresh driver
// with newDriver, so subtests are independent. The suite never asserts
// timings.
func RunWith(t *testing.T, newDriver NewDriverFunc, opts Options) {
	mk := func(t *testing.T) *env { return newEnv(t, newDriver, opts) }

	t.Run("programming", func(t *testing.T) {
		t.Run("set is idempotent", func(t *testing.T) { testIdempotentSet(t, mk(t)) })
		t.Run("delete absent is ErrNotFound", func(t *testing.T) { testDeleteAbsent(t, mk(t)) })
		t.Run("batch partial failure", func(t *testing.T) { testPartialFailure(t, mk(t)) })
		t.Run("dependency errors", func(t *testing.T) { testDependencies(t, mk(t)) })
		t.Run("invalid objects", func(t *testing.T) { testInvalid(t, mk(t)) })
		t.Run("cancelled context", func(t *testing.T) { testCancelled(t, mk(t)) })
		t.Run("replace keeps working", func(t *testing.T) { testReplace(t, mk(t)) })
	})
	t.Run("read-back", func(t *testing.T) {
		t.Run("route nexthop ifl", func(t *testing.T) { testReadBack(t, mk(t)) })
		t.Run("lookup exact then longest prefix", func(t *testing.T) { testLookup(t, mk(t)) })
		t.Run("walk and summary", func(t *testing.T) { testWalkSummary(t, mk(t)) })
	})
	t.Run("packets", func(t *testing.T) {
		t.Run("forward to every OIL member once", func(t *testing.T) { testForward(t, mk(t)) })
		t.Run("aggregate member chosen by the LAG rule", func(t *testing.T) { testLAG(t, mk(t)) })
		t.Run("RPF failure raises wrong interface", func(t *testing.T) { testRPF(t, mk(t)) })
		t.Run("RPF accepts a member of the aggregate RPF IFL", func(t *testing.T) { testRPFAggregate(t, mk(t)) })
		t.Run("no (S,G) hits 224/4 resolve", func(t *testing.T) { testResolve(t, mk(t)) })
		t.Run("mdiscard drops silently", func(t *testing.T) { testMDiscard(t, mk(t)) })
		t.Run("TTL at most 1 is dropped", func(t *testing.T) { testTTL(t, mk(t)) })
		t.Run("control traffic is punted", func(t *testing.T) { testPunt(t, mk(t)) })
		t.Run("no route is counted", func(t *testing.T) { testNoRoute(t, mk(t)) })
		t.Run("malformed frames are counted", func(t *testing.T) { testMalformed(t, mk(t)) })
		t.Run("down ports count PortDown", func(t *testing.T) { testPortDown(t, mk(t)) })
		t.Run("counters and last used", func(t *testing.T) { testCounters(t, mk(t)) })
		t.Run("unknown ingress is ErrNotFound", func(t *testing.T) { testUnknownIngress(t, mk(t)) })
		t.Run("transmit sends unchanged", func(t *testing.T) { testTransmit(t, mk(t)) })
		t.Run("concurrent apply and input", func(t *testing.T) { testConcurrent(t, mk(t)) })
	})
	t.Run("host path", func(t *testing.T) { runHostPath(t, mk) })
	t.Run("close", func(t *testing.T) { testClose(t, mk(t)) })
	t.Run("no goroutine leak", func(t *testing.T) { testLeak(t, newDriver, opts) })
}

func testClose(t *testing.T, e *env) {
	e.topology()
	require.NoError(t, e.d.Close())
	f := [][]byte{Frame(Source, Group, 64, 10, nil)}
	_, err := e.d.Apply(context.Background(), TopologyOps())
	assert.ErrorIs(t, err, hal.ErrClosed, "Apply")
	if e.opts.Send == nil {
		assert.ErrorIs(t, e.d.Input(IFLUpstream, f), hal.ErrClosed, "Input")
	}
	assert.ErrorIs(t, e.d.Transmit(IFLDown, f), hal.ErrClosed, "Transmit")
	_, err = e.d.Route(hal.SG(Source, Group))
	assert.ErrorIs(t, err, hal.ErrClosed, "Route")
	_, err = e.d.Lookup(Source, Group)
	assert.ErrorIs(t, err, hal.ErrClosed, "Lookup")
	_, err = e.d.NextHop(NHComp)
	assert.ErrorIs(t, err, hal.ErrClosed, "NextHop")
	_, err = e.d.IFL(IFLDown)
	assert.ErrorIs(t, err, hal.ErrClosed, "IFL")
	_, err = e.d.IFLCounters(IFLDown)
	assert.ErrorIs(t, err, hal.ErrClosed, "IFLCounters")
	e.d.WalkRoutes(func(hal.Route, hal.RouteStat) bool {
		t.Error("WalkRoutes visited a route after Close")
		return false
	})
	_ = e.d.Summary() // must not panic
	if tun, ok := e.d.(hal.Tunable); ok {
		_ = tun.SetOption("resolve-rate", "66") // must not panic
	}
	err = e.d.Close()
	if err != nil {
		assert.ErrorIs(t, err, hal.ErrClosed, "second Close returns nil or ErrClosed")
	}
}

func testLeak(t *testing.T, newDriver NewDriverFunc, opts Options) {
	before := runtime.NumGoroutine()
	func() {
		// A nested test so that the driver's cleanups run before counting.
		t.Run("drive", func(t *testing.T) {
			e := newEnv(t, newDriver, opts)
			e.topology()
			e.send(IFLUpstream, Frame(Source, Group, 64, 10, nil), Frame(Source, GroupNoSG, 64, 10, nil))
			e.settle()
			require.NoError(t, e.d.Close())
		})
	}()
	// Goroutines may take a moment to observe Close: retry for a while.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, after, firstStacks(buf, 8))
	}
}

func firstStacks(b []byte, n int) string {
	parts := bytes.SplitN(b, []byte("\n\n"), n+1)
	if len(parts) > n {
		parts = parts[:n]
	}
	return fmt.Sprintf("%s", bytes.Join(parts, []byte("\n\n")))
}
