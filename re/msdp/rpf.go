package msdp

import (
	"net/netip"
)

// Protocol is how a unicast route was learnt. Peer-RPF rule (iii) treats
// distance/path-vector protocols (BGP, RIP) and the others (link-state
// IGPs, static, connected) differently.
type Protocol uint8

// Route protocols.
const (
	ProtoUnknown Protocol = iota
	ProtoDirect
	ProtoLocal
	ProtoStatic
	ProtoKernel
	ProtoOSPF
	ProtoISIS
	ProtoRIP
	ProtoBGP
)

func (p Protocol) String() string {
	return [...]string{"Unknown", "Direct", "Local", "Static", "Kernel", "OSPF", "IS-IS", "RIP", "BGP"}[p]
}

// Route is the unicast (MRIB) route the RIB uses for an address: what a
// peer-RPF check needs of it. The BGP fields are zero for routes not
// learnt by BGP, which is every route of a router without MBGP.
type Route struct {
	Prefix     netip.Prefix
	Protocol   Protocol
	Interface  string
	NextHop    netip.Addr // the gateway; zero when directly connected
	Metric     uint32
	Preference uint32

	External     bool       // learnt over eBGP
	BGPNextHop   netip.Addr // the BGP NEXT_HOP attribute
	AdvertisedBy netip.Addr // the BGP or RIP neighbour that advertised it
	ASPath       []uint32   // nearest AS first
}

// RIB answers RPF lookups (the MRIB of RFC 3618 §10.1.1). The engine calls
// it from its owner goroutine only, and caches the peer-RPF results until
// a RIBChanged event.
type RIB interface {
	// Lookup returns the route used for addr; false when there is none.
	Lookup(addr netip.Addr) (Route, bool)
}

// RPFRule names the rule by which an SA passed (or failed) the peer-RPF
// check, for counters, logs and tests.
type RPFRule uint8

// Peer-RPF rules, in the order they are tried (RFC 3618 §10.1.3, §10.2,
// seed 000 §4.II, RFC 4611, seed 001).
const (
	RPFFail RPFRule = iota
	// RPFMeshGroup: the SA came from a member of a mesh group: accepted
	// without a check (§10.2).
	RPFMeshGroup
	// RPFInternal: the SA came over a group-specific internal peering
	// (seed 001): the RP's SAs at the server, the server's at an RP.
	RPFInternal
	// RPFOriginator: rule (i), the peer is the originating RP.
	RPFOriginator
	// RPFEBGPNextHop: rule (ii), the peer is the eBGP NEXT_HOP of the
	// route to the RP.
	RPFEBGPNextHop
	// RPFAdvertiser: rule (iii), the route to the RP was learnt by BGP or
	// RIP and the peer advertised it.
	RPFAdvertiser
	// RPFIGPNextHop: rule (iii), the route to the RP was learnt another
	// way (link-state IGP, static, connected) and the peer is its next
	// hop.
	RPFIGPNextHop
	// RPFClosestAS: rule (iv), the peer is in the nearest AS of the path
	// to the RP (the highest address of the peers in that AS).
	RPFClosestAS
	// RPFInterface: the modelled platform's rule for peers that rules
	// (i)-(iv) do not name (seed 000 §4.II): the route to the RP and the
	// route to the peer leave by the same interface.
	RPFInterface
	// RPFStaticPeer: rule (v), the peer is the first established default
	// peer (static RPF peer) configured for the RP.
	RPFStaticPeer
	// RPFOnlyPeer: the router has one configured peer, which is then its
	// RPF peer for every RP (RFC 4611 §2.2's stub domain; as Cisco does).
	RPFOnlyPeer
)

func (r RPFRule) String() string {
	return [...]string{"fail", "mesh-group", "internal", "originator", "ebgp-next-hop",
		"advertiser", "igp-next-hop", "closest-as", "interface", "static-rpf-peer", "only-peer"}[r]
}

// rpfKey caches one (RP, peer) result.
type rpfKey struct {
	rp   uint32
	peer int32
}

// maxRPFCache bounds the peer-RPF cache: a peer sending SAs from many
// RPs cannot grow it without limit (it is cleared when full).
const maxRPFCache = 1 << 16

