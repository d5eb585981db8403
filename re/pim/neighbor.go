package pim

import (
	"net/netip"
	"slices"
	"time"
)

// iface is a PIM interface: its Hello state, its neighbours and the DR
// election (RFC 7761 §4.3).
type iface struct {
	idx      IfIndex
	cfg      InterfaceConfig
	up       bool
	addr     netip.Addr
	prefixes []netip.Prefix
	upSince  int64
	genID    uint32
	// helloAt is the Hello Timer (§4.3.1); helloSent records that a Hello
	// went out since the interface came up (no other message may precede
	// it).
	helloAt   int64
	helloSent bool
	nbrs      []*neighbor // sorted by address
	dr        netip.Addr
	node      tnode
	stats     IfStats
}

// neighbor is one PIM neighbour (§4.3.1, §4.3.2, §4.3.3).
type neighbor struct {
	addr    netip.Addr
	created int64
	// phase offsets this router's periodic Joins to the neighbour
	// (upstream.go periodicJT): random in [0, t_periodic/2), so that the
	// downstream routers of one LAN do not synchronise and join suppression
	// keeps working.
	phase      int64
	expires    int64 // Neighbor Liveness Timer; forever for holdtime 0xffff
	holdtime   uint16
	hasGenID   bool
	genID      uint32
	hasDRPrio  bool
	drPrio     uint32
	hasLANDly  bool
	tBit       bool
	propDelay  uint16 // ms
	overrideMs uint16 // ms
	secondary  []netip.Addr
}

func (f *iface) helloPeriod(e *Engine) int64 {
	if f.cfg.HelloInterval > 0 {
		return int64(f.cfg.HelloInterval)
	}
	return e.t.hello
}

func (f *iface) drPriority() uint32 {
	if f.cfg.DRPriority == 0 {
		return 1
	}
	return f.cfg.DRPriority
}

func (f *iface) propagationDelay() time.Duration {
	if f.cfg.PropagationDelay > 0 {
		return f.cfg.PropagationDelay
	}
	return DefaultPropagationDelay
}

func (f *iface) overrideInterval() time.Duration {
	if f.cfg.OverrideInterval > 0 {
		return f.cfg.OverrideInterval
	}
	return DefaultOverrideInterval
}

func (f *iface) nbr(a netip.Addr) *neighbor {
	i, ok := slices.BinarySearchFunc(f.nbrs, a, func(n *neighbor, a netip.Addr) int { return n.addr.Compare(a) })
	if !ok {
		return nil
	}
	return f.nbrs[i]
}

// nbrByAny finds a neighbour by its primary or a secondary address.
func (f *iface) nbrByAny(a netip.Addr) *neighbor {
	if n := f.nbr(a); n != nil {
		return n
	}
	for _, n := range f.nbrs {
		if slices.Contains(n.secondary, a) {
			return n
		}
	}
	return nil
}

// lanDelayEnabled is lan_delay_enabled(I) (§4.3.3): every neighbour sent
// the LAN Prune Delay option.
func (f *iface) lanDelayEnabled() bool {
	if len(f.nbrs) == 0 {
		return false
	}
	for _, n := range f.nbrs {
		if !n.hasLANDly {
			return false
		}
	}
	return true
}

// effectivePropagation is Effective_Propagation_Delay(I) (§4.3.3): the
// largest value advertised on the link, ours included, when every
// neighbour advertises one; the RFC default otherwise.
func (f *iface) effectivePropagation() int64 {
	if !f.lanDelayEnabled() {
		return int64(rfcDefaultPropagationDelay)
	}
	d := int64(f.propagationDelay())
	for _, n := range f.nbrs {
		d = max(d, int64(n.propDelay)*int64(time.Millisecond))
	}
	return d
}

// effectiveOverride is Effective_Override_Interval(I) (§4.3.3).
func (f *iface) effectiveOverride() int64 {
	if !f.lanDelayEnabled() {
		return int64(rfcDefaultOverrideInterval)
	}
	d := int64(f.overrideInterval())
	for _, n := range f.nbrs {
		d = max(d, int64(n.overrideMs)*int64(time.Millisecond))
	}
	return d
}

// jpOverride is J/P_Override_Interval(I) = Effective_Propagation_Delay(I) +
// Effective_Override_Interval(I) (§4.11).
func (f *iface) jpOverride() int64 { return f.effectivePropagation() + f.effectiveOverride() }

// suppressionEnabled is Suppression_Enabled(I) (§4.3.3): join suppression
// is on unless every neighbour advertises the LAN Prune Delay option with
// the T bit set. We never set T (no explicit tracking).
func (f *iface) suppressionEnabled() bool {
	if !f.lanDelayEnabled() {
		return true
	}
	for _, n := range f.nbrs {
		if !n.tBit {
			return true
		}
	}
	return false
}

// iAmDR is I_am_DR(I).
func (e *Engine) iAmDR(idx IfIndex) bool {
	f := e.ifs[idx]
	return f != nil && f.up && f.addr.IsValid() && f.dr == f.addr
}

