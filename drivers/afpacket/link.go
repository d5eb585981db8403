package afpacket

import (
	"fmt"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
)

// Link state: the driver follows the kernel's operational state of its
// ports over rtnetlink (RTM_NEWLINK notifications of RTNLGRP_LINK, in the
// ports' namespace) and reports it through hal.Upcalls.OnLinkState: the
// state of a port when an IFL is bound to it (from the kernel's dump at
// start), then every change. A port is up when the kernel says its
// operational state is up (RFC 2863 ifOperStatus; a veth whose peer is
// down is "lower layer down"), or, for drivers that do not report one
// (operstate unknown), when it is administratively up with carrier
// (IFF_UP and IFF_RUNNING).
//
// The monitor runs one goroutine (runLinks) owned by the driver: it stops
// when the driver's context ends (Close). The kernel itself stops
// transmitting on a port that is down; the driver only reports, and the RE
// reprograms the OILs.

// linkMonitor holds what the monitor knows; guarded by mu.
type linkMonitor struct {
	mu       sync.Mutex
	up       map[int]bool            // by Linux ifindex: the kernel's last word
	reported map[*port]hal.LinkState // what was last reported for a port
}

func newLinkMonitor() *linkMonitor {
	return &linkMonitor{up: map[int]bool{}, reported: map[*port]hal.LinkState{}}
}

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

// startLinks subscribes to link notifications in the ports' namespace and
// starts runLinks. The kernel's dump of the existing links (ListExisting)
// gives the initial states.
func (d *Driver) startLinks() error {
	ch := make(chan netlink.LinkUpdate, 64)
	opts := netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			d.log.Warn("afpacket: link monitor", "err", err)
		},
	}
	if path := netnsPath(d.opts.Netns); path != "" {
		h, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("afpacket: link monitor: netns %s: %w", path, err)
		}
		defer h.Close()
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(ch, d.ctx.Done(), opts); err != nil {
		return fmt.Errorf("afpacket: link monitor: subscribe: %w", err)
	}
	d.wg.Add(1)
	go d.runLinks(ch)
	return nil
}

// runLinks applies link notifications until the subscription ends (the
// driver's context is done: the library closes ch).
func (d *Driver) runLinks(ch <-chan netlink.LinkUpdate) {
	defer d.wg.Done()
	byIndex := map[int]*port{}
	for _, p := range d.ports {
		byIndex[p.ifindex] = p
	}
	for u := range ch {
		if u.Link == nil {
			continue
		}
		a := u.Link.Attrs()
		p := byIndex[a.Index]
		if p == nil {
			continue
		}
		up := operUp(a)
		if u.Header.Type == unix.RTM_DELLINK {
			up = false
		}
		d.links.mu.Lock()
		old, known := d.links.up[a.Index]
		d.links.up[a.Index] = up
		d.links.mu.Unlock()
		if !known || old != up {
			d.log.Info("afpacket: link state", "port", p.phys, "interface", p.ifname, "up", up, "operstate", a.OperState.String())
		}
		d.reportLink(p)
	}
}

// reportLink reports port p's state if an IFL is bound to it, the kernel's
// state is known and it differs from what was last reported for p.
func (d *Driver) reportLink(p *port) {
	ifl := p.boundIFL()
	d.links.mu.Lock()
	up, known := d.links.up[p.ifindex]
	ls := hal.LinkState{IFL: ifl, Up: up}
	if ifl == 0 || !known || d.links.reported[p] == ls {
		d.links.mu.Unlock()
		return
	}
	d.links.reported[p] = ls
	d.links.mu.Unlock()
	d.cfg.Upcalls.OnLinkState(ls)
}

// LinkUp reports the kernel's operational state of the port bound to IFL
// ifl, as the monitor last saw it; known is false for an IFL without a
// port or before the kernel's first word.
func (d *Driver) LinkUp(ifl hal.IFLIndex) (up, known bool) {
	p := d.portOf(ifl)
	if p == nil {
		return false, false
	}
	d.links.mu.Lock()
	defer d.links.mu.Unlock()
	up, known = d.links.up[p.ifindex]
	return up, known
}
