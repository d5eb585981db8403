package pim

import (
	"net/netip"
	"slices"
	"time"
)

// switchToSptDesired is SwitchToSptDesired(S,G) (§4.2.1): switch on the
// first packet unless `spt-threshold infinity`.
func (e *Engine) switchToSptDesired() bool { return !e.cfg.SPTThresholdInfinity }

// dataArrival applies "on receipt of data from S to G on interface iif"
// (§4.2) to the state machines: the Keepalive Timer, Update_SPTbit,
// CheckSwitchToSpt and the data-triggered Asserts. Forwarding itself is the
// kernel's. (S,G) state is created when the rules need it: a directly
// connected source at its RPF interface, or a last-hop router switching to
// the SPT.
func (e *Engine) dataArrival(src, grp netip.Addr, iif IfIndex) {
	if !validGroup(grp) || !src.IsValid() || src.IsMulticast() {
		e.stats.RxBadData++
		return
	}
	s := e.sgs[SG{src, grp}]
	g := e.groups[grp]
	if s == nil {
		r := e.lookupRPF(src)
		direct := e.directAddr(src, r) && iif == r.Iface
		ssm := e.isSSM(grp)
		need := direct && !ssm
		if !need && g != nil && !g.ssm && iif != 0 && iif == e.rpIf(g) && e.switchToSptDesired() {
			// CheckSwitchToSpt without (S,G) state: pim_include(*,G) is all
			// a new source can inherit.
			for i := range g.ifs {
				if e.pimIncludeStar(g, &g.ifs[i]) {
					need = true
					break
				}
			}
		}
		if !need {
			if g != nil && !g.ssm && iif != e.rpIf(g) {
				// Data on an outgoing interface of (*,G): Assert(*,G).
				if gi := g.ifOf(iif); gi != nil && e.inImmediateStar(g, gi) {
					e.starAssertData(g, iif, src)
				}
			}
			if g == nil {
				e.stats.RxDataNoState++
			}
			return
		}
		s = e.sgOrCreate(src, grp)
		g = s.g
	}
	if iif == 0 {
		iif = s.last.iif
	}
	rpfIf := e.rpfIfS(s)
	if e.directlyConnected(s) && iif == rpfIf && !g.ssm {
		s.kat = e.now + e.t.ka
	}
	// The Keepalive Timer has no job in SSM (no register, and JoinDesired
	// (S,G) needs no KAT there): it is not run, as the platform shows no
	// keepalive for an SSM entry (seed 003).
	if iif == rpfIf && s.up == usJoined && !g.ssm && e.anyInherited(s, false) {
		s.kat = e.now + e.t.ka
	}
	e.touchSG(s)
	e.settle()
	e.updateSPTbit(s, iif)
	switch {
	case iif == rpfIf && s.spt:
		// Forwarded on the SPT.
	case iif == e.rpIf(g) && iif != 0 && !s.spt:
		// On the RP tree: CheckSwitchToSpt(S,G).
		if e.switchToSptDesired() && e.localInterest(s) {
			s.kat = e.now + e.t.ka
			e.touchSG(s)
		}
	default:
		gi, si := g.ifOf(iif), s.ifOf(iif)
		if s.spt && (e.inInheritedRpt(s, gi, si) || e.inImmediateSG(s, si)) {
			e.sgAssertData(s, iif)
		} else if !s.spt && e.inInheritedRpt(s, gi, si) {
			e.starAssertData(g, iif, src)
		}
	}
	e.schedule(&s.node)
}

// updateSPTbit is Update_SPTbit(S,G,iif) (§4.2.2).
func (e *Engine) updateSPTbit(s *sgEntry, iif IfIndex) {
	if s.spt || iif == 0 || iif != e.rpfIfS(s) || !e.joinDesiredSG(s) {
		return
	}
	g := s.g
	ok := e.directlyConnected(s) ||
		e.rpfIfS(s) != e.rpIf(g) ||
		!e.anyInherited(s, true)
	if !ok {
		if t := e.rpfPrimeSG(s); t.nbr.IsValid() && t == e.rpfPrimeStar(g) {
			ok = true
		}
	}
	if !ok {
		if si := s.ifOf(iif); si != nil && si.as == asLoser {
			ok = true
		}
	}
	if ok {
		s.spt = true
		e.stats.SPTSwitches++
		e.touchSG(s)
		e.settle()
	}
}

// wrongInterface handles a packet that arrived on an interface other than
// its entry's incoming interface: the signal that completes a graceful RPF
// change (traffic arrives on the new path, seed 002 §4), that sets the SPT
// bit when the source tree delivers, and that triggers Asserts on outgoing
// interfaces.
func (e *Engine) wrongInterface(src, grp netip.Addr, iif IfIndex) {
	if s := e.sgs[SG{src, grp}]; s != nil && s.gir != nil && iif == s.gir.newIf {
		e.stats.GracefulByTraffic++
		e.completeSGGraceful(s)
	}
	if g := e.groups[grp]; g != nil && g.gir != nil && iif == g.gir.newIf {
		e.stats.GracefulByTraffic++
		e.completeStarGraceful(g)
	}
	e.settle()
	e.dataArrival(src, grp, iif)
}

// ResolveResult is the answer to a resolve request (seed 003, "Kernel
// Resolution").
type ResolveResult struct {
	// Route is what to install for (S,G) when Discard is false.
	Route Route `json:"route"`
	// Discard: install G.S/64 -> mdiscard 35 with the arrival interface as
	// RPF (no PIM state wants the flow).
	Discard bool `json:"discard,omitempty"`
	// Pruned: an (S,G) Prune was sent to the upstream neighbour towards S
	// (not for a directly connected source, which has no upstream).
	Pruned bool `json:"pruned,omitempty"`
}

// Resolve answers a resolve request for (S,G) arriving on iif — a packet
// with no forwarding entry. It first runs the data-arrival rules (a DR
// starts registering a new directly connected source, a last-hop router
// switches to the SPT), then answers from PIM state: the (S,G) Route, the
// (*,G) template, or — with no PIM state — seed 003's behaviour: send an
// (S,G) Prune upstream and install mdiscard, or only mdiscard when the
// source is directly connected.
func (e *Engine) Resolve(now time.Time, src, grp netip.Addr, iif IfIndex) (ResolveResult, []Action) {
	e.begin(now)
	e.dataArrival(src, grp, iif)
	e.settle()
	res := e.resolveVerdict(src, grp, iif)
	return res, e.end()
}

func (e *Engine) resolveVerdict(src, grp netip.Addr, iif IfIndex) ResolveResult {
	if s := e.sgs[SG{src, grp}]; s != nil {
		r := e.sgRoute(s)
		return ResolveResult{Route: r, Discard: len(r.OIL) == 0 && !r.Register && !r.Decap}
	}
	if g := e.groups[grp]; g != nil && g.last.emitted {
		return ResolveResult{Route: Route{Source: src, Group: grp, IIF: g.last.iif, GracefulNew: g.last.gnew, OIL: slices.Clone(g.last.oil)}}
	}
	res := ResolveResult{Discard: true, Route: Route{Source: src, Group: grp, IIF: iif}}
	r := e.lookupRPF(src)
	if !e.directAddr(src, r) && validGroup(grp) {
		if nbr := e.nbrOn(r.Iface, r.NextHop); nbr.IsValid() {
			e.sendJP(rpfTarget{r.Iface, nbr}, grp, JPSource{Addr: src}, false)
			e.stats.ResolvePrunes++
			res.Pruned = true
		}
	}
	return res
}
