package pimmsg_test

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

// ethernet frames an IPv4 packet: the destination MAC of a multicast
// destination is 01:00:5e plus its low 23 bits (RFC 1112 §6.4).
func ethernet(dst netip.Addr, pkt []byte) []byte {
	d := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	if dst.IsMulticast() {
		a := dst.As4()
		d = [6]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
	}
	f := append(d[:], 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00)
	return append(f, pkt...)
}

func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Second), CaptureLength: len(f), Length: len(f)}
		require.NoError(t, w.WritePacket(ci, f))
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// runTshark dissects the capture with IP header checksum validation on and
// returns the -V text of each frame.
func runTshark(t *testing.T, path string) []string {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	out, err := exec.Command(tshark, "-r", path, "-V", "-o", "ip.check_checksum:TRUE").CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	var frames []string
	for _, f := range regexp.MustCompile(`(?m)^Frame \d+:`).Split(text, -1)[1:] {
		frames = append(frames, f)
	}
	return frames
}

// TestTsharkDissectsEveryMessage writes every sample message as an
// Ethernet/IPv4 frame and checks Wireshark's dissection: nothing malformed,
// no expert error, IP and PIM checksums correct, and the key fields.
func TestTsharkDissectsEveryMessage(t *testing.T) {
	samples := sampleMessages()
	var frames [][]byte
	for _, s := range samples {
		pkt, err := pimmsg.Packet(s.src, s.dst, s.msg)
		require.NoError(t, err)
		frames = append(frames, ethernet(s.dst, pkt))
	}
	path := filepath.Join(t.TempDir(), "pim.pcap")
	writePcap(t, path, frames)
	dissected := runTshark(t, path)
	require.Len(t, dissected, len(samples))

	want := map[string][]string{
		"hello": {"Type: Hello (0)", "Holdtime: 105", "T: True", "Propagation Delay: 500", "Override Interval: 2500",
			"DR Priority: 7", "Generation ID: 3735928559", "Address: 192.0.2.1", "Address: 198.51.100.1", "Type: 31", "Type: 65001"},
		"hello-goodbye": {"Holdtime: goodbye (0)"},
		"join-prune": {"Type: Join/Prune (3)", "Upstream-neighbor: 10.0.0.1", "Num Groups: 3", "Holdtime: 210",
			"Group 0: 239.1.1.1/32", "IP address: 10.255.0.1/32 (SWR)", "IP address: 10.1.1.2/32 (SR)",
			"Group 1: 232.1.1.1/32", "IP address: 10.1.1.3/32 (S)", "Group 2: 239.2.2.2/32", "IP address: 10.2.2.2/32 (S)"},
		"register":      {"Type: Register (1)", "Null-Register: No", "Src: 10.1.1.2, Dst: 239.1.1.1", "User Datagram Protocol"},
		"null-register": {"Null-Register: Yes", "Src: 10.1.1.2, Dst: 239.1.1.1"},
		"register-stop": {"Type: Register-stop (2)", "Group: 239.1.1.1/32", "Source: 10.1.1.2"},
		"assert":        {"Type: Assert (5)", "Group: 239.1.1.1/32", "Source: 10.1.1.2", "RP Tree: False", "Metric Preference: 110", "Metric: 20"},
		"assert-rpt":    {"RP Tree: True", "Metric Preference: 2147483647", "Metric: 4294967295"},
		"bootstrap":     {"Type: Bootstrap (4)", "Fragment tag: 0x1234", "Hash mask len: 30", "BSR priority: 200", "BSR: 10.255.0.9", "Group 0: 224.0.0.0/4", "RP count: 2", "FRP count: 2", "RP 0: 10.255.0.1", "RP 1: 10.255.0.2", "Priority: 255", "Group 1: 239.72.0.0/16", "RP 0: 10.255.0.3", "Reserved byte(s): 80"},
		// Wireshark 4.0 has no name for the N bit of a Bootstrap nor for
		// seed 001's S-bits: it prints the raw reserved bytes, 80 where a
		// bit is set (the BSR's per-RP bytes are listed after the groups).
		"bootstrap-no-forward": {"Type: Bootstrap (4)", "Reserved byte(s): 80", "BSR: 10.255.0.9"},
		"candidate-rp-adv":     {"Type: Candidate-RP-Advertisement (8)", "Reserved byte(s): 80", "Prefix-count: 1", "Priority: 255", "Holdtime: 150", "RP: 10.255.0.1", "Group 0: 224.0.0.0/4"},
		"candidate-rp-adv-all": {"Reserved byte(s): 00", "Prefix-count: 0", "RP: 10.255.0.2"},
		// Wireshark 4.0 calls type 12 "PFM source discovery", names the N
		// bit, and shows a TLV it does not know (the GIR TLV) as "Option
		// <type>: Unknown" with its T bit, length and value bytes.
		"pfm-gir": {"Type: PFM source discovery (12)", "Pfm no forward bit: False", "Originator: 10.255.0.5",
			"Option 32766: Unknown: 32766", "Transitive Type: True", "Length: 8", "Unknown: 0000001e0000014a"},
		"pfm-gir-sources": {"Originator: 10.255.0.5", "Transitive Type: True", "Length: 24",
			"Unknown: 0000000000000258010000100a01000001000020c0000207", "Option 77: Unknown: 77", "Transitive Type: False"},
	}
	bad := regexp.MustCompile(`(?i)malformed|Expert Info \(Error|\[incorrect|Bad checksum|checksum status: Bad`)
	for i, s := range samples {
		text := dissected[i]
		t.Run(s.name, func(t *testing.T) {
			if m := bad.FindString(text); m != "" {
				t.Fatalf("tshark reports %q:\n%s", m, text)
			}
			require.Regexp(t, `Header Checksum: 0x[0-9a-f]{4} \[correct\]`, text, "IPv4 header checksum")
			require.Regexp(t, `Protocol Independent Multicast\n(.*\n){2,4}\s+Checksum: 0x[0-9a-f]{4} \[correct\]\n\s+\[Checksum Status: Good\]`, text, "PIM checksum")
			for _, w := range want[s.name] {
				require.Contains(t, text, w)
			}
			if testing.Verbose() {
				i := strings.Index(text, "Protocol Independent Multicast")
				t.Logf("%s", text[i:])
			}
		})
	}
}
