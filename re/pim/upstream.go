package pim

import (
	"net/netip"
	"slices"
)

// --- sending Join/Prune (§4.5.4-§4.5.6) ------------------------------------

// sendJP queues a Join or Prune for (src, group) to the upstream neighbour
// t. A NULL neighbour or a down interface sends nothing.
func (e *Engine) sendJP(t rpfTarget, grp netip.Addr, src JPSource, join bool) {
	if !t.nbr.IsValid() || t.ifx == 0 {
		return
	}
	f := e.ifs[t.ifx]
	if f == nil || !f.up {
		return
	}
	e.jp.add(t, grp, src, join)
}

func starSrc(g *group) (JPSource, bool) {
	if !g.rp.IsValid() {
		return JPSource{}, false
	}
	return JPSource{Addr: g.rp, WC: true, RPT: true}, true
}

func (e *Engine) sendStar(t rpfTarget, g *group, join bool) {
	if src, ok := starSrc(g); ok {
		e.sendJP(t, g.g, src, join)
	}
}

// periodicJT is the Join Timer after a Join to t: t_periodic (§4.5.4),
// aligned on the upstream neighbour so that the periodic Joins of every
// entry towards one neighbour leave in few messages. The deadline is the
// last half-period boundary (counted from the neighbour's first Hello plus
// a random phase of ours) at or before now + t_periodic, so the interval is
// in (t_periodic/2, t_periodic]: never longer than the RFC's, and after one
// period every entry sits on one of two phases per neighbour. The random
// phase keeps the downstream routers of a LAN apart, so join suppression
// still works.
func (e *Engine) periodicJT(t rpfTarget) int64 {
	target := e.now + e.t.jp
	if f := e.ifs[t.ifx]; f != nil {
		if n := f.nbr(t.nbr); n != nil {
			half := e.t.jp / 2
			base := n.created + n.phase
			if half > 0 && target > base {
				return base + (target-base)/half*half
			}
		}
	}
	return target
}

func minTimer(cur, v int64) int64 {
	if cur == 0 || v < cur {
		return v
	}
	return cur
}

func maxTimer(cur, v int64) int64 {
	if v > cur {
		return v
	}
	return cur
}

// --- (*,G) -----------------------------------------------------------------

// evalGroup re-evaluates the (*,G) macros: asserts (§4.6.2), the upstream
// (*,G) state machine (§4.5.4) and PIM's (*,G) route.
func (e *Engine) evalGroup(g *group) {
	for iter := 0; iter < 4; iter++ {
		ch := e.evalStarAsserts(g)
		if e.evalStarUpstream(g) {
			ch = true
		}
		if !ch {
			break
		}
	}
	g.prevRPIf = e.rpIf(g)
	e.emitGroupRoute(g)
	g.ifs = slices.DeleteFunc(g.ifs, func(gi gIf) bool { return gi.empty() })
	e.schedule(&g.node)
	e.maybeSweepGroup(g)
}

