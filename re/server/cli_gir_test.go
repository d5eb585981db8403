package server

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/gir"
)

// The GIR commands through the CLI: a request announces a removal window
// (shown with its timers, in text and JSON), a disable an insertion, the
// counters appear in `show pim statistics`, and a disable while not in
// maintenance is refused.
func TestCLIPIMMaintenance(t *testing.T) {
	s, _ := startServer(t, `set interfaces xe-3/0/0 unit 0 family inet address 10.1.0.1/24
set interfaces lo0 unit 0 family inet address 10.255.0.1/32
set protocols pim interface xe-3/0/0.0
set protocols pim graceful-insertion-removal tlv-type 31000
`)
	out := runCLI(t, s, "show pim maintenance")
	require.Contains(t, out, "PFM GIR TLV type 31000, originator 10.255.0.1")
	require.Contains(t, out, "Local mode: normal")
	require.Contains(t, out, "Graceful RPF change: inactive")

	var b bytes.Buffer
	err := s.CLI().Run(context.Background(), "request pim maintenance disable", &b)
	require.ErrorIs(t, err, gir.ErrNotInMaintenance)

	out = runCLI(t, s, "request pim maintenance enable start 30 stop 600")
	require.Contains(t, out, "from 30s to 10m0s")
	out = runCLI(t, s, "show pim maintenance")
	require.Contains(t, out, "Local mode: removal, window pending (starts in 0:30, stops in 10:00), 1 announcements sent")
	var st gir.Status
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, s, "show pim maintenance | display json")), &st))
	require.Equal(t, "removal", st.Local.Mode)
	require.InDelta(t, 600.0, st.Local.WindowStop.Sub(st.Now).Seconds(), 2)
	require.Equal(t, uint64(1), st.Stats.Originated)

	out = runCLI(t, s, "request pim maintenance disable stop 0")
	require.Contains(t, out, "fully operational")
	// The 0/0 copy waits for RFC 8364's Min_PFM_Message_Gap (1 s).
	var stats struct {
		GIR gir.Stats `json:"gir"`
	}
	eventually(t, "the fully-operational announcement", func() bool {
		require.NoError(t, json.Unmarshal([]byte(runCLI(t, s, "show pim statistics | display json")), &stats))
		return stats.GIR.Originated == 2
	})
	require.Equal(t, uint64(1), stats.GIR.RateLimited)
	out = runCLI(t, s, "show pim statistics")
	require.Contains(t, out, "Graceful insertion and removal (PFM):")
	require.Contains(t, out, "Originated 2, received 0")

	err = s.CLI().Run(context.Background(), "request pim maintenance enable start 20 stop 10", &b)
	require.ErrorIs(t, err, gir.ErrInvalid)
	err = s.CLI().Run(context.Background(), "request pim maintenance enable start x", &b)
	require.ErrorContains(t, err, "expected seconds")
}
