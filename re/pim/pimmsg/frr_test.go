package pimmsg_test

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

// frrPackets returns the IPv4 packets of testdata/pim-frr.pcap, FRR 8.4's
// PIM traffic captured by the interop harness (shared/interop/captures).
func frrPackets(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/pim-frr.pcap")
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Greater(t, len(data), 14)
		require.Equal(t, uint16(0x0800), binary.BigEndian.Uint16(data[12:14]), "ethertype IPv4")
		out = append(out, append([]byte{}, data[14:]...))
	}
	return out
}

// FRR's packets decode, their values are the ones tshark shows in
// shared/interop/captures/pim-frr.tshark.txt, and each one encodes back to
// the same bytes (FRR orders the Hello options as this codec does).
func TestFRRCapture(t *testing.T) {
	counts := map[pimmsg.Type]int{}
	for i, pkt := range frrPackets(t) {
		h, payload, err := pimmsg.ParseIPv4(pkt)
		require.NoError(t, err, "packet %d", i+1)
		m, err := pimmsg.Decode(payload)
		require.NoError(t, err, "packet %d", i+1)
		counts[m.Type()]++
		again, err := pimmsg.Marshal(m)
		require.NoError(t, err)
		require.Equal(t, payload, again, "packet %d (%v) re-encodes to FRR's bytes", i+1, m.Type())

		switch m := m.(type) {
		case *pimmsg.Hello:
			require.Equal(t, pimmsg.AllPIMRouters, h.Dst)
			require.Equal(t, uint8(1), h.TTL)
			require.True(t, m.HasHoldtime)
			require.Equal(t, uint16(105), m.Holdtime)
			require.Equal(t, &pimmsg.LANPruneDelay{PropagationDelay: 500, OverrideInterval: 2500}, m.LANPruneDelay)
			require.True(t, m.HasDRPriority)
			require.Equal(t, uint32(1), m.DRPriority)
			require.True(t, m.HasGenerationID)
			require.Empty(t, m.Unknown)
		case *pimmsg.JoinPrune:
			require.Equal(t, uint16(210), m.Holdtime)
			require.NotEmpty(t, m.Groups)
			for _, g := range m.Groups {
				require.Equal(t, uint8(32), g.Group.MaskLen)
				for _, s := range append(append([]pimmsg.Source{}, g.Joins...), g.Prunes...) {
					require.True(t, s.Sparse)
				}
			}
		case *pimmsg.Register:
			src, grp, err := m.Inner()
			require.NoError(t, err)
			require.Equal(t, ip("10.99.4.2"), src)
			require.Equal(t, ip("239.2.2.2"), grp)
			require.Equal(t, ip("10.99.255.1"), h.Dst)
		case *pimmsg.RegisterStop:
			require.Equal(t, pimmsg.HostGroup(ip("239.2.2.2")), m.Group)
			require.Equal(t, ip("10.99.4.2"), m.Source)
		}
	}
	require.Equal(t, map[pimmsg.Type]int{
		pimmsg.TypeHello: 20, pimmsg.TypeJoinPrune: 8, pimmsg.TypeRegister: 2, pimmsg.TypeRegisterStop: 2,
	}, counts)
}
