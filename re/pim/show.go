package pim

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/re/pim/pimshow"
	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// The Show* methods return the data of the `show pim …` commands as plain,
// JSON-tagged values (`| display json`, types in re/pim/pimshow); pimshow
// renders them in the
// modelled platform's layouts (reference-junos.md §2.4, §2.5). Durations
// are whole seconds; a negative Timeout means "Infinity".

func secsLeft(now, deadline int64) int64 {
	if deadline == 0 {
		return 0
	}
	if deadline == forever {
		return -1
	}
	d := deadline - now
	if d <= 0 {
		return 0
	}
	return d / second
}

func secsSince(now, t int64) int64 {
	if t == 0 || now < t {
		return 0
	}
	return (now - t) / second
}

var assertNames = [...]string{"NoInfo", "Winner", "Loser"}
var regNames = [...]string{"NoInfo", "Join", "Join-Pending", "Prune"}

// ShowJoin returns the join entries, optionally for one group, ordered by
// group then source ((*,G) first).
func (e *Engine) ShowJoin(now time.Time, grp netip.Addr) []JoinEntry {
	n := nanos(now)
	var out []JoinEntry
	for _, g := range e.sortedGroups() {
		if grp.IsValid() && g.g != grp {
			continue
		}
		if !g.ssm && (g.up == usJoined || len(g.ifs) > 0) {
			out = append(out, e.starEntry(g, n))
		}
		for _, s := range sortedSources(g) {
			if s.up == usJoined || s.kat != 0 || s.reg != regNoInfo || s.rpt == rptPruned || hasDownstream(s) {
				out = append(out, e.sgEntryInfo(s, n))
			}
		}
	}
	return out
}

func hasDownstream(s *sgEntry) bool {
	for i := range s.ifs {
		si := &s.ifs[i]
		if si.jp != dsNoInfo || si.rpt != dsNoInfo || si.local != 0 {
			return true
		}
	}
	return false
}

func (e *Engine) nbrName(t rpfTarget) string {
	if t.nbr.IsValid() {
		return t.nbr.String()
	}
	return "Unknown"
}

func (e *Engine) starEntry(g *group, n int64) JoinEntry {
	je := JoinEntry{Group: g.g, RP: g.rp, Flags: []string{"sparse", "rptree", "wildcard"}, Uptime: secsSince(n, g.created)}
	switch {
	case g.rpLocal:
		je.UpstreamInterface, je.UpstreamNeighbor, je.UpstreamState = "Local", "Local", "Local RP"
	case !g.rp.IsValid():
		je.UpstreamInterface, je.UpstreamNeighbor, je.UpstreamState = "Unknown", "Unknown", "No RP"
	default:
		je.UpstreamInterface = e.ifName(g.target.ifx)
		if g.target.ifx == 0 {
			je.UpstreamInterface = "Unknown"
		}
		je.UpstreamNeighbor = e.nbrName(g.target)
		je.UpstreamState = "Join to RP"
		if g.up != usJoined {
			je.UpstreamState = "Prune to RP"
		}
	}
	if g.gir != nil {
		je.Graceful = &GracefulInfo{OldInterface: e.ifName(g.gir.oldIf), OldNeighbor: g.gir.oldNbr.String(),
			NewInterface: e.ifName(g.gir.newIf), Since: secsSince(n, g.gir.since)}
	}
	for i := range g.ifs {
		gi := &g.ifs[i]
		var nbrs []JoinDownNbr
		if gi.jp != dsNoInfo {
			st := "Join"
			if gi.jp == dsPrunePending {
				st = "Prune"
			}
			nbrs = append(nbrs, JoinDownNbr{Addr: gi.joiner, State: st, Flags: "SRW", Timeout: secsLeft(n, gi.et),
				Uptime: secsSince(n, gi.joinedAt), TimeSinceLastJoin: secsSince(n, gi.lastJoin)})
		}
		if gi.local {
			nbrs = append(nbrs, JoinDownNbr{Addr: e.myIP(gi.ifx), State: "Join", Flags: "SRW", Timeout: -1,
				Uptime: secsSince(n, gi.joinedAt)})
		}
		if len(nbrs) > 0 {
			je.Downstream = append(je.Downstream, JoinDownIf{Interface: e.ifName(gi.ifx), Neighbors: nbrs})
		}
		if gi.as != asNoInfo {
			je.Assert = append(je.Assert, JoinAssertIf{Interface: e.ifName(gi.ifx), State: assertNames[gi.as],
				Winner: gi.winner.Addr, Timeout: secsLeft(n, gi.at)})
		}
	}
	return je
}

