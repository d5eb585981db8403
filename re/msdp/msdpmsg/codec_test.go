package msdpmsg_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// frrPayloads reads testdata/frr-8.4-msdp.hex: FRR's real bytes.
func frrPayloads(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/frr-8.4-msdp.hex")
	require.NoError(t, err)
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, unhex(t, line))
	}
	require.NoError(t, sc.Err())
	return out
}

func TestDecodeFRRCapture(t *testing.T) {
	p := frrPayloads(t)
	require.Len(t, p, 6)
	var all []msdpmsg.Message
	for _, b := range p {
		msgs, err := msdpmsg.DecodeAll(b)
		require.NoError(t, err)
		all = append(all, msgs...)
	}
	want := []msdpmsg.Message{
		msdpmsg.KeepAlive{},
		msdpmsg.KeepAlive{},
		&msdpmsg.SourceActive{RP: a("10.99.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.99.1.2")}}},
		&msdpmsg.SourceActive{RP: a("10.99.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.2.2.2"), Source: a("10.99.4.2")}}},
		&msdpmsg.SourceActive{RP: a("10.99.0.1"), Entries: []msdpmsg.Entry{
			{Group: a("239.1.1.1"), Source: a("10.99.1.2")},
			{Group: a("239.2.2.2"), Source: a("10.99.4.2")},
		}},
		msdpmsg.KeepAlive{},
	}
	assert.Equal(t, want, all)
	// Our encoding of the same messages is FRR's bytes.
	for i, m := range want {
		b, err := msdpmsg.Encode(m)
		require.NoError(t, err)
		assert.Equal(t, p[i], b, "message %d", i)
	}
}

func TestEncodeLayouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  msdpmsg.Message
		hex  string
	}{
		{"keepalive is the 3-octet header", msdpmsg.KeepAlive{}, "040003"},
		{"sa-request is reserved octet then group", &msdpmsg.SARequest{Group: a("239.1.2.3")}, "020008 00 ef010203"},
		{"sa-response has the SA layout with type 3", &msdpmsg.SAResponse{SourceActive: msdpmsg.SourceActive{
			RP: a("10.0.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.1.1.1")}}}},
			"030014 01 0a000001 000000 20 ef010101 0a010101"},
		{"sa with encapsulated data after the entries", &msdpmsg.SourceActive{
			RP: a("10.0.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.1.1.1")}}, Data: []byte{0x45, 0, 0, 20}},
			"010018 01 0a000001 000000 20 ef010101 0a010101 45000014"},
		{"sa with no entries", &msdpmsg.SourceActive{RP: a("10.0.0.1")}, "010008 00 0a000001"},
		{"notification carried opaquely", &msdpmsg.Unknown{T: msdpmsg.TypeNotification, Value: []byte{0x87, 0}}, "050005 8700"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := msdpmsg.Encode(tc.msg)
			require.NoError(t, err)
			assert.Equal(t, unhex(t, tc.hex), b)
			assert.Equal(t, len(b), tc.msg.Len())
			m, n, err := msdpmsg.DecodeTLV(b)
			require.NoError(t, err)
			assert.Equal(t, len(b), n)
			assert.Equal(t, tc.msg, m)
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	many := make([]msdpmsg.Entry, 256)
	for i := range many {
		many[i] = msdpmsg.Entry{Group: a("239.0.0.1"), Source: a("10.0.0.1")}
	}
	for _, tc := range []struct {
		name string
		msg  msdpmsg.Message
	}{
		{"256 entries do not fit the 8-bit count", &msdpmsg.SourceActive{RP: a("10.0.0.1"), Entries: many}},
		{"an IPv6 RP", &msdpmsg.SourceActive{RP: a("2001:db8::1")}},
		{"an IPv6 source", &msdpmsg.SourceActive{RP: a("10.0.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.0.0.1"), Source: a("2001:db8::1")}}}},
		{"an unset RP", &msdpmsg.SourceActive{}},
		{"data beyond 9192 octets", &msdpmsg.SourceActive{RP: a("10.0.0.1"), Data: make([]byte, 9185)}},
		{"an IPv6 SA-Request group", &msdpmsg.SARequest{Group: a("ff0e::1")}},
		{"a known type as Unknown", &msdpmsg.Unknown{T: msdpmsg.TypeKeepAlive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := msdpmsg.Encode(tc.msg)
			require.ErrorIs(t, err, msdpmsg.ErrEncode)
		})
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hex   string
		typ   msdpmsg.Type
		field string
	}{
		{"zero length", "010000", msdpmsg.TypeSourceActive, "length"},
		{"length shorter than the header", "040002", msdpmsg.TypeKeepAlive, "length"},
		{"sa shorter than count and rp", "010007 01 0a0000", msdpmsg.TypeSourceActive, "length"},
		{"entry count overruns the length", "010014 02 0a000001 00000020 ef010101 0a010101", msdpmsg.TypeSourceActive, "entry count"},
		{"sprefix len not 32", "010014 01 0a000001 00000018 ef010101 0a010101", msdpmsg.TypeSourceActive, "sprefix len"},
		{"sprefix len of the second entry", "010020 02 0a000001 00000020 ef010101 0a010101 00000000 ef010101 0a010101", msdpmsg.TypeSourceActive, "sprefix len"},
		{"sa-response entry count overrun", "030008 01 0a000001", msdpmsg.TypeSAResponse, "entry count"},
		{"sa-request too short", "020007 00 ef0101", msdpmsg.TypeSARequest, "length"},
		{"unknown type with bad length", "c80001", msdpmsg.Type(200), "length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			_, _, err := msdpmsg.DecodeTLV(b)
			require.ErrorIs(t, err, msdpmsg.ErrMalformed)
			var fe *msdpmsg.FormatError
			require.True(t, errors.As(err, &fe))
			assert.Equal(t, tc.typ, fe.Type)
			assert.Equal(t, tc.field, fe.Field)
			assert.Contains(t, err.Error(), tc.field)

			// The stream decoder fails the same way, whole or byte by byte.
			_, err = msdpmsg.NewDecoder().Decode(b, nil)
			require.ErrorIs(t, err, msdpmsg.ErrMalformed)
			d := msdpmsg.NewDecoder()
			var serr error
			for i := range b {
				if _, serr = d.Decode(b[i:i+1], nil); serr != nil {
					break
				}
			}
			require.ErrorIs(t, serr, msdpmsg.ErrMalformed)
			// Sticky.
			_, err = d.Decode(unhex(t, "040003"), nil)
			require.ErrorIs(t, err, msdpmsg.ErrMalformed)
		})
	}
}

func TestDecodeAcceptsLongerThanNeeded(t *testing.T) {
	// RFC 3618 §12: a TLV longer than expected is accepted, the excess ignored.
	m, n, err := msdpmsg.DecodeTLV(unhex(t, "040005 abcd"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, msdpmsg.KeepAlive{}, m)
	m, n, err = msdpmsg.DecodeTLV(unhex(t, "02000a 00 ef010203 ffff"))
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	assert.Equal(t, &msdpmsg.SARequest{Group: a("239.1.2.3")}, m)
	// Reserved octets are ignored on receipt (§12.2.1).
	m, _, err = msdpmsg.DecodeTLV(unhex(t, "010014 01 0a000001 ffffff20 ef010101 0a010101"))
	require.NoError(t, err)
	assert.Equal(t, &msdpmsg.SourceActive{RP: a("10.0.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.1.1.1")}}}, m)
}

func TestDecodeIncomplete(t *testing.T) {
	for _, h := range []string{"", "04", "0100", "010014 01 0a000001"} {
		_, _, err := msdpmsg.DecodeTLV(unhex(t, h))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, h)
	}
	_, err := msdpmsg.DecodeAll(unhex(t, "040003 0400"))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// TestStreamSplitEverywhere feeds several TLVs cut at every possible pair of
