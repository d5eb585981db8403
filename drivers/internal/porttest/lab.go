// Package porttest is the real-traffic test bench shared by the drivers
// that forward between real Linux ports (afpacket, xdp): network
// namespaces joined by veth pairs, a sender that uses an ordinary UDP
// socket (so the kernel leaves checksums to "the hardware", as any local
// application's traffic does), and receivers that count the datagrams
// their sockets deliver - what an application gets, not frames on a wire.
//
// Every namespace is named mxdp<pid>-<random>-<role>; a Lab deletes its
// namespaces in t.Cleanup, and NewLab first deletes the namespaces left by
// test processes that no longer exist (a run killed by an interrupt).
//
// Concurrency: a Lab and a Net belong to the test goroutine that made them;
// Receiver counters may be read from any goroutine.
package porttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mxfwd/mxfwd/internal/netns"
)

// Prefix starts the name of every namespace made here.
const Prefix = "mxdp"

// NeedRoot skips t unless it runs as root with iproute2.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces, veth pairs and packet sockets)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip) to create namespaces")
	}
}

// Lab is a set of namespaces owned by one test.
type Lab struct {
	t      testing.TB
	prefix string
	nss    []string
}

// NewLab returns an empty lab; t is skipped without root.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	NeedRoot(t)
	sweepStale()
	var r [2]byte
	_, _ = rand.Read(r[:])
	l := &Lab{t: t, prefix: fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), hex.EncodeToString(r[:]))}
	t.Cleanup(l.cleanup)
	return l
}

// sweepStale deletes namespaces named mxdp<pid>-... whose process is gone.
func sweepStale() {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

func (l *Lab) cleanup() {
	for _, ns := range l.nss {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Logf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
	}
	l.nss = nil
}

// NS creates namespace <prefix>-<role> with lo up and IPv6 off (no ND/MLD
// noise on the ports) and returns its name.
func (l *Lab) NS(role string) string {
	l.t.Helper()
	full := l.prefix + "-" + role
	l.IP("netns", "add", full)
	l.nss = append(l.nss, full)
	l.IP("-n", full, "link", "set", "lo", "up")
	l.Sysctl(full, "net/ipv6/conf/all/disable_ipv6", "1")
	l.Sysctl(full, "net/ipv6/conf/default/disable_ipv6", "1")
	return full
}

// IP runs ip(8) and fails the test on error.
func (l *Lab) IP(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Batch runs ip commands in namespace ns in one process.
func (l *Lab) Batch(ns string, lines ...string) {
	l.t.Helper()
	if len(lines) == 0 {
		return
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s -batch: %v: %s", ns, err, out)
	}
}

// Sysctl writes /proc/sys/key in namespace ns.
func (l *Lab) Sysctl(ns, key, val string) {
	l.t.Helper()
	err := netns.Run(netns.Path(ns), func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(val), 0)
	})
	if err != nil {
		l.t.Fatalf("sysctl %s in %s: %v", key, ns, err)
	}
}

// Veth creates the pair aIf (in nsA) <-> bIf (in nsB), both up.
func (l *Lab) Veth(nsA, aIf, nsB, bIf string) {
	l.t.Helper()
	l.Batch(nsA, fmt.Sprintf("link add %s type veth peer name %s netns %s", aIf, bIf, nsB), "link set "+aIf+" up")
	l.Batch(nsB, "link set "+bIf+" up")
}
