package pim

import (
	"net/netip"
	"slices"
)

// Downstream per-interface J/P states (RFC 7761 §4.5.1-§4.5.3).
const (
	dsNoInfo uint8 = iota
	dsJoin
	dsPrunePending
	// (S,G,rpt) only:
	dsPrune
	dsPruneTmp
	dsPrunePendingTmp
)

// Upstream states (§4.5.4-§4.5.6).
const (
	usNotJoined uint8 = iota
	usJoined
)

// Upstream (S,G,rpt) states (§4.5.6).
const (
	rptNotJoined uint8 = iota // RPTNotJoined(G)
	rptPruned                 // Pruned(S,G,rpt)
	rptNotPruned              // NotPruned(S,G,rpt)
)

// Assert states (§4.6.1, §4.6.2).
const (
	asNoInfo uint8 = iota
	asWinner
	asLoser
)

// Register states at the DR (§4.4.1).
const (
	regNoInfo uint8 = iota
	regJoin
	regJoinPending
	regPrune
)

// Local membership bits.
const (
	localInclude uint8 = 1 << iota
	localExclude
)

// rpfTarget is an upstream neighbour: RPF'(…) as (interface, neighbour
// address); a zero nbr is NULL.
type rpfTarget struct {
	ifx IfIndex
	nbr netip.Addr
}

// rpfEntry caches RPF(addr) for a tracked address (a source or an RP) and
// lists the (S,G) entries whose source it is.
type rpfEntry struct {
	addr   netip.Addr
	rpf    RPF
	refs   int32
	rpRefs int32 // groups whose RP this is
	srcs   []*sgEntry
}

// routeState is the last Route emitted for an entry.
type routeState struct {
	emitted bool
	iif     IfIndex
	gnew    IfIndex
	reg     bool
	regRP   netip.Addr
	decap   bool
	oil     []IfIndex
}

// gIf is the per-interface (*,G) state: downstream J/P (§4.5.1), assert
// (§4.6.2) and local membership.
type gIf struct {
	ifx      IfIndex
	jp       uint8
	as       uint8
	local    bool
	et, ppt  int64
	at       int64
	joinedAt int64
	lastJoin int64
	joiner   netip.Addr
	winner   AssertMetric
}

// group is the (*,G) entry and the anchor of G's (S,G) entries.
type group struct {
	g        netip.Addr
	ssm      bool
	created  int64
	rp       netip.Addr
	rpLocal  bool
	rpR      *rpfEntry
	up       uint8
	jt       int64
	target   rpfTarget  // RPF'(*,G) at the last evaluation
	mrib     rpfTarget  // the same without assert modification
	upRP     netip.Addr // RP(G) at the last evaluation
	prevRPIf IfIndex    // RPF_interface(RP(G)) at the last evaluation
	gir      *girState
	ifs      []gIf // sorted by ifx
	srcs     []*sgEntry
	node     tnode
	last     routeState
	dirty    bool
	swept    bool
	joinedAt int64
}

// sgIf is the per-interface (S,G) state: downstream (S,G) J/P (§4.5.2),
// downstream (S,G,rpt) (§4.5.3), the (S,G) assert (§4.6.1) and local
// membership.
type sgIf struct {
	ifx      IfIndex
	jp       uint8
	rpt      uint8
	as       uint8
	local    uint8
	et, ppt  int64
	ret, rpp int64 // (S,G,rpt) expiry and prune-pending timers
	at       int64
	joinedAt int64
	lastJoin int64
	joiner   netip.Addr
	winner   AssertMetric
}

// sgEntry is the (S,G) entry with its (S,G,rpt) state.
type sgEntry struct {
	key      SG
	g        *group
	gidx     int32
	ridx     int32
	created  int64
	rpf      *rpfEntry
	up       uint8
	spt      bool
	rpt      uint8
	reg      uint8
	rpRegs   bool // I am the RP and Registers are arriving (decapsulate)
	jt       int64
	kat      int64
	ot       int64
	rst      int64
	target   rpfTarget // RPF'(S,G)
	mrib     rpfTarget
	rptTgt   rpfTarget // RPF'(S,G,rpt)
	prevRPF  IfIndex   // RPF_interface(S) at the last evaluation
	regRP    netip.Addr
	regFrom  netip.Addr // the DR whose Registers arrive (RP side, for show)
	regLast  int64
	gir      *girState
	ifs      []sgIf
	node     tnode
	last     routeState
	dirty    bool
	swept    bool
	joinedAt int64
}

