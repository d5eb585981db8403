package rib

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Linux routing tables.
const (
	TableMain  = unix.RT_TABLE_MAIN  // 254, the default of rib-import kernel
	TableLocal = unix.RT_TABLE_LOCAL // 255, local and broadcast routes: never imported
)

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	// Table is the Linux routing table to import (0: main, 254).
	Table int
	// NetNS is the path of the network namespace to read
	// (/var/run/netns/NAME); "" reads the caller's.
	NetNS string
	// Queue bounds the update channel. 0 means 1024: a burst of 1024 route
	// changes (an IGP's SPF run in a lab) waits for the owner; beyond
	// that the follower counts an overflow and resynchronises with a dump.
	Queue int
	// Settle is how long the follower waits after a link or address event
	// before dumping the table again (the kernel flushes the routes of a
	// link that goes down without announcing each deletion). 0: 100 ms.
	Settle time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// FollowerStats are the follower's counters.
type FollowerStats struct {
	// Updates handed to the owner (resyncs included).
	Updates uint64 `json:"updates"`
	// Overflows: route events that found the queue full (each starts a resync).
	Overflows uint64 `json:"overflows"`
	// Resyncs: full table dumps sent or being sent (the first one included).
	Resyncs uint64 `json:"resyncs"`
	// Unmapped: route next hops dropped because their Linux interface
	// does not mirror an IFL (eth0, lo, ...).
	Unmapped uint64 `json:"unmapped-next-hops"`
	// Restarts: netlink subscriptions lost and re-established (socket
	// overrun, namespace gone, ...).
	Restarts uint64 `json:"restarts"`
}

// Follower imports a Linux routing table over rtnetlink and follows it:
// it dumps the table, then decodes every route event of that table into
// KernelUpdates on a bounded channel for the owner to apply with
// RIB.ApplyKernel. It owns one goroutine (Run) plus the netlink library's
// readers, all stopped when Run's context is cancelled. It never touches
// the RIB.
//
// Delivery: the first update and every update after an overflow, a link or
// address change, or a lost subscription is a Resync (the whole table);
// the others are single-route adds or deletes, in kernel order. Applying
// them in order leaves the RIB's imported routes equal to the table.
type Follower struct {
	cfg FollowerConfig
	log *slog.Logger
	out chan KernelUpdate

	updates, overflows, resyncs, unmapped, restarts atomic.Uint64
}

// NewFollower returns a follower; Run starts it.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Table == 0 {
		cfg.Table = TableMain
	}
	if cfg.Table < 0 || cfg.Table == TableLocal || int64(cfg.Table) > math.MaxUint32 {
		return nil, fmt.Errorf("rib: kernel table %d: %w: use 1..4294967295 except 255 (local)", cfg.Table, ErrInvalid)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower{cfg: cfg, log: log.With("table", cfg.Table), out: make(chan KernelUpdate, cfg.Queue)}, nil
}

// Updates is the channel the owner reads. It is closed when Run returns.
func (f *Follower) Updates() <-chan KernelUpdate { return f.out }

// Stats returns the counters; safe from any goroutine.
func (f *Follower) Stats() FollowerStats {
	return FollowerStats{
		Updates: f.updates.Load(), Overflows: f.overflows.Load(), Resyncs: f.resyncs.Load(),
		Unmapped: f.unmapped.Load(), Restarts: f.restarts.Load(),
	}
}

