package pim

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimshow"
)

// TestShowFromEngine renders every command from a live engine and checks
// that the data marshals to JSON (`| display json`).
func TestShowFromEngine(t *testing.T) {
	f := newFx(t, nil)
	starJoined(f)
	sgOnSPT(f)
	f.jp(2, fxD1, fxMe2, 210, fxG, js(sgSrc(fxS)), nil)
	f.adv(5 * time.Second)
	joins := f.e.ShowJoin(f.now, netip.Addr{})
	require.Len(t, joins, 2)
	require.Equal(t, "Join to RP", joins[0].UpstreamState)
	require.Equal(t, "10.1.0.2", joins[0].UpstreamNeighbor)
	require.Equal(t, []string{"sparse", "spt"}, joins[1].Flags)
	require.Equal(t, "Join to Source", joins[1].UpstreamState)
	require.Len(t, joins[1].Downstream, 2)
	var b strings.Builder
	pimshow.RenderJoin(&b, joins, true)
	require.Contains(t, b.String(), "            10.2.0.2 State: Join Flags: S Timeout: 205\n")
	require.Contains(t, b.String(), "    Keepalive timeout: 205\n")

	nbrs := f.e.ShowNeighbors(f.now)
	require.Len(t, nbrs, 4+5)
	ifs := f.e.ShowInterfaces(f.now)
	require.Equal(t, "DR,NotCap", ifs[3].State, "alone on if4")
	require.Equal(t, "NotDR,NotCap", ifs[0].State)
	require.Equal(t, 1, ifs[1].SGJoins)
	for _, v := range []any{joins, nbrs, ifs, f.e.ShowRPs(f.now), f.e.ShowBootstrap(f.now), f.e.Stats()} {
		_, err := json.Marshal(v)
		require.NoError(t, err)
	}
	b.Reset()
	pimshow.RenderStatistics(&b, f.e.Stats())
	require.Contains(t, b.String(), "PIM Message type       Received       Sent  Rx errors\n")
	require.Contains(t, b.String(), "V2 Join Prune ")
	b.Reset()
	pimshow.RenderNeighbors(&b, nbrs, true)
	require.Contains(t, b.String(), "Rx Join: Group           Source          Timeout")
	b.Reset()
	pimshow.RenderRPs(&b, f.e.ShowRPs(f.now), true)
	require.Contains(t, b.String(), "RP: 10.255.0.9\nLearned via: static configuration\n")
}
