package msdpmsg_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// FuzzDecode checks, for any byte stream: decoding never panics; errors wrap
// ErrMalformed and name a field; whatever decodes re-encodes and decodes to
// the same messages (encoding is canonical); and feeding the same stream in
// two pieces (cut where the fuzzer's first octet says) changes nothing.
// The seed corpus holds FRR 8.4's real bytes.
func FuzzDecode(f *testing.F) {
	var stream []byte
	for _, p := range frrPayloads(f) {
		f.Add(p)
		stream = append(stream, p...)
	}
	f.Add(stream)
	f.Add(unhex(f, "020008 00 ef010203"))
	f.Add(unhex(f, "030014 01 0a000001 00000020 ef010101 0a010101"))
	f.Add(unhex(f, "010018 01 0a000001 00000020 ef010101 0a010101 45000014"))
	f.Add(unhex(f, "050005 8700 c80003 040005abcd"))
	f.Add(unhex(f, "010014 02 0a000001 00000020 ef010101 0a010101"))
	f.Add(unhex(f, "010000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := msdpmsg.NewDecoder()
		msgs, err := d.Decode(b, nil)
		if err != nil {
			require.ErrorIs(t, err, msdpmsg.ErrMalformed)
			var fe *msdpmsg.FormatError
			require.True(t, errors.As(err, &fe))
			require.NotEmpty(t, fe.Field)
		}
		require.LessOrEqual(t, len(d.Pending().Partial), msdpmsg.MaxTLVLen)

		// Round trip.
		enc, eerr := msdpmsg.Encode(msgs...)
		require.NoError(t, eerr)
		again, aerr := msdpmsg.DecodeAll(enc)
		require.NoError(t, aerr)
		if len(msgs) == 0 {
			require.Empty(t, again)
		} else {
			require.Equal(t, msgs, again)
		}
		// Canonical: encoding again gives the same bytes.
		enc2, _ := msdpmsg.Encode(again...)
		require.Equal(t, enc, enc2)

		// Split feeding agrees.
		if len(b) > 0 {
			cut := int(b[0]) % (len(b) + 1)
			d2 := msdpmsg.NewDecoder()
			got, err2 := d2.Decode(b[:cut], nil)
			if err2 == nil {
				// A resumed decoder continues the second half.
				d3, rerr := msdpmsg.Resume(d2.Pending())
				require.NoError(t, rerr)
				got, err2 = d3.Decode(b[cut:], got)
			}
			require.Equal(t, err == nil, err2 == nil, "whole: %v, split: %v", err, err2)
			require.Equal(t, len(msgs), len(got))
			if len(msgs) > 0 {
				require.Equal(t, msgs, got)
			}
		}
	})
}
