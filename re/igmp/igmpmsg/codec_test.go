package igmpmsg_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// withChecksum sets a correct IGMP checksum.
func withChecksum(b []byte) []byte {
	b = append([]byte{}, b...)
	if len(b) < 4 {
		return b
	}
	b[2], b[3] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	cs := ^uint16(sum)
	b[2], b[3] = byte(cs>>8), byte(cs)
	return b
}

func sampleMessages() []struct {
	name string
	msg  igmpmsg.Message
} {
	return []struct {
		name string
		msg  igmpmsg.Message
	}{
		{"v1 general query", &igmpmsg.Query{Version: 1, Group: netip.IPv4Unspecified()}},
		{"v2 general query", &igmpmsg.Query{Version: 2, MaxRespCode: 100, Group: netip.IPv4Unspecified()}},
		{"v2 group-specific query", &igmpmsg.Query{Version: 2, MaxRespCode: 10, Group: ip("239.1.1.1")}},
		{"v3 general query", &igmpmsg.Query{Version: 3, MaxRespCode: 100, Group: netip.IPv4Unspecified(), QRV: 2, QQIC: 125}},
		{"v3 group-specific query with S", &igmpmsg.Query{Version: 3, MaxRespCode: 10, Group: ip("239.1.1.1"), SuppressRouterSide: true, QRV: 2, QQIC: 125}},
		{"v3 group-and-source query", &igmpmsg.Query{Version: 3, MaxRespCode: 10, Group: ip("232.1.1.1"), QRV: 2, QQIC: igmpmsg.QQICFor(300 * time.Second), Sources: []netip.Addr{ip("10.1.1.1"), ip("10.1.1.2")}}},
		{"v1 report", &igmpmsg.Report{Version: 1, Group: ip("239.1.1.1")}},
		{"v2 report", &igmpmsg.Report{Version: 2, Group: ip("239.1.1.1")}},
		{"v2 leave", &igmpmsg.Leave{Group: ip("239.1.1.1")}},
		{"v3 report, all record types", &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{
			{Type: igmpmsg.ModeIsInclude, Group: ip("232.1.1.1"), Sources: []netip.Addr{ip("10.1.1.1")}},
			{Type: igmpmsg.ModeIsExclude, Group: ip("239.1.1.1")},
			{Type: igmpmsg.ChangeToInclude, Group: ip("239.1.1.2"), Sources: []netip.Addr{ip("10.1.1.1"), ip("10.1.1.2")}},
			{Type: igmpmsg.ChangeToExclude, Group: ip("239.1.1.3"), Sources: []netip.Addr{ip("10.1.1.3")}},
			{Type: igmpmsg.AllowNewSources, Group: ip("232.1.1.2"), Sources: []netip.Addr{ip("10.1.1.4")}},
			{Type: igmpmsg.BlockOldSources, Group: ip("232.1.1.2"), Sources: []netip.Addr{ip("10.1.1.5")}},
		}}},
		{"v3 report, no records", &igmpmsg.V3Report{}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range sampleMessages() {
		t.Run(s.name, func(t *testing.T) {
			b, err := igmpmsg.Marshal(s.msg)
			require.NoError(t, err)
			require.Equal(t, byte(s.msg.Type()), b[0])
			got, err := igmpmsg.Decode(b)
			require.NoError(t, err)
			require.Equal(t, s.msg, got)
			again, err := igmpmsg.Marshal(got)
			require.NoError(t, err)
			require.Equal(t, b, again)
		})
	}
}

// Layouts written out from RFC 2236 §2 and RFC 3376 §4.1, §4.2.
func TestExactWireLayouts(t *testing.T) {
	tests := []struct {
		name string
		msg  igmpmsg.Message
		want string // checksum bytes as xxxx
	}{
		{"v2 general query, 10 s", &igmpmsg.Query{Version: 2, MaxRespCode: 100, Group: netip.IPv4Unspecified()}, "11 64 xxxx 00000000"},
		{"v3 group-and-source query, S, QRV 2, QQIC 125", &igmpmsg.Query{Version: 3, MaxRespCode: 10, Group: ip("232.1.1.1"), SuppressRouterSide: true, QRV: 2, QQIC: 125, Sources: []netip.Addr{ip("10.1.1.1")}},
			"11 0a xxxx e8010101 0a 7d 0001 0a010101"},
		{"v2 report", &igmpmsg.Report{Version: 2, Group: ip("239.1.1.1")}, "16 00 xxxx ef010101"},
		{"v1 report", &igmpmsg.Report{Version: 1, Group: ip("239.1.1.1")}, "12 00 xxxx ef010101"},
		{"leave", &igmpmsg.Leave{Group: ip("239.1.1.1")}, "17 00 xxxx ef010101"},
		{"v3 report TO_EX {} and ALLOW {S}", &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{
			{Type: igmpmsg.ChangeToExclude, Group: ip("239.1.2.3")},
			{Type: igmpmsg.AllowNewSources, Group: ip("232.1.1.1"), Sources: []netip.Addr{ip("10.9.9.9")}}}},
			"22 00 xxxx 0000 0002  04 00 0000 ef010203  05 00 0001 e8010101 0a090909"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := igmpmsg.Marshal(tt.msg)
			require.NoError(t, err)
			want := strings.Join(strings.Fields(tt.want), "")
			got := hex.EncodeToString(b)
			require.Len(t, got, len(want), got)
			for i := range want {
				if want[i] != 'x' {
					require.Equal(t, string(want[i]), string(got[i]), "hex digit %d: got %s want %s", i, got, want)
				}
			}
			require.Equal(t, b, withChecksum(b), "checksum")
		})
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		code  uint8
		value uint
	}{
		{0, 0}, {10, 10}, {100, 100}, {127, 127},
		{0x80, 128}, {0x81, 136}, {0x8f, 248}, {0x90, 256}, {0xff, 31744},
	}
	for _, tt := range tests {
		require.Equal(t, tt.value, igmpmsg.DecodeCode(tt.code), "code %#x", tt.code)
		require.Equal(t, tt.code, igmpmsg.EncodeCode(tt.value), "value %d", tt.value)
	}
	// Every code decodes to a value that encodes back to it, and values
	// between codes round down.
	for c := 0; c < 256; c++ {
		require.Equal(t, uint8(c), igmpmsg.EncodeCode(igmpmsg.DecodeCode(uint8(c))))
	}
	for v := uint(0); v < 40000; v++ {
		got := igmpmsg.DecodeCode(igmpmsg.EncodeCode(v))
		require.LessOrEqual(t, got, v, "value %d", v)
		if v < igmpmsg.MaxCodeValue && igmpmsg.EncodeCode(v) < 0xff {
			require.Greater(t, igmpmsg.DecodeCode(igmpmsg.EncodeCode(v)+1), v, "value %d: code is the largest not above", v)
		}
	}
	require.Equal(t, uint8(125), igmpmsg.QQICFor(125*time.Second))
	require.Equal(t, uint8(100), igmpmsg.MaxRespCodeFor(10*time.Second))
	q := &igmpmsg.Query{Version: 3, MaxRespCode: 0x8f, QQIC: 0x90}
	require.Equal(t, 24800*time.Millisecond, q.MaxResp())
	require.Equal(t, 256*time.Second, q.QQI())
	require.Equal(t, 10*time.Second, (&igmpmsg.Query{Version: 1}).MaxResp())
	require.Equal(t, time.Second, (&igmpmsg.Query{Version: 2, MaxRespCode: 10}).MaxResp())
}

