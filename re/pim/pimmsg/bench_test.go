package pimmsg_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

func benchHello() *pimmsg.Hello {
	return &pimmsg.Hello{
		HasHoldtime: true, Holdtime: 105,
		LANPruneDelay: &pimmsg.LANPruneDelay{PropagationDelay: 500, OverrideInterval: 2500},
		HasDRPriority: true, DRPriority: 1, HasGenerationID: true, GenerationID: 12345,
	}
}

// benchJoinPrune has 100 (S,G) joins, one group each, as a router sends a
// periodic Join/Prune for 100 (S,G) with different groups (about 1.6 KB).
func benchJoinPrune() *pimmsg.JoinPrune {
	m := &pimmsg.JoinPrune{UpstreamNeighbor: ip("10.0.0.1"), Holdtime: 210}
	for i := 0; i < 100; i++ {
		g := netip.AddrFrom4([4]byte{232, 1, byte(i >> 8), byte(i)})
		s := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		m.Groups = append(m.Groups, pimmsg.JPGroup{Group: pimmsg.HostGroup(g), Joins: []pimmsg.Source{pimmsg.SG(s)}})
	}
	return m
}

func benchEncode(b *testing.B, m pimmsg.Message) {
	buf, err := pimmsg.Marshal(m)
	require.NoError(b, err)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if buf, err = pimmsg.Append(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, m pimmsg.Message) {
	buf, err := pimmsg.Marshal(m)
	require.NoError(b, err)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pimmsg.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHello(b *testing.B)        { benchEncode(b, benchHello()) }
func BenchmarkDecodeHello(b *testing.B)        { benchDecode(b, benchHello()) }
func BenchmarkEncodeJoinPrune100(b *testing.B) { benchEncode(b, benchJoinPrune()) }
func BenchmarkDecodeJoinPrune100(b *testing.B) { benchDecode(b, benchJoinPrune()) }