// evalStarUpstream runs the transitions of the upstream (*,G) machine that
// macros drive.
func (e *Engine) evalStarUpstream(g *group) bool {
	jd := e.joinDesiredStar(g)
	tgt, mrib := e.rpfPrimeStar(g), e.mribStar(g)
	changed := false
	switch g.up {
	case usNotJoined:
		if jd {
			// JoinDesired(*,G) -> TRUE: send Join(*,G), JT = t_periodic.
			g.up = usJoined
			g.joinedAt = e.now
			e.sendStar(tgt, g, true)
			g.jt = e.periodicJT(tgt)
			changed = true
		}
	case usJoined:
		switch {
		case !jd:
			// JoinDesired(*,G) -> FALSE: send Prune(*,G), cancel JT.
			g.up = usNotJoined
			e.sendStar(g.target, g, false)
			if g.gir != nil {
				e.sendStar(rpfTarget{g.gir.oldIf, g.gir.oldNbr}, g, false)
				g.gir = nil
			}
			g.jt = 0
			changed = true
		case tgt == g.target && g.rp != g.upRP:
			// RP(G) changed, the upstream neighbour did not: the Join(*,G)
			// must name the new RP now. No Prune naming the old one: the
			// upstream router would apply it (Prune(*,G) is processed
			// whatever RP it names) and undo the Join.
			e.sendStar(tgt, g, true)
			g.jt = e.periodicJT(tgt)
			changed = true
		case tgt != g.target && mrib == g.mrib && g.rp == g.upRP:
			// RPF'(*,G) changes due to an Assert: JT = min(JT, t_override).
			if f := e.ifs[tgt.ifx]; f != nil {
				g.jt = minTimer(g.jt, e.now+e.tOverride(f))
			}
			changed = true
		case tgt != g.target:
			// RPF'(*,G) changes not due to an Assert: Join to the new, Prune
			// to the old, JT = t_periodic (graceful within a GIR window).
			e.starRPFChange(g, g.target, tgt, g.upRP == g.rp)
			g.jt = e.periodicJT(tgt)
			changed = true
		}
	}
	if tgt != g.target {
		changed = true
	}
	g.target, g.mrib, g.upRP = tgt, mrib, g.rp
	if changed {
		e.touchSources(g)
	}
	return changed
}

// fire implements timerOwner for the (*,G) entry.
func (g *group) fire(e *Engine, now int64) {
	for i := range g.ifs {
		gi := &g.ifs[i]
		if gi.ppt != 0 && gi.ppt <= now {
			// Prune-Pending Timer expires: PP -> NI, send PruneEcho(*,G) if
			// the interface has other neighbours (§4.5.1).
			gi.ppt = 0
			if gi.jp == dsPrunePending {
				gi.jp = dsNoInfo
				gi.et = 0
				e.pruneEcho(gi.ifx, g, JPSource{Addr: g.rp, WC: true, RPT: true})
				e.touchGroupDeep(g)
			}
		}
		if gi.et != 0 && gi.et <= now {
			// Expiry Timer expires: J/PP -> NI.
			gi.et, gi.ppt = 0, 0
			if gi.jp != dsNoInfo {
				gi.jp = dsNoInfo
				e.stats.JoinTimeouts++
				e.touchGroupDeep(g)
			}
		}
		if gi.at != 0 && gi.at <= now {
			e.starAssertTimer(g, gi)
		}
	}
	if g.gir != nil && g.gir.at != 0 && g.gir.at <= now {
		e.completeStarGraceful(g)
	}
	if g.jt != 0 && g.jt <= now {
		// Join Timer expires: send Join(*,G) to RPF'(*,G), JT = t_periodic.
		if g.up == usJoined {
			e.sendStar(g.target, g, true)
			if g.gir != nil {
				e.sendStar(rpfTarget{g.gir.oldIf, g.gir.oldNbr}, g, true)
			}
			g.jt = e.periodicJT(g.target)
		} else {
			g.jt = 0
		}
	}
	e.touchGroup(g)
}

func (g *group) deadline() int64 {
	d := g.jt
	for i := range g.ifs {
		gi := &g.ifs[i]
		d = minDeadline(d, gi.et, gi.ppt, gi.at)
	}
	if g.gir != nil {
		d = minDeadline(d, g.gir.at)
	}
	return d
}

// pruneEcho sends a PruneEcho (a Prune with our own address as the upstream
// neighbour) on ifx when it has more than one neighbour (§4.5.1).
func (e *Engine) pruneEcho(ifx IfIndex, g *group, src JPSource) {
	f := e.ifs[ifx]
	if f == nil || !f.up || len(f.nbrs) < 2 || !src.Addr.IsValid() {
		return
	}
	e.jp.add(rpfTarget{ifx, f.addr}, g.g, src, false)
}

