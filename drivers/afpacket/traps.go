package afpacket

import (
	"golang.org/x/sys/unix"
)

// refilterLocked replaces the socket filter of every receive ring with one
// built from the traps now programmed (rxFilter), so that what a trap wants
// (ARP, IPv4 to the router's addresses) reaches the rings. A ring whose
// filter cannot be replaced keeps the old one; the failure is logged.
// Called with applyMu held.
func (d *Driver) refilterLocked() {
	prog := rxFilter(d.core.Traps())
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	for _, p := range d.ports {
		if err := unix.SetsockoptSockFprog(p.rx.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
			d.log.Error("afpacket: cannot replace the receive filter; trapped ARP and unicast may not arrive", "port", p.phys, "err", err)
		}
	}
}
