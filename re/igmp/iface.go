package igmp

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// Interface is the IGMP router state of one interface. Create it with New;
// drive it with Step; ask NextDeadline when to step the next Tick.
type Interface struct {
	cfg Config

	up           bool
	querier      bool
	querierAddr  netip.Addr
	otherQuerier time.Time // other-querier-present timer (non-querier)
	generalQuery time.Time // general query timer (querier)
	startupLeft  int       // startup queries still to send after the next one

	// Robustness variable and query interval in use: the configured ones,
	// or as a non-querier those of the querier's last IGMPv3 query
	// (RFC 3376 §4.1.6, §4.1.7).
	rv int
	qi time.Duration

	groups  map[netip.Addr]*group
	static  map[netip.Addr]staticGroup
	emitted map[netip.Addr]Membership // last membership announced per group
	dirty   map[netip.Addr]struct{}   // groups to compare with emitted at the end of a Step
	stats   Stats
	out     []Action
}

// group is a group record (RFC 3376 §6.2.1). In INCLUDE mode every source
// timer runs and the group timer is unused; in EXCLUDE mode sources with a
// running timer are the "requested" list X and the others (zero timer) the
// "excluded" list Y.
type group struct {
	mode         FilterMode
	timer        time.Time
	sources      map[netip.Addr]*source
	v1Host       time.Time // IGMPv1 Host Present timer (§7.3.2)
	v2Host       time.Time // IGMPv2 Host Present timer
	lastReporter netip.Addr

	// Querier retransmissions (§6.6.3): group-specific queries left and
	// when the next is due; when the next group-and-source query is due
	// (each source counts its own retransmissions).
	gsqLeft int
	gsqAt   time.Time
	ssqAt   time.Time
}

type source struct {
	timer   time.Time
	retrans int // group-and-source queries still to include this source in
}

type staticGroup struct {
	any     bool         // (*,G)
	sources []netip.Addr // (S,G), sorted
}

// New returns the state of an interface that is not started yet.
func New(cfg Config) (*Interface, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Interface{
		cfg:     cfg,
		rv:      cfg.Robustness,
		qi:      cfg.QueryInterval,
		groups:  map[netip.Addr]*group{},
		emitted: map[netip.Addr]Membership{},
		dirty:   map[netip.Addr]struct{}{},
	}
	s.setStatic(cfg.Static)
	return s, nil
}

// Config returns the configuration in use (defaults filled in).
func (s *Interface) Config() Config { return s.cfg }

// Step applies ev at time now and returns the resulting actions. Timers
// due at now fire first. now must not go backwards between calls.
func (s *Interface) Step(now time.Time, ev Event) []Action {
	s.out = nil
	if s.up {
		s.fireDue(now)
	}
	switch e := ev.(type) {
	case Start:
		s.start(now)
	case Stop:
		s.stop()
	case Received:
		s.receive(now, e.Src, e.Msg)
	case Tick:
	case SetStatic:
		s.setStatic(e.Static)
	}
	s.flush(now)
	out := s.out
	s.out = nil
	return out
}

func (s *Interface) emit(a Action) { s.out = append(s.out, a) }

func (s *Interface) markDirty(g netip.Addr) { s.dirty[g] = struct{}{} }

func (s *Interface) start(now time.Time) {
	if s.up {
		return
	}
	s.up = true
	s.rv, s.qi = s.cfg.Robustness, s.cfg.QueryInterval
	s.becomeQuerier(now)
	// Startup queries (RFC 3376 §8.6, §8.7): this one and
	// StartupQueryCount-1 more, StartupQueryInterval apart.
	s.startupLeft = s.cfg.StartupQueryCount - 1
	if s.startupLeft > 0 {
		s.generalQuery = now.Add(s.cfg.StartupQueryInterval)
	}
	for g := range s.static {
		s.markDirty(g)
	}
}

// becomeQuerier makes this router the querier and sends a general query.
func (s *Interface) becomeQuerier(now time.Time) {
	s.querier = true
	s.querierAddr = s.cfg.Address
	s.otherQuerier = time.Time{}
	s.rv, s.qi = s.cfg.Robustness, s.cfg.QueryInterval
	s.emit(&QuerierChanged{Iface: s.cfg.Iface, Querier: s.cfg.Address, Self: true})
	s.sendGeneralQuery()
	s.generalQuery = now.Add(s.qi)
}