// Run follows the table until ctx is cancelled. A lost subscription is
// re-established (with a resync), backing off up to 5 s while it keeps
// failing. It returns nil on cancellation, or the error that prevents it
// from starting at all (namespace or netlink socket unavailable).
func (f *Follower) Run(ctx context.Context) error {
	defer close(f.out)
	ns := netns.None()
	if f.cfg.NetNS != "" {
		h, err := netns.GetFromPath(f.cfg.NetNS)
		if err != nil {
			return fmt.Errorf("rib: kernel import: namespace %s: %w", f.cfg.NetNS, err)
		}
		defer h.Close()
		ns = h
	}
	var h *netlink.Handle
	var err error
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("rib: kernel import: netlink: %w", err)
	}
	defer h.Close()

	backoff := time.Duration(0)
	for {
		synced, err := f.session(ctx, h, ns)
		if ctx.Err() != nil {
			return nil
		}
		f.restarts.Add(1)
		if synced {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		}
		f.log.Warn("kernel route import restarting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

var errSubscription = errors.New("netlink subscription closed")

// session subscribes, dumps, then follows until ctx ends or the
// subscription fails. synced reports whether the first dump was delivered.
func (f *Follower) session(ctx context.Context, h *netlink.Handle, ns netns.NsHandle) (synced bool, err error) {
	done := make(chan struct{})
	rch := make(chan netlink.RouteUpdate, 64)
	lch := make(chan netlink.LinkUpdate, 16)
	ach := make(chan netlink.AddrUpdate, 16)
	errc := make(chan error, 1)
	onErr := func(err error) {
		select {
		case <-done: // our own Close
		case errc <- err:
		default:
		}
	}
	var nsp *netns.NsHandle
	if ns.IsOpen() {
		nsp = &ns
	}
	// The library's readers block sending on their channel and close it
	// when their socket is closed: close done, then drain until closed, so
	// that none is left behind.
	started := []func(){}
	defer func() {
		close(done)
		for _, drain := range started {
			drain()
		}
	}()
	if err := netlink.RouteSubscribeWithOptions(rch, done, netlink.RouteSubscribeOptions{Namespace: nsp, ErrorCallback: onErr}); err != nil {
		return false, fmt.Errorf("subscribe routes: %w", err)
	}
	started = append(started, func() {
		for range rch {
		}
	})
	if err := netlink.LinkSubscribeWithOptions(lch, done, netlink.LinkSubscribeOptions{Namespace: nsp, ErrorCallback: onErr}); err != nil {
		return false, fmt.Errorf("subscribe links: %w", err)
	}
	started = append(started, func() {
		for range lch {
		}
	})
	if err := netlink.AddrSubscribeWithOptions(ach, done, netlink.AddrSubscribeOptions{Namespace: nsp, ErrorCallback: onErr}); err != nil {
		return false, fmt.Errorf("subscribe addresses: %w", err)
	}
	started = append(started, func() {
		for range ach {
		}
	})

	names := linkNames{h: h, m: map[int]string{}}
	if err := f.resync(ctx, h, &names); err != nil {
		return false, err
	}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case err := <-errc:
			return true, fmt.Errorf("%w: %v", errSubscription, err)
		case u, ok := <-rch:
			if !ok {
				return true, fmt.Errorf("%w: routes", errSubscription)
			}
			ku, ok := f.decode(u, &names)
			if !ok {
				continue
			}
			select {
			case f.out <- ku:
				f.updates.Add(1)
			default:
				f.overflows.Add(1)
				f.log.Warn("kernel route queue full: resynchronising", "queue", cap(f.out))
				if err := f.resync(ctx, h, &names); err != nil {
					return true, err
				}
			}
		case _, ok := <-lch:
			if !ok {
				return true, fmt.Errorf("%w: links", errSubscription)
			}
			names.reset()
			if settle == nil {
				settle = time.After(f.cfg.Settle)
			}
		case _, ok := <-ach:
			if !ok {
				return true, fmt.Errorf("%w: addresses", errSubscription)
			}
			if settle == nil {
				settle = time.After(f.cfg.Settle)
			}
		case <-settle:
			settle = nil
			if err := f.resync(ctx, h, &names); err != nil {
				return true, err
			}
		}
	}
}