func (g *group) ifOf(ifx IfIndex) *gIf {
	for i := range g.ifs {
		if g.ifs[i].ifx == ifx {
			return &g.ifs[i]
		}
	}
	return nil
}

func (g *group) ifOrCreate(ifx IfIndex) *gIf {
	if gi := g.ifOf(ifx); gi != nil {
		return gi
	}
	i, _ := slices.BinarySearchFunc(g.ifs, ifx, func(x gIf, k IfIndex) int { return int(x.ifx) - int(k) })
	g.ifs = slices.Insert(g.ifs, i, gIf{ifx: ifx})
	return &g.ifs[i]
}

func (s *sgEntry) ifOf(ifx IfIndex) *sgIf {
	for i := range s.ifs {
		if s.ifs[i].ifx == ifx {
			return &s.ifs[i]
		}
	}
	return nil
}

func (s *sgEntry) ifOrCreate(ifx IfIndex) *sgIf {
	if si := s.ifOf(ifx); si != nil {
		return si
	}
	i, _ := slices.BinarySearchFunc(s.ifs, ifx, func(x sgIf, k IfIndex) int { return int(x.ifx) - int(k) })
	s.ifs = slices.Insert(s.ifs, i, sgIf{ifx: ifx})
	return &s.ifs[i]
}

func (gi *gIf) empty() bool {
	return gi.jp == dsNoInfo && gi.as == asNoInfo && !gi.local && gi.et == 0 && gi.ppt == 0 && gi.at == 0
}

func (si *sgIf) empty() bool {
	return si.jp == dsNoInfo && si.rpt == dsNoInfo && si.as == asNoInfo && si.local == 0 &&
		si.et == 0 && si.ppt == 0 && si.ret == 0 && si.rpp == 0 && si.at == 0
}

// --- entries ---------------------------------------------------------------

func (e *Engine) groupOrCreate(gaddr netip.Addr) *group {
	if g := e.groups[gaddr]; g != nil {
		return g
	}
	g := &group{g: gaddr, ssm: e.isSSM(gaddr), created: e.now}
	g.node = e.newNode(g)
	e.groups[gaddr] = g
	e.refreshRP(g)
	g.target, g.mrib, g.upRP = e.rpfPrimeStar(g), e.mribStar(g), g.rp
	g.prevRPIf = e.rpIf(g)
	e.touchGroup(g)
	return g
}

func (e *Engine) sgOrCreate(src, gaddr netip.Addr) *sgEntry {
	k := SG{Source: src, Group: gaddr}
	if s := e.sgs[k]; s != nil {
		return s
	}
	g := e.groupOrCreate(gaddr)
	s := &sgEntry{key: k, g: g, created: e.now}
	s.node = e.newNode(s)
	s.gidx = int32(len(g.srcs))
	g.srcs = append(g.srcs, s)
	r := e.track(src)
	s.rpf = r
	s.ridx = int32(len(r.srcs))
	r.srcs = append(r.srcs, s)
	e.sgs[k] = s
	s.prevRPF = r.rpf.Iface
	s.target, s.mrib = e.rpfPrimeSG(s), e.mribSG(s)
	s.rptTgt = e.rpfPrimeSGrpt(s)
	e.touchSG(s)
	return s
}

// track starts (or counts) RPF tracking of a.
func (e *Engine) track(a netip.Addr) *rpfEntry {
	r := e.rpf[a]
	if r == nil {
		r = &rpfEntry{addr: a}
		if e.rib != nil {
			r.rpf = e.rib.LookupRPF(a)
		}
		e.rpf[a] = r
	}
	r.refs++
	return r
}

func (e *Engine) untrack(r *rpfEntry) {
	if r == nil {
		return
	}
	r.refs--
	if r.refs <= 0 {
		delete(e.rpf, r.addr)
	}
}

// lookupRPF answers RPF(a) from the cache, or the RIB for an untracked
// address.
func (e *Engine) lookupRPF(a netip.Addr) RPF {
	if r := e.rpf[a]; r != nil {
		return r.rpf
	}
	if e.rib != nil {
		return e.rib.LookupRPF(a)
	}
	return RPF{}
}

