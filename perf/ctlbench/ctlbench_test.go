package ctlbench_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/perf/ctlbench"
)

// TestEndToEnd runs the RE + FPC benchmarks at a tiny size and checks that
// they measured what they claim: every route on the PFE, every resolve
// answered.
func TestEndToEnd(t *testing.T) {
	inst, err := ctlbench.Install(t.Context(), []int{200, 400})
	require.NoError(t, err)
	assert.Equal(t, 400.0, inst.Metrics["routes"])
	assert.Positive(t, inst.Metrics["routes_per_s"])
	require.Len(t, inst.Series, 2)
	assert.Equal(t, 200.0, inst.Series[0].X)

	res, err := ctlbench.Resolve(t.Context(), 300, 100, 2000)
	require.NoError(t, err)
	assert.Zero(t, res.Metrics["unresolved"])
	assert.Positive(t, res.Metrics["resolves_per_s"])
	assert.Positive(t, res.Metrics["lat_p99_us"])
	assert.Less(t, res.Metrics["lat_p50_us"], float64(time.Second.Microseconds()))
}

func TestDedupMakesOneNHPerOIL(t *testing.T) {
	res, err := ctlbench.Dedup(1000)
	require.NoError(t, err)
	assert.Equal(t, 136.0, res.Metrics["oil_nhs"])
}
