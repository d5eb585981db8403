package afpacket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/drivers/internal/linkmon"
	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// Name is the driver name used by `fpc run --driver`.
const Name = "afpacket"

// housekeepingInterval is how often stalled TX rings are flushed again and
// the done context is checked. A flush only stalls when a socket's send
// buffer is full, i.e. under load, when the next batch flushes anyway; this
// timer only bounds the delay of the last frames of a burst (10 ms).
const housekeepingInterval = 10 * time.Millisecond

// Driver is the afpacket packet forwarding engine. Create it with New.
type Driver struct {
	cfg  hal.Config
	log  *slog.Logger
	opts options

	core *swpfe.Core
	// out and inject are the TxFuncs of Input and Transmit, bound once so
	// that no call allocates a method value.
	out, inject swpfe.TxFunc

	ports  []*port          // sorted by physical name; fixed after New
	byPhys map[string]*port // physical name -> port; fixed after New

	// egress maps bound IFLs to ports. It is replaced as a whole under
	// applyMu and read lock-free on the packet path.
	egress atomic.Pointer[map[hal.IFLIndex]*binding]

	applyMu sync.Mutex              // serialises Apply and Close
	ifls    map[hal.IFLIndex]string // IFLs set through Apply, by name; under applyMu

	noPort atomic.Uint64 // frames forwarded to an IFL without a local port

	links *linkmon.Monitor // the ports' operational state (link.go); nil until New starts it

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ hal.Driver      = (*Driver)(nil)
	_ hal.Tunable     = (*Driver)(nil)
	_ hal.VtyHandler  = (*Driver)(nil)
	_ hal.Constructor = New
)

// New opens every port of cfg.Ports (physical interface name -> Linux
// interface), in the namespace named by option "netns" if set, and starts
// one RX worker per port. It fails, naming the port, when a Linux interface
// does not exist or the kernel's multicast routing is active on it, and it
// fails with a clear message without root / CAP_NET_RAW.
//
// The workers and the housekeeping goroutine stop when ctx is cancelled or
// Close is called; Close must be called in both cases to release the rings.
func New(ctx context.Context, cfg hal.Config) (hal.Driver, error) {
	return newDriver(ctx, cfg)
}

func newDriver(ctx context.Context, cfg hal.Config) (*Driver, error) {
	if cfg.Logger == nil || cfg.Upcalls == nil {
		return nil, fmt.Errorf("afpacket: config needs Logger and Upcalls: %w", hal.ErrInvalid)
	}
	o, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("afpacket: %w", err)
	}
	d := &Driver{
		cfg:    cfg,
		log:    cfg.Logger,
		opts:   o,
		byPhys: make(map[string]*port),
		ifls:   make(map[hal.IFLIndex]string),
	}
	d.egress.Store(&map[hal.IFLIndex]*binding{})
	if err := checkPrivileges(netns.Path(o.Netns)); err != nil {
		return nil, err
	}
	if err := d.openPorts(); err != nil {
		d.closePorts()
		return nil, err
	}
	d.core = swpfe.NewCore(cfg)
	d.out, d.inject = d.txOut, d.txInject
	d.ctx, d.cancel = context.WithCancel(ctx)
	for _, p := range d.ports {
		d.wg.Add(1)
		go d.runRX(p, d.newRXWorker())
	}
	d.wg.Add(1)
	go d.runHousekeeping()
	if err := d.startLinks(); err != nil {
		d.Close()
		return nil, err
	}
	d.log.Info("afpacket: ports open", "ports", len(d.ports), "netns", o.Netns,
		"rx_ring_bytes", o.RXBlockSize*o.RXBlocks, "tx_mode", o.TXMode, "batch", o.Batch, "busy_poll", o.BusyPoll, "rx_rt_priority", o.RTPriority)
	return d, nil
}

// checkPrivileges opens and closes one packet socket so that a missing
// privilege is reported as such, before any port is looked at.
func checkPrivileges(ns string) error {
	return netns.Run(ns, func() error {
		fd, err := openPacketSocket()
		if err != nil {
			if errors.Is(err, errPermission) {
				return fmt.Errorf("afpacket: cannot open packet sockets (running as uid %d): run the FPC as root or grant CAP_NET_RAW (and CAP_NET_ADMIN for SO_SNDBUFFORCE): %w", os.Geteuid(), err)
			}
			return fmt.Errorf("afpacket: %w", err)
		}
		closeFD(fd)
		return nil
	})
}

