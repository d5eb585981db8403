package pimmsg_test

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

func TestRoundTripEveryType(t *testing.T) {
	for _, s := range sampleMessages() {
		t.Run(s.name, func(t *testing.T) {
			b, err := pimmsg.Marshal(s.msg)
			require.NoError(t, err)
			require.Zero(t, b[0]&0xf0^0x20, "version 2")
			require.Equal(t, s.msg.Type(), pimmsg.Type(b[0]&0x0f))
			got, err := pimmsg.Decode(b)
			require.NoError(t, err)
			require.Equal(t, s.msg, got)
			again, err := pimmsg.Marshal(got)
			require.NoError(t, err)
			require.Equal(t, b, again, "encoding is canonical")
			if jp, ok := s.msg.(*pimmsg.JoinPrune); ok {
				require.Equal(t, len(b), jp.Size())
			}
		})
	}
}

// Wire layouts written out by hand from the RFCs and the seeds, so that a
// symmetric encoder/decoder mistake cannot hide.
func TestExactWireLayouts(t *testing.T) {
	tests := []struct {
		name string
		msg  pimmsg.Message
		want string // without the checksum bytes (2..3), which are checked separately
	}{
		{"hello holdtime, lan prune delay T=1 500/2500, dr priority 1, genid",
			&pimmsg.Hello{HasHoldtime: true, Holdtime: 105, LANPruneDelay: &pimmsg.LANPruneDelay{T: true, PropagationDelay: 500, OverrideInterval: 2500},
				HasDRPriority: true, DRPriority: 1, HasGenerationID: true, GenerationID: 0x7c9d6a72},
			"20 00 xxxx  0001 0002 0069  0002 0004 81f4 09c4  0013 0004 00000001  0014 0004 7c9d6a72"},
		{"join (*,G) and prune (S,G,rpt)",
			&pimmsg.JoinPrune{UpstreamNeighbor: ip("10.0.0.1"), Holdtime: 210, Groups: []pimmsg.JPGroup{{
				Group: pimmsg.HostGroup(ip("239.1.1.1")),
				Joins: []pimmsg.Source{pimmsg.StarG(ip("10.255.0.1"))}, Prunes: []pimmsg.Source{pimmsg.SGRpt(ip("10.1.1.2"))}}}},
			"23 00 xxxx  0100 0a000001  00 01 00d2  0100 00 20 ef010101  0001 0001  0100 07 20 0aff0001  0100 05 20 0a010102"},
		{"register-stop",
			&pimmsg.RegisterStop{Group: pimmsg.HostGroup(ip("239.2.2.2")), Source: ip("10.99.4.2")},
			"22 00 xxxx  0100 00 20 ef020202  0100 0a630402"},
		{"assert (*,G) with RPT bit",
			&pimmsg.Assert{Group: pimmsg.HostGroup(ip("239.1.1.1")), Source: netip.IPv4Unspecified(), RPT: true, MetricPreference: 120, Metric: 2},
			"25 00 xxxx  0100 00 20 ef010101  0100 00000000  80000078 00000002"},
		{"seed 001 S-bit in the C-RP-Advertisement header",
			&pimmsg.CandidateRPAdv{MSDP: true, Priority: 255, Holdtime: 150, RP: ip("10.255.0.1"), Groups: []pimmsg.Group{pimmsg.GroupRange(netip.MustParsePrefix("224.0.0.0/4"))}},
			"28 80 xxxx  01 ff 0096  0100 0aff0001  0100 00 04 e0000000"},
		{"seed 001 S-bit after RP1-Priority in a Bootstrap RP entry, N bit in the header",
			&pimmsg.Bootstrap{NoForward: true, FragmentTag: 0xabcd, HashMaskLen: 30, BSRPriority: 64, BSR: ip("10.255.0.9"), Groups: []pimmsg.BSRGroup{{
				Group: pimmsg.GroupRange(netip.MustParsePrefix("224.0.0.0/4")), RPCount: 2,
				RPs: []pimmsg.BSRRP{{Addr: ip("10.255.0.1"), Holdtime: 150, Priority: 255, MSDP: true}}}}},
			"24 80 xxxx  abcd 1e 40  0100 0aff0009  0100 00 04 e0000000  02 01 0000  0100 0aff0001 0096 ff 80"},
		{"pfm with the seed 002 GIR TLV (T=1, type 0x7ffe, length 8, start 30, stop 330)",
			&pimmsg.PFM{Originator: ip("10.255.0.5"), TLVs: []pimmsg.TLV{mustGIR(t, pimmsg.GIR{Start: 30, Stop: 330})}},
			"2c 00 xxxx  0100 0aff0005  fffe 0008 0000001e 0000014a"},
		{"null-register: flags N, dummy header S->G",
			mustNull(t, ip("10.99.4.2"), ip("239.2.2.2")),
			"21 00 xxxx  40000000  4500 0014 0000 0000 0067 xxxx 0a630402 ef020202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := pimmsg.Marshal(tt.msg)
			require.NoError(t, err)
			want := strings.Join(strings.Fields(tt.want), "")
			got := hex.EncodeToString(b)
			require.Len(t, got, len(want))
			for i := range want {
				if want[i] == 'x' {
					continue
				}
				require.Equal(t, string(want[i]), string(got[i]), "hex digit %d: got %s\nwant %s", i, got, want)
			}
			span := b
			if tt.msg.Type() == pimmsg.TypeRegister {
				span = b[:8]
			}
			require.Zero(t, pimmsg.Checksum(span), "checksum verifies")
		})
	}
}

