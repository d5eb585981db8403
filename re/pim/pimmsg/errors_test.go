package pimmsg_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

// withChecksum sets a correct checksum over the whole message.
func withChecksum(b []byte) []byte {
	b = append([]byte{}, b...)
	b[2], b[3] = 0, 0
	cs := pimmsg.Checksum(b)
	b[2], b[3] = byte(cs>>8), byte(cs)
	return b
}

func TestDecodeRejectsMalformed(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		sentinel error
		field    string
	}{
		{"empty", "", pimmsg.ErrTruncated, "header"},
		{"version 1", "10 00 0000 00", pimmsg.ErrVersion, "version"},
		{"unknown type (graft)", "26 00 0000", pimmsg.ErrUnknownType, "type"},
		{"hello option truncated", "20 00 0000 0001 0002 00", pimmsg.ErrTruncated, "option 1: option value"},
		{"hello option header truncated", "20 00 0000 00", pimmsg.ErrTruncated, "option header"},
		{"hello holdtime of length 3", "20 00 0000 0001 0003 000000", nil, "option 1 (holdtime)"},
		{"hello dr priority of length 2", "20 00 0000 0013 0002 0000", nil, "option 19 (dr priority)"},
		{"hello address list with ipv6", "20 00 0000 0018 0012 0200 20010db8000000000000000000000001", nil, "option 24 (address list)"},
		{"hello address list ipv6 family", "20 00 0000 0018 0006 0200 0a000001", pimmsg.ErrAddressFamily, "option 24 (address list): address 1"},
		{"join/prune num groups overruns", "23 00 0000 0100 0a000001 00 05 00d2 0100 0020 ef010101 0000 0000", pimmsg.ErrTruncated, "group 2"},
		{"join/prune source count overruns", "23 00 0000 0100 0a000001 00 01 00d2 0100 0020 ef010101 0100 0000", pimmsg.ErrTruncated, "group 1"},
		{"join/prune source mask 24", "23 00 0000 0100 0a000001 00 01 00d2 0100 0020 ef010101 0001 0000 0100 0418 0a010100", nil, "group 1 (239.1.1.1): joined source 1"},
		{"join/prune pruned source ipv6 family", "23 00 0000 0100 0a000001 00 01 00d2 0100 0020 ef010101 0000 0001 0200 0420 0a010100", pimmsg.ErrAddressFamily, "group 1 (239.1.1.1): pruned source 1"},
		{"join/prune join attribute encoding", "23 00 0000 0100 0a000001 00 01 00d2 0100 0020 ef010101 0001 0000 0101 0420 0a010100", pimmsg.ErrUnsupported, "joined source 1"},
		{"join/prune upstream ipv6", "23 00 0000 0200 0a000001 00 00 00d2", pimmsg.ErrAddressFamily, "upstream neighbor"},
		{"join/prune group mask 33", "23 00 0000 0100 0a000001 00 01 00d2 0100 0021 ef010101 0000 0000", nil, "group 1"},
		{"join/prune trailing bytes", "23 00 0000 0100 0a000001 00 00 00d2 00", nil, "trailing"},
		{"register-stop truncated source", "22 00 0000 0100 0020 ef010101 0100 0a00", pimmsg.ErrTruncated, "source address"},
		{"assert truncated metric", "25 00 0000 0100 0020 ef010101 0100 0a000001 00000001 0000", pimmsg.ErrTruncated, "metric"},
		{"bootstrap frag rp count overruns", "24 00 0000 0000 1e 00 0100 0a000009 0100 0004 e0000000 01 02 0000 0100 0aff0001 0096 00 00", pimmsg.ErrTruncated, "group 1: frag rp count"},
		{"bootstrap rp ipv6", "24 00 0000 0000 1e 00 0100 0a000009 0100 0004 e0000000 01 01 0000 0200 0aff0001 0096 00 00", pimmsg.ErrAddressFamily, "group 1: rp 1"},
		{"bootstrap hash mask 40", "24 00 0000 0000 28 00 0100 0a000009", nil, "hash mask len"},
		{"c-rp-adv prefix count overruns", "28 00 0000 03 00 0096 0100 0aff0001 0100 0004 e0000000", pimmsg.ErrTruncated, "prefix count"},
		{"pfm tlv length overruns", "2c 00 0000 0100 0a000001 fffe 0010 00000000", pimmsg.ErrTruncated, "tlv 1: value"},
		{"pfm originator ipv6 family", "2c 00 0000 0200 0a000001", pimmsg.ErrAddressFamily, "originator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			if len(in) >= 4 {
				in = withChecksum(in)
			}
			m, err := pimmsg.Decode(in)
			require.Error(t, err)
			require.Nil(t, m)
			require.ErrorIs(t, err, pimmsg.ErrMalformed)
			if tt.sentinel != nil {
				require.ErrorIs(t, err, tt.sentinel)
			}
			require.ErrorContains(t, err, tt.field)
			var fe *pimmsg.FieldError
			require.True(t, errors.As(err, &fe))
			t.Log(err)
		})
	}
}

func TestDecodeRejectsBadChecksum(t *testing.T) {
	for _, s := range sampleMessages() {
		b, err := pimmsg.Marshal(s.msg)
		require.NoError(t, err)
		b[3] ^= 0x01
		_, err = pimmsg.Decode(b)
		require.ErrorIs(t, err, pimmsg.ErrChecksum, s.name)
		require.ErrorIs(t, err, pimmsg.ErrMalformed, s.name)
	}
}

// Every prefix of a valid message fails cleanly (or, for messages whose
// last element is optional, decodes to something that re-encodes to the
// prefix).
func TestTruncationsNeverPanic(t *testing.T) {
	for _, s := range sampleMessages() {
		b, err := pimmsg.Marshal(s.msg)
		require.NoError(t, err)
		for n := 0; n < len(b); n++ {
			in := append([]byte{}, b[:n]...)
			if n >= 4 {
				in = withChecksum(in)
			}
			m, err := pimmsg.Decode(in)
			if err != nil {
				require.ErrorIs(t, err, pimmsg.ErrMalformed)
				continue
			}
			again, err := pimmsg.Marshal(m)
			require.NoError(t, err)
			if m.Type() != pimmsg.TypeRegister {
				require.Equal(t, in, again, "%s truncated to %d", s.name, n)
			}
		}
	}
}
