package pim

import (
	"net/netip"
	"time"
)

// Graceful RPF change (issue #16, seed 002 §4 "Graceful RPF change").
//
// While the graceful window is open (GracefulWindow{Active: true}, opened
// by the GIR/PFM machinery when a router announces maintenance), an RPF
// change of an entry that is forwarding does not switch at once:
//
//  1. the entry joins the new upstream neighbour (Join(S,G) or Join(*,G))
//     and keeps joining the old one, periodic Joins going to both;
//  2. its Route keeps the OLD RPF interface as IIF — traffic keeps being
//     accepted and forwarded from the old path — and names the new one in
//     Route.GracefulNew: packets arriving there are RPF failures that the
//     kernel reports as WrongInterface events;
//  3. the first WrongInterface event on the new interface means traffic
//     arrives on the new path: IIF switches to the new interface and the
//     old upstream is pruned.
//
// An (S,G) entry on the SPT uses its own state; entries on the RP tree
// follow the (*,G) state. When the new upstream is on the same interface as
// the old one (another neighbour on a LAN) no RPF failure can signal the
// new path: both are joined for Timers.GracefulSameIfDelay, then the old
// one is pruned. Closing the window completes every pending change. Outside
// the window RPF changes are immediate (§4.5.4-4.5.5: Join to the new
// upstream, Prune to the old).

// girState is a pending graceful RPF change.
type girState struct {
	oldIf  IfIndex
	oldNbr netip.Addr
	newIf  IfIndex
	since  int64
	at     int64 // same-interface switch deadline (0: wait for traffic)
}

// sgRPFChange handles "RPF'(S,G) changes not due to an Assert" in Joined.
func (e *Engine) sgRPFChange(s *sgEntry, old, tgt rpfTarget) {
	src := JPSource{Addr: s.key.Source}
	grp := s.key.Group
	switch {
	case s.gir != nil && tgt == (rpfTarget{s.gir.oldIf, s.gir.oldNbr}):
		// Back to the original path before the switch: drop the pending
		// change and the intermediate upstream.
		if old != tgt {
			e.sendJP(old, grp, src, false)
		}
		s.gir = nil
		e.sendJP(tgt, grp, src, true)
	case s.gir != nil:
		// Another change while pending: the intermediate upstream never
		// carried our traffic; replace it.
		if old != (rpfTarget{s.gir.oldIf, s.gir.oldNbr}) {
			e.sendJP(old, grp, src, false)
		}
		e.sendJP(tgt, grp, src, true)
		s.gir.newIf = tgt.ifx
		s.gir.at = e.sameIfDeadline(s.gir.oldIf, tgt.ifx)
	case e.graceful && s.spt && old.ifx != 0 && tgt.ifx != 0:
		s.gir = &girState{oldIf: old.ifx, oldNbr: old.nbr, newIf: tgt.ifx, since: e.now,
			at: e.sameIfDeadline(old.ifx, tgt.ifx)}
		e.stats.GracefulStarted++
		e.sendJP(tgt, grp, src, true)
	default:
		e.sendJP(tgt, grp, src, true)
		e.sendJP(old, grp, src, false)
	}
}

// starRPFChange handles "RPF'(*,G) changes not due to an Assert" in Joined.
// A change of RP is never graceful (the old tree leads to another RP).
func (e *Engine) starRPFChange(g *group, old, tgt rpfTarget, sameRP bool) {
	switch {
	case g.gir != nil && tgt == (rpfTarget{g.gir.oldIf, g.gir.oldNbr}):
		if old != tgt {
			e.sendStar(old, g, false)
		}
		g.gir = nil
		e.sendStar(tgt, g, true)
	case g.gir != nil:
		if old != (rpfTarget{g.gir.oldIf, g.gir.oldNbr}) {
			e.sendStar(old, g, false)
		}
		e.sendStar(tgt, g, true)
		g.gir.newIf = tgt.ifx
		g.gir.at = e.sameIfDeadline(g.gir.oldIf, tgt.ifx)
	case e.graceful && sameRP && old.ifx != 0 && tgt.ifx != 0:
		g.gir = &girState{oldIf: old.ifx, oldNbr: old.nbr, newIf: tgt.ifx, since: e.now,
			at: e.sameIfDeadline(old.ifx, tgt.ifx)}
		e.stats.GracefulStarted++
		e.sendStar(tgt, g, true)
	default:
		e.sendStar(tgt, g, true)
		e.sendStar(old, g, false)
	}
}

func (e *Engine) sameIfDeadline(oldIf, newIf IfIndex) int64 {
	if oldIf == newIf {
		return e.now + e.t.girSameIf
	}
	return 0
}

// completeSGGraceful switches s to its new RPF interface and prunes the old
// upstream.
func (e *Engine) completeSGGraceful(s *sgEntry) {
	gs := s.gir
	if gs == nil {
		return
	}
	s.gir = nil
	if old := (rpfTarget{gs.oldIf, gs.oldNbr}); old != s.target {
		e.sendJP(old, s.key.Group, JPSource{Addr: s.key.Source}, false)
	}
	e.stats.GracefulCompleted++
	e.touchSG(s)
	e.schedule(&s.node)
}

func (e *Engine) completeStarGraceful(g *group) {
	gs := g.gir
	if gs == nil {
		return
	}
	g.gir = nil
	if old := (rpfTarget{gs.oldIf, gs.oldNbr}); old != g.target {
		e.sendStar(old, g, false)
	}
	e.stats.GracefulCompleted++
	e.touchGroupDeep(g)
	e.schedule(&g.node)
}

// setGraceful opens or closes the window; closing completes the pending
// changes.
func (e *Engine) setGraceful(active bool) {
	e.graceful = active
	if active {
		return
	}
	for _, g := range e.sortedGroups() {
		if g.gir != nil {
			e.completeStarGraceful(g)
		}
		for _, s := range sortedSources(g) {
			if s.gir != nil {
				e.completeSGGraceful(s)
			}
		}
	}
}

// GracefulWindowActive reports whether RPF changes are graceful now.
func (e *Engine) GracefulWindowActive() bool { return e.graceful }

// SetGracefulWindow is GracefulWindow as a method: it opens or closes the
// graceful-RPF-change window at now and returns the resulting actions
// (closing completes the pending changes).
func (e *Engine) SetGracefulWindow(now time.Time, active bool) []Action {
	return e.Handle(now, GracefulWindow{Active: active})
}
