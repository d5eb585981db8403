package pim

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// --- RP(G) -------------------------------------------------------------------

// rpChanged marks the RP-set as changed; settle re-runs RP(G) for every
// group.
func (e *Engine) rpChanged() { e.rpDirty = true }

// refreshRP sets RP(G) and I_am_RP(G) for g; it reports whether they
// changed.
func (e *Engine) refreshRP(g *group) bool {
	var rp netip.Addr
	if !g.ssm {
		if c, ok := e.rps.Lookup(g.g, e.now); ok {
			rp = c.RP
		}
	}
	local := rp.IsValid() && e.isMyAddr(rp)
	if rp == g.rp && local == g.rpLocal && (g.rpR != nil) == (rp.IsValid() && !local) {
		return false
	}
	if g.rpR != nil {
		g.rpR.rpRefs--
	}
	e.untrack(g.rpR)
	g.rpR = nil
	g.rp, g.rpLocal = rp, local
	if rp.IsValid() && !local {
		g.rpR = e.track(rp)
		g.rpR.rpRefs++
	}
	return true
}

func (e *Engine) applyRPSet() {
	changed := false
	for _, g := range e.sortedGroups() {
		if e.refreshRP(g) {
			changed = true
			e.touchGroupDeep(g)
		}
	}
	if changed || true {
		e.emit(RPSetChanged{})
	}
}

// RP returns RP(G) and whether this router is it (RFC 7761 §4.7.1).
func (e *Engine) RP(g netip.Addr, now time.Time) (netip.Addr, bool, bool) {
	if e.isSSM(g) {
		return netip.Addr{}, false, false
	}
	c, ok := e.rps.Lookup(g, nanos(now))
	if !ok {
		return netip.Addr{}, false, false
	}
	return c.RP, e.isMyAddr(c.RP), true
}

// MSDPServer returns the MSDP server of seed 001 §4: the S-bit RP with the
// highest priority, ties broken by the hash.
func (e *Engine) MSDPServer(now time.Time) (rpset.Candidate, bool) {
	return e.rps.MSDPServer(nanos(now))
}

// RPSet returns every RP-set entry (configured and learned).
func (e *Engine) RPSet() []rpset.Candidate { return e.rps.All() }

// --- bootstrap and C-RP timers -------------------------------------------------

// globalTimers owns the bootstrap timers, the C-RP advertisement timer and
// the holdtimes of learned RPs.
type globalTimers struct {
	e    *Engine
	node tnode
}

func (gt *globalTimers) deadline() int64 {
	e := gt.e
	return minDeadline(e.bsr.NextDeadline(), e.rps.NextDeadline(), e.crpNext)
}

func (gt *globalTimers) fire(e *Engine, now int64) {
	res := e.bsr.Expire(now, rpset.NewTag(e.rng.Uint64()))
	e.bsrResult(res, 0)
	if e.rps.Expire(now) {
		e.rpChanged()
	}
	if e.crpNext != 0 && e.crpNext <= now {
		e.sendCRPAdv()
	}
}

// bsrResult carries out what the bootstrap machine asked for.
func (e *Engine) bsrResult(res rpset.Result, from IfIndex) {
	if res.Originate != nil {
		for _, idx := range e.ifOrder {
			if f := e.ifs[idx]; f.up {
				e.ensureHello(f)
				e.emit(SendBootstrap{If: idx, Dst: AllPIMRouters, Msg: *res.Originate})
				e.stats.Tx.Bootstrap++
			}
		}
	}
	if res.Changed || res.Accepted || res.Originate != nil {
		// Refresh the learned entries (their holdtimes restart with every
		// accepted BSM even when the set itself is unchanged).
		e.rps.SetBootstrap(e.bsr.RPSet())
		e.rps.HashMaskLen = int(e.bsr.HashMaskLen)
	}
	if res.Changed {
		e.rpChanged()
	}
	if res.BSRChanged {
		e.trackBSR()
		if e.cfg.CandidateRP != nil {
			// A C-RP advertises to a new BSR at once (RFC 5059 §3.2).
			e.crpNext = e.now
		}
	}
	e.schedule(&e.global.node)
}

func (e *Engine) trackBSR() { e.schedule(&e.global.node) }

func (e *Engine) crpAdv() CRPAdv {
	c := e.cfg.CandidateRP
	a := CRPAdv{RP: c.Addr, Priority: c.Priority, Holdtime: c.Holdtime, Groups: slices.Clone(c.Groups), SBit: c.SBit}
	if a.Priority == 0 {
		a.Priority = rpset.DefaultCRPPriority
	}
	if a.Holdtime == 0 {
		a.Holdtime = rpset.DefaultCRPHoldtime
	}
	return a
}

// sendCRPAdv sends our C-RP-Adv to the elected BSR (or hands it to our own
// BSR machine when we are the BSR) and restarts the C-RP timer.
func (e *Engine) sendCRPAdv() {
	c := e.cfg.CandidateRP
	if c == nil {
		e.crpNext = 0
		return
	}
	iv := int64(c.Interval)
	if iv <= 0 {
		iv = int64(rpset.DefaultCRPAdvPeriod)
	}
	e.crpNext = e.now + iv
	adv := e.crpAdv()
	switch {
	case e.bsr.State == rpset.StateElected:
		e.bsr.ReceiveCRPAdv(e.now, adv)
	case e.bsr.Elected.IsValid():
		e.emit(SendCRPAdv{Src: c.Addr, Dst: e.bsr.Elected, Msg: adv})
		e.stats.Tx.CandidateRP++
	}
	e.schedule(&e.global.node)
}