func (e *Engine) sgEntryInfo(s *sgEntry, n int64) JoinEntry {
	g := s.g
	je := JoinEntry{Group: g.g, Source: s.key.Source, Flags: []string{"sparse"}, Uptime: secsSince(n, s.created)}
	rt := e.sgRoute(s)
	direct := e.directlyConnected(s)
	// spt: on the source tree from an upstream router (a directly
	// connected source shows plain "sparse", seed 003).
	if s.spt && !direct {
		je.Flags = append(je.Flags, "spt")
	} else if !s.spt && s.up != usJoined && !g.ssm {
		je.Flags = append(je.Flags, "rptree")
	}
	je.UpstreamInterface = e.ifName(rt.IIF)
	if rt.IIF == 0 {
		je.UpstreamInterface = "Unknown"
	}
	var states []string
	switch {
	case direct:
		je.UpstreamNeighbor = "Direct"
		states = append(states, "Local Source")
	case s.up == usJoined || s.spt || rt.IIF == e.rpfIfS(s):
		je.UpstreamNeighbor = e.nbrName(s.target)
	default:
		je.UpstreamNeighbor = e.nbrName(s.rptTgt)
	}
	if g.rpLocal {
		states = append(states, "Local RP")
	}
	if s.up == usJoined && !direct {
		states = append(states, "Join to Source")
	}
	if s.rpt == rptPruned && !g.rpLocal {
		states = append(states, "Prune to RP")
	}
	if len(states) == 0 {
		if g.ssm || s.spt {
			states = append(states, "Prune to Source")
		} else {
			states = append(states, "Join to RP")
		}
	}
	je.UpstreamState = strings.Join(states, ", ")
	if s.kat != 0 {
		v := secsLeft(n, s.kat)
		je.KeepaliveTimeout = &v
	}
	if s.reg != regNoInfo {
		je.Register = regNames[s.reg]
	}
	if s.gir != nil {
		je.Graceful = &GracefulInfo{OldInterface: e.ifName(s.gir.oldIf), OldNeighbor: s.gir.oldNbr.String(),
			NewInterface: e.ifName(s.gir.newIf), Since: secsSince(n, s.gir.since)}
	}
	for i := range s.ifs {
		si := &s.ifs[i]
		var nbrs []JoinDownNbr
		if si.jp != dsNoInfo {
			st := "Join"
			if si.jp == dsPrunePending {
				st = "Prune"
			}
			nbrs = append(nbrs, JoinDownNbr{Addr: si.joiner, State: st, Flags: "S", Timeout: secsLeft(n, si.et),
				Uptime: secsSince(n, si.joinedAt), TimeSinceLastJoin: secsSince(n, si.lastJoin)})
		}
		if si.rpt == dsPrune || si.rpt == dsPrunePending {
			nbrs = append(nbrs, JoinDownNbr{State: "Prune", Flags: "SR", Timeout: secsLeft(n, si.ret)})
		}
		if si.local&localInclude != 0 {
			nbrs = append(nbrs, JoinDownNbr{Addr: e.myIP(si.ifx), State: "Join", Flags: "S", Timeout: -1,
				Uptime: secsSince(n, si.joinedAt)})
		}
		if len(nbrs) > 0 {
			je.Downstream = append(je.Downstream, JoinDownIf{Interface: e.ifName(si.ifx), Neighbors: nbrs})
		}
		if si.as != asNoInfo {
			je.Assert = append(je.Assert, JoinAssertIf{Interface: e.ifName(si.ifx), State: assertNames[si.as],
				Winner: si.winner.Addr, Timeout: secsLeft(n, si.at)})
		}
	}
	return je
}

