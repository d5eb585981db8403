// Package swpfe is the software packet forwarding engine: the platform's
// default driver and the correctness reference for the others.
//
// It forwards Ethernet II + IPv4 multicast frames the way seed 003
// describes a Trio PFE at the level of the FIB: what a host-path trap
// matches (hal.TrapTable: ARP and IPv4 for the router's addresses, PIM,
// IGMP, 224.0.0.0/24 as the RE programs them) is punted with the trap's id,
// ARP and IPv4 unicast no trap wants are dropped (NoRoute); other packets
// are looked up by exact (S,G) then
// longest group prefix (224/4 -> Resolve 983 by default); a route with an
// RPF IFL drops packets from elsewhere with a wrong-interface upcall; the
// entry NH decides: Resolve raises a resolve request, (m)discard drops,
// forwarding NHs (Indirect -> Composite -> Aggregate/Unicast) replicate
// the packet once per OIL member, an aggregate choosing one Up member by
// the platform's LAG rule (hal.FlowHash, hal.SublistCount, hal.MemberIndex:
// REFERENCE.md decision 3, the same choice as trio). TTL <= 1 is dropped;
// otherwise the copy's TTL is decremented with an incremental checksum
// update (RFC 1624), its destination MAC set from the group (RFC 1112) and
// its source MAC to the egress IFL's. Copies go out through hal.Config.Egress in batches per
// physical egress IFL. Every drop is counted by reason on the ingress IFL
// (PortDown on the egress IFL). An OIL entry on the encapsulation
// interface (pe-) punts the packet once, unchanged, with hal.TrapEncap; the
// decapsulation interface (pd-) is an ingress like a port. Ports set down
// with SetLinkState (hal.LinkSetter) count their copies as PortDown.
//
// The FIB and packet path live in Core, which drivers with real ports
// (afpacket) reuse with their own TxFunc; Driver is Core plus cfg.Egress.
//
// Programming rules beyond hal.go (shared with haltest.Fake and checked by
// the conformance suite): an IFL's MAC is empty or 6 bytes; Unicast NHs sit
// on physical IFLs, Aggregate NHs on aggregate IFLs with Unicast members,
// Composite members are Unicast or Aggregate, an Indirect does not target
// an Indirect; a referenced NH keeps its type; the RPF IFL of a route need
// not exist, and a packet arriving on a member of the aggregate RPF IFL
// passes the check.
//
// Concurrency: see Core. The driver starts no goroutines.
package swpfe

import (
	"context"
	"fmt"

	"github.com/mxfwd/mxfwd/hal"
)

// Name is the driver name used by cmd/fpc.
const Name = "swpfe"

// Driver is the software PFE: a Core whose output goes to cfg.Egress.
type Driver struct {
	*Core
	tx TxFunc
}

var (
	_ hal.Driver      = (*Driver)(nil)
	_ hal.Tunable     = (*Driver)(nil)
	_ hal.Constructor = New
)

// New builds a Driver (a hal.Constructor). cfg.Egress receives the
// forwarded frames; if it is nil they are counted as transmitted and
// discarded.
func New(_ context.Context, cfg hal.Config) (hal.Driver, error) {
	return NewDriver(cfg)
}

// NewDriver is New returning the concrete type.
func NewDriver(cfg hal.Config) (*Driver, error) {
	d := &Driver{Core: NewCore(cfg)}
	if cfg.Egress != nil {
		// One method value for the driver's lifetime: binding it per
		// call would allocate on the packet path.
		d.tx = cfg.Egress.Output
	} else {
		d.Core.log.Warn("swpfe: no egress configured, forwarded frames are discarded", "slot", cfg.Slot)
		d.tx = func(hal.IFLIndex, [][]byte) {}
	}
	return d, nil
}

// Name implements hal.Driver.
func (d *Driver) Name() string { return Name }

// Input implements hal.Driver: it forwards frames received on ingress to
// cfg.Egress (see Core.Forward).
func (d *Driver) Input(ingress hal.IFLIndex, frames [][]byte) error {
	return d.Core.Forward(ingress, frames, d.tx)
}

// Transmit implements hal.Driver (see Core.Send).
func (d *Driver) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	if err := d.Core.Send(egress, frames, d.tx); err != nil {
		return fmt.Errorf("swpfe: %w", err)
	}
	return nil
}
