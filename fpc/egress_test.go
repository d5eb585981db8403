package fpc

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestEgressSinkSeparatesControlFrames(t *testing.T) {
	e := newEgressSink()
	data := haltest.BuildFrame(haltest.FrameSpec{Source: netip.MustParseAddr("10.0.0.1"), Group: netip.MustParseAddr("232.1.1.1"), TTL: 64, Payload: 20})
	pim := haltest.BuildFrame(haltest.FrameSpec{Source: netip.MustParseAddr("10.0.0.1"), Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: 103, Payload: 20})
	igmp := haltest.BuildFrame(haltest.FrameSpec{Source: netip.MustParseAddr("10.0.0.1"), Group: netip.MustParseAddr("232.1.1.1"), TTL: 1, Proto: 2, Payload: 8})
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	e.Output(395, [][]byte{data, pim, igmp, arp, data})
	got := e.snapshot()
	require.Len(t, got, 1)
	require.EqualValues(t, 2, got[0].Packets)
	require.EqualValues(t, 2*len(data), got[0].Bytes)
	require.EqualValues(t, 3, got[0].Control)
}
