package hal

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// TrapTable is the host-path classifier shared by every driver, so that all
// drivers trap exactly the same packets (as flow.go does for the LAG rule).
// It is immutable: Set and Delete return a new table, which a driver
// publishes to its packet path (an atomic pointer); readers never lock. A
// nil *TrapTable is a valid empty table.
//
// The precedence, for a frame that is
//   - ARP (ethertype 0x0806, Ethernet/IPv4 ARP, request or reply): the ARP
//     trap whose Addr is the target protocol address;
//   - IPv4 (ethertype 0x0800, a valid header): the protocol trap of the
//     packet's IP protocol, else the local trap whose Addr is the
//     destination, else the group trap whose Prefix holds the destination;
//   - anything else: no trap.
//
// Within a kind the lowest ID wins (two local traps for one address, two
// overlapping group prefixes). What the packet path does with a packet no
// trap matches is the driver contract's (trap.go): IPv4 unicast is dropped
// and counted as NoRoute, IPv4 multicast is looked up and forwarded, ARP
// is dropped and counted as NoRoute (the PFE neither bridges nor answers
// ARP: the host does, through its ARP trap).
//
// Match and the Match* methods allocate nothing and take no lock: they
// are meant for the per-packet path. Protocol lookups are one array load,
// ARP and local lookups a binary search over the addresses, group lookups
// a scan of the group traps in ID order (a handful: 224.0.0.0/24 and
// perhaps a few more).
type TrapTable struct {
	traps []Trap         // every trap, sorted by ID
	proto [256]TrapID    // lowest protocol trap per IP protocol; TrapNone: none
	arp   []addrTrap     // sorted by address, one (the lowest ID) per address
	local []addrTrap     // likewise
	group []prefixTrap   // sorted by ID
	ids   map[TrapID]int // index in traps
}

type addrTrap struct {
	addr uint32
	id   TrapID
}

type prefixTrap struct {
	addr, mask uint32
	id         TrapID
}

// Ethernet and ARP constants used by Match (RFC 826; Ethernet II).
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	ethHeaderLen  = 14
	arpLen        = 28 // Ethernet/IPv4 ARP body
)

// NewTrapTable builds a table from traps, which it validates (Trap.Validate)
// and copies; an ID given twice is ErrInvalid.
func NewTrapTable(traps []Trap) (*TrapTable, error) {
	t := &TrapTable{traps: slices.Clone(traps), ids: make(map[TrapID]int, len(traps))}
	for i := range t.traps {
		if err := t.traps[i].Validate(); err != nil {
			return nil, err
		}
		t.traps[i] = t.traps[i].canonical()
	}
	slices.SortFunc(t.traps, func(a, b Trap) int { return int(a.ID) - int(b.ID) })
	for i := range t.traps {
		if i > 0 && t.traps[i].ID == t.traps[i-1].ID {
			return nil, fmt.Errorf("trap %d given twice: %w", t.traps[i].ID, ErrInvalid)
		}
	}
	t.index()
	return t, nil
}

// canonical clears the fields the trap's kind does not read and masks a
// group prefix, so that equal traps compare equal.
func (tr Trap) canonical() Trap {
	c := Trap{ID: tr.ID, Kind: tr.Kind}
	switch tr.Kind {
	case TrapARP, TrapLocal:
		c.Addr = tr.Addr
	case TrapProtocol:
		c.Proto = tr.Proto
	case TrapGroup:
		c.Prefix = tr.Prefix.Masked()
	}
	return c
}

// index builds the lookup structures from t.traps (sorted by ID).
func (t *TrapTable) index() {
	for i, tr := range t.traps {
		t.ids[tr.ID] = i
		switch tr.Kind {
		case TrapARP:
			t.arp = append(t.arp, addrTrap{addr: addr4(tr.Addr), id: tr.ID})
		case TrapLocal:
			t.local = append(t.local, addrTrap{addr: addr4(tr.Addr), id: tr.ID})
		case TrapProtocol:
			if t.proto[tr.Proto] == TrapNone {
				t.proto[tr.Proto] = tr.ID
			}
		case TrapGroup:
			bits := tr.Prefix.Bits()
			var mask uint32
			if bits > 0 {
				mask = ^uint32(0) << (32 - bits)
			}
			t.group = append(t.group, prefixTrap{addr: addr4(tr.Prefix.Addr()) & mask, mask: mask, id: tr.ID})
		}
	}
	t.arp = uniqueByAddr(t.arp)
	t.local = uniqueByAddr(t.local)
}

