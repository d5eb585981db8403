package pim

import (
	"net/netip"
)

// linkLocal is 224.0.0.0/24: never routed, never joined.
var linkLocal = netip.MustParsePrefix("224.0.0.0/24")

func validGroup(g netip.Addr) bool {
	return g.IsValid() && g.IsMulticast() && !linkLocal.Contains(g) && !g.IsLinkLocalMulticast() && !g.IsInterfaceLocalMulticast()
}

// recvJoinPrune handles a Join/Prune message (§4.5). Addressed to us, it
// drives the downstream machines of §4.5.1-4.5.3 on the arrival interface;
// addressed to another router on the LAN it is "seen" by our upstream
// machines (§4.5.4-4.5.6: join suppression, prune override).
func (e *Engine) recvJoinPrune(ev RecvJoinPrune) {
	e.stats.Rx.JoinPrune++
	f := e.ifs[ev.If]
	if f == nil || !f.up {
		e.stats.RxIntfDisabled++
		e.stats.RxErrors.JoinPrune++
		return
	}
	from := f.nbrByAny(ev.Src)
	if from == nil {
		// "If a router receives a Join/Prune message from a particular IP
		// source address and it has not seen a PIM Hello message from that
		// source address, then the Join/Prune message SHOULD be discarded."
		e.stats.NeighborUnknown++
		e.stats.RxErrors.JoinPrune++
		return
	}
	m := ev.Msg
	toMe := m.UpstreamNeighbor == f.addr
	for _, gs := range m.Groups {
		if !validGroup(gs.Group) {
			e.stats.RxJPInvalidGroup++
			continue
		}
		e.stats.RxJoins += uint64(len(gs.Joins))
		e.stats.RxPrunes += uint64(len(gs.Prunes))
		f.stats.RxJoins += uint64(len(gs.Joins))
		f.stats.RxPrunes += uint64(len(gs.Prunes))
		if toMe {
			e.downstreamGroup(f, from.addr, gs, m.Holdtime)
		} else {
			e.seeGroup(f, rpfTarget{f.idx, m.UpstreamNeighbor}, gs, m.Holdtime)
		}
	}
}

// downstreamGroup applies one group set addressed to this router. Entries
// are taken in the order of §4.5: (*,G) first (a Join(*,G) moves (S,G,rpt)
// Prune states to their temporary states), then (S,G,rpt), then (S,G), then
// the End of Message event of the (S,G,rpt) machine.
func (e *Engine) downstreamGroup(f *iface, from netip.Addr, gs JPGroup, hold uint16) {
	ssm := e.isSSM(gs.Group)
	starJoined := false
	var g *group
	for _, j := range gs.Joins {
		if !j.WC {
			continue
		}
		if ssm || !j.RPT {
			e.stats.RxJPSparseForSSM++
			continue
		}
		g = e.groupOrCreate(gs.Group)
		if g.rp.IsValid() && j.Addr != g.rp {
			// §4.5.1: a Join(*,G) naming another RP is dropped.
			e.stats.RPMismatch++
			continue
		}
		gi := g.ifOrCreate(f.idx)
		e.dsStarJoin(g, gi, from, hold)
		starJoined = true
		for _, s := range g.srcs {
			if si := s.ifOf(f.idx); si != nil {
				e.dsRptStarJoin(s, si)
			}
		}
	}
	for _, p := range gs.Prunes {
		if !p.WC {
			continue
		}
		if g = e.groups[gs.Group]; g == nil || ssm {
			e.stats.RxJPNoState++
			continue
		}
		// "Received Prune(*,G) messages are processed even if the RP in the
		// message does not match RP(G)."
		if gi := g.ifOf(f.idx); gi != nil {
			e.dsStarPrune(g, gi, f)
		} else {
			e.stats.RxJPNoState++
		}
	}
	for _, j := range gs.Joins {
		if j.WC || !j.RPT {
			continue
		}
		if ssm {
			e.stats.RxJPSparseForSSM++
			continue
		}
		if s := e.sgs[SG{j.Addr, gs.Group}]; s != nil {
			if si := s.ifOf(f.idx); si != nil {
				e.dsRptJoin(s, si)
			}
		}
	}
	for _, p := range gs.Prunes {
		if p.WC || !p.RPT {
			continue
		}
		if ssm {
			e.stats.RxJPSparseForSSM++
			continue
		}
		if !p.Addr.IsValid() || p.Addr.IsMulticast() {
			e.stats.RxBadData++
			continue
		}
		s := e.sgOrCreate(p.Addr, gs.Group)
		e.dsRptPrune(s, s.ifOrCreate(f.idx), f, hold)
	}
	for _, j := range gs.Joins {
		if j.WC || j.RPT {
			continue
		}
		if !j.Addr.IsValid() || j.Addr.IsMulticast() {
			e.stats.RxBadData++
			continue
		}
		s := e.sgOrCreate(j.Addr, gs.Group)
		e.dsSGJoin(s, s.ifOrCreate(f.idx), from, hold)
	}
	for _, p := range gs.Prunes {
		if p.WC || p.RPT {
			continue
		}
		if s := e.sgs[SG{p.Addr, gs.Group}]; s != nil {
			if si := s.ifOf(f.idx); si != nil {
				e.dsSGPrune(s, si, f)
				continue
			}
		}
		e.stats.RxJPNoState++
	}
	if starJoined && g != nil {
		for _, s := range g.srcs {
			if si := s.ifOf(f.idx); si != nil {
				e.dsRptEndOfMessage(s, si)
			}
		}
	}
}

