package igmpmsg_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// FuzzDecode: whatever decodes re-encodes and decodes again to the same
// message; errors wrap ErrMalformed. Seeds: the sample messages and the
// Linux kernel's captured reports and leave.
func FuzzDecode(f *testing.F) {
	for _, s := range sampleMessages() {
		b, err := igmpmsg.Marshal(s.msg)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, pkt := range linuxPackets(f) {
		_, payload, err := igmpmsg.ParseIPv4(pkt)
		require.NoError(f, err)
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, withChecksum(b)} {
			m, err := igmpmsg.Decode(in)
			if err != nil {
				require.ErrorIs(t, err, igmpmsg.ErrMalformed)
				continue
			}
			enc, err := igmpmsg.Marshal(m)
			require.NoError(t, err, "decoded message does not encode")
			again, err := igmpmsg.Decode(enc)
			require.NoError(t, err)
			require.Equal(t, m, again)
		}
	})
}

// FuzzParseIPv4 never panics; what it accepts has a consistent length.
func FuzzParseIPv4(f *testing.F) {
	for _, pkt := range linuxPackets(f) {
		f.Add(pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, payload, err := igmpmsg.ParseIPv4(pkt)
		if err != nil {
			require.ErrorIs(t, err, igmpmsg.ErrMalformed)
			return
		}
		require.True(t, h.Src.Is4())
		require.LessOrEqual(t, len(payload), len(pkt)-20)
	})
}