// setRPF records a new RIB answer for a tracked address and re-evaluates
// what depends on it.
func (e *Engine) setRPF(a netip.Addr, rpf RPF) {
	r := e.rpf[a]
	if r == nil || r.rpf == rpf {
		return
	}
	r.rpf = rpf
	e.stats.RPFChanges++
	srcs := slices.Clone(r.srcs)
	slices.SortFunc(srcs, func(a, b *sgEntry) int { return a.key.Group.Compare(b.key.Group) })
	for _, s := range srcs {
		e.touchSG(s)
	}
	if r.rpRefs > 0 {
		for _, g := range e.sortedGroups() {
			if g.rpR == r {
				e.touchGroupDeep(g)
			}
		}
	}
}

func (e *Engine) ribChange(p netip.Prefix) {
	if e.rib == nil {
		return
	}
	var addrs []netip.Addr
	for a := range e.rpf {
		if p.Contains(a) {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		e.setRPF(a, e.rib.LookupRPF(a))
	}
}

// --- dirty tracking --------------------------------------------------------

func (e *Engine) touchGroup(g *group) {
	if !g.dirty {
		g.dirty = true
		e.dirtyG = append(e.dirtyG, g)
	}
}

// touchGroupDeep re-evaluates g and every (S,G) of G: something their
// macros inherit from (*,G) changed.
func (e *Engine) touchGroupDeep(g *group) {
	e.touchGroup(g)
	for _, s := range g.srcs {
		e.touchSG(s)
	}
}

// touchSources re-evaluates every (S,G) of G.
func (e *Engine) touchSources(g *group) {
	for _, s := range g.srcs {
		e.touchSG(s)
	}
}

func (e *Engine) touchSG(s *sgEntry) {
	if !s.dirty {
		s.dirty = true
		e.dirtyS = append(e.dirtyS, s)
	}
}

func (e *Engine) touchAll() {
	for _, g := range e.sortedGroups() {
		e.touchGroupDeep(g)
	}
}

func (e *Engine) sortedGroups() []*group {
	out := make([]*group, 0, len(e.groups))
	for _, g := range e.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return a.g.Compare(b.g) })
	return out
}

// sortedSources returns g's (S,G) entries by source address.
func sortedSources(g *group) []*sgEntry {
	out := slices.Clone(g.srcs)
	slices.SortFunc(out, func(a, b *sgEntry) int { return a.key.Source.Compare(b.key.Source) })
	return out
}

// settle evaluates every dirty entry until nothing changes: groups first
// (their (S,G) entries inherit from them), then sources.
func (e *Engine) settle() {
	if e.rpDirty {
		e.rpDirty = false
		e.applyRPSet()
	}
	for len(e.dirtyG) > 0 || len(e.dirtyS) > 0 {
		if len(e.dirtyG) > 0 {
			g := e.dirtyG[0]
			e.dirtyG = e.dirtyG[1:]
			g.dirty = false
			if e.groups[g.g] == g {
				e.evalGroup(g)
			}
			continue
		}
		s := e.dirtyS[0]
		e.dirtyS = e.dirtyS[1:]
		s.dirty = false
		if e.sgs[s.key] == s {
			e.evalSG(s)
		}
	}
	e.dirtyG = e.dirtyG[:0]
	e.dirtyS = e.dirtyS[:0]
}

// sweep deletes entries left without state.
func (e *Engine) sweep() {
	for _, s := range e.sweepS {
		s.swept = false
		if e.sgs[s.key] == s && s.isEmpty() {
			e.deleteSG(s)
		}
	}
	e.sweepS = e.sweepS[:0]
	for _, g := range e.sweepG {
		g.swept = false
		if e.groups[g.g] == g && g.isEmpty() {
			e.deleteGroup(g)
		}
	}
	e.sweepG = e.sweepG[:0]
}

func (e *Engine) maybeSweepSG(s *sgEntry) {
	if !s.swept && s.isEmpty() {
		s.swept = true
		e.sweepS = append(e.sweepS, s)
	}
}

func (e *Engine) maybeSweepGroup(g *group) {
	if !g.swept && g.isEmpty() {
		g.swept = true
		e.sweepG = append(e.sweepG, g)
	}
}