func mustGIR(t testing.TB, g pimmsg.GIR) pimmsg.TLV {
	tlv, err := g.TLV(pimmsg.DefaultGIRType)
	require.NoError(t, err)
	return tlv
}

func mustNull(t testing.TB, s, g netip.Addr) *pimmsg.Register {
	r, err := pimmsg.NewNullRegister(s, g)
	require.NoError(t, err)
	return r
}

func TestRegisterChecksumCoversHeaderOnly(t *testing.T) {
	s := sampleMessages()[3] // register with data
	b, err := pimmsg.Marshal(s.msg)
	require.NoError(t, err)
	require.Zero(t, pimmsg.Checksum(b[:8]))
	require.NotZero(t, pimmsg.Checksum(b), "the data packet is not covered")

	// Changing the data does not invalidate the checksum.
	b[len(b)-1] ^= 0xff
	_, err = pimmsg.Decode(b)
	require.NoError(t, err)

	// A Register checksummed over the whole message is accepted too
	// (RFC 7761 §4.9.3).
	b[2], b[3] = 0, 0
	cs := pimmsg.Checksum(b)
	b[2], b[3] = byte(cs>>8), byte(cs)
	require.NotZero(t, pimmsg.Checksum(b[:8]))
	got, err := pimmsg.Decode(b)
	require.NoError(t, err)
	src, grp, err := got.(*pimmsg.Register).Inner()
	require.NoError(t, err)
	require.Equal(t, ip("10.1.1.2"), src)
	require.Equal(t, ip("239.1.1.1"), grp)
}

func TestGIRTLV(t *testing.T) {
	g := pimmsg.GIR{Start: 0, Stop: 600, Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	tlv, err := g.TLV(1234)
	require.NoError(t, err)
	require.True(t, tlv.Transitive)
	require.Equal(t, uint16(1234), tlv.Type)
	require.Equal(t, unhex(t, "00000000 00000258 0100 00 10 0a010000"), tlv.Value)
	m := &pimmsg.PFM{Originator: ip("10.0.0.1"), TLVs: []pimmsg.TLV{{Type: 1, Value: []byte{}}, tlv}}
	b, err := pimmsg.Marshal(m)
	require.NoError(t, err)
	d, err := pimmsg.Decode(b)
	require.NoError(t, err)
	got, ok, err := d.(*pimmsg.PFM).FindGIR(1234)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, g, got)
	_, ok, err = d.(*pimmsg.PFM).FindGIR(pimmsg.DefaultGIRType)
	require.NoError(t, err)
	require.False(t, ok, "a different configured type finds nothing")

	_, err = pimmsg.GIR{}.TLV(0x8000)
	require.ErrorIs(t, err, pimmsg.ErrInvalid)
	_, err = pimmsg.ParseGIR(pimmsg.TLV{Type: 5, Value: []byte{0, 0, 0, 1, 0, 0, 0, 2, 1}})
	require.ErrorIs(t, err, pimmsg.ErrMalformed)
	require.ErrorContains(t, err, "gir tlv (type 5): sources")
}

