// Package linkmon follows the kernel's operational state of the ports of a
// driver with real ports (afpacket, xdp) over rtnetlink and reports it as
// hal.LinkState: the state of a port when an IFL is bound to it (from the
// kernel's dump at start), then every change, once each.
//
// A port is up when the kernel says its operational state is up (RFC 2863
// ifOperStatus; a veth whose peer is down is "lower layer down"), or, for
// drivers that do not report one (operstate unknown), when it is
// administratively up with carrier (IFF_UP and IFF_RUNNING). The kernel
// itself stops transmitting on a port that is down; drivers only report,
// and the RE reprograms the OILs.
//
// Concurrency: one goroutine (run), owned by the Monitor, applies the
// kernel's notifications until the context given to Start is done; Wait
// waits for it. Report and Up may be called from any goroutine. Reports
// are made under the Monitor's lock, so that they reach Config.Report in
// the order the Monitor decided them; Config.Report must not block (as
// hal.Upcalls.OnLinkState).
package linkmon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
)

// Port names a followed port in logs.
type Port struct {
	Phys   string // "xe-3/1/0"
	Ifname string // Linux interface
}

// Config says what to follow and whom to tell.
type Config struct {
	// Netns is the path of the ports' network namespace; empty: the
	// caller's.
	Netns string
	// Ports are the followed ports by Linux ifindex.
	Ports map[int]Port
	// Bound returns the IFL bound to the port now (0: none). Called
	// with the Monitor's lock held, from any goroutine.
	Bound func(ifindex int) hal.IFLIndex
	// Report receives the reports (hal.Upcalls.OnLinkState).
	Report func(hal.LinkState)
	Logger *slog.Logger
	// Driver prefixes log messages ("afpacket").
	Driver string
}

// Monitor is a running link monitor.
type Monitor struct {
	cfg Config
	wg  sync.WaitGroup

	mu       sync.Mutex
	up       map[int]bool          // by ifindex: the kernel's last word
	reported map[int]hal.LinkState // by ifindex: what was last reported
}

// Start subscribes to link notifications in the ports' namespace, with
// the kernel's dump of the existing links for the initial states, and
// follows them until ctx is done.
func Start(ctx context.Context, cfg Config) (*Monitor, error) {
	m := &Monitor{cfg: cfg, up: map[int]bool{}, reported: map[int]hal.LinkState{}}
	ch := make(chan netlink.LinkUpdate, 64)
	opts := netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			if ctx.Err() == nil { // closing the socket at the end fails its read
				cfg.Logger.Warn(cfg.Driver+": link monitor", "err", err)
			}
		},
	}
	if cfg.Netns != "" {
		h, err := netns.GetFromPath(cfg.Netns)
		if err != nil {
			return nil, fmt.Errorf("%s: link monitor: netns %s: %w", cfg.Driver, cfg.Netns, err)
		}
		defer h.Close()
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(ch, ctx.Done(), opts); err != nil {
		return nil, fmt.Errorf("%s: link monitor: subscribe: %w", cfg.Driver, err)
	}
	m.wg.Add(1)
	go m.run(ch)
	return m, nil
}

// Wait returns once the monitor's goroutine has stopped (after the
// context given to Start is done).
func (m *Monitor) Wait() { m.wg.Wait() }

// operUp is the monitor's reading of a link's attributes.
func operUp(a *netlink.LinkAttrs) bool {
	switch a.OperState {
	case netlink.OperUp:
		return true
	case netlink.OperUnknown:
		return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0
	}
	return false
}

// run applies link notifications until the subscription ends (the
// library closes ch when the context is done).
func (m *Monitor) run(ch <-chan netlink.LinkUpdate) {
	defer m.wg.Done()
	for u := range ch {
		if u.Link == nil {
			continue
		}
		a := u.Link.Attrs()
		p, ok := m.cfg.Ports[a.Index]
		if !ok {
			continue
		}
		up := operUp(a)
		if u.Header.Type == unix.RTM_DELLINK {
			up = false
		}
		m.mu.Lock()
		old, known := m.up[a.Index]
		m.up[a.Index] = up
		if !known || old != up {
			m.cfg.Logger.Info(m.cfg.Driver+": link state", "port", p.Phys, "interface", p.Ifname, "up", up, "operstate", a.OperState.String())
		}
		m.reportLocked(a.Index)
		m.mu.Unlock()
	}
}

// Report reports the state of port ifindex if an IFL is bound to it, the
// kernel's state is known and it differs from what was last reported for
// the port. Drivers call it when the IFL bound to a port changed.
func (m *Monitor) Report(ifindex int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reportLocked(ifindex)
}

func (m *Monitor) reportLocked(ifindex int) {
	up, known := m.up[ifindex]
	ls := hal.LinkState{IFL: m.cfg.Bound(ifindex), Up: up}
	if ls.IFL == 0 || !known || m.reported[ifindex] == ls {
		return
	}
	m.reported[ifindex] = ls
	m.cfg.Report(ls)
}

// Up returns the kernel's operational state of port ifindex as last seen;
// known is false before the kernel's first word or for a port not
// followed.
func (m *Monitor) Up(ifindex int) (up, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	up, known = m.up[ifindex]
	return up, known
}