func TestDecodeLenient(t *testing.T) {
	// A v2 report longer than 8 bytes: the extra bytes are ignored.
	m, err := igmpmsg.Decode(withChecksum(unhex(t, "16 00 0000 ef010101 deadbeef")))
	require.NoError(t, err)
	require.Equal(t, &igmpmsg.Report{Version: 2, Group: ip("239.1.1.1")}, m)
	// A v3 query with data after its sources: ignored.
	m, err = igmpmsg.Decode(withChecksum(unhex(t, "11 64 0000 00000000 02 7d 0000 ffff")))
	require.NoError(t, err)
	require.Equal(t, &igmpmsg.Query{Version: 3, MaxRespCode: 100, Group: netip.IPv4Unspecified(), QRV: 2, QQIC: 125}, m)
	// Auxiliary data of a group record is skipped.
	m, err = igmpmsg.Decode(withChecksum(unhex(t, "22 00 0000 0000 0001 02 01 0001 ef010101 0a000001 11223344")))
	require.NoError(t, err)
	require.Equal(t, &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{{Type: igmpmsg.ModeIsExclude, Group: ip("239.1.1.1"), Sources: []netip.Addr{ip("10.0.0.1")}}}}, m)
	// An unknown record type is kept for the receiver to ignore.
	m, err = igmpmsg.Decode(withChecksum(unhex(t, "22 00 0000 0000 0001 09 00 0000 ef010101")))
	require.NoError(t, err)
	require.False(t, m.(*igmpmsg.V3Report).Records[0].Type.Known())
}

