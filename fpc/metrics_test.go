package fpc

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestCollectors(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 0, RE: "127.0.0.1:1", DriverName: "trio", NewDriver: trio.New})
	require.NoError(t, err)
	defer rt.Driver().Close()
	rt.applyOps(context.Background(), haltest.TopologyOps(), false)
	f := BuildFrame(haltest.Source, haltest.Group, 64, 64, 1)
	require.NoError(t, rt.Driver().Input(haltest.IFLUpstream, [][]byte{f, f}))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rt.Collector(), rt.DriverCollector())
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Greater(t, n, 10)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mxfwd_trio_pfe_ingress_packets_total Packets received on the PFE's ports.
# TYPE mxfwd_trio_pfe_ingress_packets_total counter
mxfwd_trio_pfe_ingress_packets_total{pfe="0"} 2
mxfwd_trio_pfe_ingress_packets_total{pfe="15"} 0
mxfwd_trio_pfe_ingress_packets_total{pfe="8"} 0
`), "mxfwd_trio_pfe_ingress_packets_total"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mxfwd_fpc_objects Objects installed in the PFE.
# TYPE mxfwd_fpc_objects gauge
mxfwd_fpc_objects{kind="ifl",slot="0"} 8
mxfwd_fpc_objects{kind="nexthop",slot="0"} 8
mxfwd_fpc_objects{kind="route",slot="0"} 3
`), "mxfwd_fpc_objects"))
}
