package igmpmsg_test

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// TestTsharkDissectsEveryMessage writes every sample message as an
// Ethernet/IPv4 frame with Router Alert and checks Wireshark's
// dissection: nothing malformed, no expert error, IP and IGMP checksums
// correct, and the key fields.
func TestTsharkDissectsEveryMessage(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	samples := sampleMessages()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	for i, s := range samples {
		pkt, err := igmpmsg.Packet(ip("10.0.0.1"), netip.Addr{}, s.msg)
		require.NoError(t, err)
		a := igmpmsg.DefaultDst(s.msg).As4()
		f := append([]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3], 0x02, 0, 0, 0, 0, 1, 0x08, 0x00}, pkt...)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1796428800+int64(i), 0), CaptureLength: len(f), Length: len(f)}
		require.NoError(t, w.WritePacket(ci, f))
	}
	path := filepath.Join(t.TempDir(), "igmp.pcap")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	out, err := exec.Command(tshark, "-r", path, "-V", "-o", "ip.check_checksum:TRUE").CombinedOutput()
	require.NoError(t, err, "%s", out)
	frames := regexp.MustCompile(`(?m)^Frame \d+:`).Split(string(out), -1)[1:]
	require.Len(t, frames, len(samples))

	want := map[string][]string{
		"v1 general query":               {"Internet Group Management Protocol", "[IGMP Version: 1]", "Type: Membership Query (0x11)"},
		"v2 general query":               {"[IGMP Version: 2]", "Max Resp Time: 10.0 sec (0x64)", "Multicast Address: 0.0.0.0"},
		"v2 group-specific query":        {"[IGMP Version: 2]", "Max Resp Time: 1.0 sec (0x0a)", "Multicast Address: 239.1.1.1"},
		"v3 general query":               {"[IGMP Version: 3]", "Max Resp Time: 10.0 sec (0x64)", "QRV: 2", "QQIC: 125", "Num Src: 0"},
		"v3 group-specific query with S": {"[IGMP Version: 3]", "S: SUPPRESS router side processing", "Multicast Address: 239.1.1.1"},
		"v3 group-and-source query": {"Multicast Address: 232.1.1.1", "Num Src: 2", "Source Address: 10.1.1.1", "Source Address: 10.1.1.2", "S: Do not suppress router side processing",
			"QQIC: 146"}, // Wireshark 4.0 prints the raw code: 0x92 is 288 s, 300 s rounded down,
		"v1 report": {"[IGMP Version: 1]", "Type: Membership Report (0x12)", "Multicast Address: 239.1.1.1"},
		"v2 report": {"[IGMP Version: 2]", "Type: Membership Report (0x16)", "Multicast Address: 239.1.1.1"},
		"v2 leave":  {"Type: Leave Group (0x17)", "Multicast Address: 239.1.1.1"},
		"v3 report, all record types": {"[IGMP Version: 3]", "Num Group Records: 6",
			"Record Type: Mode Is Include (1)", "Record Type: Mode Is Exclude (2)", "Record Type: Change To Include Mode (3)",
			"Record Type: Change To Exclude Mode (4)", "Record Type: Allow New Sources (5)", "Record Type: Block Old Sources (6)",
			"Source Address: 10.1.1.5"},
		"v3 report, no records": {"Num Group Records: 0"},
	}
	bad := regexp.MustCompile(`(?i)malformed|Expert Info \(Error|incorrect|\[Checksum Status: Bad|checksum status: Bad`)
	for i, s := range samples {
		text := frames[i]
		t.Run(s.name, func(t *testing.T) {
			if m := bad.FindString(text); m != "" {
				t.Fatalf("tshark reports %q:\n%s", m, text)
			}
			require.Regexp(t, `Header Checksum: 0x[0-9a-f]{4} \[correct\]`, text)
			require.Contains(t, text, "Options: (4 bytes), Router Alert")
			require.Contains(t, text, "Time to Live: 1")
			require.Regexp(t, `Checksum: 0x[0-9a-f]{4} \[correct\]\n\s+\[Checksum Status: Good\]\n(.*\n)*?.*Multicast Address|Checksum: 0x[0-9a-f]{4} \[correct\]\n\s+\[Checksum Status: Good\]`, text, "IGMP checksum")
			for _, w := range want[s.name] {
				require.Contains(t, text, w)
			}
		})
	}
}
