package haltest

import (
	"net"
	"net/netip"

	"github.com/mxfwd/mxfwd/hal"
)

// The conformance topology, after seed 003: the source 10.128.1.10 sends
// 232.0.7.1 into xe-0/0/0.0 (the RPF IFL); the OIL is ae91.0 (members
// xe-3/1/0.0 and xe-3/3/1.0) plus xe-2/0/0.0. Drivers with real ports bind
// the names (without the unit) in hal.Config.Ports.
const (
	IFLUpstream hal.IFLIndex = 331 // xe-0/0/0.0, RPF IFL
	IFLOther    hal.IFLIndex = 333 // xe-0/0/1.0, a second ingress (RPF failures)
	IFLAE       hal.IFLIndex = 332 // ae91.0, members IFLMember1, IFLMember2
	IFLMember1  hal.IFLIndex = 395 // xe-3/1/0.0
	IFLMember2  hal.IFLIndex = 400 // xe-3/3/1.0
	IFLDown     hal.IFLIndex = 410 // xe-2/0/0.0, a plain downstream port
	IFLAEDead   hal.IFLIndex = 334 // ae92.0, its only member IFLDead is not Up
	IFLDead     hal.IFLIndex = 420 // xe-2/1/0.0, administratively down
	IFLEncap    hal.IFLIndex = 500 // pe-0/0/0.32769, register encapsulation (host path only)
	IFLDecap    hal.IFLIndex = 501 // pd-0/0/0.32768, register decapsulation (host path only)

	NHMember1  hal.NHID = 1378    // Unicast IFLMember1
	NHMember2  hal.NHID = 1387    // Unicast IFLMember2
	NHDown     hal.NHID = 1390    // Unicast IFLDown
	NHAE       hal.NHID = 1048583 // Aggregate IFLAE {NHMember1, NHMember2}
	NHComp     hal.NHID = 1173    // Composite {NHAE, NHDown}
	NHIndirect hal.NHID = 1048590 // Indirect -> NHComp
	NHEncap    hal.NHID = 1400    // Unicast IFLEncap (host path only)
)

// The host-path traps of the conformance suite (TrapOps): the router's
// address on the upstream interface, PIM, IGMP and link-local multicast,
// as the RE programs them.
const (
	TrapARPRouter   hal.TrapID = 1 // ARP for RouterAddr
	TrapLocalRouter hal.TrapID = 2 // IPv4 to RouterAddr
	TrapPIM         hal.TrapID = 3 // IP protocol 103
	TrapIGMP        hal.TrapID = 4 // IP protocol 2
	TrapLinkLocal   hal.TrapID = 5 // 224.0.0.0/24
)

// RouterAddr is the router's address in the host-path cases; NeighborAddr
// a neighbour's on the same subnet.
var (
	RouterAddr   = netip.MustParseAddr("10.128.1.1")
	NeighborAddr = netip.MustParseAddr("10.128.1.2")
)

// Traps returns the traps of TrapOps.
func Traps() []hal.Trap {
	return []hal.Trap{
		{ID: TrapARPRouter, Kind: hal.TrapARP, Addr: RouterAddr},
		{ID: TrapLocalRouter, Kind: hal.TrapLocal, Addr: RouterAddr},
		{ID: TrapPIM, Kind: hal.TrapProtocol, Proto: ProtoPIM},
		{ID: TrapIGMP, Kind: hal.TrapProtocol, Proto: ProtoIGMP},
		{ID: TrapLinkLocal, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")},
	}
}

// TrapOps returns the operations that program Traps.
func TrapOps() []hal.Op {
	var ops []hal.Op
	for _, t := range Traps() {
		ops = append(ops, hal.Op{Kind: hal.OpSetTrap, Trap: t})
	}
	return ops
}

// Flow addresses of the topology.
var (
	Source      = netip.MustParseAddr("10.128.1.10")
	Group       = netip.MustParseAddr("232.0.7.1") // (Source, Group) -> NHIndirect, RPF IFLUpstream
	GroupMDisc  = netip.MustParseAddr("232.0.8.1") // (Source, GroupMDisc) -> mdiscard 35
	GroupNoSG   = netip.MustParseAddr("232.0.9.1") // only 224/4 -> Resolve 983
	Prefix224   = netip.MustParsePrefix("224.0.0.0/4")
	SourceOther = netip.MustParseAddr("10.128.1.11")
)

// IFLMAC returns the MAC the topology gives IFL idx: 02:00:00:00:hi:lo.
func IFLMAC(idx hal.IFLIndex) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, 0x00, 0x00, byte(idx >> 8), byte(idx)}
}

