package pktio

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNewNetns runs fn on a thread moved into a fresh, unnamed network
// namespace (gone when the test ends).
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) for network namespaces and TAP devices")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is left in the namespace: do not unlock, so that the
		// runtime retires it.
		orig, err := netns.Get()
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			t.Error(err)
			return
		}
		defer ns.Close()
		fn()
	}()
	<-done
}

func icmpEcho(src, dst netip.Addr) []byte {
	icmp := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'm', 'x', 'f', 'w'}
	var sum uint32
	for i := 0; i < len(icmp); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(icmp[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(sum))
	p := ipv4(src, dst, 1, icmp)
	p[8] = 64
	binary.BigEndian.PutUint16(p[10:], 0)
	var hs uint32
	for i := 0; i < 20; i += 2 {
		hs += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for hs > 0xffff {
		hs = hs&0xffff + hs>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(hs))
	return p
}

// The host stack behind a TAP answers ARP and ping for the router's
// address: the frames go in through the dispatcher's fallback and the
// answers come out as injects on the same interface.
func TestHostInterfacesAnswerARPAndPing(t *testing.T) {
	inNewNetns(t, func() {
		tr := newFakeTransport(Interface{Name: "ae91.0", MAC: ourMAC, Addr: ourAddr, Up: true})
		d := NewDispatcher(tr, nil, nil)
		h, err := NewHostInterfaces(d, tr, nil)
		require.NoError(t, err)
		defer h.Close()
		require.NoError(t, h.Sync([]Interface{{Name: "ae91.0", MAC: ourMAC, Addr: ourAddr, Up: true}}))
		link, err := netlink.LinkByName("ae91.0")
		require.NoError(t, err)
		require.Equal(t, ourMAC.String(), link.Attrs().HardwareAddr.String())

		wait := func(match func(f []byte) bool) []byte {
			deadline := time.After(10 * time.Second)
			for {
				for _, f := range tr.take("ae91.0") {
					if match(f) {
						return f
					}
				}
				select {
				case <-tr.got:
				case <-deadline:
					t.Fatal("no answer from the host stack")
				}
			}
		}
		// ARP request for our address.
		req := make([]byte, 28)
		copy(req, []byte{0, 1, 8, 0, 6, 4, 0, 1})
		copy(req[8:], peerMAC)
		pa, oa := peerAddr.As4(), ourAddr.Addr().As4()
		copy(req[14:], pa[:])
		copy(req[24:], oa[:])
		d.Deliver(3, "ae91.0", 16, ether(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, peerMAC, etherARP, req))
		reply := wait(func(f []byte) bool {
			return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == etherARP && binary.BigEndian.Uint16(f[20:]) == 2
		})
		require.Equal(t, ourMAC, net.HardwareAddr(reply[22:28]), "the reply carries the IFL's MAC")
		require.Equal(t, peerMAC, net.HardwareAddr(reply[:6]))

		// Ping.
		d.Deliver(3, "ae91.0", 17, ether(ourMAC, peerMAC, etherIPv4, icmpEcho(peerAddr, ourAddr.Addr())))
		echo := wait(func(f []byte) bool {
			return len(f) >= 34 && binary.BigEndian.Uint16(f[12:]) == etherIPv4 && f[23] == 1 && f[34] == 0
		})
		require.Equal(t, pa, [4]byte(echo[30:34]), "echo reply to the peer")
		require.Positive(t, h.Stats().FromHost)

		// The devices go with Close.
		require.NoError(t, h.Close())
		require.Eventually(t, func() bool {
			_, err := netlink.LinkByName("ae91.0")
			return err != nil
		}, 5*time.Second, 10*time.Millisecond)
	})
}
