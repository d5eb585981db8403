package pktio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinuxName is the Linux name of an IFL's host interface: slashes become
// dashes ("xe-3/1/0.0" -> "xe-3-1-0.0", "ae91.0" stays). Linux names are
// at most 15 bytes.
func LinuxName(ifl string) (string, error) {
	n := strings.ReplaceAll(ifl, "/", "-")
	if len(n) > unix.IFNAMSIZ-1 {
		return "", fmt.Errorf("interface %s: host interface name %q is longer than %d bytes", ifl, n, unix.IFNAMSIZ-1)
	}
	return n, nil
}

// HostInterfaces mirrors IFLs as TAP devices in the RE's network
// namespace (see the package comment). The devices are not persistent:
// they vanish with the RE process, whatever way it ends.
type HostInterfaces struct {
	d   *Dispatcher
	tr  Transport
	log *slog.Logger

	mu     sync.Mutex
	taps   map[string]*tap // by IFL name
	closed bool
	wg     sync.WaitGroup
	// standby: a backup RE's host interfaces exist in the master; Sync
	// creates nothing until Adopt hands over the master's devices.
	standby bool

	toHost, toHostErr, fromHost, fromHostErr atomic.Uint64
}

type tap struct {
	ifl, dev string
	f        *os.File
	spec     Interface
}

// HostStats are the host interfaces' counters.
type HostStats struct {
	Interfaces     int    `json:"interfaces"`
	ToHost         uint64 `json:"frames-to-host"`
	ToHostErrors   uint64 `json:"to-host-errors"`
	FromHost       uint64 `json:"frames-from-host"`
	FromHostErrors uint64 `json:"from-host-errors"`
}

// NewHostInterfaces makes d hand unclaimed packets to the host stack. It
// needs CAP_NET_ADMIN (root).
func NewHostInterfaces(d *Dispatcher, tr Transport, log *slog.Logger) (*HostInterfaces, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, fmt.Errorf("host interfaces: %w", err)
	}
	h := &HostInterfaces{d: d, tr: tr, log: log, taps: map[string]*tap{}}
	d.Fallback = h.writeToHost
	return h, nil
}

// SetStandby makes Sync create nothing (a backup RE: the devices belong
// to the master until Adopt).
func (h *HostInterfaces) SetStandby(on bool) {
	h.mu.Lock()
	h.standby = on
	h.mu.Unlock()
}

// Adopt takes over TAP devices another RE created (non-stop routing: the
// master's descriptors, passed with SCM_RIGHTS), by IFL name, and starts
// reading them; it leaves standby. It owns the files.
func (h *HostInterfaces) Adopt(files map[string]*os.File) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.standby = false
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		dev, err := LinuxName(name)
		if err != nil {
			f.Close()
			errs = append(errs, err)
			continue
		}
		if old := h.taps[name]; old != nil {
			old.f.Close()
		}
		t := &tap{ifl: name, dev: dev, f: f}
		if l, err := netlink.LinkByName(dev); err == nil {
			t.spec = Interface{Name: name, MAC: l.Attrs().HardwareAddr, Up: l.Attrs().Flags&net.FlagUp != 0}
			if as, err := netlink.AddrList(l, netlink.FAMILY_V4); err == nil && len(as) > 0 {
				a, _ := netip.AddrFromSlice(as[0].IP.To4())
				ones, _ := as[0].Mask.Size()
				t.spec.Addr = netip.PrefixFrom(a, ones)
			}
		}
		h.taps[name] = t
		h.wg.Go(func() { h.readLoop(t) })
	}
	return errors.Join(errs...)
}

// Export returns duplicates of the devices' descriptors by IFL name, for
// a backup RE (the caller owns them).
func (h *HostInterfaces) Export() (map[string]*os.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]*os.File, len(h.taps))
	for n, t := range h.taps {
		rc, err := t.f.SyscallConn()
		if err != nil {
			return nil, err
		}
		var nfd int
		var derr error
		if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
			return nil, err
		}
		if derr != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("host interface %s: dup: %w", t.dev, derr)
		}
		out[n] = os.NewFile(uintptr(nfd), "/dev/net/tun:"+t.dev)
	}
	return out, nil
}

// Stats returns the counters.
func (h *HostInterfaces) Stats() HostStats {
	h.mu.Lock()
	n := len(h.taps)
	h.mu.Unlock()
	return HostStats{Interfaces: n, ToHost: h.toHost.Load(), ToHostErrors: h.toHostErr.Load(),
		FromHost: h.fromHost.Load(), FromHostErrors: h.fromHostErr.Load()}
}

// Devices lists the host interfaces: IFL name to Linux name.
func (h *HostInterfaces) Devices() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]string, len(h.taps))
	for n, t := range h.taps {
		out[n] = t.dev
	}
	return out
}