func (s *sgEntry) isEmpty() bool {
	if s.up != usNotJoined || s.kat != 0 || s.reg != regNoInfo || s.rpt == rptPruned || s.ot != 0 || s.gir != nil {
		return false
	}
	for i := range s.ifs {
		if !s.ifs[i].empty() {
			return false
		}
	}
	return true
}

func (g *group) isEmpty() bool {
	if g.up != usNotJoined || len(g.srcs) > 0 || g.gir != nil {
		return false
	}
	for i := range g.ifs {
		if !g.ifs[i].empty() {
			return false
		}
	}
	return true
}

func (e *Engine) deleteSG(s *sgEntry) {
	if s.last.emitted {
		e.emit(RouteDelete{Source: s.key.Source, Group: s.key.Group})
	}
	e.unschedule(&s.node)
	g := s.g
	last := len(g.srcs) - 1
	if int(s.gidx) != last {
		g.srcs[s.gidx] = g.srcs[last]
		g.srcs[s.gidx].gidx = s.gidx
	}
	g.srcs[last] = nil
	g.srcs = g.srcs[:last]
	if r := s.rpf; r != nil {
		lr := len(r.srcs) - 1
		if int(s.ridx) != lr {
			r.srcs[s.ridx] = r.srcs[lr]
			r.srcs[s.ridx].ridx = s.ridx
		}
		r.srcs[lr] = nil
		r.srcs = r.srcs[:lr]
		e.untrack(r)
	}
	delete(e.sgs, s.key)
	e.maybeSweepGroup(g)
}

func (e *Engine) deleteGroup(g *group) {
	if g.last.emitted {
		e.emit(RouteDelete{Group: g.g})
	}
	e.unschedule(&g.node)
	if g.rpR != nil {
		g.rpR.rpRefs--
	}
	e.untrack(g.rpR)
	delete(e.groups, g.g)
}

// --- RPF and RP macros (§4.1.6, §4.5.4-4.5.6) -----------------------------

// rpIf is RPF_interface(RP(G)); 0 when there is no RP, no route to it, or
// this router is the RP.
func (e *Engine) rpIf(g *group) IfIndex {
	if g.rpLocal || g.rpR == nil {
		return 0
	}
	return g.rpR.rpf.Iface
}

// nbrOn is NBR(I, A): the PIM neighbour on I whose address (primary or
// secondary) is A, by its primary address; invalid if none.
func (e *Engine) nbrOn(ifx IfIndex, a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return netip.Addr{}
	}
	f := e.ifs[ifx]
	if f == nil || !f.up {
		return netip.Addr{}
	}
	if n := f.nbrByAny(a); n != nil {
		return n.addr
	}
	return netip.Addr{}
}

func (e *Engine) mribStar(g *group) rpfTarget {
	ifx := e.rpIf(g)
	if ifx == 0 {
		return rpfTarget{}
	}
	return rpfTarget{ifx, e.nbrOn(ifx, g.rpR.rpf.NextHop)}
}

// rpfPrimeStar is RPF'(*,G) (§4.1.6): the (*,G) assert winner on the RPF
// interface towards the RP if this router lost, else the MRIB neighbour.
func (e *Engine) rpfPrimeStar(g *group) rpfTarget {
	m := e.mribStar(g)
	if m.ifx != 0 {
		if gi := g.ifOf(m.ifx); gi != nil && gi.as == asLoser {
			return rpfTarget{m.ifx, gi.winner.Addr}
		}
	}
	return m
}

func (e *Engine) rpfIfS(s *sgEntry) IfIndex { return s.rpf.rpf.Iface }

func (e *Engine) mribSG(s *sgEntry) rpfTarget {
	ifx := s.rpf.rpf.Iface
	if ifx == 0 {
		return rpfTarget{}
	}
	return rpfTarget{ifx, e.nbrOn(ifx, s.rpf.rpf.NextHop)}
}

// rpfPrimeSG is RPF'(S,G).
func (e *Engine) rpfPrimeSG(s *sgEntry) rpfTarget {
	m := e.mribSG(s)
	if m.ifx != 0 {
		if si := s.ifOf(m.ifx); si != nil && si.as == asLoser {
			return rpfTarget{m.ifx, si.winner.Addr}
		}
	}
	return m
}