// resync dumps the table and hands it to the owner, waiting for room.
func (f *Follower) resync(ctx context.Context, h *netlink.Handle, names *linkNames) error {
	names.reset()
	filter := &netlink.Route{Table: f.cfg.Table}
	var list []netlink.Route
	var err error
	for try := 0; try < 5; try++ {
		list, err = h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("dump table %d: %w", f.cfg.Table, err)
	}
	u := KernelUpdate{Resync: true, Routes: make([]KernelRoute, 0, len(list))}
	for i := range list {
		if kr, ok := f.route(&list[i], names); ok {
			u.Routes = append(u.Routes, kr)
		}
	}
	// Counted before the send, so that an owner that has applied a resync
	// sees it counted.
	f.resyncs.Add(1)
	select {
	case f.out <- u:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.updates.Add(1)
	return nil
}

// decode turns a route event into an update. Events of other tables and
// families are skipped. A new route that is not importable (not unicast,
// derived from an interface address, no next hop over a mirrored
// interface) is sent as a delete of its key: it may replace one that was.
func (f *Follower) decode(u netlink.RouteUpdate, names *linkNames) (KernelUpdate, bool) {
	rt := &u.Route
	if rt.Family != netlink.FAMILY_V4 || rt.Table != f.cfg.Table || rt.Dst == nil {
		return KernelUpdate{}, false
	}
	key, ok := routeKeyOf(rt)
	if !ok {
		return KernelUpdate{}, false
	}
	if u.Type == unix.RTM_NEWROUTE {
		if kr, ok := f.route(rt, names); ok {
			return KernelUpdate{Routes: []KernelRoute{kr}}, true
		}
	} else if u.Type != unix.RTM_DELROUTE {
		return KernelUpdate{}, false
	}
	return KernelUpdate{Delete: true, Routes: []KernelRoute{key}}, true
}

// routeKeyOf returns the route's identity (prefix, TOS, priority).
func routeKeyOf(rt *netlink.Route) (KernelRoute, bool) {
	ip := rt.Dst.IP.To4()
	ones, size := rt.Dst.Mask.Size()
	if ip == nil || size != 32 {
		return KernelRoute{}, false
	}
	a, _ := netip.AddrFromSlice(ip)
	return KernelRoute{
		Prefix: netip.PrefixFrom(a, ones).Masked(), TOS: uint8(rt.Tos),
		Priority: uint32(rt.Priority), Protocol: uint8(rt.Protocol),
	}, true
}

// route converts an importable route: unicast, not derived from an
// interface address (the RIB has those as Direct routes), with at least
// one next hop over an interface that mirrors an IFL.
func (f *Follower) route(rt *netlink.Route, names *linkNames) (KernelRoute, bool) {
	if rt.Type != unix.RTN_UNICAST || rt.Protocol == unix.RTPROT_KERNEL || rt.Flags&unix.RTM_F_CLONED != 0 {
		return KernelRoute{}, false
	}
	kr, ok := routeKeyOf(rt)
	if !ok {
		return KernelRoute{}, false
	}
	add := func(link int, gw net.IP) {
		name, ok := names.ifl(link)
		if !ok {
			f.unmapped.Add(1)
			return
		}
		nh := NextHop{Interface: name}
		if g := gw.To4(); g != nil {
			nh.Gateway, _ = netip.AddrFromSlice(g)
		}
		kr.NextHops = append(kr.NextHops, nh)
	}
	if len(rt.MultiPath) > 0 {
		for _, nh := range rt.MultiPath {
			add(nh.LinkIndex, nh.Gw)
		}
	} else {
		add(rt.LinkIndex, rt.Gw)
	}
	return kr, len(kr.NextHops) > 0
}

// linkNames caches ifindex -> IFL name (or "" for a link that mirrors no
// IFL); reset whenever links change.
type linkNames struct {
	h *netlink.Handle
	m map[int]string
}

func (l *linkNames) reset() { clear(l.m) }

func (l *linkNames) ifl(index int) (string, bool) {
	if index <= 0 {
		return "", false
	}
	name, ok := l.m[index]
	if !ok && l.h != nil {
		if link, err := l.h.LinkByIndex(index); err == nil {
			name, _ = IFLFromLinux(link.Attrs().Name)
		}
		l.m[index] = name
	}
	return name, name != ""
}