func (s *Interface) stop() {
	if !s.up {
		return
	}
	for g := range s.emitted {
		s.markDirty(g)
	}
	s.up, s.querier = false, false
	s.querierAddr = netip.Addr{}
	s.otherQuerier, s.generalQuery = time.Time{}, time.Time{}
	s.startupLeft = 0
	clear(s.groups)
}

func (s *Interface) setStatic(list []Static) {
	for g := range s.static {
		s.markDirty(g)
	}
	s.static = map[netip.Addr]staticGroup{}
	for _, st := range list {
		if checkGroup(st.Group) != nil {
			continue
		}
		cur := s.static[st.Group]
		if len(st.Sources) == 0 {
			cur.any = true
		}
		for _, src := range st.Sources {
			if src.Is4() && !src.IsMulticast() && !src.IsUnspecified() && !slices.Contains(cur.sources, src) {
				cur.sources = append(cur.sources, src)
			}
		}
		slices.SortFunc(cur.sources, netip.Addr.Compare)
		s.static[st.Group] = cur
		s.markDirty(st.Group)
	}
}

// timerKind orders the timers that run out at the same instant: sources
// before their group (so a group timer sees the sources' final state),
// expiries before the retransmissions they may cancel.
type timerKind uint8

const (
	tGeneralQuery timerKind = iota
	tOtherQuerier
	tSource
	tGroup
	tV1Host
	tV2Host
	tGroupQuery
	tSourceQuery
)

type timerItem struct {
	at    time.Time
	kind  timerKind
	group netip.Addr
	src   netip.Addr
}

// eachTimer calls fn for every running timer.
func (s *Interface) eachTimer(fn func(timerItem)) {
	if !s.generalQuery.IsZero() {
		fn(timerItem{at: s.generalQuery, kind: tGeneralQuery})
	}
	if !s.otherQuerier.IsZero() {
		fn(timerItem{at: s.otherQuerier, kind: tOtherQuerier})
	}
	for g, gr := range s.groups {
		for a, src := range gr.sources {
			if !src.timer.IsZero() {
				fn(timerItem{at: src.timer, kind: tSource, group: g, src: a})
			}
		}
		for _, t := range []struct {
			at   time.Time
			kind timerKind
		}{{gr.timer, tGroup}, {gr.v1Host, tV1Host}, {gr.v2Host, tV2Host}, {gr.gsqAt, tGroupQuery}, {gr.ssqAt, tSourceQuery}} {
			if !t.at.IsZero() {
				fn(timerItem{at: t.at, kind: t.kind, group: g})
			}
		}
	}
}

// NextDeadline is when the next timer runs out; ok is false when none
// runs (the interface is stopped). It walks all groups and sources.
func (s *Interface) NextDeadline() (next time.Time, ok bool) {
	if !s.up {
		return time.Time{}, false
	}
	s.eachTimer(func(it timerItem) {
		if !ok || it.at.Before(next) {
			next, ok = it.at, true
		}
	})
	return next, ok
}

// fireDue fires every timer due at or before now, in deadline order. A
// late call fires each due timer once; periodic timers restart from now.
func (s *Interface) fireDue(now time.Time) {
	var due []timerItem
	s.eachTimer(func(it timerItem) {
		if !it.at.After(now) {
			due = append(due, it)
		}
	})
	slices.SortFunc(due, func(a, b timerItem) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.kind, b.kind), a.group.Compare(b.group), a.src.Compare(b.src))
	})
	for _, it := range due {
		s.fire(it, now)
	}
}

