package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// routeOp returns the last route download for key in ops.
func routeOp(ops []hal.Op, key hal.RouteKey) (hal.Route, bool) {
	var r hal.Route
	found := false
	for _, op := range ops {
		if op.Kind == hal.OpSetRoute && op.Route.Key == key {
			r, found = op.Route, true
		}
	}
	return r, found
}

// Contribution.AnyRPF: the route goes to the cards without an RPF check
// (RPF 0) while the entry keeps its upstream; clearing it restores the
// check; it survives export and import; wrong-interface reports cannot
// happen meanwhile (the cards accept everywhere).
func TestAnyRPF(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	sg := SGEntry(seedS, seedG)
	key := hal.SG(seedS, seedG)
	require.NoError(t, k.Update([]Change{{Owner: OwnerPIM, Entry: sg, Contribution: &Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0"}}}}))
	r, ok := routeOp(f.sink.take(), key)
	require.True(t, ok)
	up := ifIndexOf(t, k, "ae90.0")
	require.Equal(t, up, r.RPF)

	t.Run("any interface accepted, the upstream kept for display", func(t *testing.T) {
		require.NoError(t, k.Update([]Change{{Owner: OwnerPIM, Entry: sg, Contribution: &Contribution{RPF: "ae101.0", AnyRPF: true, Downstream: []string{"ae91.0"}}}}))
		ops := f.sink.take()
		r, ok := routeOp(ops, key)
		require.True(t, ok, "the route is downloaded again: %v", ops)
		require.Zero(t, r.RPF, "no RPF check")
		mr, ok := route(t, k, seedS, seedG)
		require.True(t, ok)
		require.Equal(t, "ae101.0", mr.Upstream)
		require.Equal(t, Contribution{RPF: "ae101.0", AnyRPF: true, Downstream: []string{"ae91.0"}}, k.Contributions(OwnerPIM)[sg])
		f.checkSnapshot(t)
	})
	t.Run("survives export and import", func(t *testing.T) {
		k2, _ := importInto(t, k.Export(), f.clock.Now)
		require.Equal(t, k.Snapshot(), k2.Snapshot())
		require.Equal(t, k.Export(), k2.Export())
	})
	t.Run("the same contribution again changes nothing", func(t *testing.T) {
		require.NoError(t, k.Update([]Change{{Owner: OwnerPIM, Entry: sg, Contribution: &Contribution{RPF: "ae101.0", AnyRPF: true, Downstream: []string{"ae91.0"}}}}))
		_, ok := routeOp(f.sink.take(), key)
		require.False(t, ok)
	})
	t.Run("cleared: the check is back on the upstream", func(t *testing.T) {
		require.NoError(t, k.Update([]Change{{Owner: OwnerPIM, Entry: sg, Contribution: &Contribution{RPF: "ae101.0", Downstream: []string{"ae91.0"}}}}))
		r, ok := routeOp(f.sink.take(), key)
		require.True(t, ok)
		require.Equal(t, ifIndexOf(t, k, "ae101.0"), r.RPF)
		f.checkSnapshot(t)
	})
}