// ppTimer is the Prune-Pending Timer: J/P_Override_Interval(I) with more
// than one neighbour on I, else zero ("causing it to expire immediately").
func (e *Engine) ppTimer(f *iface) int64 {
	if len(f.nbrs) > 1 {
		return e.now + f.jpOverride()
	}
	return e.now
}

// --- downstream (*,G), §4.5.1 ---------------------------------------------

func (e *Engine) dsStarJoin(g *group, gi *gIf, from netip.Addr, hold uint16) {
	hd := holdDeadline(e.now, hold)
	switch gi.jp {
	case dsNoInfo:
		// NI -> J: start the Expiry Timer at the HoldTime.
		gi.jp = dsJoin
		gi.et = hd
		gi.joinedAt = e.now
		e.touchGroupDeep(g)
	case dsJoin:
		// J -> J: ET = max(ET, HoldTime).
		gi.et = maxTimer(gi.et, hd)
	case dsPrunePending:
		// PP -> J: cancel the PPT, ET = max(ET, HoldTime).
		gi.jp = dsJoin
		gi.ppt = 0
		gi.et = maxTimer(gi.et, hd)
	}
	gi.lastJoin, gi.joiner = e.now, from
	if gi.as == asLoser {
		// (*,G) assert, L: "Receive Join(*,G) on interface I" -> NI (A5).
		e.assertLoserReset(&gi.as, &gi.at, &gi.winner)
		e.touchGroupDeep(g)
	}
	e.schedule(&g.node)
}

func (e *Engine) dsStarPrune(g *group, gi *gIf, f *iface) {
	if gi.jp == dsJoin {
		// J -> PP: start the Prune-Pending Timer.
		gi.jp = dsPrunePending
		gi.ppt = e.ppTimer(f)
		e.schedule(&g.node)
	}
}

// --- downstream (S,G), §4.5.2 ---------------------------------------------

func (e *Engine) dsSGJoin(s *sgEntry, si *sgIf, from netip.Addr, hold uint16) {
	hd := holdDeadline(e.now, hold)
	switch si.jp {
	case dsNoInfo:
		si.jp = dsJoin
		si.et = hd
		si.joinedAt = e.now
		e.touchSG(s)
	case dsJoin:
		si.et = maxTimer(si.et, hd)
	case dsPrunePending:
		si.jp = dsJoin
		si.ppt = 0
		si.et = maxTimer(si.et, hd)
	}
	si.lastJoin, si.joiner = e.now, from
	if si.as == asLoser {
		// (S,G) assert, L: "Receive Join(S,G) on interface I" -> NI (A5).
		e.assertLoserReset(&si.as, &si.at, &si.winner)
		e.touchSG(s)
	}
	e.schedule(&s.node)
}

func (e *Engine) dsSGPrune(s *sgEntry, si *sgIf, f *iface) {
	if si.jp == dsJoin {
		si.jp = dsPrunePending
		si.ppt = e.ppTimer(f)
		e.schedule(&s.node)
	}
}

// --- downstream (S,G,rpt), §4.5.3 -----------------------------------------

// dsRptStarJoin: "Receive Join(*,G)": P -> P', PP -> PP'.
func (e *Engine) dsRptStarJoin(s *sgEntry, si *sgIf) {
	switch si.rpt {
	case dsPrune:
		si.rpt = dsPruneTmp
	case dsPrunePending:
		si.rpt = dsPrunePendingTmp
	}
}

