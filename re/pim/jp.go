package pim

import (
	"net/netip"
)

// jpBuilder collects the Joins and Prunes one call of the engine sends, per
// upstream neighbour, so that they leave as few messages as possible. A
// later entry for the same (group, source, flags) replaces an earlier one
// (a Join then a Prune of the same thing in one call sends the Prune).
type jpBuilder struct {
	msgs  []*jpMsg
	index map[rpfTarget]*jpMsg
}

type jpMsg struct {
	t      rpfTarget
	groups []*jpGroup
	gidx   map[netip.Addr]*jpGroup
}

type jpGroup struct {
	g    netip.Addr
	ents []jpEnt
	idx  map[JPSource]int
}

type jpEnt struct {
	src  JPSource
	join bool
}

func (b *jpBuilder) add(t rpfTarget, g netip.Addr, src JPSource, join bool) {
	if b.index == nil {
		b.index = map[rpfTarget]*jpMsg{}
	}
	m := b.index[t]
	if m == nil {
		m = &jpMsg{t: t, gidx: map[netip.Addr]*jpGroup{}}
		b.index[t] = m
		b.msgs = append(b.msgs, m)
	}
	gr := m.gidx[g]
	if gr == nil {
		gr = &jpGroup{g: g, idx: map[JPSource]int{}}
		m.gidx[g] = gr
		m.groups = append(m.groups, gr)
	}
	if i, ok := gr.idx[src]; ok {
		gr.ents[i].join = join
		return
	}
	gr.idx[src] = len(gr.ents)
	gr.ents = append(gr.ents, jpEnt{src: src, join: join})
}

func (b *jpBuilder) reset() {
	b.msgs = b.msgs[:0]
	clear(b.index)
}

// flushJP turns the collected entries into SendJoinPrune actions. Every
// Join(*,G) carries the Prune(S,G,rpt) of the sources this router prunes off
// the shared tree (§4.5.6 "(S,G,rpt) Periodic Messages"), because the
// upstream router's PruneTmp states end with the message.
func (e *Engine) flushJP() {
	if len(e.jp.msgs) == 0 {
		return
	}
	hold := secs(durationOf(e.t.jpHold))
	for _, m := range e.jp.msgs {
		for _, gr := range m.groups {
			e.addRptPrunes(m, gr)
		}
		f := e.ifs[m.t.ifx]
		if f == nil || !f.up {
			continue
		}
		e.ensureHello(f)
		for _, msg := range splitJP(m, hold, e.maxJPBytes(), m.t.nbr.Is6()) {
			e.emit(SendJoinPrune{If: m.t.ifx, Msg: msg})
			e.stats.Tx.JoinPrune++
			for _, g := range msg.Groups {
				e.stats.TxJoins += uint64(len(g.Joins))
				e.stats.TxPrunes += uint64(len(g.Prunes))
			}
		}
	}
	e.jp.reset()
}

// addRptPrunes adds, to a group set holding a Join(*,G), the Prune(S,G,rpt)
// of every source S for which the router wants S off the RP tree:
//
//	SPTbit(S,G) and RPF'(*,G) != RPF'(S,G), or
//	inherited_olist(S,G,rpt) == NULL, or
//	RPF'(*,G) != RPF'(S,G,rpt)
func (e *Engine) addRptPrunes(m *jpMsg, gr *jpGroup) {
	g := e.groups[gr.g]
	if g == nil || g.ssm {
		return
	}
	src, ok := starSrc(g)
	if !ok {
		return
	}
	if i, ok := gr.idx[src]; !ok || !gr.ents[i].join {
		return
	}
	if f := e.ifs[m.t.ifx]; f == nil || m.t.nbr == f.addr {
		return // a PruneEcho, or nowhere to send
	}
	star := e.rpfPrimeStar(g)
	if star != m.t {
		return
	}
	for _, s := range sortedSources(g) {
		prune := false
		switch {
		case s.spt:
			prune = star != e.rpfPrimeSG(s)
		case !e.anyInherited(s, true):
			prune = true
		default:
			prune = star != e.rpfPrimeSGrpt(s)
		}
		if !prune {
			continue
		}
		k := JPSource{Addr: s.key.Source, RPT: true}
		if i, ok := gr.idx[k]; ok {
			gr.ents[i].join = false
			continue
		}
		gr.idx[k] = len(gr.ents)
		gr.ents = append(gr.ents, jpEnt{src: k, join: false})
	}
}

func (e *Engine) maxJPBytes() int {
	if e.cfg.MaxJoinPruneBytes > 0 {
		return e.cfg.MaxJoinPruneBytes
	}
	return 1400
}

// Encoded sizes (RFC 7761 §4.9.1, §4.9.5) used to split messages.
func jpSizes(v6 bool) (hdr, grp, src int) {
	if v6 {
		return 4 + 18 + 4, 20 + 4, 20
	}
	return 4 + 6 + 4, 8 + 4, 8
}

// splitJP cuts one neighbour's entries into messages of at most max bytes.
// A group set that does not fit is split; each part that continues a group
// holding a Join(*,G) repeats the Join(*,G) so that the upstream router's
// (S,G,rpt) PruneTmp states are reinstated within each message.
func splitJP(m *jpMsg, hold uint16, max int, v6 bool) []JoinPrune {
	hdr, grpSz, srcSz := jpSizes(v6)
	// Room for a group with a repeated Join(*,G) and one more entry, so
	// that every part makes progress.
	max = maxInt(max, hdr+grpSz+3*srcSz)
	var out []JoinPrune
	cur := JoinPrune{UpstreamNeighbor: m.t.nbr, Holdtime: hold}
	size := hdr
	flush := func() {
		if len(cur.Groups) > 0 {
			out = append(out, cur)
		}
		cur = JoinPrune{UpstreamNeighbor: m.t.nbr, Holdtime: hold}
		size = hdr
	}
	for _, gr := range m.groups {
		var star *JPSource
		for _, en := range gr.ents {
			if en.src.WC && en.join {
				s := en.src
				star = &s
			}
		}
		ents := gr.ents
		for len(ents) > 0 {
			if size+grpSz+srcSz > max && len(cur.Groups) > 0 {
				flush()
			}
			jg := JPGroup{Group: gr.g}
			size += grpSz
			repeated := false
			for len(ents) > 0 && (size+srcSz <= max || len(jg.Joins)+len(jg.Prunes) == 0) {
				en := ents[0]
				ents = ents[1:]
				if en.join {
					jg.Joins = append(jg.Joins, en.src)
				} else {
					jg.Prunes = append(jg.Prunes, en.src)
				}
				size += srcSz
			}
			if len(ents) > 0 && star != nil {
				repeated = true
			}
			cur.Groups = append(cur.Groups, jg)
			if len(ents) > 0 {
				flush()
				if repeated {
					// The next part starts with the Join(*,G) again.
					ents = append([]jpEnt{{src: *star, join: true}}, ents...)
				}
			}
		}
	}
	flush()
	return out
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