// emitGroupRoute emits PIM's (*,G) contribution when it changed.
func (e *Engine) emitGroupRoute(g *group) {
	if g.ssm {
		return
	}
	iif := e.rpIf(g)
	var gnew IfIndex
	if g.gir != nil {
		iif, gnew = g.gir.oldIf, g.gir.newIf
	}
	if gnew == iif {
		gnew = 0
	}
	var oil []IfIndex
	for i := range g.ifs {
		gi := &g.ifs[i]
		if gi.ifx != iif && e.inImmediateStar(g, gi) {
			oil = append(oil, gi.ifx)
		}
	}
	if len(oil) == 0 {
		if g.last.emitted {
			e.emit(RouteDelete{Group: g.g})
			g.last = routeState{}
		}
		return
	}
	if g.last.emitted && g.last.iif == iif && g.last.gnew == gnew && slices.Equal(g.last.oil, oil) {
		return
	}
	g.last = routeState{emitted: true, iif: iif, gnew: gnew, oil: oil}
	e.emit(Route{Group: g.g, IIF: iif, GracefulNew: gnew, OIL: slices.Clone(oil)})
}

// --- (S,G) and (S,G,rpt) ---------------------------------------------------

// evalSG re-evaluates the (S,G) macros: asserts (§4.6.1), register (§4.4.1),
// the upstream (S,G) (§4.5.5) and (S,G,rpt) (§4.5.6) machines, and PIM's
// (S,G) route.
func (e *Engine) evalSG(s *sgEntry) {
	for iter := 0; iter < 4; iter++ {
		ch := e.evalSGAsserts(s)
		if e.evalRegister(s) {
			ch = true
		}
		if e.evalSGUpstream(s) {
			ch = true
		}
		if e.evalRptUpstream(s) {
			ch = true
		}
		if !ch {
			break
		}
	}
	s.prevRPF = e.rpfIfS(s)
	e.emitSGRoute(s)
	s.ifs = slices.DeleteFunc(s.ifs, func(si sgIf) bool { return si.empty() })
	e.schedule(&s.node)
	e.maybeSweepSG(s)
}

func (e *Engine) evalSGUpstream(s *sgEntry) bool {
	jd := e.joinDesiredSG(s)
	tgt, mrib := e.rpfPrimeSG(s), e.mribSG(s)
	src := JPSource{Addr: s.key.Source}
	changed := false
	switch s.up {
	case usNotJoined:
		if jd {
			// JoinDesired(S,G) -> TRUE: send Join(S,G), JT = t_periodic.
			s.up = usJoined
			s.joinedAt = e.now
			e.sendJP(tgt, s.key.Group, src, true)
			s.jt = e.periodicJT(tgt)
			changed = true
		}
	case usJoined:
		switch {
		case !jd:
			// JoinDesired(S,G) -> FALSE: send Prune(S,G), SPTbit = FALSE,
			// cancel JT.
			s.up = usNotJoined
			e.sendJP(s.target, s.key.Group, src, false)
			if s.gir != nil {
				e.sendJP(rpfTarget{s.gir.oldIf, s.gir.oldNbr}, s.key.Group, src, false)
				s.gir = nil
			}
			s.spt = false
			s.jt = 0
			changed = true
		case tgt != s.target && mrib == s.mrib:
			// RPF'(S,G) changes due to an Assert.
			if f := e.ifs[tgt.ifx]; f != nil {
				s.jt = minTimer(s.jt, e.now+e.tOverride(f))
			}
			changed = true
		case tgt != s.target:
			// RPF'(S,G) changes not due to an Assert (graceful within a
			// GIR window, gir.go).
			e.sgRPFChange(s, s.target, tgt)
			s.jt = e.periodicJT(tgt)
			changed = true
		}
	}
	s.target, s.mrib = tgt, mrib
	return changed
}