// peerRPF decides whether an SA originated by rp and received from n
// passes the peer-RPF check, and by which rule. Mesh groups and internal
// peerings are decided by the caller.
//
// RFC 3618 §10.1.3 picks one peer-RPF neighbour per RP ("the first of the
// following rules that matches") among established peers; the SA passes
// when that neighbour is n. Rules (i)-(iv) choose a neighbour from the RP
// address and its route. When none does, the modelled platform's interface
// rule (seed 000 §4.II) accepts n if the routes to the RP and to n leave by
// the same interface; that is how a router without MBGP, peering between
// loopbacks, passes peer-RPF. Then rule (v), the static RPF peer (default
// peer), and last a router's only peer.
//
// How the rules map onto a router without MBGP: rule (i) is a peering with
// the originating RP itself; (ii) and (iv) need BGP and never match; (iii)
// matches when the peer is the IGP/static next hop towards the RP (peering
// over the link address); the interface rule covers loopback peerings;
// (v) is `default-peer`; the only-peer rule covers a stub domain.
func (e *Engine) peerRPF(rp netip.Addr, n *peer) RPFRule {
	key := rpfKey{u32(rp), n.idx}
	if key == e.rpfLastKey && e.rpfLastOK {
		return e.rpfLast // the same originator and peer as the last SA
	}
	if r, ok := e.rpfCache[key]; ok {
		e.rpfLastKey, e.rpfLast, e.rpfLastOK = key, r, true
		return r
	}
	r := e.computeRPF(rp, n)
	if len(e.rpfCache) >= maxRPFCache {
		clear(e.rpfCache)
	}
	e.rpfCache[key] = r
	e.rpfLastKey, e.rpfLast, e.rpfLastOK = key, r, true
	return r
}

// clearRPF forgets every peer-RPF result (RIB or peer state changed).
func (e *Engine) clearRPF() {
	clear(e.rpfCache)
	e.rpfLastOK = false
}

func (e *Engine) computeRPF(rp netip.Addr, n *peer) RPFRule {
	chosen, rule := e.rpfNeighbour(rp)
	if chosen != nil {
		if chosen == n {
			return rule
		}
		return RPFFail
	}
	if e.rib != nil {
		rr, ok1 := e.rib.Lookup(rp)
		rn, ok2 := e.rib.Lookup(n.addr)
		if ok1 && ok2 && rr.Interface != "" && rr.Interface == rn.Interface {
			return RPFInterface
		}
	}
	for _, p := range e.order {
		if p.cfg.DefaultPeer && p.state == StateEstablished &&
			(len(p.cfg.DefaultPeerRPs) == 0 || containsAddr(p.cfg.DefaultPeerRPs, rp)) {
			if p == n {
				return RPFStaticPeer
			}
			return RPFFail
		}
	}
	if e.configuredPeers == 1 && !n.internal {
		return RPFOnlyPeer
	}
	return RPFFail
}

// rpfNeighbour applies rules (i)-(iv): the established peer they name for
// rp, or nil.
func (e *Engine) rpfNeighbour(rp netip.Addr) (*peer, RPFRule) {
	established := func(a netip.Addr) *peer {
		if p := e.byAddr[a]; p != nil && p.state == StateEstablished {
			return p
		}
		return nil
	}
	if p := established(rp); p != nil {
		return p, RPFOriginator
	}
	if e.rib == nil {
		return nil, RPFFail
	}
	r, ok := e.rib.Lookup(rp)
	if !ok {
		return nil, RPFFail
	}
	if r.Protocol == ProtoBGP && r.External && r.BGPNextHop.IsValid() {
		if p := established(r.BGPNextHop); p != nil {
			return p, RPFEBGPNextHop
		}
	}
	switch r.Protocol {
	case ProtoBGP, ProtoRIP:
		if r.AdvertisedBy.IsValid() {
			if p := established(r.AdvertisedBy); p != nil {
				return p, RPFAdvertiser
			}
		}
	default:
		if r.NextHop.IsValid() {
			if p := established(r.NextHop); p != nil {
				return p, RPFIGPNextHop
			}
		}
	}
	if len(r.ASPath) > 0 {
		var best *peer
		for _, p := range e.order {
			if p.state == StateEstablished && p.cfg.AS != 0 && p.cfg.AS == r.ASPath[0] &&
				(best == nil || p.addr.Compare(best.addr) > 0) {
				best = p
			}
		}
		if best != nil {
			return best, RPFClosestAS
		}
	}
	return nil, RPFFail
}
