package swpfe

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// syncEgress counts frames; Output may run on several goroutines.
type syncEgress struct{ frames atomic.Uint64 }

func (s *syncEgress) Output(_ hal.IFLIndex, frames [][]byte) { s.frames.Add(uint64(len(frames))) }

// TestConcurrentApplyAndInput forwards a flow whose route is never touched
// from two goroutines while Apply churns thousands of other routes (table
// growth, tombstones, rehashes) and the flow's composite. The flow must
// never miss its route (it would hit 224/4 and count Resolve), and every
// packet must be accounted for. Run with -race.
func TestConcurrentApplyAndInput(t *testing.T) {
	eg := &syncEgress{}
	d, err := NewDriver(hal.Config{Upcalls: nopUp{}, Egress: eg})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Apply(t.Context(), benchTopology(4))
	require.NoError(t, err)
	second := hal.IFLIndex(2)
	_, err = d.Apply(t.Context(), []hal.Op{{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: second, Kind: hal.IFLPhysical, Up: true}}})
	require.NoError(t, err)

	// Workers send at least minPerWorker packets and keep going until the
	// writer has applied minBatches batches (with two rehashes or more).
	const minPerWorker, minBatches = 2000, 30
	var stop atomic.Bool
	var batches atomic.Int64
	var sent [2]uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		members := []hal.NHID{2000, 2001, 2002, 2003}
		for i := 0; !stop.Load(); i++ {
			ops := sgOps(i*500, 500)
			if i > 0 {
				for _, op := range sgOps((i-1)*500, 500) {
					ops = append(ops, hal.Op{Kind: hal.OpDelRoute, Route: op.Route})
				}
			}
			// Change the flow's composite between 4 and 2 members.
			ops = append(ops, hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: benchComp, Type: hal.NHComposite, Members: members[:2+2*(i%2)]}})
			if _, err := d.Apply(t.Context(), ops); err != nil {
				t.Errorf("apply: %v", err)
				return
			}
			batches.Add(1)
		}
	}()
	frame := haltest.FrameOfLen(benchSource, benchGroup, 64, 64)
	// Worker 0 sends on the RPF ingress, worker 1 on another IFL without
	// RPF match: every one of its packets must fail RPF, never NoRoute.
	var workers sync.WaitGroup
	for w, ingress := range []hal.IFLIndex{benchIngress, second} {
		workers.Add(1)
		go func() {
			defer workers.Done()
			wk := d.NewWorker()
			frames := [][]byte{frame, frame, frame, frame}
			for sent[w] < minPerWorker || batches.Load() < minBatches {
				if err := wk.Forward(ingress, frames, d.tx); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				sent[w] += uint64(len(frames))
			}
		}()
	}
	// The writer runs until both workers are done.
	workers.Wait()
	stop.Store(true)
	wg.Wait()

	c0, err := d.IFLCounters(benchIngress)
	require.NoError(t, err)
	assert.Equal(t, sent[0], c0.RxPackets)
	assert.Zero(t, c0.Resolve, "stable route missed")
	assert.Zero(t, c0.NoRoute)
	assert.Zero(t, c0.RPFFail)
	c1, err := d.IFLCounters(second)
	require.NoError(t, err)
	assert.Equal(t, sent[1], c1.RPFFail)
	// Every packet from the RPF ingress made 2 or 4 copies.
	got := eg.frames.Load()
	assert.GreaterOrEqual(t, got, 2*sent[0])
	assert.LessOrEqual(t, got, 4*sent[0])
	t.Logf("%d batches applied while forwarding %d packets", batches.Load(), sent[0]+sent[1])
	r, err := d.Lookup(benchSource, benchGroup)
	require.NoError(t, err)
	assert.Equal(t, hal.SG(benchSource, benchGroup), r.Key)
}

// TestTableGrowthAndTombstones checks the hash table through growth and
// heavy delete/insert churn against a map.
func TestTableGrowthAndTombstones(t *testing.T) {
	var f sgFIB
	f.init()
	ref := map[uint64]*routeEntry{}
	key := func(i int) uint64 { return uint64(0xe8000000|i%4096)<<32 | uint64(0x0a000000|i/4096) }
	for round := range 4 {
		for i := range 20000 {
			k := key(i + round*7919)
			if e := f.find(k); e != nil {
				f.remove(k)
				delete(ref, k)
				continue
			}
			e := &routeEntry{key: k, plen: 64}
			f.insert(e)
			ref[k] = e
		}
		require.Equal(t, len(ref), f.live)
		for k, e := range ref {
			require.Same(t, e, f.find(k))
		}
		n := 0
		f.walk(func(e *routeEntry) bool { n++; require.Same(t, ref[e.key], e); return true })
		require.Equal(t, len(ref), n)
	}
	assert.Nil(t, f.find(key(999999)))
}

// TestCloseWhileForwarding closes the driver under traffic: Forward either
// completes or returns ErrClosed, and nothing races (run with -race).
func TestCloseWhileForwarding(t *testing.T) {
	d, err := NewDriver(hal.Config{Upcalls: nopUp{}, Egress: &syncEgress{}})
	require.NoError(t, err)
	_, err = d.Apply(t.Context(), benchTopology(4))
	require.NoError(t, err)
	f := haltest.FrameOfLen(benchSource, benchGroup, 64, 64)
	frames := [][]byte{f, f, f, f}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := d.Input(benchIngress, frames); err != nil {
					assert.ErrorIs(t, err, hal.ErrClosed)
					return
				}
				_, _ = d.Lookup(benchSource, benchGroup)
			}
		}()
	}
	_, err = d.Apply(t.Context(), sgOps(0, 5000))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	wg.Wait()
	require.NoError(t, d.Close(), "second Close")
}