// uniqueByAddr sorts l (in ID order) by address and keeps the first, i.e.
// lowest ID, entry of each address.
func uniqueByAddr(l []addrTrap) []addrTrap {
	slices.SortStableFunc(l, func(a, b addrTrap) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(l, func(a, b addrTrap) bool { return a.addr == b.addr })
}

// Set returns a table with tr added, or replacing the trap of the same ID.
// An invalid trap is an error wrapping ErrInvalid; t is unchanged.
func (t *TrapTable) Set(tr Trap) (*TrapTable, error) {
	if err := tr.Validate(); err != nil {
		return nil, err
	}
	all := t.Traps()
	if i, ok := t.find(tr.ID); ok {
		all[i] = tr
	} else {
		all = append(all, tr)
	}
	return NewTrapTable(all)
}

// Delete returns a table without trap id, or an error wrapping ErrNotFound.
func (t *TrapTable) Delete(id TrapID) (*TrapTable, error) {
	i, ok := t.find(id)
	if !ok {
		return nil, fmt.Errorf("trap %d: %w", id, ErrNotFound)
	}
	all := t.Traps()
	return NewTrapTable(slices.Delete(all, i, i+1))
}

func (t *TrapTable) find(id TrapID) (int, bool) {
	if t == nil {
		return 0, false
	}
	i, ok := t.ids[id]
	return i, ok
}

// Get returns trap id.
func (t *TrapTable) Get(id TrapID) (Trap, bool) {
	i, ok := t.find(id)
	if !ok {
		return Trap{}, false
	}
	return t.traps[i], true
}

// Traps returns a copy of the traps, sorted by ID.
func (t *TrapTable) Traps() []Trap {
	if t == nil {
		return nil
	}
	return slices.Clone(t.traps)
}

// Len returns the number of traps.
func (t *TrapTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.traps)
}

// Match classifies an Ethernet II frame (see TrapTable for the
// precedence) and returns the trap that sends it to the host.
func (t *TrapTable) Match(frame []byte) (TrapID, bool) {
	if t == nil || len(frame) < ethHeaderLen {
		return TrapNone, false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeARP:
		target, ok := ARPTarget(frame)
		if !ok {
			return TrapNone, false
		}
		return t.MatchARP(target)
	case etherTypeIPv4:
		proto, dst, ok := ipv4ProtoDst(frame)
		if !ok {
			return TrapNone, false
		}
		return t.MatchIPv4(proto, dst)
	}
	return TrapNone, false
}

// ipv4ProtoDst checks the IPv4 header as every driver does (version 4,
// IHL at least 5 words, total length within the frame and not below the
// header) and returns protocol and destination.
func ipv4ProtoDst(frame []byte) (proto uint8, dst uint32, ok bool) {
	ip := frame[ethHeaderLen:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return 0, 0, false
	}
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:4]))
	if ihl < 20 || tot < ihl || tot > len(ip) {
		return 0, 0, false
	}
	return ip[9], binary.BigEndian.Uint32(ip[16:20]), true
}

// ARPTarget returns the target protocol address of an Ethernet II frame
// carrying an Ethernet/IPv4 ARP request or reply (RFC 826: hardware type
// 1, protocol type 0x0800, lengths 6 and 4, operation 1 or 2), as a
// big-endian uint32. ok is false for anything else, which drivers count as
// Malformed when the ethertype is ARP.
func ARPTarget(frame []byte) (target uint32, ok bool) {
	if len(frame) < ethHeaderLen+arpLen || binary.BigEndian.Uint16(frame[12:14]) != etherTypeARP {
		return 0, false
	}
	a := frame[ethHeaderLen:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return 0, false
	}
	if op := binary.BigEndian.Uint16(a[6:8]); op != 1 && op != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint32(a[24:28]), true
}

// MatchARP returns the ARP trap for target (a big-endian IPv4 address).
func (t *TrapTable) MatchARP(target uint32) (TrapID, bool) {
	if t == nil {
		return TrapNone, false
	}
	return searchAddr(t.arp, target)
}

// MatchIPv4 classifies an IPv4 packet by protocol and destination (a
// big-endian address), for drivers that have parsed the header already.
func (t *TrapTable) MatchIPv4(proto uint8, dst uint32) (TrapID, bool) {
	if t == nil {
		return TrapNone, false
	}
	if id := t.proto[proto]; id != TrapNone {
		return id, true
	}
	if len(t.local) > 0 {
		if id, ok := searchAddr(t.local, dst); ok {
			return id, true
		}
	}
	for i := range t.group {
		if g := &t.group[i]; dst&g.mask == g.addr {
			return g.id, true
		}
	}
	return TrapNone, false
}

func searchAddr(l []addrTrap, a uint32) (TrapID, bool) {
	lo, hi := 0, len(l)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m].addr < a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(l) && l[lo].addr == a {
		return l[lo].id, true
	}
	return TrapNone, false
}

// IsMulticast4 reports whether a big-endian IPv4 address is in 224.0.0.0/4.
func IsMulticast4(a uint32) bool { return a>>28 == 0xe }