// Files returns the TAP devices' descriptors by IFL name (non-stop routing
// hands them to a backup RE). The files stay owned by h.
func (h *HostInterfaces) Files() map[string]*os.File {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]*os.File, len(h.taps))
	for n, t := range h.taps {
		out[n] = t.f
	}
	return out
}

// Sync makes the TAP devices those of ifs: one per interface, with its
// MAC, MTU 1500, its address and its link state. Devices of interfaces no
// longer listed are removed.
func (h *HostInterfaces) Sync(ifs []Interface) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host interfaces closed")
	}
	if h.standby {
		return nil
	}
	want := map[string]Interface{}
	for _, f := range ifs {
		want[f.Name] = f
	}
	for name, t := range h.taps {
		if _, ok := want[name]; !ok {
			t.f.Close()
			delete(h.taps, name)
		}
	}
	var errs []error
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		spec := want[name]
		t := h.taps[name]
		if t == nil {
			var err error
			if t, err = h.create(spec); err != nil {
				errs = append(errs, err)
				continue
			}
			h.taps[name] = t
			h.wg.Go(func() { h.readLoop(t) })
		}
		if err := configure(t, spec); err != nil {
			errs = append(errs, err)
		}
		t.spec = spec
	}
	return errors.Join(errs...)
}

// create opens a TAP device (IFF_TAP, no packet information header).
func (h *HostInterfaces) create(spec Interface) (*tap, error) {
	dev, err := LinuxName(spec.Name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("host interface %s: open /dev/net/tun: %w", dev, err)
	}
	var req [unix.IFNAMSIZ + 64]byte
	copy(req[:], dev)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("host interface %s: TUNSETIFF: %w", dev, e)
	}
	// Host interfaces carry IPv4 only; keep IPv6 neighbour discovery off
	// the wire.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6", []byte("1"), 0)
	return &tap{ifl: spec.Name, dev: dev, f: os.NewFile(uintptr(fd), "/dev/net/tun:"+dev)}, nil
}

// configure sets the device's MAC, address and state.
func configure(t *tap, spec Interface) error {
	link, err := netlink.LinkByName(t.dev)
	if err != nil {
		return fmt.Errorf("host interface %s: %w", t.dev, err)
	}
	if spec.MAC != nil && link.Attrs().HardwareAddr.String() != spec.MAC.String() {
		if err := netlink.LinkSetHardwareAddr(link, spec.MAC); err != nil {
			return fmt.Errorf("host interface %s: set MAC %s: %w", t.dev, spec.MAC, err)
		}
	}
	if t.spec.Addr != spec.Addr && t.spec.Addr.IsValid() {
		_ = netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(t.spec.Addr)})
	}
	if spec.Addr.IsValid() && t.spec.Addr != spec.Addr {
		if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(spec.Addr)}); err != nil {
			return fmt.Errorf("host interface %s: address %s: %w", t.dev, spec.Addr, err)
		}
	}
	if spec.Up {
		err = netlink.LinkSetUp(link)
	} else {
		err = netlink.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("host interface %s: set %v: %w", t.dev, spec.Up, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().As4()
	return &net.IPNet{IP: a[:], Mask: net.CIDRMask(p.Bits(), 32)}
}

// writeToHost is the Dispatcher's Fallback: the frame goes to the host
// stack through the TAP of its ingress interface.
func (h *HostInterfaces) writeToHost(ifl string, frame []byte) {
	h.mu.Lock()
	t := h.taps[ifl]
	h.mu.Unlock()
	if t == nil {
		h.toHostErr.Add(1)
		return
	}
	if _, err := t.f.Write(frame); err != nil {
		h.toHostErr.Add(1)
		return
	}
	h.toHost.Add(1)
}

// readLoop injects what the host stack sends on t, until t is closed.
func (h *HostInterfaces) readLoop(t *tap) {
	buf := make([]byte, 65536)
	for {
		n, err := t.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				h.log.Warn("host interface read failed", "dev", t.dev, "err", err)
			}
			return
		}
		if n < 14 {
			continue
		}
		if err := h.tr.Inject(t.ifl, append([]byte(nil), buf[:n]...)); err != nil {
			h.fromHostErr.Add(1)
			continue
		}
		h.fromHost.Add(1)
	}
}

// Close removes every device and waits for the readers.
func (h *HostInterfaces) Close() error {
	h.mu.Lock()
	h.closed = true
	for name, t := range h.taps {
		t.f.Close()
		delete(h.taps, name)
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// Run closes the devices when ctx ends.
func (h *HostInterfaces) Run(ctx context.Context) {
	<-ctx.Done()
	_ = h.Close()
}