// rpfPrimeSGrpt is RPF'(S,G,rpt).
func (e *Engine) rpfPrimeSGrpt(s *sgEntry) rpfTarget {
	if ifx := e.rpIf(s.g); ifx != 0 {
		if si := s.ifOf(ifx); si != nil && si.as == asLoser {
			return rpfTarget{ifx, si.winner.Addr}
		}
	}
	return e.rpfPrimeStar(s.g)
}

// directlyConnected is DirectlyConnected(S): the RIB has a connected route
// (no next hop) to S on an interface, or S is on one of the interface's
// subnets.
func (e *Engine) directlyConnected(s *sgEntry) bool {
	return e.directAddr(s.key.Source, s.rpf.rpf)
}

func (e *Engine) directAddr(src netip.Addr, r RPF) bool {
	if !r.Valid() {
		return false
	}
	if !r.NextHop.IsValid() {
		return true
	}
	if f := e.ifs[r.Iface]; f != nil {
		for _, p := range f.prefixes {
			if p.Contains(src) {
				return true
			}
		}
	}
	return false
}

// --- olist macros (§4.1.6) --------------------------------------------------

func joinsState(jp uint8) bool { return jp == dsJoin || jp == dsPrunePending }

// lostAssertStar is lost_assert(*,G,I).
func (e *Engine) lostAssertStar(g *group, gi *gIf) bool {
	return gi != nil && gi.as == asLoser && gi.ifx != e.rpIf(g)
}

// pimIncludeStar: I in pim_include(*,G).
func (e *Engine) pimIncludeStar(g *group, gi *gIf) bool {
	if gi == nil || !gi.local {
		return false
	}
	return (e.iAmDR(gi.ifx) && !e.lostAssertStar(g, gi)) || gi.as == asWinner
}

// inImmediateStar: I in immediate_olist(*,G).
func (e *Engine) inImmediateStar(g *group, gi *gIf) bool {
	if gi == nil {
		return false
	}
	return (joinsState(gi.jp) || e.pimIncludeStar(g, gi)) && !e.lostAssertStar(g, gi)
}

// lostAssertSG is lost_assert(S,G,I).
func (e *Engine) lostAssertSG(s *sgEntry, si *sgIf) bool {
	if si == nil || si.as != asLoser || si.ifx == e.rpfIfS(s) {
		return false
	}
	return si.winner.Better(e.sptMetric(s, si.ifx))
}

// lostAssertSGrpt is lost_assert(S,G,rpt,I).
func (e *Engine) lostAssertSGrpt(s *sgEntry, si *sgIf) bool {
	if si == nil || si.as != asLoser {
		return false
	}
	if si.ifx == e.rpIf(s.g) || (si.ifx == e.rpfIfS(s) && s.spt) {
		return false
	}
	return true
}

func (e *Engine) pimIncludeSG(s *sgEntry, si *sgIf) bool {
	if si == nil || si.local&localInclude == 0 {
		return false
	}
	return (e.iAmDR(si.ifx) && !e.lostAssertSG(s, si)) || si.as == asWinner
}

func (e *Engine) pimExcludeSG(g *group, gi *gIf, si *sgIf) bool {
	if si == nil || si.local&localExclude == 0 {
		return false
	}
	return (e.iAmDR(si.ifx) && !e.lostAssertStar(g, gi)) || (gi != nil && gi.as == asWinner)
}

func prunesRpt(si *sgIf) bool { return si != nil && (si.rpt == dsPrune || si.rpt == dsPruneTmp) }

// inInheritedRpt: I in inherited_olist(S,G,rpt).
func (e *Engine) inInheritedRpt(s *sgEntry, gi *gIf, si *sgIf) bool {
	g := s.g
	if g.ssm {
		return false
	}
	a := gi != nil && joinsState(gi.jp) && !prunesRpt(si)
	b := e.pimIncludeStar(g, gi) && !e.pimExcludeSG(g, gi, si)
	if !a && !b {
		return false
	}
	return !e.lostAssertStar(g, gi) && !e.lostAssertSGrpt(s, si)
}

// inImmediateSG: I in immediate_olist(S,G).
func (e *Engine) inImmediateSG(s *sgEntry, si *sgIf) bool {
	if si == nil {
		return false
	}
	return (joinsState(si.jp) || e.pimIncludeSG(s, si)) && !e.lostAssertSG(s, si)
}

