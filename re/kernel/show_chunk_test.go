package kernel

import (
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func joinMany(t *testing.T, k *Kernel, n int) {
	t.Helper()
	js := make([]Join, n)
	for i := range js {
		js[i] = Join{Source: seedS, Group: netip.AddrFrom4([4]byte{232, 50, byte(i >> 8), byte(i)}), Upstream: "ae90.0", Downstream: []string{"ae91.0"}}
	}
	require.NoError(t, k.JoinBatch(js))
}

// blockingWriter blocks its first Write until released.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
	sb      strings.Builder
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	if w.n.Add(1) == 1 {
		close(w.entered)
		<-w.release
	}
	return w.sb.Write(b)
}

// The big tables are rendered without the kernel's lock: a change goes
// through while a reader is stuck in a write, and the chunked output is
// the whole table.
func TestShowDoesNotHoldTheLockWhileWriting(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	joinMany(t, k, 3*ShowChunk+10)
	for name, show := range map[string]func(w *blockingWriter) error{
		"show route table inet.1 detail": func(w *blockingWriter) error { return k.ShowRouteTable(w, true) },
		"show multicast route extensive": func(w *blockingWriter) error { return k.ShowRoute(w, netip.Addr{}, false, true) },
	} {
		t.Run(name, func(t *testing.T) {
			w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- show(w) }()
			<-w.entered
			changed := make(chan struct{})
			go func() {
				_ = k.Join(Join{Source: seedS, Group: netip.MustParseAddr("232.99.0.1"), Upstream: "ae90.0", Downstream: []string{"ae91.0"}})
				close(changed)
			}()
			select {
			case <-changed:
			case <-time.After(30 * time.Second): // a deadline, not a timing assertion
				t.Fatal("a join waited for a CLI client's write: the lock is held while writing")
			}
			close(w.release)
			require.NoError(t, <-done)
		})
	}

	// Chunked output is the table, as the one-piece renderers print it.
	var whole, chunked strings.Builder
	require.NoError(t, RenderRouteTable(&whole, k.RouteTable(), true))
	require.NoError(t, k.ShowRouteTable(&chunked, true))
	assert.Equal(t, whole.String(), chunked.String())
	whole.Reset()
	chunked.Reset()
	require.NoError(t, RenderRouteTable(&whole, k.RouteTable(), false))
	require.NoError(t, k.ShowRouteTable(&chunked, false))
	assert.Equal(t, whole.String(), chunked.String())
	whole.Reset()
	chunked.Reset()
	require.NoError(t, RenderRoutes(&whole, k.Routes(netip.Addr{}), true, true))
	require.NoError(t, k.ShowRoute(&chunked, netip.Addr{}, true, true))
	assert.Equal(t, whole.String(), chunked.String())
}

// failingWriter fails every write after the first limit bytes.
type failingWriter struct {
	limit, n, calls int
}

var errGone = errors.New("client gone")

func (w *failingWriter) Write(b []byte) (int, error) {
	w.calls++
	if w.n >= w.limit {
		return 0, errGone
	}
	w.n += len(b)
	return len(b), nil
}

// A write error ends the rendering: the rest of the table is not walked.
func TestShowStopsAtTheFirstWriteError(t *testing.T) {
	f := newFixture(t, Config{})
	joinMany(t, f.k, 20*ShowChunk)
	w := &failingWriter{limit: 1}
	err := f.k.ShowRouteTable(w, true)
	require.ErrorIs(t, err, errGone)
	assert.LessOrEqual(t, w.calls, 3, "writes after the error")
	w = &failingWriter{limit: 1}
	walked := 0
	err = f.k.ShowRouteAnnotated(w, netip.Addr{}, true, true, func(rs []MulticastRoute) { walked += len(rs) })
	require.ErrorIs(t, err, errGone)
	assert.Equal(t, ShowChunk, walked, "one chunk, then the walk stopped")
}
