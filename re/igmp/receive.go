package igmp

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

func (s *Interface) receive(now time.Time, from netip.Addr, m igmpmsg.Message) {
	if !s.up {
		s.stats.IgnoredDown++
		return
	}
	switch m := m.(type) {
	case *igmpmsg.Query:
		s.receiveQuery(now, from, m)
	case *igmpmsg.Report:
		if m.Version == 1 {
			s.stats.V1Reports++
		} else {
			s.stats.V2Reports++
		}
		if !s.acceptGroup(m.Group, true) {
			return
		}
		// RFC 3376 §7.3.2: note the older host, then treat the report as
		// IS_EX({}).
		gr := s.group(m.Group)
		if m.Version == 1 {
			gr.v1Host = now.Add(s.olderHostPresentInterval())
		} else {
			gr.v2Host = now.Add(s.olderHostPresentInterval())
		}
		s.record(now, from, m.Group, igmpmsg.ModeIsExclude, nil)
	case *igmpmsg.Leave:
		s.stats.Leaves++
		if !s.acceptGroup(m.Group, false) {
			return
		}
		gr := s.groups[m.Group]
		if gr == nil {
			return // nothing to leave
		}
		if s.compat(gr, now) == 1 {
			s.stats.IgnoredCompat++ // §7.3.2: leaves are ignored in IGMPv1 mode
			return
		}
		s.record(now, from, m.Group, igmpmsg.ChangeToInclude, nil)
	case *igmpmsg.V3Report:
		s.stats.V3Reports++
		if s.cfg.Version == 2 {
			s.stats.IgnoredV3OnV2++
			return
		}
		for _, r := range m.Records {
			if !r.Type.Known() {
				s.stats.IgnoredRecordTypes++
				continue
			}
			anySource := r.Type == igmpmsg.ModeIsExclude || r.Type == igmpmsg.ChangeToExclude
			if !s.acceptGroup(r.Group, anySource) {
				continue
			}
			s.record(now, from, r.Group, r.Type, r.Sources)
		}
	}
}

// acceptGroup filters groups a router keeps no state for, counting them.
// anySource is a request for any source (v1/v2 report, EXCLUDE record),
// which RFC 4604 §2.2.4 has a router ignore for an SSM group.
func (s *Interface) acceptGroup(g netip.Addr, anySource bool) bool {
	if checkGroup(g) != nil {
		s.stats.IgnoredNotGroup++
		return false
	}
	if anySource && s.cfg.isSSM(g) {
		s.stats.IgnoredSSM++
		return false
	}
	return true
}

// group returns the record of g, created in INCLUDE({}) if absent.
func (s *Interface) group(g netip.Addr) *group {
	gr := s.groups[g]
	if gr == nil {
		gr = &group{mode: Include, sources: map[netip.Addr]*source{}}
		s.groups[g] = gr
	}
	return gr
}

