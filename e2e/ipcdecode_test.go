package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// `re ipc decode` prints the seed's capture as the seed does, and refuses
// truncated or corrupted frames with a clear error and a non-zero exit.
func TestIPCDecodeCLI(t *testing.T) {
	p := newPlatform(t, "")
	const seed = "010000001c00000006000e0014000100000003d70000014b004002efe80007010a80010a"
	const spaced = "0100 0000 1c00 0000 0600 0e00 1400 0100 0000 03d7 0000 014b 0040 02ef e800 0701 0a80 010a"
	for _, in := range []string{seed, spaced} {
		out, err := p.run("re", "ipc", "decode", "--hex", in)
		require.NoError(t, err, out)
		require.Contains(t, out, "type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,")
		for _, f := range []string{"NH 983", "IFL 331", "/64", "232.0.7.1", "10.128.1.10"} {
			require.Contains(t, out, f)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{seed[:len(seed)-8], "truncated"},
		{strings.Replace(seed, "0e00", "0f00", 1), "unknown message type"},
		{strings.Replace(seed, "1400", "1200", 1), "bytes 28 but count 1 messages take 26"},
		{seed + "00", "bytes"},
		{"01zz", "hex"},
	} {
		out, err := p.run("re", "ipc", "decode", "--hex", tc.in)
		require.Error(t, err, "exit status for %s", tc.in)
		require.Contains(t, out, tc.want, tc.in)
	}

	out, err := p.run("re", "ipc", "decode", "-r", "../ipc/testdata/resolve.pcap")
	require.NoError(t, err, out)
	require.Contains(t, out, "128.0.0.19.14340 > 128.0.0.1.6234")
	require.Contains(t, out, "type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,")
	out, err = p.run("re", "ipc", "decode", "-r", "ipcdecode_test.go")
	require.Error(t, err)
	require.Contains(t, out, "pcap")
}
