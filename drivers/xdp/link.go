package xdp

import (
	"github.com/mxfwd/mxfwd/drivers/internal/linkmon"
	"github.com/mxfwd/mxfwd/hal"
)

// startLinks starts the link monitor of the ports (linkmon): the state of
// a port is reported when an IFL is bound to it (rebind), then every change
// the kernel announces. The monitor stops at Close.
func (d *Driver) startLinks() error {
	ports := map[int]linkmon.Port{}
	byIndex := map[int]*port{}
	for _, p := range d.ports {
		ports[p.ifindex] = linkmon.Port{Phys: p.phys, Ifname: p.ifname}
		byIndex[p.ifindex] = p
	}
	m, err := linkmon.Start(d.ctx, linkmon.Config{
		Netns: d.nsPath, Ports: ports, Logger: d.log, Driver: Name,
		Bound: func(ifindex int) hal.IFLIndex {
			if p := byIndex[ifindex]; p != nil {
				return hal.IFLIndex(p.boundIFL.Load())
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

// LinkUp reports the kernel's operational state of the port bound to IFL
// ifl, as the monitor last saw it; known is false for an IFL without a
// port or before the kernel's first word.
func (d *Driver) LinkUp(ifl hal.IFLIndex) (up, known bool) {
	p := d.boundPort(ifl)
	if p == nil || d.links == nil {
		return false, false
	}
	return d.links.Up(p.ifindex)
}