// openPorts opens every configured port, all at once: setting up a packet
// ring and closing a packet socket each wait for an RCU grace period
// (synchronize_net, tens of ms on a small VM), which would otherwise add
// up to seconds for a 64-port card.
func (d *Driver) openPorts() error {
	names := slices.Sorted(maps.Keys(d.cfg.Ports))
	if len(names) == 0 {
		d.log.Warn("afpacket: no ports configured (use --port xe-F/P/N=ifname); nothing will be received")
	}
	for _, phys := range names {
		if strings.Contains(phys, ".") {
			return fmt.Errorf("afpacket: port %s=%s: name the physical interface (no unit): %w", phys, d.cfg.Ports[phys], hal.ErrInvalid)
		}
	}
	warn := func(msg string, args ...any) { d.log.Warn(msg, args...) }
	ns := netns.Path(d.opts.Netns)
	ports := make([]*port, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, phys := range names {
		wg.Go(func() {
			ifname := d.cfg.Ports[phys]
			errs[i] = netns.Run(ns, func() error {
				var err error
				ports[i], err = openPort(phys, ifname, d.opts, warn)
				return err
			})
			if errs[i] != nil {
				where := ""
				if d.opts.Netns != "" {
					where = " in netns " + d.opts.Netns
				}
				errs[i] = fmt.Errorf("afpacket: port %s: Linux interface %q%s: %w", phys, ifname, where, errs[i])
			}
		})
	}
	wg.Wait()
	for i, p := range ports {
		if p != nil {
			d.ports = append(d.ports, p)
			d.byPhys[names[i]] = p
		}
	}
	return errors.Join(errs...)
}

// closePorts releases every port's rings, in parallel (see openPorts).
func (d *Driver) closePorts() {
	var wg sync.WaitGroup
	for _, p := range d.ports {
		wg.Go(p.close)
	}
	wg.Wait()
}

// Name implements hal.Driver.
func (d *Driver) Name() string { return Name }

// Apply implements hal.Driver: the operations go to the forwarding core;
// IFL operations also bind a port's unit-0 IFL to its Linux interface.
func (d *Driver) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if d.closed.Load() {
		return 0, hal.ErrClosed
	}
	n, err := d.core.Apply(ctx, ops)
	rebind, refilter := false, false
	for i := range ops {
		switch ops[i].Kind {
		case hal.OpSetIFL:
			d.ifls[ops[i].IFL.Index] = ops[i].IFL.Name
			rebind = true
		case hal.OpDelIFL:
			rebind = true
		case hal.OpSetTrap, hal.OpDelTrap:
			refilter = true
		}
	}
	if rebind {
		d.rebindLocked()
	}
	if refilter {
		d.refilterLocked()
	}
	return n, err
}

// rebindLocked recomputes which IFL each port serves from what the core
// holds now (so a failed op in a batch never leaves a stale binding).
func (d *Driver) rebindLocked() {
	next := make(map[hal.IFLIndex]*binding)
	bound := make(map[*port]hal.IFLIndex)
	macs := make(map[hal.IFLIndex][]byte)
	for idx := range d.ifls {
		ifl, err := d.core.IFL(idx)
		if err != nil {
			delete(d.ifls, idx)
			continue
		}
		if ifl.Kind != hal.IFLPhysical {
			continue
		}
		phys, unit, _ := strings.Cut(ifl.Name, ".")
		p := d.byPhys[phys]
		if p == nil {
			continue // another FPC's interface, or one without a --port
		}
		if unit != "" && unit != "0" {
			d.log.Warn("afpacket: only unit 0 of a port is forwarded (no VLAN support)", "ifl", ifl.Name)
			continue
		}
		if prev, ok := bound[p]; ok && prev < idx {
			continue
		}
		bound[p] = idx
		if len(ifl.MAC) != 6 {
			// The RE gave the IFL no MAC: frames leave with the Linux
			// interface's, written while copying into the TX slot.
			macs[idx] = p.mac
		}
	}
	prev := *d.egress.Load()
	for p, idx := range bound {
		if old := prev[idx]; old != nil && old.port == p && string(old.srcMAC) == string(macs[idx]) {
			next[idx] = old // keep its counters
			continue
		}
		next[idx] = &binding{port: p, srcMAC: macs[idx]}
	}
	for _, p := range d.ports {
		old, now := p.boundIFL(), bound[p]
		if old != now {
			d.log.Info("afpacket: port bound", "port", p.phys, "interface", p.ifname, "ifl", now, "previous", old)
		}
		p.ifl.Store(uint32(now))
		if old != now {
			d.reportLink(p)
		}
	}
	d.egress.Store(&next)
}

// portOf returns the port an IFL is bound to, or nil.
func (d *Driver) portOf(ifl hal.IFLIndex) *port {
	if b := (*d.egress.Load())[ifl]; b != nil {
		return b.port
	}
	return nil
}