// positions and checks the decoder sees the same messages.
func TestStreamSplitEverywhere(t *testing.T) {
	var stream []byte
	for _, p := range frrPayloads(t) {
		stream = append(stream, p...)
	}
	stream = append(stream, unhex(t, "020008 00 ef010203  c80006 010203  050003")...)
	want, err := msdpmsg.DecodeAll(stream)
	require.NoError(t, err)
	require.Len(t, want, 9)
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			d := msdpmsg.NewDecoder()
			var got []msdpmsg.Message
			for _, piece := range [][]byte{stream[:i], stream[i:j], stream[j:]} {
				got, err = d.Decode(piece, got)
				require.NoError(t, err)
			}
			require.Equal(t, want, got, "split at %d,%d", i, j)
			require.Equal(t, uint64(len(stream)), d.Fed())
			require.Empty(t, d.Pending().Partial)
		}
	}
}

// TestOverlongTLVIsAcceptedAndBounded: a 60,000-octet TLV is decoded from
// its first 9192 octets, the rest discarded without buffering (§12), and
// the next TLV is decoded normally.
func TestOverlongTLVIsAcceptedAndBounded(t *testing.T) {
	const length = 60000
	sa := unhex(t, "01ea60 01 0a000001 00000020 ef010101 0a010101")
	tlv := append(sa, make([]byte, length-len(sa))...)
	tlv = append(tlv, msdpmsg.KeepAliveBytes...)

	d := msdpmsg.NewDecoder()
	var got []msdpmsg.Message
	var err error
	for off := 0; off < len(tlv); off += 1000 {
		got, err = d.Decode(tlv[off:min(off+1000, len(tlv))], got)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(d.Pending().Partial), msdpmsg.MaxTLVLen)
	}
	require.Len(t, got, 2)
	sam := got[0].(*msdpmsg.SourceActive)
	assert.Len(t, sam.Entries, 1)
	assert.Len(t, sam.Data, msdpmsg.MaxDataLen(1))
	assert.Equal(t, msdpmsg.KeepAlive{}, got[1])
	assert.Equal(t, uint64(1), d.Truncated())

	// One-shot decoding agrees.
	m, n, err := msdpmsg.DecodeTLV(tlv)
	require.NoError(t, err)
	assert.Equal(t, length, n)
	assert.Equal(t, got[0], m)
}

// TestResumeContinuesAStream hands a decoder's state over in the middle of
// a TLV and in the middle of a discarded tail, as a backup RE would.
func TestResumeContinuesAStream(t *testing.T) {
	big := unhex(t, "c82800") // type 200, length 10240: tail of 1048 discarded
	big = append(big, make([]byte, 10240-3)...)
	var stream []byte
	for _, p := range frrPayloads(t) {
		stream = append(stream, p...)
	}
	stream = append(stream, big...)
	stream = append(stream, frrPayloads(t)[4]...)
	want, err := msdpmsg.DecodeAll(stream)
	require.NoError(t, err)
	for cut := 0; cut <= len(stream); cut += 7 {
		d := msdpmsg.NewDecoder()
		got, err := d.Decode(stream[:cut], nil)
		require.NoError(t, err)
		d2, err := msdpmsg.Resume(d.Pending())
		require.NoError(t, err, "cut %d", cut)
		got, err = d2.Decode(stream[cut:], got)
		require.NoError(t, err)
		require.Equal(t, want, got, "cut %d", cut)
	}
}

func TestResumeRefusesImpossibleState(t *testing.T) {
	for _, p := range []msdpmsg.Pending{
		{Partial: unhex(t, "040003")},      // complete
		{Partial: unhex(t, "010000")},      // malformed header
		{Partial: unhex(t, "01"), Skip: 3}, // both
		{Skip: -1},
	} {
		_, err := msdpmsg.Resume(p)
		require.Error(t, err, "%+v", p)
	}
}