// dsRptJoin: "Receive Join(S,G,rpt)": P, PP (and the temporary states) ->
// NI, cancelling the timers.
func (e *Engine) dsRptJoin(s *sgEntry, si *sgIf) {
	if si.rpt == dsNoInfo {
		return
	}
	si.rpt = dsNoInfo
	si.ret, si.rpp = 0, 0
	e.touchSG(s)
	e.schedule(&s.node)
}

// dsRptPrune: "Receive Prune(S,G,rpt)": NI -> PP (start PPT and ET), P -> P
// and P' -> P (restart ET), PP' -> PP (restart ET), PP -> PP.
func (e *Engine) dsRptPrune(s *sgEntry, si *sgIf, f *iface, hold uint16) {
	hd := holdDeadline(e.now, hold)
	switch si.rpt {
	case dsNoInfo:
		si.rpt = dsPrunePending
		si.rpp = e.ppTimer(f)
		si.ret = hd
		e.touchSG(s)
	case dsPrune:
		si.ret = maxTimer(si.ret, hd)
	case dsPruneTmp:
		si.rpt = dsPrune
		si.ret = maxTimer(si.ret, hd)
	case dsPrunePendingTmp:
		si.rpt = dsPrunePending
		si.ret = maxTimer(si.ret, hd)
	}
	e.schedule(&s.node)
}

// dsRptEndOfMessage: P' -> NI, PP' -> NI.
func (e *Engine) dsRptEndOfMessage(s *sgEntry, si *sgIf) {
	switch si.rpt {
	case dsPruneTmp, dsPrunePendingTmp:
		si.rpt = dsNoInfo
		si.ret, si.rpp = 0, 0
		e.touchSG(s)
		e.schedule(&s.node)
	}
}

// --- seeing other routers' Join/Prunes (§4.5.4-§4.5.6) ---------------------

// tJoinSuppress is t_joinsuppress = min(t_suppressed, HoldTime); 0 when
// suppression is disabled.
func (e *Engine) tJoinSuppress(f *iface, hold uint16) int64 {
	ts := e.tSuppressed(f)
	if ts == 0 {
		return 0
	}
	return min(ts, int64(hold)*second)
}

// seeGroup applies a group set addressed to upstream neighbour t (not us)
// to our upstream machines.
func (e *Engine) seeGroup(f *iface, t rpfTarget, gs JPGroup, hold uint16) {
	g := e.groups[gs.Group]
	for _, j := range gs.Joins {
		switch {
		case j.WC:
			// See Join(*,G) to RPF'(*,G): JT = max(JT, t_joinsuppress).
			if g != nil && g.up == usJoined && g.target == t {
				if d := e.tJoinSuppress(f, hold); d > 0 {
					g.jt = maxTimer(g.jt, e.now+d)
					e.schedule(&g.node)
				}
			}
		case j.RPT:
			// See Join(S,G,rpt) to RPF'(S,G,rpt): NP: cancel OT.
			if s := e.sgs[SG{j.Addr, gs.Group}]; s != nil && s.rpt == rptNotPruned && s.rptTgt == t && s.ot != 0 {
				s.ot = 0
				e.schedule(&s.node)
				e.maybeSweepSG(s)
			}
		default:
			// See Join(S,G) to RPF'(S,G): JT = max(JT, t_joinsuppress).
			if s := e.sgs[SG{j.Addr, gs.Group}]; s != nil && s.up == usJoined && s.target == t {
				if d := e.tJoinSuppress(f, hold); d > 0 {
					s.jt = maxTimer(s.jt, e.now+d)
					e.schedule(&s.node)
				}
			}
		}
	}
	for _, p := range gs.Prunes {
		switch {
		case p.WC:
			if g == nil {
				continue
			}
			// See Prune(*,G) to RPF'(*,G): JT = min(JT, t_override).
			if g.up == usJoined && g.target == t {
				g.jt = minTimer(g.jt, e.now+e.tOverride(f))
				e.schedule(&g.node)
			}
			// See Prune(*,G) to RPF'(S,G) (§4.5.5).
			for _, s := range sortedSources(g) {
				if s.up == usJoined && s.target == t {
					s.jt = minTimer(s.jt, e.now+e.tOverride(f))
					e.schedule(&s.node)
				}
			}
		case p.RPT:
			s := e.seenSource(p.Addr, gs.Group, g, t)
			if s == nil {
				continue
			}
			// See Prune(S,G,rpt) to RPF'(S,G,rpt): NP: OT = min(OT,
			// t_override): we still want S on the shared tree, so override.
			if s.rpt == rptNotPruned && s.rptTgt == t {
				s.ot = minTimer(s.ot, e.now+e.tOverride(f))
			}
			// See Prune(S,G,rpt) to RPF'(S,G) (§4.5.5).
			if s.up == usJoined && s.target == t {
				s.jt = minTimer(s.jt, e.now+e.tOverride(f))
			}
			e.schedule(&s.node)
		default:
			s := e.seenSource(p.Addr, gs.Group, g, t)
			if s == nil {
				continue
			}
			// See Prune(S,G) to RPF'(S,G): JT = min(JT, t_override).
			if s.up == usJoined && s.target == t {
				s.jt = minTimer(s.jt, e.now+e.tOverride(f))
			}
			// See Prune(S,G) to RPF'(S,G,rpt): NP: OT = min(OT, t_override).
			if s.rpt == rptNotPruned && s.rptTgt == t {
				s.ot = minTimer(s.ot, e.now+e.tOverride(f))
			}
			e.schedule(&s.node)
		}
	}
}