func (s *Interface) fire(it timerItem, now time.Time) {
	switch it.kind {
	case tGeneralQuery:
		if !s.querier || !s.generalQuery.Equal(it.at) {
			return
		}
		s.sendGeneralQuery()
		if s.startupLeft > 0 {
			s.startupLeft--
		}
		if s.startupLeft > 0 {
			s.generalQuery = now.Add(s.cfg.StartupQueryInterval)
		} else {
			s.generalQuery = now.Add(s.qi)
		}
		return
	case tOtherQuerier:
		if s.querier || !s.otherQuerier.Equal(it.at) {
			return
		}
		// RFC 3376 §6.6.2: the other querier went quiet; take over.
		s.becomeQuerier(now)
		return
	}
	gr := s.groups[it.group]
	if gr == nil {
		return
	}
	switch it.kind {
	case tSource:
		src := gr.sources[it.src]
		if src == nil || !src.timer.Equal(it.at) {
			return
		}
		// RFC 3376 §6.3: in INCLUDE mode the source goes away (and the
		// group with its last source); in EXCLUDE mode it moves to the
		// excluded list.
		if gr.mode == Include {
			delete(gr.sources, it.src)
			s.deleteIfEmpty(it.group, gr)
		} else {
			src.timer, src.retrans = time.Time{}, 0
		}
		s.markDirty(it.group)
	case tGroup:
		if !gr.timer.Equal(it.at) {
			return
		}
		// RFC 3376 §6.5: EXCLUDE to INCLUDE with the requested sources,
		// or no group at all.
		gr.timer = time.Time{}
		gr.mode = Include
		gr.gsqLeft, gr.gsqAt = 0, time.Time{}
		for a, src := range gr.sources {
			if !src.timer.After(now) {
				delete(gr.sources, a)
			}
		}
		s.deleteIfEmpty(it.group, gr)
		s.markDirty(it.group)
	case tV1Host:
		if gr.v1Host.Equal(it.at) {
			gr.v1Host = time.Time{}
		}
	case tV2Host:
		if gr.v2Host.Equal(it.at) {
			gr.v2Host = time.Time{}
		}
	case tGroupQuery:
		if !gr.gsqAt.Equal(it.at) {
			return
		}
		gr.gsqAt = time.Time{}
		if s.querier && gr.gsqLeft > 0 {
			s.transmitGroupQuery(now, it.group, gr)
		}
	case tSourceQuery:
		if !gr.ssqAt.Equal(it.at) {
			return
		}
		gr.ssqAt = time.Time{}
		if s.querier {
			s.transmitSourceQueries(now, it.group, gr)
		}
	}
}

// deleteIfEmpty deletes a group in INCLUDE mode without sources.
func (s *Interface) deleteIfEmpty(g netip.Addr, gr *group) {
	if gr.mode == Include && len(gr.sources) == 0 {
		delete(s.groups, g)
	}
}

// compat is the group's host compatibility mode (RFC 3376 §7.3.2),
// capped by the interface version.
func (s *Interface) compat(gr *group, now time.Time) uint8 {
	switch {
	case gr.v1Host.After(now):
		return 1
	case gr.v2Host.After(now) || s.cfg.Version == 2:
		return 2
	}
	return 3
}

// membership merges the dynamic state of g with its static configuration.
func (s *Interface) membership(g netip.Addr, now time.Time) Membership {
	m := Membership{Group: g, Mode: Include}
	if !s.up {
		return m
	}
	if gr := s.groups[g]; gr != nil {
		m.Mode = gr.mode
		for a, src := range gr.sources {
			// INCLUDE: the sources (all running); EXCLUDE: the excluded
			// ones (timer 0); the requested ones are forwarded anyway.
			if src.timer.After(now) == (gr.mode == Include) {
				m.Sources = append(m.Sources, a)
			}
		}
	}
	if st, ok := s.static[g]; ok {
		switch {
		case st.any:
			m.Mode, m.Sources = Exclude, nil
		case m.Mode == Exclude:
			m.Sources = slices.DeleteFunc(m.Sources, func(a netip.Addr) bool { return slices.Contains(st.sources, a) })
		default:
			for _, a := range st.sources {
				if !slices.Contains(m.Sources, a) {
					m.Sources = append(m.Sources, a)
				}
			}
		}
	}
	slices.SortFunc(m.Sources, netip.Addr.Compare)
	if len(m.Sources) == 0 {
		m.Sources = nil
	}
	return m
}

// flush announces the groups whose merged membership changed.
func (s *Interface) flush(now time.Time) {
	if len(s.dirty) == 0 {
		return
	}
	keys := make([]netip.Addr, 0, len(s.dirty))
	for g := range s.dirty {
		keys = append(keys, g)
	}
	clear(s.dirty)
	slices.SortFunc(keys, netip.Addr.Compare)
	for _, g := range keys {
		m := s.membership(g, now)
		old, had := s.emitted[g]
		switch {
		case m.Wants() && (!had || !old.equal(m)):
			s.emitted[g] = m
			s.emit(&MembershipChanged{Iface: s.cfg.Iface, Membership: m})
		case !m.Wants() && had:
			delete(s.emitted, g)
			s.emit(&MembershipChanged{Iface: s.cfg.Iface, Membership: Membership{Group: g, Mode: Include}})
		}
	}
}

// Memberships is what the interface wants now, one entry per group with
// a membership, sorted by group.
func (s *Interface) Memberships() []Membership {
	out := make([]Membership, 0, len(s.emitted))
	for _, m := range s.emitted {
		m.Sources = slices.Clone(m.Sources)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Membership) int { return a.Group.Compare(b.Group) })
	return out
}

// Stats returns the counters.
func (s *Interface) Stats() Stats { return s.stats }

