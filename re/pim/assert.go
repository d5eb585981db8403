package pim

import (
	"net/netip"
)

// --- metrics (§4.6.1) --------------------------------------------------------

func (e *Engine) myIP(ifx IfIndex) netip.Addr {
	if f := e.ifs[ifx]; f != nil {
		return f.addr
	}
	return netip.Addr{}
}

// sptMetric is spt_assert_metric(S,I).
func (e *Engine) sptMetric(s *sgEntry, ifx IfIndex) AssertMetric {
	r := s.rpf.rpf
	return AssertMetric{Preference: r.Preference, Metric: r.Metric, Addr: e.myIP(ifx)}
}

// rptMetric is rpt_assert_metric(G,I).
func (e *Engine) rptMetric(g *group, ifx IfIndex) AssertMetric {
	var r RPF
	if g.rpR != nil {
		r = g.rpR.rpf
	}
	return AssertMetric{RPT: true, Preference: r.Preference, Metric: r.Metric, Addr: e.myIP(ifx)}
}

// couldAssertSG is CouldAssert(S,G,I).
func (e *Engine) couldAssertSG(s *sgEntry, ifx IfIndex, gi *gIf, si *sgIf) bool {
	if !s.spt || ifx == e.rpfIfS(s) {
		return false
	}
	return e.assertSetSG(s, gi, si, true)
}

// assertSetSG: I in ( ( joins(*,G) (-) prunes(S,G,rpt) ) (+) ( pim_include
// (*,G) (-) pim_exclude(S,G) ) (-) lost_assert(*,G) (+) joins(S,G) [(+)
// pim_include(S,G) when withInclude] ).
func (e *Engine) assertSetSG(s *sgEntry, gi *gIf, si *sgIf, withInclude bool) bool {
	g := s.g
	a := gi != nil && joinsState(gi.jp) && !prunesRpt(si)
	b := e.pimIncludeStar(g, gi) && !e.pimExcludeSG(g, gi, si)
	if (a || b) && !e.lostAssertStar(g, gi) {
		return true
	}
	if si != nil && joinsState(si.jp) {
		return true
	}
	return withInclude && e.pimIncludeSG(s, si)
}

// assTrDesSG is AssertTrackingDesired(S,G,I).
func (e *Engine) assTrDesSG(s *sgEntry, ifx IfIndex, gi *gIf, si *sgIf) bool {
	if e.assertSetSG(s, gi, si, false) {
		return true
	}
	if si != nil && si.local&localInclude != 0 && (e.iAmDR(ifx) || si.as == asWinner) {
		return true
	}
	if ifx == e.rpfIfS(s) && e.joinDesiredSG(s) {
		return true
	}
	return ifx == e.rpIf(s.g) && e.joinDesiredStar(s.g) && !s.spt
}

// couldAssertStar is CouldAssert(*,G,I).
func (e *Engine) couldAssertStar(g *group, gi *gIf) bool {
	if gi == nil || g.ssm || gi.ifx == e.rpIf(g) {
		return false
	}
	return joinsState(gi.jp) || e.pimIncludeStar(g, gi)
}

// assTrDesStar is AssertTrackingDesired(*,G,I).
func (e *Engine) assTrDesStar(g *group, gi *gIf) bool {
	if e.couldAssertStar(g, gi) {
		return true
	}
	if gi.local && (e.iAmDR(gi.ifx) || gi.as == asWinner) {
		return true
	}
	return gi.ifx == e.rpIf(g) && e.joinDesiredStar(g)
}

// myMetricSG is my_assert_metric(S,G,I).
func (e *Engine) myMetricSG(s *sgEntry, ifx IfIndex, gi *gIf, si *sgIf) AssertMetric {
	if e.couldAssertSG(s, ifx, gi, si) {
		return e.sptMetric(s, ifx)
	}
	if gi != nil && e.couldAssertStar(s.g, gi) {
		return e.rptMetric(s.g, ifx)
	}
	return InfiniteAssertMetric
}

func (e *Engine) myMetricStar(g *group, gi *gIf) AssertMetric {
	if e.couldAssertStar(g, gi) {
		return e.rptMetric(g, gi.ifx)
	}
	return InfiniteAssertMetric
}

// --- sending ----------------------------------------------------------------

func (e *Engine) sendAssert(ifx IfIndex, grp, src netip.Addr, m AssertMetric) {
	f := e.ifs[ifx]
	if f == nil || !f.up {
		return
	}
	e.ensureHello(f)
	if !src.IsValid() {
		if grp.Is4() {
			src = netip.IPv4Unspecified()
		} else {
			src = netip.IPv6Unspecified()
		}
	}
	e.emit(SendAssert{If: ifx, Msg: Assert{Group: grp, Source: src, Metric: m}})
	e.stats.Tx.Assert++
}