// ShowNeighbors returns our own entry and the neighbours of every up
// interface, by interface then address.
func (e *Engine) ShowNeighbors(now time.Time) []NeighborInfo {
	n := nanos(now)
	rx := map[IfIndex]map[netip.Addr][]RxJoin{}
	add := func(ifx IfIndex, who netip.Addr, j RxJoin) {
		if rx[ifx] == nil {
			rx[ifx] = map[netip.Addr][]RxJoin{}
		}
		rx[ifx][who] = append(rx[ifx][who], j)
	}
	for _, g := range e.sortedGroups() {
		for i := range g.ifs {
			if gi := &g.ifs[i]; joinsState(gi.jp) {
				add(gi.ifx, gi.joiner, RxJoin{Group: g.g, Timeout: secsLeft(n, gi.et)})
			}
		}
		for _, s := range sortedSources(g) {
			for i := range s.ifs {
				if si := &s.ifs[i]; joinsState(si.jp) {
					add(si.ifx, si.joiner, RxJoin{Group: g.g, Source: s.key.Source, Timeout: secsLeft(n, si.et)})
				}
			}
		}
	}
	var out []NeighborInfo
	for _, idx := range e.ifOrder {
		f := e.ifs[idx]
		if !f.up {
			continue
		}
		me := NeighborInfo{Interface: f.cfg.Name, Addr: f.addr, Local: true, Options: "HPLG", Uptime: secsSince(n, f.upSince),
			Holdtime: f.helloHoldtime(e), HoldRemaining: -1, DRPriority: f.drPriority(), HasDRPriority: true,
			GenID: f.genID, HasGenID: true, LANPruneDelay: true,
			PropagationDelay: uint16(f.propagationDelay() / time.Millisecond),
			OverrideInterval: uint16(f.overrideInterval() / time.Millisecond)}
		out = append(out, me)
		for _, nb := range f.nbrs {
			ni := NeighborInfo{Interface: f.cfg.Name, Addr: nb.addr, Uptime: secsSince(n, nb.created),
				Holdtime: nb.holdtime, HoldRemaining: secsLeft(n, nb.expires),
				DRPriority: nb.drPrio, HasDRPriority: nb.hasDRPrio, GenID: nb.genID, HasGenID: nb.hasGenID,
				LANPruneDelay: nb.hasLANDly, PropagationDelay: nb.propDelay, OverrideInterval: nb.overrideMs,
				TBit: nb.tBit, Secondary: slices.Clone(nb.secondary), RxJoins: rx[idx][nb.addr]}
			var o strings.Builder
			o.WriteByte('H')
			if nb.hasDRPrio {
				o.WriteByte('P')
			}
			if nb.hasLANDly {
				o.WriteByte('L')
			}
			if nb.hasGenID {
				o.WriteByte('G')
			}
			if nb.tBit {
				o.WriteByte('T')
			}
			ni.Options = o.String()
			for _, j := range ni.RxJoins {
				if j.Source.IsValid() {
					ni.SGJoins++
				} else {
					ni.StarGJoins++
				}
			}
			out = append(out, ni)
		}
	}
	return out
}

// ShowInterfaces returns the PIM interfaces.
func (e *Engine) ShowInterfaces(now time.Time) []InterfaceInfo {
	sg := map[IfIndex]int{}
	star := map[IfIndex]int{}
	for _, g := range e.groups {
		for i := range g.ifs {
			if joinsState(g.ifs[i].jp) {
				star[g.ifs[i].ifx]++
			}
		}
		for _, s := range g.srcs {
			for i := range s.ifs {
				if joinsState(s.ifs[i].jp) {
					sg[s.ifs[i].ifx]++
				}
			}
		}
	}
	var out []InterfaceInfo
	for _, idx := range e.ifOrder {
		f := e.ifs[idx]
		st := "NotDR,NotCap"
		if e.iAmDR(idx) {
			st = "DR,NotCap"
		}
		if !f.up {
			st = "Down"
		}
		out = append(out, InterfaceInfo{Name: f.cfg.Name, Index: uint32(idx), Up: f.up, Mode: "S", Version: 2, State: st,
			Neighbors: len(f.nbrs), SGJoins: sg[idx], StarJoins: star[idx], DR: f.dr, Addr: f.addr,
			DRPriority: f.drPriority(), GenID: f.genID, HelloInterval: f.helloPeriod(e) / second,
			JoinPruneOverride: f.jpOverride() / int64(time.Millisecond)})
	}
	return out
}

