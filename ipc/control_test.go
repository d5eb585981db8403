package ipc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/ipc/ipctest"
)

// A control message sent after a large bulk download was queued reaches
// the peer before the end of the download: the writer drains the control
// lane between chunks of the bulk queue.
func TestSendControlOvertakesBulk(t *testing.T) {
	const bulk = 300_000 // ~9 MB of route adds: tens of bulk chunks
	var (
		mu      sync.Mutex
		order   []bool // true: the inject
		release = make(chan struct{})
		first   sync.Once
	)
	handler := func(m ipc.Message) {
		// The peer is slow to start reading, so that the download is
		// queued on the sender when the inject is sent.
		first.Do(func() { <-release })
		_, inj := m.(*ipc.Inject)
		mu.Lock()
		order = append(order, inj)
		mu.Unlock()
	}
	p := ipctest.Pipe(t, ipc.SessionConfig{}, ipc.SessionConfig{Handler: handler})
	ctx := context.Background()
	sent := make(chan error, 1)
	go func() { sent <- p.A.Send(ctx, routeAdds(bulk)...) }()
	// Wait until the writer is blocked on the peer with bulk queued.
	require.Eventually(t, func() bool { return p.A.Stats().Queued > 0 }, waitFor, time.Millisecond)
	require.NoError(t, p.A.SendControl(ctx, &ipc.Inject{Egress: 410, Frame: []byte{1, 2, 3}}))
	close(release)
	require.NoError(t, <-sent)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == bulk+1
	}, waitFor, time.Millisecond)
	at := -1
	for i, inj := range order {
		if inj {
			at = i
		}
	}
	require.GreaterOrEqual(t, at, 0, "inject received")
	// Ahead of it: at most the frame the peer had read when it stalled
	// and the frame being written then (frames of 65536 route adds); the
	// rest of the download, queued, went after it.
	assert.LessOrEqual(t, at, 2*ipc.DefaultMaxMessages, "the inject overtook the queued download (received after %d of %d route adds)", at, bulk)
	st := p.A.Stats()
	assert.Equal(t, uint64(1), st.ControlOut)
	assert.Zero(t, st.ControlDrops)
}

// A full control lane refuses at once (never blocks, never queues behind
// bulk) and counts the drops; invalid messages queue nothing.
func TestSendControlFull(t *testing.T) {
	block := make(chan struct{})
	p := ipctest.Pipe(t, ipc.SessionConfig{}, ipc.SessionConfig{Handler: func(ipc.Message) { <-block }})
	defer close(block)
	ctx := context.Background()
	frame := make([]byte, 1400)
	var err error
	n := 0
	for ; n < 5000; n++ {
		if err = p.A.SendControl(ctx, &ipc.Punt{Ingress: 331, Trap: 3, Frame: frame}); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ipc.ErrControlFull)
	assert.Less(t, n, 5000)
	st := p.A.Stats()
	assert.Equal(t, uint64(1), st.ControlDrops)
	err = p.A.SendControl(ctx, &ipc.Punt{Frame: make([]byte, 70000)})
	assert.ErrorIs(t, err, ipc.ErrInvalidMessage)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, p.A.SendControl(cctx, &ipc.LinkState{IFL: 1}), context.Canceled)
}

// Control messages keep their order among themselves and arrive intact.
func TestSendControlOrder(t *testing.T) {
	in := ipctest.NewInbox(1000)
	p := ipctest.Pipe(t, ipc.SessionConfig{}, ipc.SessionConfig{Handler: in.Handler})
	ctx := context.Background()
	var want []ipc.Message
	for i := range 300 {
		m := &ipc.LinkState{IFL: 1, Up: i%2 == 0}
		want = append(want, m)
		require.NoError(t, p.A.SendControl(ctx, m))
	}
	assert.Equal(t, want, receive(t, in, len(want)))
	require.NoError(t, p.A.Send(ctx, routeAdds(3)...))
	assert.Len(t, receive(t, in, 3), 3)
}
