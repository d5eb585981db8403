package engine

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/re/kernel"
)

var t0 = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func newKernel(t testing.TB, clk clock.Clock) *kernel.Kernel {
	k := kernel.New(kernel.Config{Now: clk.Now, CacheTimeout: 10 * time.Second})
	_, err := k.SetInterfaces([]kernel.Interface{{Name: "xe-3/0/0.0", Index: 331}, {Name: "xe-3/1/0.0", Index: 332}})
	require.NoError(t, err)
	return k
}

func start(t testing.TB, e *Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

func TestInputsEventsAndTimersOnOneLoop(t *testing.T) {
	clk := clock.NewFake(t0)
	k := newKernel(t, clk)
	e := New(Config{Kernel: k, Clock: clk})
	var mu sync.Mutex
	var got []kernel.Event
	e.Subscribe(func(evs []kernel.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, evs...)
	})
	start(t, e)
	s, g := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("232.1.1.1")
	require.True(t, e.Post(Input{Kind: InResolve, Slot: 3, Resolve: hal.ResolveRequest{Ingress: 331, Source: s, Group: g}}))
	// The input is handled on the loop (inputs and calls are separate
	// queues: a call may run first when both are ready).
	require.Eventually(t, func() bool {
		var routes int
		require.NoError(t, e.Do(context.Background(), func() error {
			routes = len(k.Routes(netip.Addr{}))
			return nil
		}))
		return routes == 1
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	}, 5*time.Second, time.Millisecond)
	mu.Lock()
	assert.Equal(t, kernel.EventNewSource, got[0].Kind)
	assert.Equal(t, "xe-3/0/0.0", got[0].Interface)
	mu.Unlock()

	// Timers run on the loop, in deadline order, driven by the fake clock;
	// the cache ages with the engine's tick.
	var order []int
	require.NoError(t, e.Do(context.Background(), func() error {
		e.AfterFunc(3*time.Second, func() { order = append(order, 3) })
		e.AfterFunc(time.Second, func() { order = append(order, 1) })
		stopped := e.AfterFunc(2*time.Second, func() { order = append(order, 2) })
		require.True(t, e.Stop(stopped))
		return nil
	}))
	for range 11 {
		clk.Advance(time.Second)
		require.NoError(t, e.Do(context.Background(), func() error { return nil }))
	}
	require.NoError(t, e.Do(context.Background(), func() error {
		assert.Equal(t, []int{1, 3}, order)
		assert.Empty(t, k.Routes(netip.Addr{}), "the mdiscard entry expired with the tick")
		return nil
	}))

	// A panicking call is an error, not a crash.
	err := e.Do(context.Background(), func() error { panic("boom") })
	require.ErrorContains(t, err, "internal error: boom")
	require.EqualValues(t, 1, e.Stats().Panics)
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	clk := clock.NewFake(t0)
	e := New(Config{Kernel: newKernel(t, clk), Clock: clk, Queue: 2})
	// Not running: the queue fills.
	require.True(t, e.Post(Input{Kind: InResolve}))
	require.True(t, e.Post(Input{Kind: InHit}))
	require.False(t, e.Post(Input{Kind: InResolve}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, e.PostWait(ctx, Input{Kind: InHit}), context.DeadlineExceeded)
	st := e.Stats()
	assert.EqualValues(t, 1, st.Dropped["resolve"])
	assert.EqualValues(t, 1, st.Dropped["hit"])
	assert.Equal(t, 2, st.QueueDepth)
}

func TestDoAfterStop(t *testing.T) {
	e := New(Config{Clock: clock.NewFake(t0)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	cancel()
	<-done
	err := e.Do(context.Background(), func() error { return nil })
	require.True(t, errors.Is(err, ErrStopped))
}

// BenchmarkEventDelivery measures resolve-to-protocol and activity events
// through the loop: inputs posted by another goroutine (a session reader),
// kernel work, and delivery to a subscribed protocol. It reports events/s
// and the inputs' queue wait.
func BenchmarkEventDelivery(b *testing.B) {
	for _, tc := range []struct {
		kind InputKind
		rate int // inputs/s offered; 0: as fast as possible
	}{{InResolve, 0}, {InHit, 0}, {InResolve, 100000}, {InHit, 100000}} {
		kind := tc.kind
		name := kind.String() + "/saturated"
		if tc.rate > 0 {
			name = kind.String() + "/offered-100k"
		}
		b.Run(name, func(b *testing.B) {
			k := kernel.New(kernel.Config{CacheTimeout: time.Hour})
			_, err := k.SetInterfaces([]kernel.Interface{{Name: "xe-3/0/0.0", Index: 331}, {Name: "xe-3/1/0.0", Index: 332}})
			require.NoError(b, err)
			e := New(Config{Kernel: k})
			var delivered atomic.Int64
			e.Subscribe(func(evs []kernel.Event) { delivered.Add(int64(len(evs))) })
			key := func(i int) (netip.Addr, netip.Addr) {
				return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), netip.AddrFrom4([4]byte{232, 1, byte(i >> 8), byte(i)})
			}
			if kind == InHit {
				var joins []kernel.Join
				for i := range 65536 {
					s, g := key(i)
					joins = append(joins, kernel.Join{Source: s, Group: g, Upstream: "xe-3/0/0.0", Downstream: []string{"xe-3/1/0.0"}})
				}
				require.NoError(b, k.JoinBatch(joins))
			}
			start(b, e)
			b.ResetTimer()
			began := time.Now()
			for i := range b.N {
				if tc.rate > 0 && i%100 == 0 {
					// Pace in bursts of 100: sleep until this burst is due.
					if d := time.Until(began.Add(time.Duration(i) * time.Second / time.Duration(tc.rate))); d > 0 {
						time.Sleep(d)
					}
				}
				s, g := key(i % 65536)
				in := Input{Kind: kind, Slot: 3}
				if kind == InResolve {
					s, g = key(i)
					in.Resolve = hal.ResolveRequest{Ingress: 331, Source: s, Group: g}
				} else {
					in.Hit = Hit{Key: hal.SG(s, g), Packets: 1, Bytes: 100}
				}
				if err := e.PostWait(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			for delivered.Load() < int64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			w := e.Stats().Wait["input"]
			b.ReportMetric(float64(w.P50.Microseconds()), "wait-p50-µs")
			b.ReportMetric(float64(w.P99.Microseconds()), "wait-p99-µs")
		})
	}
}
