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
	// A trapped packet with no session: counted per class and outcome.
	_, err = rt.Driver().Apply(context.Background(), haltest.TrapOps())
	require.NoError(t, err)
	rt.applyOps(context.Background(), haltest.TrapOps(), false)
	require.NoError(t, rt.Driver().Input(haltest.IFLUpstream, [][]byte{pimHello(1)}))
	require.Equal(t, uint64(1), rt.HostPath().Total.NoSession)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rt.Collector(), rt.DriverCollector())
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Greater(t, n, 10)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mxfwd_trio_pfe_ingress_packets_total Packets received on the PFE's ports.
# TYPE mxfwd_trio_pfe_ingress_packets_total counter
mxfwd_trio_pfe_ingress_packets_total{pfe="0"} 3
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
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mxfwd_fpc_host_path_packets_total Packets the PFE punted, per trap class and outcome (sent to the RE or the drop reason).
# TYPE mxfwd_fpc_host_path_packets_total counter
mxfwd_fpc_host_path_packets_total{class="arp",outcome="card_limit",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="arp",outcome="lane_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="arp",outcome="no_session",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="arp",outcome="policed",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="arp",outcome="queue_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="arp",outcome="sent",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="card_limit",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="lane_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="no_session",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="policed",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="queue_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="group",outcome="sent",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="card_limit",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="lane_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="no_session",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="policed",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="queue_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="igmp",outcome="sent",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="card_limit",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="lane_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="no_session",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="policed",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="queue_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="local",outcome="sent",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="pim",outcome="card_limit",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="pim",outcome="lane_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="pim",outcome="no_session",slot="0"} 1
mxfwd_fpc_host_path_packets_total{class="pim",outcome="policed",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="pim",outcome="queue_full",slot="0"} 0
mxfwd_fpc_host_path_packets_total{class="pim",outcome="sent",slot="0"} 0
`), "mxfwd_fpc_host_path_packets_total"))
}
