package trio

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestMetricsFollowPFEStats(t *testing.T) {
	rec := haltest.NewRecorder()
	d := newTestDriver(t, rec, nil)
	require.Empty(t, d.Metrics(), "no traffic, no PFE rows")
	in, s, g := chainOIL(t, d, 0, []hal.PFEID{4, 5, 6})
	require.NoError(t, d.Input(in, [][]byte{haltest.Frame(s, g, 64, 10, nil)}))
	got := map[string]float64{}
	for _, m := range d.Metrics() {
		require.True(t, m.Counter)
		require.Equal(t, "pfe", m.Labels[0][0])
		if len(m.Labels) == 1 {
			got[m.Name+"/"+m.Labels[0][1]] = m.Value
		}
	}
	st, err := d.PFEStats(0)
	require.NoError(t, err)
	require.Equal(t, float64(st.FabricTx), got["mxfwd_trio_pfe_fabric_tx_total/0"])
	require.Equal(t, float64(2), got["mxfwd_trio_pfe_fabric_tx_total/0"], "binary root feeds two")
	require.Equal(t, float64(1), got["mxfwd_trio_pfe_fabric_rx_total/6"])
}