func physIFL(idx hal.IFLIndex, name string, pfe hal.PFEID, up bool) hal.IFL {
	return hal.IFL{Index: idx, Name: name, Kind: hal.IFLPhysical, PFE: pfe, MAC: IFLMAC(idx), MTU: 1500, Up: up}
}

// TopologyIFLs returns the IFLs of the conformance topology.
func TopologyIFLs() []hal.IFL {
	return []hal.IFL{
		physIFL(IFLUpstream, "xe-0/0/0.0", hal.PFEOf(0, 0), true),
		physIFL(IFLOther, "xe-0/0/1.0", hal.PFEOf(0, 0), true),
		physIFL(IFLMember1, "xe-3/1/0.0", hal.PFEOf(3, 1), true),
		physIFL(IFLMember2, "xe-3/3/1.0", hal.PFEOf(3, 3), true),
		physIFL(IFLDown, "xe-2/0/0.0", hal.PFEOf(2, 0), true),
		physIFL(IFLDead, "xe-2/1/0.0", hal.PFEOf(2, 1), false),
		{Index: IFLAE, Name: "ae91.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{IFLMember1, IFLMember2}, MAC: IFLMAC(IFLAE), MTU: 1500, Up: true},
		{Index: IFLAEDead, Name: "ae92.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{IFLDead}, MAC: IFLMAC(IFLAEDead), MTU: 1500, Up: true},
	}
}

// TopologyOps returns the operations that program the conformance
// topology, dependencies first: the IFLs, Resolve 983, mdiscard 35, the
// NH chain of seed 003, 224/4 -> 983, (Source,Group) -> NHIndirect with
// RPF IFLUpstream, and (Source,GroupMDisc) -> 35.
func TopologyOps() []hal.Op {
	var ops []hal.Op
	for _, ifl := range TopologyIFLs() {
		ops = append(ops, hal.Op{Kind: hal.OpSetIFL, IFL: ifl})
	}
	nhs := []hal.NextHop{
		{ID: hal.NHResolveID, Type: hal.NHResolve},
		{ID: hal.NHMDiscardID, Type: hal.NHMDiscard},
		{ID: NHMember1, Type: hal.NHUnicast, IFL: IFLMember1},
		{ID: NHMember2, Type: hal.NHUnicast, IFL: IFLMember2},
		{ID: NHDown, Type: hal.NHUnicast, IFL: IFLDown},
		{ID: NHAE, Type: hal.NHAggregate, IFL: IFLAE, Members: []hal.NHID{NHMember1, NHMember2}},
		{ID: NHComp, Type: hal.NHComposite, Members: []hal.NHID{NHAE, NHDown}},
		{ID: NHIndirect, Type: hal.NHIndirect, Target: NHComp},
	}
	for _, nh := range nhs {
		ops = append(ops, hal.Op{Kind: hal.OpSetNH, NH: nh})
	}
	for _, r := range TopologyRoutes() {
		ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: r})
	}
	return ops
}

// TopologyRoutes returns the routes of the conformance topology.
func TopologyRoutes() []hal.Route {
	return []hal.Route{
		{Key: hal.GroupPrefix(Prefix224), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve},
		{Key: hal.SG(Source, Group), NH: NHIndirect, RPF: IFLUpstream, Flags: hal.RouteFlagsSG},
		{Key: hal.SG(Source, GroupMDisc), NH: hal.NHMDiscardID, RPF: IFLUpstream, Flags: hal.RouteFlagsMDiscard},
	}
}