// Input implements hal.Driver: frames injected as if received on ingress
// go through the same forwarding path as frames from the ring.
func (d *Driver) Input(ingress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	if err := d.core.Forward(ingress, frames, d.out); err != nil {
		return fmt.Errorf("afpacket: input: %w", err)
	}
	return nil
}

// Transmit implements hal.Driver: frames go out of the egress IFL's port
// unchanged; for an aggregate the core picks its first Up member. A
// physical IFL that no port of this driver serves is an error.
func (d *Driver) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	if d.portOf(egress) == nil {
		ifl, err := d.core.IFL(egress)
		if err != nil {
			return fmt.Errorf("afpacket: transmit on ifl %d: %w", egress, err)
		}
		if ifl.Kind == hal.IFLPhysical && ifl.Up {
			return fmt.Errorf("afpacket: transmit on %s (ifl %d): no --port serves it: %w", ifl.Name, egress, hal.ErrNotFound)
		}
	}
	if err := d.core.Send(egress, frames, d.inject); err != nil {
		return fmt.Errorf("afpacket: transmit: %w", err)
	}
	return nil
}

// Route implements hal.Driver.
func (d *Driver) Route(key hal.RouteKey) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	return d.core.Route(key)
}

// Lookup implements hal.Driver.
func (d *Driver) Lookup(source, group netip.Addr) (hal.Route, error) {
	if d.closed.Load() {
		return hal.Route{}, hal.ErrClosed
	}
	return d.core.Lookup(source, group)
}

// NextHop implements hal.Driver.
func (d *Driver) NextHop(id hal.NHID) (hal.NextHop, error) {
	if d.closed.Load() {
		return hal.NextHop{}, hal.ErrClosed
	}
	return d.core.NextHop(id)
}

// IFL implements hal.Driver.
func (d *Driver) IFL(index hal.IFLIndex) (hal.IFL, error) {
	if d.closed.Load() {
		return hal.IFL{}, hal.ErrClosed
	}
	return d.core.IFL(index)
}

// WalkRoutes implements hal.Driver.
func (d *Driver) WalkRoutes(fn func(hal.Route, hal.RouteStat) bool) {
	if d.closed.Load() {
		return
	}
	d.core.WalkRoutes(fn)
}

// WalkHits implements hal.HitWalker through the shared core.
func (d *Driver) WalkHits(since time.Time, fn func(hal.Route, hal.RouteStat) bool) {
	if d.closed.Load() {
		return
	}
	d.core.WalkHits(since, fn)
}

// IFLCounters implements hal.Driver: the core's counters of the IFL, with
// the transmit side replaced by what actually went into the port's TX ring
// and the port's ring drops added: kernel RX ring overruns and TX ring full
// to QueueFull, truncated and oversized frames to Malformed. A physical IFL
// that no port serves transmitted nothing (what the core forwarded to it is
// counted as PortDown).
func (d *Driver) IFLCounters(index hal.IFLIndex) (hal.IFLCounters, error) {
	if d.closed.Load() {
		return hal.IFLCounters{}, hal.ErrClosed
	}
	c, err := d.core.IFLCounters(index)
	if err != nil {
		return c, err
	}
	if b := (*d.egress.Load())[index]; b != nil {
		p := b.port
		c.TxPackets = b.txPackets.Load()
		c.TxBytes = b.txBytes.Load()
		_, kdrops, _ := p.rx.kernelStats()
		c.QueueFull += kdrops + p.st.txRingFull.Load() + p.st.txRefused.Load()
		c.Malformed += p.st.rxTruncated.Load() + p.st.txTooBig.Load()
	} else if ifl, err := d.core.IFL(index); err == nil && ifl.Kind == hal.IFLPhysical {
		c.TxPackets, c.TxBytes = 0, 0
	}
	return c, nil
}

// SetOption implements hal.Tunable; the core takes what it knows.
func (d *Driver) SetOption(key, value string) error {
	if d.closed.Load() {
		return hal.ErrClosed
	}
	return d.core.SetOption(key, value)
}

// Summary implements hal.Driver.
func (d *Driver) Summary() hal.Summary {
	if d.closed.Load() {
		return hal.Summary{}
	}
	return d.core.Summary()
}

// Close implements hal.Driver: it stops the workers, then unmaps the rings
// and closes the sockets. It is safe to call more than once.
func (d *Driver) Close() error {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	d.cancel()
	for _, p := range d.ports {
		p.rx.wake()
	}
	d.wg.Wait()
	if d.links != nil {
		d.links.Wait()
	}
	d.closePorts()
	err := d.core.Close()
	d.log.Info("afpacket: closed")
	return err
}