func TestDecodeRejectsMalformed(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		fix      bool
		sentinel error
		field    string
	}{
		{"short", "11 64 00", false, igmpmsg.ErrTruncated, "header"},
		{"bad checksum", "11 64 0000 00000000", false, igmpmsg.ErrChecksum, "checksum"},
		{"query of 10 bytes", "11 64 0000 00000000 0000", true, nil, "length"},
		{"v3 query sources overrun", "11 64 0000 00000000 02 7d 0002 0a000001", true, igmpmsg.ErrTruncated, "number of sources"},
		{"v3 report records overrun", "22 00 0000 0000 0002 02 00 0000 ef010101", true, igmpmsg.ErrTruncated, "record 2"},
		{"v3 report sources overrun", "22 00 0000 0000 0001 02 00 0002 ef010101 0a000001", true, igmpmsg.ErrTruncated, "record 1 (239.1.1.1)"},
		{"v3 report aux data overrun", "22 00 0000 0000 0001 02 02 0000 ef010101 00000000", true, igmpmsg.ErrTruncated, "record 1"},
		{"v3 report trailing bytes", "22 00 0000 0000 0000 00", true, nil, "trailing"},
		{"dvmrp", "13 00 0000 00000000", true, igmpmsg.ErrUnknownType, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			if tt.fix {
				in = withChecksum(in)
			}
			m, err := igmpmsg.Decode(in)
			require.Nil(t, m)
			require.ErrorIs(t, err, igmpmsg.ErrMalformed)
			if tt.sentinel != nil {
				require.ErrorIs(t, err, tt.sentinel)
			}
			require.ErrorContains(t, err, tt.field)
			var fe *igmpmsg.FieldError
			require.True(t, errors.As(err, &fe))
			t.Log(err)
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	for _, m := range []igmpmsg.Message{
		&igmpmsg.Query{Version: 2, Group: netip.IPv4Unspecified()},
		&igmpmsg.Query{Version: 1, MaxRespCode: 3},
		&igmpmsg.Query{Version: 4},
		&igmpmsg.Query{Version: 3, QRV: 8},
		&igmpmsg.Query{Version: 3, Sources: []netip.Addr{ip("::1")}},
		&igmpmsg.Report{Version: 3, Group: ip("239.1.1.1")},
		&igmpmsg.Leave{},
		&igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{{Type: 1, Group: ip("ff02::1")}}},
	} {
		out, err := igmpmsg.Append([]byte{1}, m)
		require.ErrorIs(t, err, igmpmsg.ErrInvalid, "%#v", m)
		require.Equal(t, []byte{1}, out)
	}
}

func TestIPv4RouterAlert(t *testing.T) {
	for _, s := range sampleMessages() {
		pkt, err := igmpmsg.Packet(ip("10.0.0.1"), netip.Addr{}, s.msg)
		require.NoError(t, err)
		require.Equal(t, unhex(t, "94040000"), pkt[20:24], "router alert option")
		h, payload, err := igmpmsg.ParseIPv4(pkt)
		require.NoError(t, err)
		require.True(t, h.RouterAlert)
		require.Equal(t, uint8(1), h.TTL)
		require.Equal(t, igmpmsg.DefaultDst(s.msg), h.Dst)
		m, err := igmpmsg.Decode(payload)
		require.NoError(t, err)
		require.Equal(t, s.msg, m)
	}
	require.Equal(t, igmpmsg.AllSystems, igmpmsg.DefaultDst(&igmpmsg.Query{Version: 3, Group: netip.IPv4Unspecified()}))
	require.Equal(t, ip("239.1.1.1"), igmpmsg.DefaultDst(&igmpmsg.Query{Version: 3, Group: ip("239.1.1.1")}))
	require.Equal(t, igmpmsg.AllRouters, igmpmsg.DefaultDst(&igmpmsg.Leave{Group: ip("239.1.1.1")}))
	require.Equal(t, igmpmsg.AllV3Routers, igmpmsg.DefaultDst(&igmpmsg.V3Report{}))
}

// linuxPackets are the IGMP packets of testdata/igmp-linux.pcap, sent by
// the Linux 6.18 kernel of the build host for an any-source join and leave
// of 239.1.2.3, a source-specific join and leave of (10.9.9.9, 232.1.1.1),
// and in forced IGMPv2 mode a join and leave of 239.4.5.6.
func linuxPackets(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/igmp-linux.pcap")
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, append([]byte{}, data[14:]...))
	}
}

func TestLinuxCapture(t *testing.T) {
	var got []igmpmsg.Message
	for _, pkt := range linuxPackets(t) {
		h, payload, err := igmpmsg.ParseIPv4(pkt)
		require.NoError(t, err)
		require.True(t, h.RouterAlert)
		require.Equal(t, uint8(1), h.TTL)
		m, err := igmpmsg.Decode(payload)
		require.NoError(t, err)
		enc, err := igmpmsg.Marshal(m)
		require.NoError(t, err)
		require.True(t, bytes.Equal(payload, enc), "the kernel's bytes re-encode identically")
		got = append(got, m)
	}
	join := &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{
		{Type: igmpmsg.AllowNewSources, Group: ip("232.1.1.1"), Sources: []netip.Addr{ip("10.9.9.9")}},
		{Type: igmpmsg.ChangeToExclude, Group: ip("239.1.2.3")},
	}}
	leave := &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{
		{Type: igmpmsg.BlockOldSources, Group: ip("232.1.1.1"), Sources: []netip.Addr{ip("10.9.9.9")}},
		{Type: igmpmsg.ChangeToInclude, Group: ip("239.1.2.3")},
	}}
	require.Equal(t, []igmpmsg.Message{join, join, leave, leave,
		&igmpmsg.Report{Version: 2, Group: ip("239.4.5.6")}, &igmpmsg.Leave{Group: ip("239.4.5.6")}}, got)
}