func (e *Engine) evalRptUpstream(s *sgEntry) bool {
	g := s.g
	rptJoin := e.joinDesiredStar(g)
	pd := e.pruneDesiredRpt(s, rptJoin)
	tgt := e.rpfPrimeSGrpt(s)
	src := JPSource{Addr: s.key.Source, RPT: true}
	changed := false
	switch s.rpt {
	case rptNotJoined:
		switch {
		case pd:
			// PruneDesired(S,G,rpt) -> TRUE: -> P (the Prune rides in the
			// next Join(*,G)).
			s.rpt = rptPruned
			changed = true
		case rptJoin && e.anyInherited(s, true):
			// inherited_olist(S,G,rpt) -> non-NULL: -> NP.
			s.rpt = rptNotPruned
			changed = true
		}
	case rptPruned:
		switch {
		case !rptJoin:
			s.rpt = rptNotJoined
			changed = true
		case !pd:
			// PruneDesired(S,G,rpt) -> FALSE: send Join(S,G,rpt), -> NP.
			s.rpt = rptNotPruned
			e.sendJP(tgt, s.key.Group, src, true)
			changed = true
		}
	case rptNotPruned:
		switch {
		case !rptJoin:
			s.rpt = rptNotJoined
			s.ot = 0
			changed = true
		case pd:
			// PruneDesired(S,G,rpt) -> TRUE: send Prune(S,G,rpt), cancel OT.
			s.rpt = rptPruned
			s.ot = 0
			e.sendJP(tgt, s.key.Group, src, false)
			changed = true
		case tgt != s.rptTgt && tgt == e.rpfPrimeStar(g):
			// RPF'(S,G,rpt) -> RPF'(*,G): OT = min(OT, t_override).
			if f := e.ifs[tgt.ifx]; f != nil {
				s.ot = minTimer(s.ot, e.now+e.tOverride(f))
			}
		}
	}
	s.rptTgt = tgt
	return changed
}

// fire implements timerOwner for the (S,G) entry.
func (s *sgEntry) fire(e *Engine, now int64) {
	g := s.g
	for i := range s.ifs {
		si := &s.ifs[i]
		if si.ppt != 0 && si.ppt <= now {
			si.ppt = 0
			if si.jp == dsPrunePending {
				si.jp, si.et = dsNoInfo, 0
				e.pruneEcho(si.ifx, g, JPSource{Addr: s.key.Source})
				e.touchSG(s)
			}
		}
		if si.et != 0 && si.et <= now {
			si.et, si.ppt = 0, 0
			if si.jp != dsNoInfo {
				si.jp = dsNoInfo
				e.stats.JoinTimeouts++
				e.touchSG(s)
			}
		}
		if si.rpp != 0 && si.rpp <= now {
			// (S,G,rpt) Prune-Pending Timer expires: PP -> P (§4.5.3).
			si.rpp = 0
			if si.rpt == dsPrunePending {
				si.rpt = dsPrune
				e.touchSG(s)
			}
		}
		if si.ret != 0 && si.ret <= now {
			// (S,G,rpt) Expiry Timer expires: P/PP -> NI.
			si.ret, si.rpp = 0, 0
			if si.rpt != dsNoInfo {
				si.rpt = dsNoInfo
				e.touchSG(s)
			}
		}
		if si.at != 0 && si.at <= now {
			e.sgAssertTimer(s, si)
		}
	}
	if s.kat != 0 && s.kat <= now {
		// Keepalive Timer expires (§4.1.3): the (S,G) state dies unless
		// something else holds it.
		s.kat = 0
		s.rpRegs = false
		e.stats.KeepaliveTimeouts++
		e.touchSG(s)
	}
	if s.rst != 0 && s.rst <= now {
		e.registerStopTimer(s)
	}
	if s.gir != nil && s.gir.at != 0 && s.gir.at <= now {
		e.completeSGGraceful(s)
	}
	if s.ot != 0 && s.ot <= now {
		// Override Timer expires in NP: send Join(S,G,rpt) to
		// RPF'(S,G,rpt), leave OT unset.
		s.ot = 0
		if s.rpt == rptNotPruned {
			e.sendJP(e.rpfPrimeSGrpt(s), s.key.Group, JPSource{Addr: s.key.Source, RPT: true}, true)
		}
		e.touchSG(s)
	}
	if s.jt != 0 && s.jt <= now {
		if s.up == usJoined {
			src := JPSource{Addr: s.key.Source}
			e.sendJP(s.target, s.key.Group, src, true)
			if s.gir != nil {
				e.sendJP(rpfTarget{s.gir.oldIf, s.gir.oldNbr}, s.key.Group, src, true)
			}
			s.jt = e.periodicJT(s.target)
		} else {
			s.jt = 0
		}
	}
	e.touchSG(s)
}

