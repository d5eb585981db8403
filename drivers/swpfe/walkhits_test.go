package swpfe_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// WalkHits visits only the routes hit at or after the given time.
func TestWalkHits(t *testing.T) {
	clk := time.Unix(1_000_000, 0)
	rec := haltest.NewRecorder()
	d := newTestDriver(t, hal.Config{Logger: nil, Upcalls: rec, Egress: rec, Now: func() time.Time { return clk }})
	defer d.Close()
	_, err := d.Apply(t.Context(), haltest.TopologyOps())
	require.NoError(t, err)
	hw := d.(hal.HitWalker)
	visit := func(since time.Time) []hal.RouteKey {
		var keys []hal.RouteKey
		hw.WalkHits(since, func(r hal.Route, st hal.RouteStat) bool {
			require.Equal(t, r.Key, st.Key)
			keys = append(keys, r.Key)
			return true
		})
		return keys
	}
	require.Empty(t, visit(time.Unix(1, 0)), "nothing hit yet")
	f := haltest.Frame(haltest.Source, haltest.Group, 64, 10, nil)
	require.NoError(t, d.Input(haltest.IFLUpstream, [][]byte{f}))
	require.Equal(t, []hal.RouteKey{hal.SG(haltest.Source, haltest.Group)}, visit(clk))
	clk = clk.Add(time.Minute)
	require.Empty(t, visit(clk), "no hit since")
	m := haltest.Frame(haltest.Source, haltest.GroupMDisc, 64, 10, nil)
	require.NoError(t, d.Input(haltest.IFLUpstream, [][]byte{m}))
	require.Equal(t, []hal.RouteKey{hal.SG(haltest.Source, haltest.GroupMDisc)}, visit(clk))
}