func (e *Engine) assertLoserReset(as *uint8, at *int64, w *AssertMetric) {
	*as, *at, *w = asNoInfo, 0, AssertMetric{}
}

// --- (S,G) assert machine (§4.6.1) --------------------------------------------

// sgA1: send Assert(S,G), AT = Assert_Time - Assert_Override_Interval,
// store self as winner with spt_assert_metric(S,I).
func (e *Engine) sgA1(s *sgEntry, si *sgIf) {
	m := e.sptMetric(s, si.ifx)
	if si.as != asWinner {
		e.stats.AssertsWon++
	}
	si.as, si.winner = asWinner, m
	si.at = e.now + e.t.assert - e.t.assertOvr
	e.sendAssert(si.ifx, s.key.Group, s.key.Source, m)
	e.touchSG(s)
}

// sgA2: store the new winner and its metric, AT = Assert_Time.
func (e *Engine) sgA2(s *sgEntry, si *sgIf, w AssertMetric) {
	if si.as != asLoser {
		e.stats.AssertsLost++
	}
	si.as, si.winner = asLoser, w
	si.at = e.now + e.t.assert
	e.touchSG(s)
}

// sgA4: send AssertCancel(S,G), forget the winner.
func (e *Engine) sgA4(s *sgEntry, si *sgIf) {
	e.sendAssert(si.ifx, s.key.Group, s.key.Source, InfiniteAssertMetric)
	e.assertLoserReset(&si.as, &si.at, &si.winner)
	e.touchSG(s)
}

// sgA5: forget the winner.
func (e *Engine) sgA5(s *sgEntry, si *sgIf) {
	e.assertLoserReset(&si.as, &si.at, &si.winner)
	e.touchSG(s)
}

// sgA6: A2, and if I is RPF_interface(S) with the upstream (S,G) Joined,
// SPTbit(S,G) = TRUE.
func (e *Engine) sgA6(s *sgEntry, si *sgIf, w AssertMetric) {
	e.sgA2(s, si, w)
	if si.ifx == e.rpfIfS(s) && s.up == usJoined && !s.spt {
		s.spt = true
		e.stats.SPTSwitches++
	}
}

// recvAssert handles an Assert (§4.6). The (S,G) machine takes Asserts
// with the RPT bit clear, and those with it set while CouldAssert(S,G,I);
// the (*,G) machine takes RPT-bit Asserts when the (S,G) machine is in
// NoInfo.
func (e *Engine) recvAssert(ev RecvAssert) {
	e.stats.Rx.Assert++
	f := e.ifs[ev.If]
	if f == nil || !f.up {
		e.stats.RxIntfDisabled++
		e.stats.RxErrors.Assert++
		return
	}
	if f.nbrByAny(ev.Src) == nil {
		// "a PIM Assert message should only be accepted for processing if
		// it comes from a known PIM neighbor" (§4.6).
		e.stats.NeighborUnknown++
		e.stats.RxErrors.Assert++
		return
	}
	m := ev.Msg
	if !validGroup(m.Group) {
		e.stats.RxBadData++
		e.stats.RxErrors.Assert++
		return
	}
	w := m.Metric
	w.Addr = ev.Src
	if m.Source.IsValid() && !m.Source.IsUnspecified() {
		s := e.sgs[SG{m.Source, m.Group}]
		if !w.RPT {
			if s == nil {
				s = e.sgOrCreate(m.Source, m.Group)
				s.dirty = false
				e.evalSG(s)
			}
			e.sgAssertRecv(s, f.idx, w)
			return
		}
		if s != nil {
			si := s.ifOf(f.idx)
			wasNI := si == nil || si.as == asNoInfo
			e.sgAssertRecv(s, f.idx, w)
			if !wasNI {
				return
			}
			if si = s.ifOf(f.idx); si != nil && si.as != asNoInfo {
				return
			}
		}
	}
	if !w.RPT {
		e.stats.RxErrors.Assert++
		return
	}
	if g := e.groups[m.Group]; g != nil && !g.ssm {
		e.starAssertRecv(g, f.idx, w)
	}
}

