package afpacket

import (
	"github.com/mxfwd/mxfwd/drivers/internal/linkmon"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// Link state: the driver follows the kernel's operational state of its
// ports over rtnetlink (drivers/internal/linkmon, in the ports' namespace)
// and reports it through hal.Upcalls.OnLinkState: the state of a port when
// an IFL is bound to it, then every change. The monitor's goroutine stops
// when the driver's context ends (Close). The kernel itself stops
// transmitting on a port that is down; the driver only reports, and the RE
// reprograms the OILs.

// startLinks starts the link monitor of the ports.
func (d *Driver) startLinks() error {
	ports := map[int]linkmon.Port{}
	byIndex := map[int]*port{}
	for _, p := range d.ports {
		ports[p.ifindex] = linkmon.Port{Phys: p.phys, Ifname: p.ifname}
		byIndex[p.ifindex] = p
	}
	m, err := linkmon.Start(d.ctx, linkmon.Config{
		Netns: netns.Path(d.opts.Netns), Ports: ports, Logger: d.log, Driver: "afpacket",
		Bound: func(ifindex int) hal.IFLIndex {
			if p := byIndex[ifindex]; p != nil {
				return p.boundIFL()
			}
			return 0
		},
		Report: d.cfg.Upcalls.OnLinkState,
	})
	if err != nil {
		return err
	}
	d.links = m
	return nil
}

// reportLink reports port p's state if it changed for its bound IFL (the
// monitor decides; see linkmon.Monitor.Report).
func (d *Driver) reportLink(p *port) {
	if d.links != nil {
		d.links.Report(p.ifindex)
	}
}

// LinkUp reports the kernel's operational state of the port bound to IFL
// ifl, as the monitor last saw it; known is false for an IFL without a
// port or before the kernel's first word.
func (d *Driver) LinkUp(ifl hal.IFLIndex) (up, known bool) {
	p := d.portOf(ifl)
	if p == nil || d.links == nil {
		return false, false
	}
	return d.links.Up(p.ifindex)
}