// forIfs calls fn for every interface with (*,G) or (S,G) state, in
// interface order.
func forIfs(s *sgEntry, fn func(ifx IfIndex, gi *gIf, si *sgIf) bool) {
	gs, ss := s.g.ifs, s.ifs
	i, j := 0, 0
	for i < len(gs) || j < len(ss) {
		switch {
		case j >= len(ss) || (i < len(gs) && gs[i].ifx < ss[j].ifx):
			if !fn(gs[i].ifx, &gs[i], nil) {
				return
			}
			i++
		case i >= len(gs) || ss[j].ifx < gs[i].ifx:
			if !fn(ss[j].ifx, nil, &ss[j]) {
				return
			}
			j++
		default:
			if !fn(gs[i].ifx, &gs[i], &ss[j]) {
				return
			}
			i++
			j++
		}
	}
}

// immediateStar is immediate_olist(*,G).
func (e *Engine) immediateStar(g *group) []IfIndex {
	var out []IfIndex
	for i := range g.ifs {
		if e.inImmediateStar(g, &g.ifs[i]) {
			out = append(out, g.ifs[i].ifx)
		}
	}
	return out
}

// joinDesiredStar is JoinDesired(*,G) (= RPTJoinDesired(G), §4.5.6).
func (e *Engine) joinDesiredStar(g *group) bool {
	if g.ssm {
		return false
	}
	for i := range g.ifs {
		if e.inImmediateStar(g, &g.ifs[i]) {
			return true
		}
	}
	return false
}

// olists computes inherited_olist(S,G,rpt), immediate_olist(S,G) and
// inherited_olist(S,G) for s.
func (e *Engine) olists(s *sgEntry) (rpt, imm, inh []IfIndex) {
	forIfs(s, func(ifx IfIndex, gi *gIf, si *sgIf) bool {
		r := e.inInheritedRpt(s, gi, si)
		m := e.inImmediateSG(s, si)
		if r {
			rpt = append(rpt, ifx)
		}
		if m {
			imm = append(imm, ifx)
		}
		if r || m {
			inh = append(inh, ifx)
		}
		return true
	})
	return
}

// anyInherited reports whether inherited_olist(S,G) (rpt: inherited_olist
// (S,G,rpt)) is non-empty.
func (e *Engine) anyInherited(s *sgEntry, rptOnly bool) bool {
	found := false
	forIfs(s, func(ifx IfIndex, gi *gIf, si *sgIf) bool {
		if e.inInheritedRpt(s, gi, si) || (!rptOnly && e.inImmediateSG(s, si)) {
			found = true
			return false
		}
		return true
	})
	return found
}

// joinDesiredSG is JoinDesired(S,G) (§4.5.5), with the DR's register tunnel
// counted in immediate_olist(S,G) (§4.4.1 "Add Register Tunnel").
func (e *Engine) joinDesiredSG(s *sgEntry) bool {
	if s.reg == regJoin {
		return true
	}
	found := false
	forIfs(s, func(ifx IfIndex, gi *gIf, si *sgIf) bool {
		if e.inImmediateSG(s, si) || (s.kat != 0 && e.inInheritedRpt(s, gi, si)) {
			found = true
			return false
		}
		return true
	})
	return found
}

// pruneDesiredRpt is PruneDesired(S,G,rpt) (§4.5.6).
func (e *Engine) pruneDesiredRpt(s *sgEntry, rptJoin bool) bool {
	if !rptJoin {
		return false
	}
	if !e.anyInherited(s, true) {
		return true
	}
	return s.spt && e.rpfPrimeStar(s.g) != e.rpfPrimeSG(s)
}

// localInterest reports whether pim_include(*,G) (-) pim_exclude(S,G) (+)
// pim_include(S,G) is non-empty (CheckSwitchToSpt, §4.2.1).
func (e *Engine) localInterest(s *sgEntry) bool {
	found := false
	forIfs(s, func(ifx IfIndex, gi *gIf, si *sgIf) bool {
		if (e.pimIncludeStar(s.g, gi) && !e.pimExcludeSG(s.g, gi, si)) || e.pimIncludeSG(s, si) {
			found = true
			return false
		}
		return true
	})
	return found
}
