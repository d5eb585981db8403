package msdp

import (
	"net/netip"
	"slices"
)

// Group-specific MSDP peering (seed 001, draft-li-msdp-group-specific,
// 1999). Two roles:
//
//   - The MSDP server (Config.Server): the domain's default C-RP for
//     224.0.0.0/4 with the lowest priority and the S-bit in its
//     C-RP-Advertisements (PIM's job). It accepts an internal peering from
//     every elected RP of the RP-set (passively, whatever the addresses),
//     forwards to each internal RP only the SAs for the groups it is the
//     elected RP for, never reflects an internal RP's SA to the other
//     internal RPs, floods to external peers peer-RPF style, and after a
//     restart asks its external peers and its internal RPs for their
//     sources with an SA-Request.
//   - An RP (Config.RP): when the RP-set says it is an elected RP, it
//     learns the server from the S-bit (highest priority, then the highest
//     hash, then the highest address), opens an internal peering to it
//     (actively), sends it SA-Request for every new (*,G), and answers its
//     SA-Requests with SA-Responses.
//
// The RP-set comes from PIM's BSR state as an RPSetEvent.

// gspState is the RP-set and what the engine derived from it.
type gspState struct {
	hashMaskLen int
	set         []RPSetEntry
	elected     map[uint32]netip.Addr // group → elected RP (memo, reset with the set)
	server      netip.Addr            // RP role: the server chosen
	requested   map[netip.Addr]bool   // server role: peers asked since the start
}

func newGSPState() gspState {
	return gspState{hashMaskLen: 30, elected: map[uint32]netip.Addr{}, requested: map[netip.Addr]bool{}}
}

// rpHash is the RFC 7761 §4.7.2 hash of group g, mask length m and RP c.
func rpHash(g netip.Addr, m int, c netip.Addr) uint32 {
	mask := uint32(0)
	if m > 0 {
		mask = ^uint32(0) << (32 - min(m, 32))
	}
	v := (1103515245*((1103515245*(uint64(u32(g)&mask))+12345)^uint64(u32(c))) + 12345) % (1 << 31)
	return uint32(v)
}

// better reports whether RP a wins over b for group g (RFC 7761 §4.7.2:
// higher priority, i.e. lower value; then the higher hash; then the
// higher address).
func better(a, b RPSetEntry, g netip.Addr, m int) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	ha, hb := rpHash(g, m, a.RP), rpHash(g, m, b.RP)
	if ha != hb {
		return ha > hb
	}
	return a.RP.Compare(b.RP) > 0
}

// maxElectedMemo bounds the group → RP memo.
const maxElectedMemo = 1 << 16

// electedRP is the RP of group g by the RP-set (longest group prefix
// first), the zero Addr if none.
func (s *gspState) electedRP(g netip.Addr) netip.Addr {
	if rp, ok := s.elected[u32(g)]; ok {
		return rp
	}
	best := -1
	bits := -1
	for i, en := range s.set {
		if !en.Group.Contains(g) {
			continue
		}
		switch {
		case en.Group.Bits() > bits:
			best, bits = i, en.Group.Bits()
		case en.Group.Bits() == bits && better(en, s.set[best], g, s.hashMaskLen):
			best = i
		}
	}
	var rp netip.Addr
	if best >= 0 {
		rp = s.set[best].RP
	}
	if len(s.elected) >= maxElectedMemo {
		clear(s.elected)
	}
	s.elected[u32(g)] = rp
	return rp
}

// electedRPs are the RPs that win some group: the highest-priority RPs
// of each group range (seed 001 §5 "each elected RP"), excluding servers.
func (s *gspState) electedRPs() []netip.Addr {
	var out []netip.Addr
	for _, en := range s.set {
		if en.SBit {
			continue
		}
		top := true
		for _, o := range s.set {
			if o.Group == en.Group && o.Priority < en.Priority {
				top = false
				break
			}
		}
		if top && !slices.Contains(out, en.RP) {
			out = append(out, en.RP)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// chooseServer picks the MSDP server among the S-bit RPs (seed 001 §4).
func (s *gspState) chooseServer() netip.Addr {
	var best *RPSetEntry
	for i := range s.set {
		en := &s.set[i]
		if !en.SBit {
			continue
		}
		if best == nil || better(*en, *best, en.Group.Addr(), s.hashMaskLen) {
			best = en
		}
	}
	if best == nil {
		return netip.Addr{}
	}
	return best.RP
}

// serverPeer is, in the RP role, the internal peering to the server.
func (s *gspState) serverPeer(e *Engine) *peer {
	if e.cfg.RP == nil || !s.server.IsValid() {
		return nil
	}
	if p := e.byAddr[s.server]; p != nil && p.internal {
		return p
	}
	return nil
}

// rpSet takes a new RP-set.
func (e *Engine) rpSet(ev RPSetEvent, now int64, out []Action) []Action {
	e.gsp.set = slices.Clone(ev.Entries)
	if ev.HashMaskLen > 0 {
		e.gsp.hashMaskLen = ev.HashMaskLen
	}
	clear(e.gsp.elected)
	return e.gspReconcile(now, out)
}

// gspReconcile makes the internal peerings match the RP-set and roles.
func (e *Engine) gspReconcile(now int64, out []Action) []Action {
	want := map[netip.Addr]PeerConfig{}
	active := false
	if srv := e.cfg.Server; srv != nil {
		for _, rp := range e.gsp.electedRPs() {
			if e.own[rp] || rp == srv.Address {
				continue
			}
			if len(srv.AcceptRPs) > 0 && !containsAddr(srv.AcceptRPs, rp) {
				continue
			}
			want[rp] = PeerConfig{Address: rp, LocalAddress: srv.Address, AuthenticationKey: srv.AuthenticationKey}
		}
	}
	if rpc := e.cfg.RP; rpc != nil && e.cfg.Server == nil {
		server := e.gsp.chooseServer()
		e.gsp.server = server
		if server.IsValid() && server != rpc.Address && slices.Contains(e.gsp.electedRPs(), rpc.Address) {
			want[server] = PeerConfig{Address: server, LocalAddress: rpc.Address, AuthenticationKey: rpc.AuthenticationKey}
			active = true
		}
	}
	for _, p := range slices.Clone(e.order) {
		if !p.internal {
			continue
		}
		if pc, ok := want[p.addr]; ok && pc.LocalAddress == p.local && pc.AuthenticationKey == p.key {
			delete(want, p.addr)
			continue
		}
		out = e.removePeer(p, now, "no longer an internal group-specific peer", out)
	}
	addrs := make([]netip.Addr, 0, len(want))
	for a := range want {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		if q := e.byAddr[a]; q != nil {
			continue // a configured peer: it stays an external peering
		}
		p := e.addPeer(want[a], true, now)
		p.active = active
		if e.started {
			out = e.peerInput(p, input{kind: inStart}, now, out)
		}
	}
	return out
}

// gspPeerUp: a restarted server asks every peer once for its sources
// (seed 001 §5), with the all-groups request 0.0.0.0.
func (e *Engine) gspPeerUp(p *peer, now int64, out []Action) []Action {
	if e.cfg.Server == nil || e.gsp.requested[p.addr] {
		return out
	}
	e.gsp.requested[p.addr] = true
	return e.sendSARequest(p, netip.IPv4Unspecified(), now, out)
}