// ShowRPs returns the RP-set by RP address (bootstrap first, as the
// platform lists them), one entry per (RP, origin).
func (e *Engine) ShowRPs(now time.Time) []RPInfo {
	n := nanos(now)
	type key struct {
		rp netip.Addr
		o  rpset.Origin
	}
	idx := map[key]int{}
	var out []RPInfo
	for _, c := range e.rps.All() {
		if c.Expires != rpset.Forever && c.Expires <= n {
			continue
		}
		k := key{c.RP, c.Origin}
		i, ok := idx[k]
		if !ok {
			ri := RPInfo{Addr: c.RP, Type: c.Origin.String(), Mode: "sparse", Holdtime: c.Holdtime,
				Timeout: -1, Priority: c.Priority, SBit: c.SBit, Local: e.isMyAddr(c.RP),
				TimeActive: secsSince(n, c.Learned)}
			if c.Origin != rpset.OriginBootstrap {
				ri.Holdtime = rpset.DefaultCRPHoldtime
			} else {
				ri.Timeout = secsLeft(n, c.Expires)
			}
			out = append(out, ri)
			i = len(out) - 1
			idx[k] = i
		}
		out[i].Prefixes = append(out[i].Prefixes, c.Groups)
	}
	for _, g := range e.sortedGroups() {
		if !g.rp.IsValid() {
			continue
		}
		for i := range out {
			if out[i].Addr == g.rp {
				out[i].Groups++
				out[i].ActiveGroups = append(out[i].ActiveGroups, g.g)
				if g.rpLocal {
					for _, s := range sortedSources(g) {
						if s.regFrom.IsValid() && s.kat != 0 {
							out[i].Registers = append(out[i].Registers, RegisterInfo{Group: g.g, Source: s.key.Source,
								FirstHop: s.regFrom, State: "Receive", Timeout: secsLeft(n, s.kat)})
						}
					}
				}
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b RPInfo) int {
		ab, bb := a.Type == "bootstrap", b.Type == "bootstrap"
		if ab != bb {
			if ab {
				return -1
			}
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// ShowBootstrap returns the bootstrap state.
func (e *Engine) ShowBootstrap(now time.Time) BootstrapInfo {
	n := nanos(now)
	cfg := e.bsr.Config()
	bi := BootstrapInfo{BSR: e.bsr.Elected, BSRPriority: e.bsr.ElectedPriority, State: e.bsr.State.String(),
		Timeout: secsLeft(n, e.bsr.Timer), FragmentTag: e.bsr.Tag, HashMaskLen: e.bsr.HashMaskLen,
		CRPs: slices.Clone(e.bsr.CRPs)}
	if cfg.Candidate {
		bi.LocalAddress, bi.LocalPriority = cfg.Addr, cfg.Priority
	}
	return bi
}

// JoinEntry is pimshow.JoinEntry.
type JoinEntry = pimshow.JoinEntry

// GracefulInfo is pimshow.GracefulInfo.
type GracefulInfo = pimshow.GracefulInfo

// JoinDownIf is pimshow.JoinDownIf.
type JoinDownIf = pimshow.JoinDownIf

// JoinDownNbr is pimshow.JoinDownNbr.
type JoinDownNbr = pimshow.JoinDownNbr

// JoinAssertIf is pimshow.JoinAssertIf.
type JoinAssertIf = pimshow.JoinAssertIf

// NeighborInfo is pimshow.NeighborInfo.
type NeighborInfo = pimshow.NeighborInfo

// RxJoin is pimshow.RxJoin.
type RxJoin = pimshow.RxJoin

// InterfaceInfo is pimshow.InterfaceInfo.
type InterfaceInfo = pimshow.InterfaceInfo

// RPInfo is pimshow.RPInfo.
type RPInfo = pimshow.RPInfo

// RegisterInfo is pimshow.RegisterInfo.
type RegisterInfo = pimshow.RegisterInfo

// BootstrapInfo is pimshow.BootstrapInfo.
type BootstrapInfo = pimshow.BootstrapInfo
