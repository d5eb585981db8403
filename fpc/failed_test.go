package fpc

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/ipc"
)

func mdiscard(i int) hal.Op {
	key := hal.SG(netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), netip.AddrFrom4([4]byte{232, 9, 0, byte(i)}))
	return hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: key, NH: hal.NHMDiscardID, RPF: haltest.IFLUpstream, Flags: hal.RouteFlagsMDiscard}}
}

func del(op hal.Op) hal.Op {
	return hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: op.Route.Key}}
}

// A set the driver refuses is not in the card's state; it is retried
// once a delete frees space, and reported to the RE, then cleared.
func TestFailedSetIsNotPresentAndIsRetried(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 3, RE: "127.0.0.1:1", DriverName: "fake", NewDriver: haltest.NewFakeDriver})
	require.NoError(t, err)
	defer rt.Driver().Close()
	ctx := context.Background()
	rt.applyOps(ctx, haltest.TopologyOps(), false)
	fake := rt.Driver().(*haltest.Fake)

	// A table with room for two more routes (the hook runs under the
	// fake's lock: it counts for itself).
	var mu sync.Mutex
	have := map[hal.RouteKey]bool{}
	fake.FailOp(func(_ int, op hal.Op) error {
		if k := op.Route.Key; (op.Kind != hal.OpSetRoute && op.Kind != hal.OpDelRoute) || !k.IsSG() || k.Group.As4()[1] != 9 {
			return nil // the topology's own routes
		}
		mu.Lock()
		defer mu.Unlock()
		switch op.Kind {
		case hal.OpSetRoute:
			if !have[op.Route.Key] && len(have) >= 2 {
				return hal.ErrTableFull
			}
			have[op.Route.Key] = true
		case hal.OpDelRoute:
			delete(have, op.Route.Key)
		}
		return nil
	})
	a, b, c := mdiscard(1), mdiscard(2), mdiscard(3)
	applied := rt.applyOps(ctx, []hal.Op{a, b, c}, false)
	require.Equal(t, 2, applied)
	_, err = rt.Driver().Route(c.Route.Key)
	require.ErrorIs(t, err, hal.ErrNotFound)
	rt.mu.Lock()
	_, inShadow := rt.shadow.routes[c.Route.Key]
	rt.mu.Unlock()
	assert.False(t, inShadow, "a failed set is not marked present")
	require.Equal(t, 1, rt.failedCount())
	fo := rt.FailedOps()
	require.Len(t, fo, 1)
	assert.Contains(t, fo[0].Object, "set-route 232.9.0.3.10.9.0.3/64")
	assert.Contains(t, fo[0].Error, "table full")

	// Reports: the failure goes to the session once.
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	sess := ipc.NewSession(c1, ipc.SessionConfig{})
	msgs := rt.takeReports(sess, 10)
	require.Len(t, msgs, 1)
	rep := msgs[0].(*ipc.ApplyError)
	assert.Equal(t, ipc.ClassTableFull, rep.Class)
	assert.Equal(t, c.Route.Key, rep.Key)
	assert.EqualValues(t, 1, rep.Failed)
	assert.Empty(t, rt.takeReports(sess, 10), "reported once")

	// A retry against the still-full table changes nothing.
	rt.retryFailed(ctx)
	require.Equal(t, 1, rt.failedCount())

	// A delete frees a place: the retry programs the failed route.
	rt.applyOps(ctx, []hal.Op{del(a)}, false)
	rt.retryFailed(ctx)
	require.Zero(t, rt.failedCount())
	_, err = rt.Driver().Route(c.Route.Key)
	require.NoError(t, err)
	rt.mu.Lock()
	_, inShadow = rt.shadow.routes[c.Route.Key]
	rt.mu.Unlock()
	assert.True(t, inShadow)
	msgs = rt.takeReports(sess, 10)
	require.Len(t, msgs, 1)
	assert.Equal(t, ipc.ClassCleared, msgs[0].(*ipc.ApplyError).Class, "the end of the failure is reported")

	// Another failure, reported on the session; a new session gets it
	// again (the RE forgot the old session's reports).
	d := mdiscard(4)
	require.Zero(t, rt.applyOps(ctx, []hal.Op{d}, false))
	require.Len(t, rt.takeReports(sess, 10), 1)
	sess2 := ipc.NewSession(c2, ipc.SessionConfig{})
	require.Len(t, rt.takeReports(sess2, 10), 1)

	// A resync that no longer mentions it drops it (the RE does not want
	// it any more), and says so.
	rt.control(ctx, item{kind: itemResyncBegin, gen: 2})
	rt.applyOps(ctx, append(haltest.TopologyOps(), b, c), false)
	rt.control(ctx, item{kind: itemResyncEnd, gen: 2})
	require.Zero(t, rt.failedCount(), "%v", rt.FailedOps())
	msgs = rt.takeReports(sess2, 10)
	require.Len(t, msgs, 1)
	assert.Equal(t, ipc.ClassCleared, msgs[0].(*ipc.ApplyError).Class)
	assert.Equal(t, d.Route.Key, msgs[0].(*ipc.ApplyError).Key)
}

