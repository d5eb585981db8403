package rib

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Protocol is the source of a route, named as Junos names it in
// `show route` ("Direct", "Static", ...).
type Protocol uint8

// Protocols. Direct, Local and Static come from the configuration; the
// others are routes imported from a Linux routing table, mapped from the
// kernel route's protocol (rtm_protocol) by KernelProtocol.
const (
	ProtoDirect Protocol = iota + 1
	ProtoLocal
	ProtoStatic
	ProtoOSPF
	ProtoISIS
	ProtoRIP
	ProtoBGP
	ProtoKernel
)

var protoNames = [...]string{
	ProtoDirect: "Direct", ProtoLocal: "Local", ProtoStatic: "Static", ProtoOSPF: "OSPF",
	ProtoISIS: "IS-IS", ProtoRIP: "RIP", ProtoBGP: "BGP", ProtoKernel: "Kernel",
}

func (p Protocol) String() string {
	if int(p) < len(protoNames) && protoNames[p] != "" {
		return protoNames[p]
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// MarshalText makes a Protocol render as its name in JSON ("" for none,
// in a Result that holds no route).
func (p Protocol) MarshalText() ([]byte, error) {
	if p == 0 {
		return nil, nil
	}
	return []byte(p.String()), nil
}

// Default route preferences (Junos "Route Preference Values"): Direct 0,
// Local 0, Static 5, OSPF internal 10, IS-IS level 2 internal 18, RIP 100,
// BGP 170. Kernel, for imported routes of any other origin (a hand-made
// `ip route add`, zebra's own static routes, DHCP, ...), is ours: 10, equal
// to OSPF, so that among imported routes the kernel's own order (lowest
// priority, our metric) decides, and any configured static route (5)
// overrides them.
const (
	PrefDirect uint32 = 0
	PrefLocal  uint32 = 0
	PrefStatic uint32 = 5
	PrefOSPF   uint32 = 10
	PrefISIS   uint32 = 18
	PrefRIP    uint32 = 100
	PrefBGP    uint32 = 170
	PrefKernel uint32 = 10
)

// DefaultPreference returns the protocol's route preference.
func (p Protocol) DefaultPreference() uint32 {
	switch p {
	case ProtoStatic:
		return PrefStatic
	case ProtoOSPF:
		return PrefOSPF
	case ProtoISIS:
		return PrefISIS
	case ProtoRIP:
		return PrefRIP
	case ProtoBGP:
		return PrefBGP
	case ProtoKernel:
		return PrefKernel
	}
	return 0
}

// NextHop is one forwarding path of a route: an interface, and the gateway
// (neighbour) on it, zero for a directly connected destination.
type NextHop struct {
	// Interface is the logical interface (IFL) name, "xe-3/1/0.0", "ae91.0".
	Interface string `json:"via"`
	// Gateway is the neighbour's address; zero for Direct and Local routes
	// and for kernel device routes (scope link).
	Gateway netip.Addr `json:"to,omitzero"`
}

func (n NextHop) String() string {
	if n.Gateway.IsValid() {
		return fmt.Sprintf("%s via %s", n.Gateway, n.Interface)
	}
	return "via " + n.Interface
}

// compareNextHop orders next hops by gateway address, then interface name.
// RPF takes the last one: the highest gateway address.
func compareNextHop(a, b NextHop) int {
	if c := a.Gateway.Compare(b.Gateway); c != 0 {
		return c
	}
	return cmp.Compare(a.Interface, b.Interface)
}

// sortNextHops returns nhs sorted and deduplicated: nhs itself when it
// already is, else a sorted copy.
func sortNextHops(nhs []NextHop) []NextHop {
	canonical := true
	for i := 1; i < len(nhs); i++ {
		if compareNextHop(nhs[i-1], nhs[i]) >= 0 {
			canonical = false
			break
		}
	}
	if canonical {
		return nhs
	}
	out := slices.Clone(nhs)
	slices.SortFunc(out, compareNextHop)
	return slices.Compact(out)
}

// Result is the answer of an RPF lookup: the active route of the longest
// prefix containing the address and the next hop chosen on it.
type Result struct {
	// Prefix is the matching destination.
	Prefix     netip.Prefix `json:"prefix"`
	Protocol   Protocol     `json:"protocol"`
	Preference uint32       `json:"preference"`
	Metric     uint32       `json:"metric"`
	// Interface is the RPF interface (IFL name).
	Interface string `json:"interface"`
	// Neighbor is the RPF neighbour. For a directly connected destination
	// (Connected: a route without gateway) it is the looked-up address
	// itself; in a route-level Change it is then zero.
	Neighbor  netip.Addr `json:"neighbor,omitzero"`
	Connected bool       `json:"connected"`
	// NextHops are all usable equal-cost next hops of the route, sorted by
	// gateway address then interface; the chosen one is the last. The
	// slice is shared with the RIB: read it, never modify it.
	NextHops []NextHop `json:"next-hops"`
}

// Found reports whether r holds a route (a Change's Old or New may not).
func (r Result) Found() bool { return r.Prefix.IsValid() }

// Equal reports whether two results are the same route, next hop choice
// and ECMP set.
func (r Result) Equal(o Result) bool {
	return r.Prefix == o.Prefix && r.Protocol == o.Protocol && r.Preference == o.Preference &&
		r.Metric == o.Metric && r.Interface == o.Interface && r.Neighbor == o.Neighbor &&
		r.Connected == o.Connected && slices.Equal(r.NextHops, o.NextHops)
}

// source tells which part of the RIB owns a route; with the interface and
// the kernel key it identifies a route within its destination.
type source uint8

const (
	srcDirect source = iota + 1
	srcLocal
	srcStatic
	srcKernel
)

type routeKey struct {
	src  source
	ifl  string // Direct, Local: the interface the address is on
	prio uint32 // Kernel: RTA_PRIORITY
	tos  uint8  // Kernel: rtm_tos
}

func compareKey(a, b routeKey) int {
	return cmp.Or(cmp.Compare(a.src, b.src), cmp.Compare(a.ifl, b.ifl),
		cmp.Compare(a.prio, b.prio), cmp.Compare(a.tos, b.tos))
}

// nhGroup is a set of next hops shared by every route with exactly those
// next hops, as the kernel's nexthop objects are: routes learned from one
// neighbour share one group, so a route costs one pointer for its next
// hops, and a link change recomputes each group over the link once before
// revisiting its routes.
type nhGroup struct {
	key string
	// nhs is sorted and deduplicated; usable is the subset whose interface
	// is known and up (nhs itself when all are). Neither is modified once
	// set: usable is replaced, so Results and snapshots may share them.
	nhs    []NextHop
	usable []NextHop
	routes []*route // route.gpos is the route's index here
}

// route is one route of a destination.
type route struct {
	key    routeKey
	dest   *dest
	grp    *nhGroup
	gpos   int32
	gen    uint32 // Kernel: the resync generation that last saw it
	proto  Protocol
	pref   uint32
	metric uint32
	since  int64 // unix ns when installed or last changed
}

func (r *route) usable() []NextHop { return r.grp.usable }

func (r *route) eligible() bool { return len(r.grp.usable) > 0 }

// better is the route selection order: eligible routes first, then lower
// preference, lower metric, protocol (Direct before Local before Static
// ...), and the route key as the final deterministic tie-break.
func better(a, b *route) int {
	if a.eligible() != b.eligible() {
		if a.eligible() {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.pref, b.pref), cmp.Compare(a.metric, b.metric),
		cmp.Compare(a.proto, b.proto), compareKey(a.key, b.key))
}

// dest is a destination (prefix) of inet.0 with its routes.
type dest struct {
	key  uint32
	bits uint8
	// routes in selection order; routes[0] is active iff active != nil.
	routes []*route
	active *route
	hidden int32 // routes not eligible
}

func (d *dest) prefix() netip.Prefix { return prefixOf(d.key, d.bits) }

// selected returns the next hop RPF takes on the active route: the highest
// gateway address (then interface name) among the usable ones.
func (d *dest) selected() NextHop {
	u := d.active.usable()
	return u[len(u)-1]
}

// result builds the RPF result of the active route for address a (zero a:
// a route-level result).
func (d *dest) result(a netip.Addr) Result {
	rt := d.active
	sel := d.selected()
	res := Result{
		Prefix: d.prefix(), Protocol: rt.proto, Preference: rt.pref, Metric: rt.metric,
		Interface: sel.Interface, Neighbor: sel.Gateway, NextHops: rt.usable(),
	}
	if !sel.Gateway.IsValid() {
		res.Connected, res.Neighbor = true, a
	}
	return res
}