func (s *sgEntry) deadline() int64 {
	d := minDeadline(s.jt, s.kat, s.ot, s.rst)
	for i := range s.ifs {
		si := &s.ifs[i]
		d = minDeadline(d, si.et, si.ppt, si.ret, si.rpp, si.at)
	}
	if s.gir != nil {
		d = minDeadline(d, s.gir.at)
	}
	return d
}

// sgRoute computes PIM's contribution for s (see Route): on the SPT (or for
// SSM, a source with no RP, at the RP, for a directly connected source) the
// incoming interface is RPF_interface(S) and the OIL inherited_olist(S,G);
// on the RP tree they are RPF_interface(RP(G)) and inherited_olist(S,G,rpt)
// (§4.2).
func (e *Engine) sgRoute(s *sgEntry) Route {
	g := s.g
	r := Route{Source: s.key.Source, Group: s.key.Group}
	rptOL, _, inh := e.olists(s)
	// The kernel entry has one incoming interface. It is RPF_interface(S)
	// once the SPT bit is set, and whenever the RP tree gives nothing to
	// forward (no inherited_olist(S,G,rpt)): an (S,G)-only entry forwards
	// the source tree from the first packet instead of dropping it until
	// Update_SPTbit runs. While both trees feed the entry and the SPT bit is
	// clear it is RPF_interface(RP(G)); packets from the source tree then
	// raise WrongInterface, which sets the SPT bit (§4.2.2).
	onSPT := s.spt || g.ssm || !g.rp.IsValid() || g.rpLocal || e.directlyConnected(s) || len(rptOL) == 0
	var ol []IfIndex
	if onSPT {
		r.IIF = e.rpfIfS(s)
		if s.gir != nil {
			r.IIF, r.GracefulNew = s.gir.oldIf, s.gir.newIf
		}
		if r.GracefulNew == r.IIF {
			r.GracefulNew = 0
		}
		ol = inh
	} else {
		r.IIF = e.rpIf(g)
		if g.gir != nil {
			r.IIF, r.GracefulNew = g.gir.oldIf, g.gir.newIf
		}
		if r.GracefulNew == r.IIF {
			r.GracefulNew = 0
		}
		ol = rptOL
	}
	for _, x := range ol {
		if x != r.IIF {
			r.OIL = append(r.OIL, x)
		}
	}
	if s.reg == regJoin && g.rp.IsValid() {
		r.Register, r.RegisterRP = true, g.rp
	}
	r.Decap = g.rpLocal && s.rpRegs && !s.spt
	return r
}

func (e *Engine) emitSGRoute(s *sgEntry) {
	r := e.sgRoute(s)
	l := &s.last
	if l.emitted && l.iif == r.IIF && l.gnew == r.GracefulNew && l.reg == r.Register && l.regRP == r.RegisterRP &&
		l.decap == r.Decap && slices.Equal(l.oil, r.OIL) {
		return
	}
	*l = routeState{emitted: true, iif: r.IIF, gnew: r.GracefulNew, reg: r.Register, regRP: r.RegisterRP,
		decap: r.Decap, oil: slices.Clone(r.OIL)}
	e.emit(r)
}
