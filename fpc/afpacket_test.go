package fpc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/drivers/afpacket"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/lab/netns"
)

// lockedBuffer is a bytes.Buffer a command writes while the test reads.
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

// ipNS runs ip(8) with args, failing t.
func ipNS(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// sendRaw writes frames on ifname in namespace ns through a packet socket.
func sendRaw(t *testing.T, ns, ifname string, frames ...[]byte) {
	t.Helper()
	err := netns.Do(netns.Path(ns), func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestAFPacketCardHostPath runs a card on afpacket in a namespace, wired
// by a veth to a neighbour namespace, against the fake RE: a PIM hello and
// the neighbour kernel's ARP request for the router's address reach the RE
// as punts from the right interface with their trap; a frame the RE
// injects leaves on the right veth (captured by tcpdump on the
// neighbour's side); the veth going down and up reaches the RE as link
// state.
func TestAFPacketCardHostPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (network namespaces, veth pairs, AF_PACKET sockets)")
	}
	for _, tool := range []string{"ip", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: needs %s", tool)
		}
	}
	prefix := fmt.Sprintf("mxlc%d", os.Getpid())
	rtr, nbr := prefix+"-r", prefix+"-n"
	for _, ns := range []string{rtr, nbr} {
		_ = exec.Command("ip", "netns", "del", ns).Run() // leftovers of an interrupted run
		ipNS(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipNS(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipNS(t, "-n", rtr, "link", "add", "p0", "type", "veth", "peer", "name", "q0", "netns", nbr)
	ipNS(t, "-n", rtr, "link", "set", "p0", "up")
	ipNS(t, "-n", nbr, "addr", "add", "10.128.1.2/24", "dev", "q0")
	ipNS(t, "-n", nbr, "link", "set", "q0", "up")

	re := newFakeRE(t)
	rt, err := New(context.Background(), Config{
		Slot: 3, RE: re.ln.Addr().String(), DriverName: afpacket.Name, NewDriver: afpacket.New,
		Ports: map[string]string{"xe-3/0/0": "p0"}, Options: map[string]string{"netns": rtr},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	<-re.reg
	s := <-re.conns
	const ifl hal.IFLIndex = 300
	ops := []hal.Op{{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ifl, Name: "xe-3/0/0.0", Kind: hal.IFLPhysical, PFE: 12, MAC: haltest.IFLMAC(ifl), MTU: 1500, Up: true}}}
	re.send(s, append(ops, haltest.TrapOps()...), 1)

	// The port's state when its IFL is bound.
	ls := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.LinkState); return ok }).(*ipc.LinkState)
	assert.Equal(t, &ipc.LinkState{IFL: ifl, Up: true}, ls)

	hello := haltest.BuildFrame(haltest.FrameSpec{Source: haltest.NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 30})
	sendRaw(t, nbr, "q0", hello)
	p := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.Punt); return ok }).(*ipc.Punt)
	assert.Equal(t, ifl, p.Ingress)
	assert.Equal(t, haltest.TrapPIM, p.Trap)
	assert.Equal(t, hello, p.Frame)

	// The neighbour's kernel resolves the router's address for a UDP
	// datagram: its ARP request is trapped (nothing answers it here: that is the RE host's
	// job through its TAP).
	require.NoError(t, netns.Do(netns.Path(nbr), func() error {
		c, err := net.Dial("udp", haltest.RouterAddr.String()+":9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("who has"))
		return err
	}))
	p = re.next(t, func(m ipc.Message) bool {
		p, ok := m.(*ipc.Punt)
		return ok && p.Trap == haltest.TrapARPRouter
	}).(*ipc.Punt)
	assert.Equal(t, ifl, p.Ingress)
	target, ok := hal.ARPTarget(p.Frame)
	require.True(t, ok)
	assert.Equal(t, uint32(10<<24|128<<16|1<<8|1), target)

	// An inject leaves on the port, captured on the neighbour's side.
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	dump := exec.CommandContext(cctx, "ip", "netns", "exec", nbr, "tcpdump", "-i", "q0", "-n", "-l", "-c", "1", "-A", "udp and dst host 239.7.7.7")
	var dumpOut, dumpErr lockedBuffer
	dump.Stdout, dump.Stderr = &dumpOut, &dumpErr
	require.NoError(t, dump.Start())
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(dumpErr.String(), "listening on") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	inj := haltest.BuildFrame(haltest.FrameSpec{Source: haltest.RouterAddr, Group: netip.MustParseAddr("239.7.7.7"), SrcMAC: haltest.IFLMAC(ifl), TTL: 1, Payload: 40})
	copy(inj[len(inj)-16:], "injected-by-re!!")
	// tcpdump may attach a moment after it says it listens: inject until
	// it has its packet.
	exited := make(chan error, 1)
	go func() { exited <- dump.Wait() }()
	var werr error
wait:
	for {
		require.NoError(t, s.SendControl(context.Background(), &ipc.Inject{Egress: ifl, Frame: inj}))
		select {
		case werr = <-exited:
			break wait
		case <-time.After(200 * time.Millisecond):
		}
	}
	require.NoError(t, werr, "tcpdump: %s", dumpErr.String())
	assert.Contains(t, dumpOut.String(), "injected-by-re!!")
	assert.Positive(t, rt.stats.Injected.Load())

	// Link down and up on the neighbour's side of the veth.
	ipNS(t, "-n", nbr, "link", "set", "q0", "down")
	ls = re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.LinkState); return ok }).(*ipc.LinkState)
	assert.Equal(t, &ipc.LinkState{IFL: ifl, Up: false}, ls)
	ipNS(t, "-n", nbr, "link", "set", "q0", "up")
	ls = re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.LinkState); return ok }).(*ipc.LinkState)
	assert.Equal(t, &ipc.LinkState{IFL: ifl, Up: true}, ls)
}