func (e *Engine) sgAssertRecv(s *sgEntry, ifx IfIndex, w AssertMetric) {
	g := s.g
	si := s.ifOrCreate(ifx)
	gi := g.ifOf(ifx)
	mine := e.myMetricSG(s, ifx, gi, si)
	switch si.as {
	case asNoInfo:
		switch {
		case w.RPT && e.couldAssertSG(s, ifx, gi, si):
			// Receive Assert with RPTbit set and CouldAssert(S,G,I): -> W
			// (A1).
			e.sgA1(s, si)
		case !w.RPT && mine.Better(w) && e.couldAssertSG(s, ifx, gi, si):
			// Receive Inferior Assert with RPTbit clear and CouldAssert: -> W
			// (A1).
			e.sgA1(s, si)
		case !w.RPT && !w.IsInfinite() && w.Better(mine) && e.assTrDesSG(s, ifx, gi, si):
			// Receive Acceptable Assert with RPTbit clear and AssTrDes: -> L
			// (A6).
			e.sgA6(s, si, w)
		}
	case asWinner:
		if mine.Better(w) {
			// Receive Inferior Assert: -> W (A3).
			si.at = e.now + e.t.assert - e.t.assertOvr
			e.sendAssert(ifx, s.key.Group, s.key.Source, e.sptMetric(s, ifx))
		} else {
			// Receive Preferred Assert: -> L (A2).
			e.sgA2(s, si, w)
		}
	case asLoser:
		switch {
		case w.IsInfinite() && w.Addr == si.winner.Addr:
			// AssertCancel from the current winner: inferior by definition
			// (§4.6.1 "AssertCancel Messages"), whatever our own metric.
			e.sgA5(s, si)
		case w.Better(si.winner):
			// Receive Preferred Assert: -> L (A2).
			e.sgA2(s, si, w)
		case w.Addr == si.winner.Addr && w.Better(mine):
			// Receive Acceptable Assert from the current winner: -> L (A2).
			e.sgA2(s, si, w)
		case w.Addr == si.winner.Addr:
			// Receive Inferior Assert (or AssertCancel) from the current
			// winner: -> NI (A5).
			e.sgA5(s, si)
		}
	}
	e.schedule(&s.node)
}

// sgAssertTimer: W: resend (A3); L: -> NI (A5).
func (e *Engine) sgAssertTimer(s *sgEntry, si *sgIf) {
	switch si.as {
	case asWinner:
		si.at = e.now + e.t.assert - e.t.assertOvr
		e.sendAssert(si.ifx, s.key.Group, s.key.Source, e.sptMetric(s, si.ifx))
	case asLoser:
		e.sgA5(s, si)
	default:
		si.at = 0
	}
}

// evalSGAsserts runs the macro-driven (S,G) assert transitions:
// W: CouldAssert -> FALSE (A4); L: AssTrDes -> FALSE, my metric better than
// the winner's, RPF_interface(S) stops being I (A5).
func (e *Engine) evalSGAsserts(s *sgEntry) bool {
	changed := false
	rpfIf := e.rpfIfS(s)
	for i := range s.ifs {
		si := &s.ifs[i]
		if si.as == asNoInfo {
			continue
		}
		gi := s.g.ifOf(si.ifx)
		switch si.as {
		case asWinner:
			if !e.couldAssertSG(s, si.ifx, gi, si) {
				e.sgA4(s, si)
				changed = true
			}
		case asLoser:
			switch {
			case !e.assTrDesSG(s, si.ifx, gi, si),
				e.myMetricSG(s, si.ifx, gi, si).Better(si.winner),
				si.ifx == s.prevRPF && rpfIf != si.ifx:
				e.sgA5(s, si)
				changed = true
			}
		}
	}
	return changed
}

// sgAssertData: an (S,G) packet arrived on I, an interface of
// inherited_olist(S,G): NI and CouldAssert(S,G,I) -> W (A1).
func (e *Engine) sgAssertData(s *sgEntry, ifx IfIndex) {
	si := s.ifOrCreate(ifx)
	if si.as == asNoInfo && e.couldAssertSG(s, ifx, s.g.ifOf(ifx), si) {
		e.sgA1(s, si)
		e.schedule(&s.node)
	}
}

// --- (*,G) assert machine (§4.6.2) --------------------------------------------

func (e *Engine) starA1(g *group, gi *gIf, src netip.Addr) {
	m := e.rptMetric(g, gi.ifx)
	if gi.as != asWinner {
		e.stats.AssertsWon++
	}
	gi.as, gi.winner = asWinner, m
	gi.at = e.now + e.t.assert - e.t.assertOvr
	e.sendAssert(gi.ifx, g.g, src, m)
	e.touchGroupDeep(g)
}