// seenSource returns the (S,G) entry a seen Prune applies to. When we are
// joined to the shared tree through t and have no (S,G) state, our (S,G,rpt)
// machine is implicitly NotPruned: the entry is created so that the Override
// Timer can run.
func (e *Engine) seenSource(src, grp netip.Addr, g *group, t rpfTarget) *sgEntry {
	if s := e.sgs[SG{src, grp}]; s != nil {
		return s
	}
	if g == nil || g.ssm || g.up != usJoined || g.target != t || !src.IsValid() || src.IsMulticast() {
		return nil
	}
	s := e.sgOrCreate(src, grp)
	// Settle the new entry now so that its (S,G,rpt) state is NotPruned
	// before the Override Timer is set.
	s.dirty = false
	e.evalSG(s)
	return s
}

// membership applies local membership from IGMP (§4.1.6
// local_receiver_include / local_receiver_exclude).
func (e *Engine) membership(ev Membership) {
	f := e.ifs[ev.If]
	if f == nil || !validGroup(ev.Group) {
		e.stats.RxBadData++
		return
	}
	if !ev.Source.IsValid() {
		if e.isSSM(ev.Group) {
			// (*,G) interest in an SSM range is ignored (§4.8).
			return
		}
		g := e.groups[ev.Group]
		if g == nil && ev.Mode == MemberNone {
			return
		}
		if g == nil {
			g = e.groupOrCreate(ev.Group)
		}
		gi := g.ifOrCreate(ev.If)
		want := ev.Mode == MemberInclude
		if gi.local != want {
			gi.local = want
			if want {
				gi.joinedAt = e.now
			}
			e.touchGroupDeep(g)
		}
		return
	}
	s := e.sgs[SG{ev.Source, ev.Group}]
	if s == nil && ev.Mode == MemberNone {
		return
	}
	if s == nil {
		s = e.sgOrCreate(ev.Source, ev.Group)
	}
	si := s.ifOrCreate(ev.If)
	var bits uint8
	switch ev.Mode {
	case MemberInclude:
		bits = localInclude
	case MemberExclude:
		bits = localExclude
	}
	if si.local != bits {
		si.local = bits
		if bits == localInclude {
			si.joinedAt = e.now
		}
		e.touchSG(s)
	}
}

// clearJoin is `clear pim join [G]`: the downstream join state is dropped
// (the upstream machines prune); joins refreshed by neighbours come back.
func (e *Engine) clearJoin(grp netip.Addr) {
	for _, g := range e.sortedGroups() {
		if grp.IsValid() && g.g != grp {
			continue
		}
		for i := range g.ifs {
			gi := &g.ifs[i]
			gi.jp, gi.et, gi.ppt = dsNoInfo, 0, 0
		}
		e.touchGroupDeep(g)
		for _, s := range sortedSources(g) {
			for i := range s.ifs {
				si := &s.ifs[i]
				si.jp, si.et, si.ppt = dsNoInfo, 0, 0
				si.rpt, si.ret, si.rpp = dsNoInfo, 0, 0
			}
			s.kat = 0
			e.schedule(&s.node)
		}
		e.schedule(&g.node)
	}
}