// recvBootstrap applies the acceptance rules of RFC 5059 §3.1.3 and runs the
// bootstrap machine.
func (e *Engine) recvBootstrap(ev RecvBootstrap) {
	e.stats.Rx.Bootstrap++
	f := e.ifs[ev.If]
	if f == nil || !f.up {
		e.stats.RxIntfDisabled++
		e.stats.RxErrors.Bootstrap++
		return
	}
	if f.nbrByAny(ev.Src) == nil {
		e.stats.NeighborUnknown++
		e.stats.RxErrors.Bootstrap++
		return
	}
	m := ev.Msg
	if e.isMyAddr(m.BSR) {
		e.stats.RxBSRWhenBSR++
		return
	}
	unicast := ev.Dst.IsValid() && ev.Dst != AllPIMRouters
	if unicast && !e.isMyAddr(ev.Dst) {
		e.stats.RxBadData++
		e.stats.RxErrors.Bootstrap++
		return
	}
	r := e.lookupRPF(m.BSR)
	rpfOK := r.Iface == ev.If
	if rpfOK {
		if r.NextHop.IsValid() {
			rpfOK = e.nbrOn(ev.If, r.NextHop) == ev.Src
		} else {
			rpfOK = ev.Src == m.BSR
		}
	}
	if !rpfOK && !unicast {
		e.stats.RxBSRNotRPFIf++
	}
	res := e.bsr.Receive(e.now, m, rpfOK, unicast)
	if res.Forward && !m.NoForward {
		for _, idx := range e.ifOrder {
			if g := e.ifs[idx]; g.up && idx != ev.If {
				e.ensureHello(g)
				e.emit(SendBootstrap{If: idx, Dst: AllPIMRouters, Msg: m})
				e.stats.Tx.Bootstrap++
			}
		}
	}
	e.bsrResult(res, ev.If)
}

// bsmToNewNeighbor: the DR unicasts the current BSM to a new (or
// restarted) neighbour with the No-Forward bit (RFC 5059 §3.3).
func (e *Engine) bsmToNewNeighbor(f *iface, n *neighbor) {
	if !e.iAmDR(f.idx) {
		return
	}
	m, ok := e.bsr.Current()
	if !ok {
		return
	}
	m.NoForward = true
	e.ensureHello(f)
	e.emit(SendBootstrap{If: f.idx, Dst: n.addr, Msg: m})
	e.stats.Tx.Bootstrap++
}

func (e *Engine) recvCRPAdv(ev RecvCRPAdv) {
	e.stats.Rx.CandidateRP++
	if !e.isMyAddr(ev.Dst) || !ev.Msg.RP.IsValid() {
		e.stats.RxBadData++
		e.stats.RxErrors.CandidateRP++
		return
	}
	if !e.bsr.ReceiveCRPAdv(e.now, ev.Msg) {
		e.stats.RxCRPNotBSR++
		e.stats.RxErrors.CandidateRP++
	}
	e.schedule(&e.global.node)
}

// --- neighbour-driven re-evaluation -------------------------------------------

// neighborChanged re-evaluates the entries whose RPF neighbour (or RP's)
// may be the neighbour addr on f: NBR(RPF_interface, next hop) depends on
// the neighbour table.
func (e *Engine) neighborChanged(f *iface, addr netip.Addr) {
	for _, g := range e.sortedGroups() {
		if e.rpIf(g) == f.idx {
			e.touchGroupDeep(g)
			continue
		}
		for _, s := range g.srcs {
			if e.rpfIfS(s) == f.idx {
				e.touchSG(s)
			}
		}
	}
}

// genIDChanged: "RPF'(…) GenID changes" (§4.5.4, §4.5.5): JT = min(JT,
// t_override) for the entries joined to that neighbour.
func (e *Engine) genIDChanged(f *iface, addr netip.Addr) {
	t := rpfTarget{f.idx, addr}
	for _, g := range e.sortedGroups() {
		if g.up == usJoined && g.target == t {
			g.jt = minTimer(g.jt, e.now+e.tOverride(f))
			e.schedule(&g.node)
		}
		for _, s := range sortedSources(g) {
			if s.up == usJoined && s.target == t {
				s.jt = minTimer(s.jt, e.now+e.tOverride(f))
				e.schedule(&s.node)
			}
		}
	}
}

// drChanged: I_am_DR(I) feeds pim_include and CouldRegister.
func (e *Engine) drChanged(f *iface) {
	for _, g := range e.sortedGroups() {
		if gi := g.ifOf(f.idx); gi != nil && gi.local {
			e.touchGroupDeep(g)
			continue
		}
		for _, s := range g.srcs {
			if s.reg != regNoInfo || e.rpfIfS(s) == f.idx || s.ifOf(f.idx) != nil {
				e.touchSG(s)
			}
		}
	}
}