// sourceSet is a small set of addresses from a record, deduplicated.
func sourceSet(list []netip.Addr) []netip.Addr {
	out := slices.Clone(list)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// record applies one group record (or a translated v1/v2 message) with the
// tables of RFC 3376 §6.4.1 and §6.4.2.
func (s *Interface) record(now time.Time, from, g netip.Addr, typ igmpmsg.RecordType, list []netip.Addr) {
	gr := s.group(g)
	if s.compat(gr, now) < 3 {
		// §7.3.2: in IGMPv1/v2 compatibility BLOCK records are ignored,
		// and so are the sources of TO_EX records.
		switch {
		case typ == igmpmsg.BlockOldSources:
			s.stats.IgnoredCompat++
			s.deleteIfEmpty(g, gr)
			return
		case typ == igmpmsg.ChangeToExclude && len(list) > 0:
			s.stats.IgnoredCompat++
			list = nil
		}
	}
	gr.lastReporter = from
	s.markDirty(g)
	b := sourceSet(list)
	gmi := now.Add(s.groupMembershipInterval())
	in := func(a netip.Addr) bool { _, ok := slices.BinarySearchFunc(b, a, netip.Addr.Compare); return ok }
	running := func(src *source) bool { return src.timer.After(now) }
	setTimer := func(a netip.Addr, t time.Time) {
		if src := gr.sources[a]; src != nil {
			src.timer = t
		} else {
			gr.sources[a] = &source{timer: t}
		}
	}
	var queryG bool            // Send Q(G)
	var querySrcs []netip.Addr // Send Q(G, ...)

	if gr.mode == Include {
		// A = the sources of gr, all running.
		switch typ {
		case igmpmsg.ModeIsInclude, igmpmsg.AllowNewSources:
			// INCLUDE (A+B); (B)=GMI
			for _, a := range b {
				setTimer(a, gmi)
			}
		case igmpmsg.BlockOldSources:
			// INCLUDE (A); Send Q(G,A*B)
			for _, a := range b {
				if gr.sources[a] != nil {
					querySrcs = append(querySrcs, a)
				}
			}
		case igmpmsg.ChangeToInclude:
			// INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
			for a := range gr.sources {
				if !in(a) {
					querySrcs = append(querySrcs, a)
				}
			}
			for _, a := range b {
				setTimer(a, gmi)
			}
		case igmpmsg.ModeIsExclude, igmpmsg.ChangeToExclude:
			// EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B); Group Timer=GMI;
			// TO_EX also Send Q(G,A*B).
			for a := range gr.sources {
				if !in(a) {
					delete(gr.sources, a)
				} else if typ == igmpmsg.ChangeToExclude {
					querySrcs = append(querySrcs, a)
				}
			}
			for _, a := range b {
				if gr.sources[a] == nil {
					gr.sources[a] = &source{}
				}
			}
			gr.mode, gr.timer = Exclude, gmi
		}
	} else {
		// X = running sources, Y = the others.
		switch typ {
		case igmpmsg.ModeIsInclude, igmpmsg.AllowNewSources:
			// EXCLUDE (X+A, Y-A); (A)=GMI
			for _, a := range b {
				setTimer(a, gmi)
			}
		case igmpmsg.BlockOldSources:
			// EXCLUDE (X+(A-Y), Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)
			for _, a := range b {
				src := gr.sources[a]
				if src == nil {
					gr.sources[a] = &source{timer: gr.timer}
					querySrcs = append(querySrcs, a)
				} else if running(src) {
					querySrcs = append(querySrcs, a)
				}
			}
		case igmpmsg.ChangeToInclude:
			// EXCLUDE (X+A, Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
			for a, src := range gr.sources {
				if running(src) && !in(a) {
					querySrcs = append(querySrcs, a)
				}
			}
			for _, a := range b {
				setTimer(a, gmi)
			}
			queryG = true
		case igmpmsg.ModeIsExclude, igmpmsg.ChangeToExclude:
			// EXCLUDE (A-Y, Y*A); (A-X-Y)=GMI for IS_EX, Group Timer for
			// TO_EX; Delete (X-A); Delete (Y-A); Group Timer=GMI; TO_EX
			// also Send Q(G,A-Y).
			for a := range gr.sources {
				if !in(a) {
					delete(gr.sources, a)
				}
			}
			for _, a := range b {
				src := gr.sources[a]
				switch {
				case src == nil && typ == igmpmsg.ModeIsExclude:
					gr.sources[a] = &source{timer: gmi}
				case src == nil:
					gr.sources[a] = &source{timer: gr.timer}
					querySrcs = append(querySrcs, a)
				case running(src) && typ == igmpmsg.ChangeToExclude:
					querySrcs = append(querySrcs, a)
				}
			}
			gr.timer = gmi
		}
	}
	s.deleteIfEmpty(g, gr)
	if !s.querier || s.groups[g] == nil {
		return // §6.6.3: only the querier sends queries and lowers timers for them
	}
	if len(querySrcs) > 0 {
		slices.SortFunc(querySrcs, netip.Addr.Compare)
		s.startSourceQueries(now, g, gr, querySrcs)
	}
	if queryG {
		s.startGroupQuery(now, g, gr)
	}
}

// startGroupQuery is "Send Q(G)" (RFC 3376 §6.6.3.1): lower the group
// timer to LMQT, send a group-specific query now and LMQC-1 more, LMQI
// apart.
func (s *Interface) startGroupQuery(now time.Time, g netip.Addr, gr *group) {
	if lmqt := now.Add(s.lastMemberQueryTime()); gr.mode == Exclude && gr.timer.After(lmqt) {
		gr.timer = lmqt
	}
	gr.gsqLeft = s.lastMemberQueryCount()
	s.transmitGroupQuery(now, g, gr)
}

func (s *Interface) transmitGroupQuery(now time.Time, g netip.Addr, gr *group) {
	// The S flag is set when the group timer is above LMQT: a report
	// raised it since the first query.
	suppress := gr.mode == Exclude && gr.timer.Sub(now) > s.lastMemberQueryTime()
	s.send(g, s.newQuery(g, nil, suppress, s.cfg.LastMemberQueryInterval))
	gr.gsqLeft--
	if gr.gsqLeft > 0 {
		gr.gsqAt = now.Add(s.cfg.LastMemberQueryInterval)
	} else {
		gr.gsqAt = time.Time{}
	}
}

// startSourceQueries is "Send Q(G,A)" (RFC 3376 §6.6.3.2): lower the
// timers of A to LMQT, give each LMQC transmissions, and send the first
// now.
func (s *Interface) startSourceQueries(now time.Time, g netip.Addr, gr *group, srcs []netip.Addr) {
	lmqt := now.Add(s.lastMemberQueryTime())
	for _, a := range srcs {
		src := gr.sources[a]
		if src == nil {
			continue
		}
		if src.timer.After(lmqt) {
			src.timer = lmqt
		}
		src.retrans = s.lastMemberQueryCount()
	}
	s.transmitSourceQueries(now, g, gr)
}

// maxQuerySources keeps a group-and-source query within a 1500-byte MTU:
// (1500 - 24 IPv4 header with Router Alert - 12 query header) / 4.
const maxQuerySources = 366

// transmitSourceQueries sends the pending group-and-source queries of a
// group: one with the S flag for the sources whose timer is above LMQT,
// one without for the others (§6.6.3.2), each source counted down.
func (s *Interface) transmitSourceQueries(now time.Time, g netip.Addr, gr *group) {
	lmqt := s.lastMemberQueryTime()
	var hi, lo []netip.Addr
	more := false
	for a, src := range gr.sources {
		if src.retrans <= 0 {
			continue
		}
		if src.timer.Sub(now) > lmqt {
			hi = append(hi, a)
		} else {
			lo = append(lo, a)
		}
		src.retrans--
		more = more || src.retrans > 0
	}
	for _, set := range []struct {
		srcs     []netip.Addr
		suppress bool
	}{{hi, true}, {lo, false}} {
		slices.SortFunc(set.srcs, netip.Addr.Compare)
		for chunk := range slices.Chunk(set.srcs, maxQuerySources) {
			s.send(g, s.newQuery(g, chunk, set.suppress, s.cfg.LastMemberQueryInterval))
		}
	}
	if more {
		gr.ssqAt = now.Add(s.cfg.LastMemberQueryInterval)
	} else {
		gr.ssqAt = time.Time{}
	}
}

// receiveQuery runs the querier election (RFC 3376 §6.6.2, RFC 2236 §3)
// and, as a non-querier, the timer updates of §6.6.1.
func (s *Interface) receiveQuery(now time.Time, from netip.Addr, q *igmpmsg.Query) {
	s.stats.QueriesReceived++
	if q.Version < s.cfg.Version {
		s.stats.OlderQueries++
	}
	if !from.Is4() || from.IsUnspecified() || from == s.cfg.Address || s.cfg.Address.Less(from) {
		// A query from a higher address does not change the election;
		// the higher router will stop querying.
		return
	}
	changed := s.querier || s.querierAddr != from
	if s.querier {
		s.querier = false
		s.generalQuery = time.Time{}
		s.startupLeft = 0
		for _, gr := range s.groups {
			gr.gsqLeft, gr.gsqAt, gr.ssqAt = 0, time.Time{}, time.Time{}
			for _, src := range gr.sources {
				src.retrans = 0
			}
		}
	}
	s.querierAddr = from
	if q.Version == 3 {
		// §4.1.6, §4.1.7: adopt the querier's robustness and interval.
		s.rv, s.qi = s.cfg.Robustness, s.cfg.QueryInterval
		if q.QRV != 0 {
			s.rv = int(q.QRV)
		}
		if qqi := q.QQI(); qqi > 0 {
			s.qi = qqi
		}
	}
	s.otherQuerier = now.Add(s.otherQuerierPresentInterval())
	if changed {
		s.emit(&QuerierChanged{Iface: s.cfg.Iface, Querier: from, Self: false})
	}
	if q.General() || (q.Version == 3 && q.SuppressRouterSide) {
		return
	}
	// §6.6.1: a specific query with a clear S flag lowers the group or
	// source timers to the querier's LMQT (LMQC times its Max Resp Time).
	gr := s.groups[q.Group]
	if gr == nil {
		return
	}
	lmqt := now.Add(time.Duration(s.lastMemberQueryCount()) * q.MaxResp())
	if len(q.Sources) == 0 {
		if gr.mode == Exclude && gr.timer.After(lmqt) {
			gr.timer = lmqt
		}
		return
	}
	for _, a := range q.Sources {
		if src := gr.sources[a]; src != nil && src.timer.After(lmqt) {
			src.timer = lmqt
		}
	}
}
