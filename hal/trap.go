package hal

import (
	"fmt"
	"net/netip"
)

// TrapID identifies a host-path trap; the RE chooses it (1..0xfffd) and
// the card reports it with every packet the trap sends to the host.
type TrapID uint16

// Reserved trap ids.
const (
	// TrapNone: not trapped.
	TrapNone TrapID = 0
	// TrapEncap: a multicast packet replicated to an IFLEncap interface
	// (pe-): the DR encapsulates it in a PIM Register. No Trap object
	// programs it; every driver raises it.
	TrapEncap TrapID = 0xfffe
)

// TrapKind says what a trap matches.
type TrapKind uint8

// Trap kinds (the modelled platform's host-path classes; SAI/SONiC call
// them traps of host interfaces).
const (
	// TrapARP matches ARP requests and replies whose target protocol
	// address is Addr (one of the router's addresses).
	TrapARP TrapKind = 1
	// TrapLocal matches IPv4 packets whose destination is Addr.
	TrapLocal TrapKind = 2
	// TrapProtocol matches IPv4 packets of IP protocol Proto, whatever
	// their destination (103 PIM, 2 IGMP).
	TrapProtocol TrapKind = 3
	// TrapGroup matches IPv4 packets to a destination in Prefix
	// (224.0.0.0/24: link-local multicast).
	TrapGroup TrapKind = 4
)

func (k TrapKind) String() string {
	switch k {
	case TrapARP:
		return "arp"
	case TrapLocal:
		return "local"
	case TrapProtocol:
		return "protocol"
	case TrapGroup:
		return "group"
	}
	return fmt.Sprintf("TrapKind(%d)", uint8(k))
}

// Trap is one host-path trap: packets it matches are sent to the host
// (Upcalls.OnPunt) instead of being forwarded. Only the field of its Kind
// is read: Addr for TrapARP and TrapLocal, Proto for TrapProtocol, Prefix
// for TrapGroup.
//
// Precedence, the same in every driver (see TrapTable): ARP traps for ARP
// frames; then, for IPv4, protocol traps, local traps, group traps, in
// that order; the lowest ID wins within a kind. A packet no trap matches
// is forwarded (multicast) or dropped (unicast not addressed to the
// router, and ARP for another address: counted as NoRoute). Traps are
// checked before the route lookup, the RPF check and the TTL check: a
// trapped packet is punted whatever its TTL or ingress.
type Trap struct {
	ID     TrapID
	Kind   TrapKind
	Addr   netip.Addr
	Proto  uint8
	Prefix netip.Prefix
}

// Validate checks the trap's fields for its kind.
func (t Trap) Validate() error {
	if t.ID == TrapNone || t.ID >= TrapEncap {
		return fmt.Errorf("trap id %d: reserved: %w", t.ID, ErrInvalid)
	}
	switch t.Kind {
	case TrapARP, TrapLocal:
		if !t.Addr.Is4() {
			return fmt.Errorf("trap %d (%s): address %v is not IPv4: %w", t.ID, t.Kind, t.Addr, ErrInvalid)
		}
	case TrapProtocol:
	case TrapGroup:
		if !t.Prefix.IsValid() || !t.Prefix.Addr().Is4() {
			return fmt.Errorf("trap %d (group): prefix %v is not IPv4: %w", t.ID, t.Prefix, ErrInvalid)
		}
	default:
		return fmt.Errorf("trap %d: kind %d: %w", t.ID, t.Kind, ErrInvalid)
	}
	return nil
}

// LinkState is a port's operational state change, reported by a driver
// with real ports (Upcalls.OnLinkState).
type LinkState struct {
	IFL IFLIndex
	Up  bool
}
