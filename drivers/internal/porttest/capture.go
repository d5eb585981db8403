package porttest

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of exec
// and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Capture runs tcpdump on ifname in ns, writing what it sees (filtered by
// the pcap filter words, if any) to file, until stop is called (or the test
// ends). stop returns the packets tcpdump says the kernel dropped: a
// capture with drops is incomplete. t is skipped without tcpdump.
func Capture(t testing.TB, ns, ifname, file string, filter ...string) (stop func() (dropped int)) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("skipped: needs tcpdump (apt-get install tcpdump)")
	}
	// A snapshot length of a jumbo frame, not tcpdump's 256 KiB default:
	// the capture ring's 16 MiB is cut into slots of the snapshot length,
	// and with the default a burst of 300 small datagrams overran it (256
	// captured, 44 "dropped by kernel") whenever tcpdump was scheduled late.
	args := append([]string{"netns", "exec", ns, "tcpdump", "-i", ifname, "--immediate-mode", "-s", "9216", "-B", "16384", "-Z", "root", "-w", file}, filter...)
	cmd := exec.Command("ip", args...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump on %s in %s: %v", ifname, ns, err)
	}
	for end := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("tcpdump on %s in %s did not start: %s", ifname, ns, stderr.String())
		}
	}
	var once sync.Once
	dropped := 0
	stop = func() int {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			_ = cmd.Wait()
			if m := regexp.MustCompile(`(\d+) packets? dropped by kernel`).FindStringSubmatch(stderr.String()); m != nil {
				_, _ = fmt.Sscan(m[1], &dropped)
			}
		})
		return dropped
	}
	t.Cleanup(func() { stop() })
	return stop
}

// Tshark reads file with tshark and returns one line per packet that
// matches the display filter, with the fields separated by commas (no
// fields: the frame number). IP and
// UDP checksums are verified (their .status fields: 1 good, 0 bad). t is
// skipped without tshark.
func Tshark(t testing.TB, file, filter string, fields ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipped: needs tshark (apt-get install tshark)")
	}
	args := []string{"-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-Y", filter, "-T", "fields", "-E", "separator=,"}
	if len(fields) == 0 {
		fields = []string{"frame.number"}
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("tshark", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s -Y %q: %v: %s", file, filter, err, stderr.String())
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
