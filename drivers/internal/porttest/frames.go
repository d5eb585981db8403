package porttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenCapture opens a non-blocking packet socket receiving the IPv4 frames
// that arrive on ifname in ns (not those sent from it), as a file served
// by the Go netpoller.
func OpenCapture(t testing.TB, ns, ifname string) *os.File {
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
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			unix.Close(fd)
			return err
		}
		// Bursts of frames built from XDP frames take a page each; the
		// default buffer holds about 50 of them.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
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

// Collector gathers the frames arriving on peer interfaces, each labelled
// with the IFL whose port the peer faces, for haltest.Options.Receive.
type Collector struct {
	mu   sync.Mutex
	outs []haltest.Output
}

// Add captures ifname in ns as the output of ifl until the test ends.
func (c *Collector) Add(t testing.TB, ns, ifname string, ifl hal.IFLIndex) {
	f := OpenCapture(t, ns, ifname)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.outs = append(c.outs, haltest.Output{Egress: ifl, Frame: bytes.Clone(buf[:n])})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = f.Close()
		<-done
	})
}

// Take returns what arrived since the previous call.
func (c *Collector) Take() []haltest.Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outs
	c.outs = nil
	return o
}

// Injector writes raw frames out of interfaces, so that they arrive on
// the veth peers (the router's ports) as received frames.
type Injector struct {
	mu  sync.Mutex
	fds map[string]int // ns/ifname -> socket
	idx map[string]int
}

// Send writes frames out of ifname in ns. It is safe for concurrent use
// and reports failures with t.Error.
func (in *Injector) Send(t testing.TB, ns, ifname string, frames [][]byte) {
	in.mu.Lock()
	key := ns + "/" + ifname
	if in.fds == nil {
		in.fds, in.idx = map[string]int{}, map[string]int{}
	}
	fd, ok := in.fds[key]
	if !ok {
		err := netns.Run(netns.Path(ns), func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fd, in.idx[key] = s, ifi.Index
			return nil
		})
		if err != nil {
			in.mu.Unlock()
			t.Errorf("inject on %s: %v", key, err)
			return
		}
		in.fds[key] = fd
	}
	ifindex := in.idx[key]
	in.mu.Unlock()
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	for _, f := range frames {
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			t.Errorf("inject %d bytes on %s: %v", len(f), key, err)
		}
	}
}

// Close closes the sockets.
func (in *Injector) Close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, fd := range in.fds {
		unix.Close(fd)
	}
	in.fds = nil
}

// SetGRO turns generic receive offload of ifname in ns on or off
// (ETHTOOL_SGRO). On a veth, GRO gives the device a NAPI context, which
// native XDP redirects into it need.
func SetGRO(ns, ifname string, on bool) error {
	const ethtoolSGRO = 0x2c
	return setEthtool(ns, ifname, ethtoolSGRO, "ETHTOOL_SGRO", on)
}

// SetTxChecksum turns transmit checksum offload of ifname in ns on or off
// (ETHTOOL_STXCSUM). Off, the sender's stack completes every checksum, so
// that a capture anywhere on the way can verify it.
func SetTxChecksum(ns, ifname string, on bool) error {
	const ethtoolSTXCSUM = 0x17
	return setEthtool(ns, ifname, ethtoolSTXCSUM, "ETHTOOL_STXCSUM", on)
}

// setEthtool sends an ethtool_value set command to ifname in ns.
func setEthtool(ns, ifname string, cmd uint32, name string, on bool) error {
	return netns.Run(netns.Path(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: cmd}
		if on {
			val.data = 1
		}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(&val)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("SIOCETHTOOL %s on %s: %w", name, ifname, e)
		}
		return nil
	})
}