// deadline implements timerOwner: the Hello Timer and the neighbours'
// liveness timers.
func (f *iface) deadline() int64 {
	if !f.up {
		return 0
	}
	d := f.helloAt
	for _, n := range f.nbrs {
		d = minDeadline(d, n.expires)
	}
	return d
}

func (f *iface) fire(e *Engine, now int64) {
	if !f.up {
		return
	}
	// Neighbour Liveness Timers (§4.3.2): expired neighbours go away.
	var dead []*neighbor
	for _, n := range f.nbrs {
		if n.expires != forever && n.expires <= now {
			dead = append(dead, n)
		}
	}
	for _, n := range dead {
		e.stats.NeighborTimeouts++
		e.removeNeighbor(f, n)
	}
	if f.helloAt != 0 && f.helloAt <= now {
		e.sendHello(f)
	}
}

// hello builds our Hello for f.
func (e *Engine) hello(f *iface, hold uint16) Hello {
	return Hello{
		Holdtime:      hold,
		HasDRPriority: true, DRPriority: f.drPriority(),
		HasGenID: true, GenID: f.genID,
		HasLANPruneDelay: true,
		PropagationDelay: uint16(f.propagationDelay() / time.Millisecond),
		OverrideInterval: uint16(f.overrideInterval() / time.Millisecond),
	}
}

// helloHoldtime is 3.5 times the Hello period (Default_Hello_Holdtime).
func (f *iface) helloHoldtime(e *Engine) uint16 {
	return secs(time.Duration(f.helloPeriod(e) * 7 / 2))
}

// sendHello sends the periodic (or a triggered) Hello and restarts the
// Hello Timer at Hello_Period (§4.3.1).
func (e *Engine) sendHello(f *iface) {
	if !f.up || !f.addr.IsValid() {
		f.helloAt = 0
		e.schedule(&f.node)
		return
	}
	e.emit(SendHello{If: f.idx, Msg: e.hello(f, f.helloHoldtime(e))})
	e.stats.Tx.Hello++
	f.helloSent = true
	f.helloAt = e.now + f.helloPeriod(e)
	e.schedule(&f.node)
}

// triggerHello schedules a Hello within rand(0, Triggered_Hello_Delay),
// unless one is due earlier (§4.3.1).
func (e *Engine) triggerHello(f *iface) {
	at := e.now + e.randDur(0, e.t.trigHello)
	if f.helloAt == 0 || at < f.helloAt {
		f.helloAt = at
		e.schedule(&f.node)
	}
}

// ensureHello sends a Hello at once if none went out since the interface
// came up: "a Hello message MUST be sent before any other PIM message on
// an interface" (§4.3.1).
func (e *Engine) ensureHello(f *iface) {
	if f != nil && f.up && !f.helloSent {
		e.sendHello(f)
	}
}

func (e *Engine) handleIfUp(ev InterfaceUp) {
	f := e.ifs[ev.If]
	if f == nil {
		e.stats.RxIntfDisabled++
		return
	}
	if !ev.Addr.IsValid() || ev.Addr.IsMulticast() || ev.Addr.IsUnspecified() {
		e.stats.RxBadData++
		return
	}
	f.prefixes = slices.Clone(ev.Prefixes)
	if f.up && f.addr == ev.Addr {
		return
	}
	if f.up {
		// Address change: goodbye with the old address, restart.
		e.ifaceDown(f)
	}
	f.up = true
	f.addr = ev.Addr
	f.upSince = e.now
	f.genID = e.rng.Uint32()
	f.helloSent = false
	f.dr = f.addr
	// §4.3.1: "the Hello Timer is set to a random value between 0 and
	// Triggered_Hello_Delay" when PIM starts on an interface.
	f.helloAt = 0
	e.triggerHello(f)
	e.schedule(&f.node)
	e.ifaceChanged(f)
}

// ifaceDown sends a goodbye (holdtime 0, §4.3.1), forgets the neighbours
// and the interface's addresses, and lets every entry re-evaluate.
func (e *Engine) ifaceDown(f *iface) {
	if !f.up {
		return
	}
	if f.helloSent && f.addr.IsValid() {
		e.emit(SendHello{If: f.idx, Msg: e.hello(f, 0)})
		e.stats.Tx.Hello++
	}
	for len(f.nbrs) > 0 {
		e.removeNeighbor(f, f.nbrs[0])
	}
	f.up = false
	f.helloAt = 0
	f.helloSent = false
	f.dr = netip.Addr{}
	e.schedule(&f.node)
	e.clearIfaceState(f.idx)
	e.ifaceChanged(f)
}

