package pim

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFloodingQueries(t *testing.T) {
	f := newFx(t, nil)
	t.Run("neighbours: on their interface only, and gone with the interface", func(t *testing.T) {
		require.True(t, f.e.IsNeighbor(1, fxU))
		require.False(t, f.e.IsNeighbor(2, fxU), "U is on if1")
		require.False(t, f.e.IsNeighbor(1, a("10.1.0.99")))
		require.Equal(t, []IfIndex{1, 2, 3}, f.e.NeighborInterfaces(), "if4 has none")
		require.True(t, f.e.HasNeighborOtherThan(1, fxU), "U2 is on the LAN too")
		require.False(t, f.e.HasNeighborOtherThan(3, fxD3), "a point-to-point link")
		require.False(t, f.e.HasNeighborOtherThan(4, fxD3))
		f.do(InterfaceDown{If: 3})
		require.False(t, f.e.IsNeighbor(3, fxD3))
		require.Equal(t, []IfIndex{1, 2}, f.e.NeighborInterfaces())
	})
	t.Run("source state by prefix", func(t *testing.T) {
		f := newFx(t, nil)
		require.False(t, f.e.HasSourceState(netip.MustParsePrefix("10.9.0.0/16")))
		require.Empty(t, f.e.Sources())
		sgJoined(f)
		require.True(t, f.e.HasSourceState(netip.MustParsePrefix("10.9.0.0/16")))
		require.True(t, f.e.HasSourceState(netip.PrefixFrom(fxS, 32)))
		require.False(t, f.e.HasSourceState(netip.MustParsePrefix("10.8.0.0/16")))
		require.Equal(t, []netip.Addr{fxS}, f.e.Sources())
	})
}