// State returns a snapshot of the interface for the CLI.
func (s *Interface) State() InterfaceState {
	st := InterfaceState{
		Iface: s.cfg.Iface, Address: s.cfg.Address, Version: s.cfg.Version, Up: s.up,
		Querier: s.querierAddr, Self: s.querier, OtherQuerierUntil: s.otherQuerier,
		NextGeneralQuery: s.generalQuery, StartupLeft: s.startupLeft,
		Robustness: s.rv, QueryInterval: s.qi, Stats: s.stats,
	}
	seen := map[netip.Addr]bool{}
	add := func(g netip.Addr) {
		if seen[g] {
			return
		}
		seen[g] = true
		gs := GroupState{Group: g, Mode: Include, Compat: 3}
		if gr := s.groups[g]; gr != nil {
			gs.Mode, gs.Expires, gs.LastReporter = gr.mode, gr.timer, gr.lastReporter
			switch {
			case !gr.v1Host.IsZero():
				gs.Compat = 1
			case !gr.v2Host.IsZero() || s.cfg.Version == 2:
				gs.Compat = 2
			}
			for a, src := range gr.sources {
				gs.Sources = append(gs.Sources, SourceState{Addr: a, Expires: src.timer})
			}
			slices.SortFunc(gs.Sources, func(a, b SourceState) int { return a.Addr.Compare(b.Addr) })
		} else if s.cfg.Version == 2 {
			gs.Compat = 2
		}
		_, gs.Static = s.static[g]
		if m, ok := s.emitted[g]; ok {
			m.Sources = slices.Clone(m.Sources)
			gs.Membership = m
		} else {
			gs.Membership = Membership{Group: g, Mode: Include}
		}
		st.Groups = append(st.Groups, gs)
	}
	for g := range s.groups {
		add(g)
	}
	if s.up {
		for g := range s.static {
			add(g)
		}
	}
	slices.SortFunc(st.Groups, func(a, b GroupState) int { return a.Group.Compare(b.Group) })
	return st
}

// Clone returns a deep copy of the state (for replay and what-if tests).
func (s *Interface) Clone() *Interface {
	c := *s
	c.cfg.SSM = slices.Clone(s.cfg.SSM)
	c.cfg.Static = slices.Clone(s.cfg.Static)
	c.groups = make(map[netip.Addr]*group, len(s.groups))
	for g, gr := range s.groups {
		ng := *gr
		ng.sources = make(map[netip.Addr]*source, len(gr.sources))
		for a, src := range gr.sources {
			ns := *src
			ng.sources[a] = &ns
		}
		c.groups[g] = &ng
	}
	c.static = make(map[netip.Addr]staticGroup, len(s.static))
	for g, st := range s.static {
		c.static[g] = staticGroup{any: st.any, sources: slices.Clone(st.sources)}
	}
	c.emitted = make(map[netip.Addr]Membership, len(s.emitted))
	for g, m := range s.emitted {
		m.Sources = slices.Clone(m.Sources)
		c.emitted[g] = m
	}
	c.dirty = map[netip.Addr]struct{}{}
	c.out = nil
	return &c
}

// newQuery builds a query of the interface's version. maxResp is the
// Query Response Interval for a general query and the Last Member Query
// Interval for a specific one.
func (s *Interface) newQuery(g netip.Addr, srcs []netip.Addr, suppress bool, maxResp time.Duration) igmpmsg.Query {
	if s.cfg.Version == 2 {
		tenths := maxResp / (time.Second / 10)
		return igmpmsg.Query{Version: 2, MaxRespCode: uint8(min(max(tenths, 1), 255)), Group: g}
	}
	qrv := uint8(0) // RFC 3376 §4.1.6: 0 when the robustness exceeds 7
	if s.rv <= 7 {
		qrv = uint8(s.rv)
	}
	return igmpmsg.Query{
		Version: 3, MaxRespCode: igmpmsg.MaxRespCodeFor(maxResp), Group: g,
		SuppressRouterSide: suppress, QRV: qrv, QQIC: igmpmsg.QQICFor(s.qi), Sources: srcs,
	}
}

func (s *Interface) send(dst netip.Addr, q igmpmsg.Query) {
	s.stats.QueriesSent++
	s.emit(&SendQuery{Iface: s.cfg.Iface, Dst: dst, Query: q})
}

func (s *Interface) sendGeneralQuery() {
	s.send(igmpmsg.AllSystems, s.newQuery(netip.IPv4Unspecified(), nil, false, s.cfg.QueryResponseInterval))
}
