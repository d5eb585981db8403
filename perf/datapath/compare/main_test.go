package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func line(router string, n, size int, offered, in, out, ns float64, rcv ...float64) string {
	r := "{"
	for i, v := range rcv {
		if i > 0 {
			r += ","
		}
		r += fmt.Sprintf(`"ns:rcv%d":%g`, i, v)
	}
	r += "}"
	return fmt.Sprintf(`{"router":%q,"n":%d,"size":%d,"dur_s":5,"offered_pps":%g,"in_rx_pps":%g,"total_out_pps":%g,"ns_per_out_pkt":%g,"rtr_cpu_busy_pct":99,"rcv_rx_pps":%s}`,
		router, n, size, offered, in, out, ns, r)
}

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"router":"off","n":1,"size":64,"offered_pps":700000,"in_rx_pps":700000,"total_out_pps":0,"ns_per_out_pkt":null,"rcv_rx_pps":{}}`,
		line("nftdup", 4, 64, 400000, 300000, 1200000, 800, 300000, 300000, 300000, 300000),
		line("nftdup", 4, 64, 400000, 310000, 1240000, 780, 310000, 310000, 310000, 310000),
		line("nftdup", 4, 64, 400000, 290000, 1160000, 820, 290000, 290000, 290000, 290000),
		line("xdp", 4, 64, 450000, 450000, 1800000, 400, 450000, 450000, 450000, 450000),
		line("xdp", 8, 64, 250000, 250000, 2000000, 500, 250000, 250000, 250000, 250000, 250000, 250000, 250000, 250000),
		line("nftdup", 8, 64, 250000, 200000, 1600000, 600, 200000, 200000, 200000, 200000, 200000, 200000, 200000, 200000),
	}, "\n")
	pts, err := parsePoints(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, pts, 6, "the generator ceiling is left out")
	cells := aggregate(pts)
	c := cells[key{64, 4, "nftdup"}]
	require.NotNil(t, c)
	assert.Equal(t, 1200000.0, c.copies.med)
	assert.Equal(t, 1160000.0, c.copies.lo)
	assert.InDelta(t, 25.0, cells[key{64, 4, "nftdup"}].lossPct.med, 0.01, "N x offered = 1.6M, received 1.2M")
	assert.Zero(t, cells[key{64, 4, "xdp"}].lossPct.med)

	var b strings.Builder
	report(&b, cells, []loss{
		{Router: "xdp", N: 4, Size: 64, Rate: 225000, MaxRate: 450000, Sent: 1000, Received: []int64{1000, 1000, 1000, 1000}},
		{Router: "xdp", N: 4, Size: 64, Rate: 225000, MaxRate: 450000, Sent: 1000, Received: []int64{999, 1000, 1000, 1000}, RinRx: 1000, SoftnetDrops: 1},
	})
	out := b.String()
	assert.Contains(t, out, "| 4 | xdp | 450 | 1800 [1800-1800] | 400 [400-400] | 0.00 [0.00-0.00] | 1.50 | 0.50 |")
	assert.Contains(t, out, "N=4/64B 1.50x, N=8/64B 1.25x | **no**", "1.25x at N=8 misses 1.4x")
	assert.Contains(t, out, "N=4/64B 0.50x, N=8/64B 0.83x | **no**")
	assert.Contains(t, out, "no ipmr in this kernel")
	assert.Contains(t, out, "0 of 4000 copies lost | yes |")
	assert.Contains(t, out, "1 of 4000 copies lost (router input took 1000; input backlogs refused 1")

	dir := t.TempDir()
	require.NoError(t, writePlots(dir, cells))
	for _, f := range []string{"copies_64.png", "ns_per_copy_64.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.NotZero(t, st.Size())
	}
}

func TestParseRejectsBadLines(t *testing.T) {
	_, err := parsePoints(strings.NewReader("{\"router\":\"x\"}\nnot json\n"))
	assert.ErrorContains(t, err, "line 2")
}