// clearIfaceState drops the downstream Join/Prune and assert state learned
// on an interface that went down (its neighbours are gone; local
// membership stays, IGMP owns it).
func (e *Engine) clearIfaceState(ifx IfIndex) {
	for _, g := range e.sortedGroups() {
		if gi := g.ifOf(ifx); gi != nil {
			gi.jp, gi.et, gi.ppt = dsNoInfo, 0, 0
			gi.as, gi.at, gi.winner = asNoInfo, 0, AssertMetric{}
			e.schedule(&g.node)
		}
		for _, s := range g.srcs {
			if si := s.ifOf(ifx); si != nil {
				si.jp, si.et, si.ppt = dsNoInfo, 0, 0
				si.rpt, si.ret, si.rpp = dsNoInfo, 0, 0
				si.as, si.at, si.winner = asNoInfo, 0, AssertMetric{}
				e.schedule(&s.node)
			}
		}
	}
}

// ifaceChanged re-evaluates everything an interface change can affect: DR
// state (pim_include, CouldRegister), RPF interfaces, asserts.
func (e *Engine) ifaceChanged(f *iface) {
	e.electDR(f)
	e.touchAll()
}

func (e *Engine) recvHello(ev RecvHello) {
	f := e.ifs[ev.If]
	e.stats.Rx.Hello++
	if f == nil || !f.up {
		e.stats.RxIntfDisabled++
		return
	}
	if !ev.Src.IsValid() || ev.Src == f.addr {
		e.stats.RxBadData++
		return
	}
	m := ev.Msg
	n := f.nbr(ev.Src)
	if m.Holdtime == 0 {
		// Goodbye: the neighbour goes away at once (§4.3.2).
		if n != nil {
			e.removeNeighbor(f, n)
		}
		return
	}
	isNew := n == nil
	genChanged := !isNew && (n.hasGenID != m.HasGenID || n.genID != m.GenID)
	if isNew {
		n = &neighbor{addr: ev.Src, created: e.now, phase: e.randDur(0, e.t.jp/2)}
		i, _ := slices.BinarySearchFunc(f.nbrs, ev.Src, func(n *neighbor, a netip.Addr) int { return n.addr.Compare(a) })
		f.nbrs = slices.Insert(f.nbrs, i, n)
	}
	drChanged := isNew || n.hasDRPrio != m.HasDRPriority || n.drPrio != m.DRPriority
	n.holdtime = m.Holdtime
	n.expires = holdDeadline(e.now, m.Holdtime)
	n.hasGenID, n.genID = m.HasGenID, m.GenID
	n.hasDRPrio, n.drPrio = m.HasDRPriority, m.DRPriority
	n.hasLANDly, n.tBit = m.HasLANPruneDelay, m.TBit
	n.propDelay, n.overrideMs = m.PropagationDelay, m.OverrideInterval
	n.secondary = slices.Clone(m.Addresses)
	e.schedule(&f.node)
	if isNew || genChanged {
		// §4.3.1: a Hello goes out within Triggered_Hello_Delay to a new or
		// restarted neighbour, so that it learns about us (DR priority,
		// GenID) before our Join/Prunes.
		e.triggerHello(f)
		if isNew {
			e.stats.NeighborsUp++
		}
	}
	if drChanged {
		e.electDR(f)
	}
	if isNew {
		// A new neighbour may be the RPF neighbour of entries whose
		// RPF'(…) was NULL.
		e.neighborChanged(f, n.addr)
		e.bsmToNewNeighbor(f, n)
	} else if genChanged {
		// §4.5.4-4.5.6 "RPF'(…) GenID changes": decrease the Join Timer
		// to t_override so that the restarted upstream relearns our joins.
		e.stats.GenIDChanges++
		e.genIDChanged(f, n.addr)
		e.bsmToNewNeighbor(f, n)
	}
}

// removeNeighbor deletes n (goodbye or liveness timeout) and re-evaluates
// what depended on it: DR, RPF' of entries, assert winners (§4.6 "current
// winner's NLT expires").
func (e *Engine) removeNeighbor(f *iface, n *neighbor) {
	i := slices.Index(f.nbrs, n)
	if i < 0 {
		return
	}
	f.nbrs = slices.Delete(f.nbrs, i, i+1)
	e.stats.NeighborsDown++
	e.schedule(&f.node)
	e.electDR(f)
	e.neighborGone(f, n.addr)
	e.neighborChanged(f, n.addr)
}

// electDR runs the DR election of §4.3.2: the highest DR priority when every
// neighbour sends the option (else the priority is ignored), ties and the
// fallback broken by the highest address.
func (e *Engine) electDR(f *iface) {
	old := f.dr
	if !f.up || !f.addr.IsValid() {
		f.dr = netip.Addr{}
	} else {
		usePrio := true
		for _, n := range f.nbrs {
			if !n.hasDRPrio {
				usePrio = false
			}
		}
		dr, prio := f.addr, f.drPriority()
		for _, n := range f.nbrs {
			better := false
			if usePrio && n.drPrio != prio {
				better = n.drPrio > prio
			} else {
				better = n.addr.Compare(dr) > 0
			}
			if better {
				dr, prio = n.addr, n.drPrio
			}
		}
		f.dr = dr
	}
	if f.dr != old {
		e.stats.DRChanges++
		e.debug("pim: DR changed", "if", f.cfg.Name, "dr", f.dr)
		e.drChanged(f)
	}
}