func (e *Engine) starA2(g *group, gi *gIf, w AssertMetric) {
	if gi.as != asLoser {
		e.stats.AssertsLost++
	}
	gi.as, gi.winner = asLoser, w
	gi.at = e.now + e.t.assert
	e.touchGroupDeep(g)
}

func (e *Engine) starA5(g *group, gi *gIf) {
	e.assertLoserReset(&gi.as, &gi.at, &gi.winner)
	e.touchGroupDeep(g)
}

func (e *Engine) starAssertRecv(g *group, ifx IfIndex, w AssertMetric) {
	gi := g.ifOrCreate(ifx)
	mine := e.myMetricStar(g, gi)
	switch gi.as {
	case asNoInfo:
		switch {
		case mine.Better(w) && e.couldAssertStar(g, gi):
			// Receive Inferior Assert with RPTbit set and CouldAssert(*,G,I):
			// -> W (A1).
			e.starA1(g, gi, netip.Addr{})
		case !w.IsInfinite() && w.Better(mine) && e.assTrDesStar(g, gi):
			// Receive Acceptable Assert with RPTbit set and AssTrDes(*,G,I):
			// -> L (A2).
			e.starA2(g, gi, w)
		}
	case asWinner:
		if mine.Better(w) {
			gi.at = e.now + e.t.assert - e.t.assertOvr
			e.sendAssert(ifx, g.g, netip.Addr{}, e.rptMetric(g, ifx))
		} else {
			e.starA2(g, gi, w)
		}
	case asLoser:
		switch {
		case w.IsInfinite() && w.Addr == gi.winner.Addr:
			e.starA5(g, gi)
		case w.Better(gi.winner):
			e.starA2(g, gi, w)
		case w.Addr == gi.winner.Addr && w.Better(mine):
			e.starA2(g, gi, w)
		case w.Addr == gi.winner.Addr:
			e.starA5(g, gi)
		}
	}
	e.schedule(&g.node)
}

func (e *Engine) starAssertTimer(g *group, gi *gIf) {
	switch gi.as {
	case asWinner:
		gi.at = e.now + e.t.assert - e.t.assertOvr
		e.sendAssert(gi.ifx, g.g, netip.Addr{}, e.rptMetric(g, gi.ifx))
	case asLoser:
		e.starA5(g, gi)
	default:
		gi.at = 0
	}
}

// evalStarAsserts: W: CouldAssert(*,G,I) -> FALSE: AssertCancel(*,G) (A4);
// (L: RPF_interface(RP(G)) stops being I is the third case below.)
// L: AssTrDes(*,G,I) -> FALSE, my metric better, RPF_interface(RP(G))
// stops being I (A5).
func (e *Engine) evalStarAsserts(g *group) bool {
	changed := false
	for i := range g.ifs {
		gi := &g.ifs[i]
		switch gi.as {
		case asWinner:
			if !e.couldAssertStar(g, gi) {
				e.sendAssert(gi.ifx, g.g, netip.Addr{}, InfiniteAssertMetric)
				e.starA5(g, gi)
				changed = true
			}
		case asLoser:
			rpIf := e.rpIf(g)
			if !e.assTrDesStar(g, gi) || e.myMetricStar(g, gi).Better(gi.winner) ||
				(gi.ifx == g.prevRPIf && rpIf != gi.ifx) {
				e.starA5(g, gi)
				changed = true
			}
		}
	}
	return changed
}

// starAssertData: a packet for G arrived on I, in inherited_olist(S,G,rpt)
// with the SPT bit clear: NI and CouldAssert(*,G,I) -> W (A1), the Assert
// naming the packet's source.
func (e *Engine) starAssertData(g *group, ifx IfIndex, src netip.Addr) {
	gi := g.ifOf(ifx)
	if gi != nil && gi.as == asNoInfo && e.couldAssertStar(g, gi) {
		e.starA1(g, gi, src)
		e.schedule(&g.node)
	}
}

// neighborGone: "Current Winner's NLT Expires" (§4.6.1, §4.6.2): L -> NI.
func (e *Engine) neighborGone(f *iface, addr netip.Addr) {
	for _, g := range e.sortedGroups() {
		if gi := g.ifOf(f.idx); gi != nil && gi.as == asLoser && gi.winner.Addr == addr {
			e.starA5(g, gi)
			e.schedule(&g.node)
		}
		for _, s := range sortedSources(g) {
			if si := s.ifOf(f.idx); si != nil && si.as == asLoser && si.winner.Addr == addr {
				e.sgA5(s, si)
				e.schedule(&s.node)
			}
		}
	}
}
