package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// capture is a slog.Handler that keeps records.
type capture struct {
	mu   sync.Mutex
	recs []rec
}

type rec struct {
	msg   string
	attrs map[string]any
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	c.mu.Lock()
	c.recs = append(c.recs, rec{msg: r.Message, attrs: m})
	c.mu.Unlock()
	return nil
}

func (c *capture) take() []rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recs
	c.recs = nil
	return r
}

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time      { return f.t }
func (f *fakeClock) add(d time.Duration) { f.t = f.t.Add(d) }
func newFake() *fakeClock                { return &fakeClock{t: time.Unix(1000, 0)} }
func newLogger(c *capture, clk *fakeClock) *Logger {
	return New(slog.New(c), Config{Interval: time.Minute, MaxKeys: 4, Now: clk.now})
}

func TestOneRecordPerKeyPerInterval(t *testing.T) {
	c, clk := &capture{}, newFake()
	l := newLogger(c, clk)
	for range 1000 {
		l.Warn("fpc3/unexpected", "unexpected message", "slot", 3)
	}
	l.Warn("fpc4/unexpected", "unexpected message", "slot", 4)
	got := c.take()
	require.Len(t, got, 2, "one record per key")
	require.Equal(t, uint64(999), l.Suppressed())

	// Within the interval: still counted, not written.
	clk.add(59 * time.Second)
	l.Warn("fpc3/unexpected", "unexpected message", "slot", 3)
	require.Empty(t, c.take())

	// After it: one record that says how many were dropped.
	clk.add(time.Second)
	l.Warn("fpc3/unexpected", "unexpected message", "slot", 3)
	got = c.take()
	require.Len(t, got, 1)
	require.Equal(t, "unexpected message", got[0].msg)
	require.Equal(t, uint64(1000), got[0].attrs["suppressed"])
	require.EqualValues(t, 3, got[0].attrs["slot"])
}

func TestSweepSummarisesAQuietKey(t *testing.T) {
	c, clk := &capture{}, newFake()
	l := newLogger(c, clk)
	l.Warn("10.0.0.9", "no registration", "remote", "10.0.0.9:1")
	l.Warn("10.0.0.9", "no registration", "remote", "10.0.0.9:2")
	l.Warn("10.0.0.9", "no registration", "remote", "10.0.0.9:3")
	c.take()
	l.Sweep()
	require.Empty(t, c.take(), "the interval has not run out")
	clk.add(time.Minute)
	l.Sweep()
	got := c.take()
	require.Len(t, got, 1)
	require.Contains(t, got[0].msg, "summary")
	require.Equal(t, uint64(2), got[0].attrs["suppressed"])
	require.Equal(t, "10.0.0.9:3", got[0].attrs["remote"], "the last dropped record's attributes")
	// The key was forgotten: the next record is written at once.
	l.Warn("10.0.0.9", "no registration")
	require.Len(t, c.take(), 1)
}

func TestKeysAreBounded(t *testing.T) {
	c, clk := &capture{}, newFake()
	l := newLogger(c, clk)
	for i := range 100 {
		l.Warn(fmt.Sprintf("10.0.0.%d", i), "no registration")
	}
	got := c.take()
	// Four keys, then everything else shares the overflow key.
	require.Len(t, got, 5)
	require.Equal(t, "key table full", got[4].attrs["ratelog"])
	l.mu.Lock()
	n := len(l.keys)
	l.mu.Unlock()
	require.LessOrEqual(t, n, 5)
	clk.add(time.Minute)
	l.Sweep()
	got = c.take()
	require.Len(t, got, 1, "one summary, for the overflow key")
	require.Equal(t, uint64(95), got[0].attrs["suppressed"])
}

func TestDisabledLevelCostsNothing(t *testing.T) {
	l := New(slog.New(slog.NewTextHandler(nopWriter{}, &slog.HandlerOptions{Level: slog.LevelError})), Config{})
	require.False(t, l.Log(slog.LevelWarn, "k", "m"))
	require.Zero(t, l.Suppressed())
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestConcurrentUse(t *testing.T) {
	c := &capture{}
	l := New(slog.New(c), Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.Warn(fmt.Sprintf("k%d", (g+i)%16), "m")
				if i%100 == 0 {
					l.Sweep()
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, c.take(), 16, "one record per key")
	require.Equal(t, uint64(8000-16), l.Suppressed())
}
