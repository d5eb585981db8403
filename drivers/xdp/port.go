package xdp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
)

// port is one Linux interface serving one physical interface of the FPC.
type port struct {
	phys     string // "xe-3/1/0"
	ifname   string
	ifindex  int
	mac      net.HardwareAddr
	hardware bool // a device with a bus behind it (/sys/class/net/X/device): a NIC

	mode   Mode   // the data path running on the port
	why    string // why that mode (shown in the vty and logged)
	tried  []string
	attach link.Link

	// Transmit's socket (AF_PACKET, protocol 0: it never receives).
	txMu sync.Mutex
	txFD int

	// The IFL bound to the port, 0 while none is (under the apply lock;
	// read lock-free through Driver.bindings, and boundIFL for the link
	// monitor).
	bound    hal.IFLIndex
	boundIFL atomic.Uint32

	injected, injectedBytes atomic.Uint64 // frames sent by Transmit
}

// openPort resolves ifname in the current namespace (the caller runs it in
// the configured one) and opens the transmit socket.
func openPort(phys, ifname string) (*port, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("no such interface: %w", err)
	}
	p := &port{phys: phys, ifname: ifname, ifindex: ifi.Index, mac: ifi.HardwareAddr, txFD: -1}
	if _, err := os.Stat("/sys/class/net/" + ifname + "/device"); err == nil {
		p.hardware = true
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("socket(AF_PACKET): run the FPC as root (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF): %w", err)
		}
		return nil, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind transmit socket: %w", err)
	}
	p.txFD = fd
	return p, nil
}

// modeOrder is the list of modes a port tries, first to last. An explicit
// mode (option mode or mode.<port>) is tried alone. auto tries native XDP
// on NICs only, then tc, then generic XDP:
//
//   - native XDP on a veth (or any device fed by a local stack) forwards
//     frames whose UDP checksum the sender left to the device: the
//     xdp_frame carries no checksum state, so every receiver drops them
//     (issue #12), and redirecting into a veth needs its peer's NAPI. On a
//     NIC frames come complete from the wire.
//   - On skbs, tc comes before generic XDP because it is faster here:
//     generic XDP copies every skb whose headroom is short of 256 bytes or
//     that is cloned (a veth sender's skbs are both), tc works on the skb
//     as it is. The figures are in the project README (Benchmarks).
func modeOrder(p *port, o options) ([]Mode, string) {
	m := o.Mode
	if pm, ok := o.PortMode[p.phys]; ok {
		m = pm
	}
	if m != ModeAuto {
		return []Mode{m}, "configured"
	}
	if p.hardware {
		return []Mode{ModeNative, ModeTC, ModeGeneric}, "auto: a NIC"
	}
	return []Mode{ModeTC, ModeGeneric}, "auto: not a NIC (native XDP would forward local senders' incomplete checksums)"
}

// attachMode attaches the program of mode m to the port.
func (p *port) attachMode(m Mode, ob *objects) (link.Link, error) {
	switch m {
	case ModeNative:
		return link.AttachXDP(link.XDPOptions{Program: ob.xdpFwd, Interface: p.ifindex, Flags: link.XDPDriverMode})
	case ModeGeneric:
		return link.AttachXDP(link.XDPOptions{Program: ob.xdpFwd, Interface: p.ifindex, Flags: link.XDPGenericMode})
	case ModeTC:
		return link.AttachTCX(link.TCXOptions{Program: ob.tcFwd, Interface: p.ifindex, Attach: ebpf.AttachTCXIngress})
	}
	return nil, fmt.Errorf("mode %q: %w", m, hal.ErrInvalid)
}

// attachFirst attaches the first mode of the port's order that the port
// and the kernel accept.
func (p *port) attachFirst(o options, ob *objects) error {
	order, why := modeOrder(p, o)
	var errs []error
	for _, m := range order {
		l, err := p.attachMode(m, ob)
		if err != nil {
			p.tried = append(p.tried, fmt.Sprintf("%s: %v", m, err))
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		p.mode, p.why, p.attach = m, why, l
		return nil
	}
	return fmt.Errorf("no data path mode could be attached: %w", errors.Join(errs...))
}

// send writes frames out of the port unchanged.
func (p *port) send(frames [][]byte) (int, uint64, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	sa := &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6}
	sent, bytes := 0, uint64(0)
	for _, f := range frames {
		if len(f) < 14 {
			return sent, bytes, fmt.Errorf("frame of %d bytes: %w", len(f), hal.ErrInvalid)
		}
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(p.txFD, f, 0, sa); err != nil {
			return sent, bytes, fmt.Errorf("send on %s: %w", p.ifname, err)
		}
		sent++
		bytes += uint64(len(f))
	}
	return sent, bytes, nil
}

// close detaches the program and closes the socket.
func (p *port) close() error {
	var errs []error
	if p.attach != nil {
		if err := p.attach.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach from %s: %w", p.ifname, err))
		}
		p.attach = nil
	}
	if p.txFD >= 0 {
		unix.Close(p.txFD)
		p.txFD = -1
	}
	return errors.Join(errs...)
}