func TestEncodeRejectsInvalid(t *testing.T) {
	tests := []struct {
		name  string
		msg   pimmsg.Message
		field string
	}{
		{"ipv6 upstream neighbor", &pimmsg.JoinPrune{UpstreamNeighbor: ip("2001:db8::1")}, "upstream neighbor"},
		{"zero group", &pimmsg.JoinPrune{UpstreamNeighbor: ip("10.0.0.1"), Groups: []pimmsg.JPGroup{{}}}, "group 1"},
		{"ipv6 joined source", &pimmsg.JoinPrune{UpstreamNeighbor: ip("10.0.0.1"), Groups: []pimmsg.JPGroup{{Group: pimmsg.HostGroup(ip("239.1.1.1")), Joins: []pimmsg.Source{pimmsg.SG(ip("::1"))}}}}, "joined source 1"},
		{"too many groups", &pimmsg.JoinPrune{UpstreamNeighbor: ip("10.0.0.1"), Groups: make([]pimmsg.JPGroup, 256)}, "num groups"},
		{"propagation delay over 15 bits", &pimmsg.Hello{LANPruneDelay: &pimmsg.LANPruneDelay{PropagationDelay: 0x8000}}, "lan prune delay"},
		{"known option as unknown", &pimmsg.Hello{Unknown: []pimmsg.Option{{Type: 1, Value: []byte{0, 1}}}}, "option 1"},
		{"metric preference over 31 bits", &pimmsg.Assert{Group: pimmsg.HostGroup(ip("239.1.1.1")), Source: ip("10.0.0.1"), MetricPreference: 1 << 31}, "metric preference"},
		{"register without an ipv4 packet", &pimmsg.Register{Packet: []byte{0x60, 0, 0, 0}}, "encapsulated packet"},
		{"tlv type over 15 bits", &pimmsg.PFM{Originator: ip("10.0.0.1"), TLVs: []pimmsg.TLV{{Type: 0x8000}}}, "tlv 1"},
		{"mask length 33", &pimmsg.RegisterStop{Group: pimmsg.Group{Addr: ip("239.1.1.1"), MaskLen: 33}, Source: ip("10.0.0.1")}, "group address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte{0xaa}
			out, err := pimmsg.Append(b, tt.msg)
			require.ErrorIs(t, err, pimmsg.ErrInvalid)
			require.NotErrorIs(t, err, pimmsg.ErrMalformed)
			require.ErrorContains(t, err, tt.field)
			require.Equal(t, []byte{0xaa}, out, "nothing appended on error")
		})
	}
}

func TestIPv4Packet(t *testing.T) {
	for _, s := range sampleMessages() {
		t.Run(s.name, func(t *testing.T) {
			pkt, err := pimmsg.Packet(s.src, s.dst, s.msg)
			require.NoError(t, err)
			h, payload, err := pimmsg.ParseIPv4(pkt)
			require.NoError(t, err)
			require.Equal(t, s.src, h.Src)
			require.Equal(t, s.dst, h.Dst)
			require.Equal(t, uint8(pimmsg.DefaultTOS), h.TOS)
			if s.dst == pimmsg.AllPIMRouters {
				require.Equal(t, uint8(1), h.TTL, "TTL 1 to ALL-PIM-ROUTERS")
			} else {
				require.Equal(t, uint8(64), h.TTL)
			}
			m, err := pimmsg.Decode(payload)
			require.NoError(t, err)
			require.Equal(t, s.msg, m)
		})
	}
	// Ethernet padding after the IP total length is dropped.
	pkt, err := pimmsg.Packet(ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.Hello{HasHoldtime: true, Holdtime: 105})
	require.NoError(t, err)
	_, payload, err := pimmsg.ParseIPv4(append(pkt, 0, 0, 0, 0))
	require.NoError(t, err)
	require.Len(t, payload, 10)
}
