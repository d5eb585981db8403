package afpacket

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// This file is the namespace test bench: every test that moves real frames
// builds its own namespaces with a random prefix (so parallel test binaries
// and other users of the machine never collide), and removes them in
// t.Cleanup, which runs even when the test fails or panics. All traffic stays
// on veth pairs between those namespaces.

// needRoot skips tests that need namespaces and packet sockets.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces, veth pairs and AF_PACKET sockets)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip) to create namespaces")
	}
}

// bench is a set of namespaces owned by one test.
type bench struct {
	t      testing.TB
	prefix string
	nss    []string
}

func newBench(t testing.TB) *bench {
	t.Helper()
	needRoot(t)
	var r [3]byte
	_, _ = rand.Read(r[:])
	b := &bench{t: t, prefix: "afpt" + hex.EncodeToString(r[:])}
	t.Cleanup(b.cleanup)
	return b
}

func (b *bench) cleanup() {
	for _, ns := range b.nss {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			b.t.Logf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
	}
	b.nss = nil
}

// ns creates namespace prefix-name with lo up and IPv6 off (no ND/MLD
// noise on the ports) and returns its full name.
func (b *bench) ns(name string) string {
	b.t.Helper()
	full := b.prefix + "-" + name
	b.ip("netns", "add", full)
	b.nss = append(b.nss, full)
	b.ip("-n", full, "link", "set", "lo", "up")
	b.sysctl(full, "net/ipv6/conf/all/disable_ipv6", "1")
	b.sysctl(full, "net/ipv6/conf/default/disable_ipv6", "1")
	return full
}

func (b *bench) ip(args ...string) {
	b.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		b.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// ipBatch runs many ip commands in namespace ns in one process
// (ip -n NS -batch -).
func (b *bench) ipBatch(ns string, lines []string) {
	b.t.Helper()
	if len(lines) == 0 {
		return
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("ip -n %s -batch: %v: %s", ns, err, out)
	}
}

func (b *bench) sysctl(ns, key, val string) {
	b.t.Helper()
	err := netns.Run(netns.Path(ns), func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(val), 0)
	})
	if err != nil {
		b.t.Fatalf("sysctl %s in %s: %v", key, ns, err)
	}
}

// link creates a veth pair aIf (in nsA) <-> bIf (in nsB), both up.
func (b *bench) link(nsA, aIf, nsB, bIf string) {
	b.t.Helper()
	var l links
	l.add(nsA, aIf, nsB, bIf)
	l.create(b)
}

// links batches the creation of many veth pairs between two namespaces.
type links struct {
	nsA, nsB string
	a, b     []string
}

func (l *links) add(nsA, aIf, nsB, bIf string) {
	l.nsA, l.nsB = nsA, nsB
	l.a = append(l.a, fmt.Sprintf("link add %s type veth peer name %s netns %s", aIf, bIf, nsB), "link set "+aIf+" up")
	l.b = append(l.b, "link set "+bIf+" up")
}

func (l *links) create(b *bench) {
	b.t.Helper()
	b.ipBatch(l.nsA, l.a)
	b.ipBatch(l.nsB, l.b)
}

func (b *bench) addr(ns, ifname, cidr string) {
	b.t.Helper()
	b.ip("-n", ns, "addr", "add", cidr, "dev", ifname)
}

func (b *bench) mac(ns, ifname string) net.HardwareAddr {
	b.t.Helper()
	var hw net.HardwareAddr
	err := netns.Run(netns.Path(ns), func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			hw = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		b.t.Fatalf("mac of %s in %s: %v", ifname, ns, err)
	}
	return hw
}

// sendUDP sends n UDP datagrams from src:4000 to group:5000 with the given
// multicast TTL out of ifname in ns, through the namespace's own IP stack.
// The payload starts with tag so that receivers can tell test phases apart.
func sendUDP(t testing.TB, ns, ifname string, src, group netip.Addr, ttl, n int, tag string) {
	t.Helper()
	err := netns.Run(netns.Path(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname); err != nil {
			return fmt.Errorf("SO_BINDTODEVICE: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 4000, Addr: src.As4()}); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index), Address: src.As4()}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
			return fmt.Errorf("IP_MULTICAST_IF: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
			return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
		}
		to := &unix.SockaddrInet4{Port: 5000, Addr: group.As4()}
		payload := []byte(tag + strings.Repeat(".", 32))
		for i := 0; i < n; i++ {
			if err := unix.Sendto(fd, payload, 0, to); err != nil {
				return fmt.Errorf("sendto %s: %w", group, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send UDP in %s: %v", ns, err)
	}
}

// sendFrames writes raw Ethernet frames out of ifname in ns.
func sendFrames(t testing.TB, ns, ifname string, frames ...[]byte) {
	t.Helper()
	err := netns.Run(netns.Path(ns), func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			copy(sa.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send frames in %s: %v", ns, err)
	}
}

// capture counts IPv4 frames to one group arriving on an interface.
type capture struct {
	name  string
	group netip.Addr
	file  *os.File
	done  chan struct{}

	mu     sync.Mutex
	frames [][]byte // copies, only while keep
	keep   int
	count  atomic.Int64
	tags   map[string]int
}

// captureOn opens a packet socket on ifname in ns and counts the frames to
// group until the test ends; it keeps the first keep frames.
func captureOn(t testing.TB, ns, ifname string, group netip.Addr, keep int) *capture {
	t.Helper()
	c := &capture{name: ns + "/" + ifname, group: group, done: make(chan struct{}), keep: keep, tags: map[string]int{}}
	c.file = openCapture(t, ns, ifname)
	go c.run()
	t.Cleanup(func() {
		_ = c.file.Close()
		<-c.done
	})
	return c
}

// openCapture opens a non-blocking packet socket receiving the IPv4 frames
// of ifname in ns, as a file served by the Go netpoller.
func openCapture(t testing.TB, ns, ifname string) *os.File {
	t.Helper()
	var f *os.File
	err := netns.Run(netns.Path(ns), func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), ns+"/"+ifname)
		return nil
	})
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, ns, err)
	}
	return f
}

func (c *capture) run() {
	defer close(c.done)
	buf := make([]byte, 2048)
	for {
		n, err := c.file.Read(buf)
		if err != nil {
			return
		}
		p, err := haltest.ParseFrame(buf[:n])
		if err != nil || p.Group != c.group || p.Proto != haltest.ProtoUDP || len(p.L4) < 8 {
			continue
		}
		tag, _, _ := bytes.Cut(p.L4[8:], []byte("."))
		c.mu.Lock()
		c.tags[string(tag)]++
		if len(c.frames) < c.keep {
			c.frames = append(c.frames, bytes.Clone(buf[:n]))
		}
		c.mu.Unlock()
		c.count.Add(1)
	}
}

// tagged returns how many frames carrying tag arrived.
func (c *capture) tagged(tag string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tags[tag]
}

func (c *capture) kept() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

// eventually polls cond every 10 ms until it holds or the (generous)
// deadline passes; no test asserts on timing.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