// A delete of an object whose set failed (it is not there) ends the
// failure without an error.
func TestDeleteOfFailedObject(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 3, RE: "127.0.0.1:1", DriverName: "fake", NewDriver: haltest.NewFakeDriver})
	require.NoError(t, err)
	defer rt.Driver().Close()
	ctx := context.Background()
	rt.applyOps(ctx, haltest.TopologyOps(), false)
	fake := rt.Driver().(*haltest.Fake)
	fake.FailOp(func(_ int, op hal.Op) error {
		if op.Kind == hal.OpSetRoute {
			return hal.ErrTableFull
		}
		return nil
	})
	a := mdiscard(1)
	rt.applyOps(ctx, []hal.Op{a}, false)
	require.Equal(t, 1, rt.failedCount())
	failedBefore := rt.stats.OpsFailed.Load()
	rt.applyOps(ctx, []hal.Op{del(a)}, false)
	assert.Zero(t, rt.failedCount())
	assert.Equal(t, failedBefore+1, rt.stats.OpsFailed.Load(), "the driver said not found; counted, not kept")
}

// A trap the card has, whose change fails during a resync, stays: the
// resync's sweep does not delete the old trap while the new one waits for
// a retry.
func TestFailedTrapChangeSurvivesResync(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 3, RE: "127.0.0.1:1", DriverName: "fake", NewDriver: haltest.NewFakeDriver})
	require.NoError(t, err)
	defer rt.Driver().Close()
	ctx := context.Background()
	rt.applyOps(ctx, haltest.TopologyOps(), false)
	rt.applyOps(ctx, haltest.TrapOps(), false)
	fake := rt.Driver().(*haltest.Fake)
	require.Len(t, fake.Traps(), len(haltest.Traps()))

	rt.control(ctx, item{kind: itemResyncBegin, gen: 2})
	rt.applyOps(ctx, haltest.TopologyOps(), false)
	fake.FailOp(func(_ int, op hal.Op) error {
		if op.Kind == hal.OpSetTrap && op.Trap.ID == haltest.TrapPIM {
			return hal.ErrTableFull
		}
		return nil
	})
	changed := haltest.TrapOps()
	for i := range changed {
		if changed[i].Trap.ID == haltest.TrapPIM {
			changed[i].Trap.Proto = 89 // same id, a change the driver refuses
		}
	}
	rt.applyOps(ctx, changed, false)
	require.Equal(t, 1, rt.failedCount())
	rt.control(ctx, item{kind: itemResyncEnd, gen: 2})
	assert.Len(t, fake.Traps(), len(haltest.Traps()), "the old PIM trap is kept, not swept")
	assert.Equal(t, 1, rt.failedCount(), "the change waits for a retry")
}
