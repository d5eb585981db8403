package pim

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"math/rand/v2"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// SnapshotVersion is the version of the Snapshot layout.
const SnapshotVersion = 1

// Snapshot is the engine's complete dynamic state, for non-stop routing
// (issue #17): neighbours with our generation IDs, the tree information base
// with every timer as an absolute deadline (Unix nanoseconds; 0 = not
// running, math.MaxInt64 = never), register and assert state, the RP-set and
// bootstrap state, the cached RIB answers, the counters and the random
// source. The configuration is not part of it: the backup parses the same
// configuration. Importing a snapshot into a fresh engine built with that
// configuration reproduces the original's behaviour exactly (same actions
// for the same later inputs). It marshals to JSON.
type Snapshot struct {
	Version    int               `json:"version"`
	Taken      time.Time         `json:"taken"`
	Rand       []byte            `json:"rand"`
	Seq        uint64            `json:"seq"`
	GlobalSeq  uint64            `json:"global_seq"`
	Graceful   bool              `json:"graceful,omitempty"`
	CRPNext    int64             `json:"crp_next,omitempty"`
	Started    int64             `json:"started"`
	Stats      Stats             `json:"stats"`
	Interfaces []IfSnapshot      `json:"interfaces,omitempty"`
	RPF        []RPFSnapshot     `json:"rpf,omitempty"`
	Groups     []GroupSnapshot   `json:"groups,omitempty"`
	RPSet      []rpset.Candidate `json:"rp_set,omitempty"`
	HashMask   int               `json:"hash_mask_len,omitempty"`
	BSR        rpset.BSR         `json:"bsr"`
}

// IfSnapshot is one interface and its neighbours.
type IfSnapshot struct {
	Index     IfIndex            `json:"index"`
	Seq       uint64             `json:"seq"`
	Up        bool               `json:"up,omitempty"`
	Addr      netip.Addr         `json:"addr,omitzero"`
	Prefixes  []netip.Prefix     `json:"prefixes,omitempty"`
	UpSince   int64              `json:"up_since,omitempty"`
	GenID     uint32             `json:"gen_id"`
	HelloAt   int64              `json:"hello_at,omitempty"`
	HelloSent bool               `json:"hello_sent,omitempty"`
	DR        netip.Addr         `json:"dr,omitzero"`
	Stats     IfStats            `json:"stats"`
	Neighbors []NeighborSnapshot `json:"neighbors,omitempty"`
}

// NeighborSnapshot is one neighbour.
type NeighborSnapshot struct {
	Addr       netip.Addr   `json:"addr"`
	Created    int64        `json:"created"`
	Phase      int64        `json:"phase"`
	Expires    int64        `json:"expires"`
	Holdtime   uint16       `json:"holdtime"`
	HasGenID   bool         `json:"has_gen_id,omitempty"`
	GenID      uint32       `json:"gen_id,omitempty"`
	HasDRPrio  bool         `json:"has_dr_priority,omitempty"`
	DRPrio     uint32       `json:"dr_priority,omitempty"`
	HasLANDly  bool         `json:"has_lan_prune_delay,omitempty"`
	TBit       bool         `json:"t_bit,omitempty"`
	PropDelay  uint16       `json:"propagation_delay_ms,omitempty"`
	OverrideMs uint16       `json:"override_interval_ms,omitempty"`
	Secondary  []netip.Addr `json:"secondary,omitempty"`
}

// RPFSnapshot is a cached RIB answer.
type RPFSnapshot struct {
	Addr netip.Addr `json:"addr"`
	RPF  RPF        `json:"rpf"`
}

// TargetSnapshot is an upstream neighbour (interface, address).
type TargetSnapshot struct {
	If  IfIndex    `json:"if,omitempty"`
	Nbr netip.Addr `json:"nbr,omitzero"`
}

// GracefulSnapshot is a pending graceful RPF change.
type GracefulSnapshot struct {
	OldIf  IfIndex    `json:"old_if"`
	OldNbr netip.Addr `json:"old_nbr,omitzero"`
	NewIf  IfIndex    `json:"new_if"`
	Since  int64      `json:"since"`
	At     int64      `json:"at,omitempty"`
}

// RouteSnapshot is the last Route emitted for an entry.
type RouteSnapshot struct {
	Emitted bool       `json:"emitted,omitempty"`
	IIF     IfIndex    `json:"iif,omitempty"`
	GNew    IfIndex    `json:"graceful_new,omitempty"`
	Reg     bool       `json:"register,omitempty"`
	RegRP   netip.Addr `json:"register_rp,omitzero"`
	Decap   bool       `json:"decap,omitempty"`
	OIL     []IfIndex  `json:"oil,omitempty"`
}

// GroupIfSnapshot is per-interface (*,G) state.
type GroupIfSnapshot struct {
	If       IfIndex      `json:"if"`
	JP       uint8        `json:"jp"`
	Assert   uint8        `json:"assert"`
	Local    bool         `json:"local,omitempty"`
	ET       int64        `json:"et,omitempty"`
	PPT      int64        `json:"ppt,omitempty"`
	AT       int64        `json:"at,omitempty"`
	JoinedAt int64        `json:"joined_at,omitempty"`
	LastJoin int64        `json:"last_join,omitempty"`
	Joiner   netip.Addr   `json:"joiner,omitzero"`
	Winner   AssertMetric `json:"winner,omitzero"`
}

// GroupSnapshot is a (*,G) entry with its (S,G) entries (in the engine's
// internal order, which fixes the order of later actions).
type GroupSnapshot struct {
	Group    netip.Addr        `json:"group"`
	Seq      uint64            `json:"seq"`
	Created  int64             `json:"created"`
	RP       netip.Addr        `json:"rp,omitzero"`
	RPLocal  bool              `json:"rp_local,omitempty"`
	Up       uint8             `json:"up"`
	JT       int64             `json:"jt,omitempty"`
	Target   TargetSnapshot    `json:"target"`
	MRIB     TargetSnapshot    `json:"mrib"`
	UpRP     netip.Addr        `json:"up_rp,omitzero"`
	PrevRPIf IfIndex           `json:"prev_rp_if,omitempty"`
	JoinedAt int64             `json:"joined_at,omitempty"`
	Graceful *GracefulSnapshot `json:"graceful,omitempty"`
	Ifs      []GroupIfSnapshot `json:"ifs,omitempty"`
	Last     RouteSnapshot     `json:"last"`
	Sources  []SGSnapshot      `json:"sources,omitempty"`
}

// SGIfSnapshot is per-interface (S,G) and (S,G,rpt) state.
type SGIfSnapshot struct {
	If       IfIndex      `json:"if"`
	JP       uint8        `json:"jp"`
	RPT      uint8        `json:"rpt"`
	Assert   uint8        `json:"assert"`
	Local    uint8        `json:"local,omitempty"`
	ET       int64        `json:"et,omitempty"`
	PPT      int64        `json:"ppt,omitempty"`
	RptET    int64        `json:"rpt_et,omitempty"`
	RptPPT   int64        `json:"rpt_ppt,omitempty"`
	AT       int64        `json:"at,omitempty"`
	JoinedAt int64        `json:"joined_at,omitempty"`
	LastJoin int64        `json:"last_join,omitempty"`
	Joiner   netip.Addr   `json:"joiner,omitzero"`
	Winner   AssertMetric `json:"winner,omitzero"`
}

// SGSnapshot is an (S,G) entry.
type SGSnapshot struct {
	Source   netip.Addr        `json:"source"`
	Seq      uint64            `json:"seq"`
	Created  int64             `json:"created"`
	Up       uint8             `json:"up"`
	SPT      bool              `json:"spt,omitempty"`
	RPT      uint8             `json:"rpt"`
	Reg      uint8             `json:"reg"`
	RPRegs   bool              `json:"rp_regs,omitempty"`
	JT       int64             `json:"jt,omitempty"`
	KAT      int64             `json:"kat,omitempty"`
	OT       int64             `json:"ot,omitempty"`
	RST      int64             `json:"rst,omitempty"`
	Target   TargetSnapshot    `json:"target"`
	MRIB     TargetSnapshot    `json:"mrib"`
	RptTgt   TargetSnapshot    `json:"rpt_target"`
	PrevRPF  IfIndex           `json:"prev_rpf,omitempty"`
	RegRP    netip.Addr        `json:"reg_rp,omitzero"`
	RegFrom  netip.Addr        `json:"reg_from,omitzero"`
	RegLast  int64             `json:"reg_last,omitempty"`
	JoinedAt int64             `json:"joined_at,omitempty"`
	Graceful *GracefulSnapshot `json:"graceful,omitempty"`
	Ifs      []SGIfSnapshot    `json:"ifs,omitempty"`
	Last     RouteSnapshot     `json:"last"`
}

func tgtSnap(t rpfTarget) TargetSnapshot   { return TargetSnapshot{If: t.ifx, Nbr: t.nbr} }
func (t TargetSnapshot) target() rpfTarget { return rpfTarget{t.If, t.Nbr} }

func girSnap(g *girState) *GracefulSnapshot {
	if g == nil {
		return nil
	}
	return &GracefulSnapshot{OldIf: g.oldIf, OldNbr: g.oldNbr, NewIf: g.newIf, Since: g.since, At: g.at}
}

func (g *GracefulSnapshot) state() *girState {
	if g == nil {
		return nil
	}
	return &girState{oldIf: g.OldIf, oldNbr: g.OldNbr, newIf: g.NewIf, since: g.Since, at: g.At}
}

func routeSnap(r routeState) RouteSnapshot {
	return RouteSnapshot{Emitted: r.emitted, IIF: r.iif, GNew: r.gnew, Reg: r.reg, RegRP: r.regRP, Decap: r.decap, OIL: slices.Clone(r.oil)}
}

func (r RouteSnapshot) state() routeState {
	return routeState{emitted: r.Emitted, iif: r.IIF, gnew: r.GNew, reg: r.Reg, regRP: r.RegRP, decap: r.Decap, oil: slices.Clone(r.OIL)}
}

// Export returns a snapshot of the engine's state. Call it between two
// calls of the engine (never from inside one).
func (e *Engine) Export(now time.Time) (*Snapshot, error) {
	rnd, err := e.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("pim: export random source: %w", err)
	}
	sn := &Snapshot{Version: SnapshotVersion, Taken: now, Rand: rnd, Seq: e.seq, GlobalSeq: e.global.node.seq,
		Graceful: e.graceful, CRPNext: e.crpNext, Started: e.started, Stats: e.stats,
		RPSet: e.rps.All(), HashMask: e.rps.HashMaskLen, BSR: e.bsr}
	sn.BSR.Ranges = slices.Clone(e.bsr.Ranges)
	sn.BSR.CRPs = slices.Clone(e.bsr.CRPs)
	for _, idx := range e.ifOrder {
		f := e.ifs[idx]
		is := IfSnapshot{Index: idx, Seq: f.node.seq, Up: f.up, Addr: f.addr, Prefixes: slices.Clone(f.prefixes),
			UpSince: f.upSince, GenID: f.genID, HelloAt: f.helloAt, HelloSent: f.helloSent, DR: f.dr, Stats: f.stats}
		for _, n := range f.nbrs {
			is.Neighbors = append(is.Neighbors, NeighborSnapshot{Addr: n.addr, Created: n.created, Phase: n.phase,
				Expires: n.expires, Holdtime: n.holdtime, HasGenID: n.hasGenID, GenID: n.genID,
				HasDRPrio: n.hasDRPrio, DRPrio: n.drPrio, HasLANDly: n.hasLANDly, TBit: n.tBit,
				PropDelay: n.propDelay, OverrideMs: n.overrideMs, Secondary: slices.Clone(n.secondary)})
		}
		sn.Interfaces = append(sn.Interfaces, is)
	}
	addrs := make([]netip.Addr, 0, len(e.rpf))
	for a := range e.rpf {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		sn.RPF = append(sn.RPF, RPFSnapshot{Addr: a, RPF: e.rpf[a].rpf})
	}
	for _, g := range e.sortedGroups() {
		gs := GroupSnapshot{Group: g.g, Seq: g.node.seq, Created: g.created, RP: g.rp, RPLocal: g.rpLocal,
			Up: g.up, JT: g.jt, Target: tgtSnap(g.target), MRIB: tgtSnap(g.mrib), UpRP: g.upRP, PrevRPIf: g.prevRPIf,
			JoinedAt: g.joinedAt, Graceful: girSnap(g.gir), Last: routeSnap(g.last)}
		for _, gi := range g.ifs {
			gs.Ifs = append(gs.Ifs, GroupIfSnapshot{If: gi.ifx, JP: gi.jp, Assert: gi.as, Local: gi.local,
				ET: gi.et, PPT: gi.ppt, AT: gi.at, JoinedAt: gi.joinedAt, LastJoin: gi.lastJoin,
				Joiner: gi.joiner, Winner: gi.winner})
		}
		for _, s := range g.srcs { // internal order: it orders later actions
			ss := SGSnapshot{Source: s.key.Source, Seq: s.node.seq, Created: s.created, Up: s.up, SPT: s.spt,
				RPT: s.rpt, Reg: s.reg, RPRegs: s.rpRegs, JT: s.jt, KAT: s.kat, OT: s.ot, RST: s.rst,
				Target: tgtSnap(s.target), MRIB: tgtSnap(s.mrib), RptTgt: tgtSnap(s.rptTgt), PrevRPF: s.prevRPF,
				RegRP: s.regRP, RegFrom: s.regFrom, RegLast: s.regLast, JoinedAt: s.joinedAt,
				Graceful: girSnap(s.gir), Last: routeSnap(s.last)}
			for _, si := range s.ifs {
				ss.Ifs = append(ss.Ifs, SGIfSnapshot{If: si.ifx, JP: si.jp, RPT: si.rpt, Assert: si.as,
					Local: si.local, ET: si.et, PPT: si.ppt, RptET: si.ret, RptPPT: si.rpp, AT: si.at,
					JoinedAt: si.joinedAt, LastJoin: si.lastJoin, Joiner: si.joiner, Winner: si.winner})
			}
			gs.Sources = append(gs.Sources, ss)
		}
		sn.Groups = append(sn.Groups, gs)
	}
	return sn, nil
}

// Import replaces the engine's dynamic state with sn. The engine must have
// been built with the configuration the snapshot's engine ran; interfaces
// of the snapshot that are not configured are ignored. On error the
// engine's state is unspecified; discard it.
func (e *Engine) Import(sn *Snapshot) error {
	if sn == nil || sn.Version != SnapshotVersion {
		return fmt.Errorf("%w: version %v", ErrSnapshot, snapVersion(sn))
	}
	pcg := new(rand.PCG)
	if err := pcg.UnmarshalBinary(sn.Rand); err != nil {
		return fmt.Errorf("%w: random source: %w", ErrSnapshot, err)
	}
	*e.pcg = *pcg
	// Drop the current dynamic state.
	e.tq = e.tq[:0]
	e.groups = map[netip.Addr]*group{}
	e.sgs = map[SG]*sgEntry{}
	e.rpf = map[netip.Addr]*rpfEntry{}
	e.seq = sn.Seq
	e.graceful = sn.Graceful
	e.crpNext = sn.CRPNext
	e.started = sn.Started
	e.stats = sn.Stats
	e.rps = rpset.Set{HashMaskLen: sn.HashMask}
	var static, boot []rpset.Candidate
	for _, c := range sn.RPSet {
		if c.Origin == rpset.OriginBootstrap {
			boot = append(boot, c)
		} else {
			static = append(static, c)
		}
	}
	e.rps.SetConfigured(static)
	e.rps.SetBootstrap(boot)
	cfg := e.bsr.Config()
	e.bsr = sn.BSR
	e.bsr.Restore(cfg)
	e.global.node = tnode{seq: sn.GlobalSeq, idx: -1, owner: &e.global}

	for _, f := range e.ifs {
		f.up, f.nbrs, f.helloAt, f.helloSent, f.dr = false, nil, 0, false, netip.Addr{}
		f.node.idx, f.node.at = -1, 0
	}
	for _, is := range sn.Interfaces {
		f := e.ifs[is.Index]
		if f == nil {
			continue
		}
		f.node = tnode{seq: is.Seq, idx: -1, owner: f}
		f.up, f.addr, f.prefixes, f.upSince, f.genID = is.Up, is.Addr, slices.Clone(is.Prefixes), is.UpSince, is.GenID
		f.helloAt, f.helloSent, f.dr, f.stats = is.HelloAt, is.HelloSent, is.DR, is.Stats
		for _, ns := range is.Neighbors {
			f.nbrs = append(f.nbrs, &neighbor{addr: ns.Addr, created: ns.Created, phase: ns.Phase,
				expires: ns.Expires, holdtime: ns.Holdtime, hasGenID: ns.HasGenID, genID: ns.GenID,
				hasDRPrio: ns.HasDRPrio, drPrio: ns.DRPrio, hasLANDly: ns.HasLANDly, tBit: ns.TBit,
				propDelay: ns.PropDelay, overrideMs: ns.OverrideMs, secondary: slices.Clone(ns.Secondary)})
		}
		slices.SortFunc(f.nbrs, func(a, b *neighbor) int { return a.addr.Compare(b.addr) })
	}
	for _, r := range sn.RPF {
		e.rpf[r.Addr] = &rpfEntry{addr: r.Addr, rpf: r.RPF}
	}
	for _, gs := range sn.Groups {
		if !gs.Group.IsValid() {
			return fmt.Errorf("%w: group without address", ErrSnapshot)
		}
		g := &group{g: gs.Group, ssm: e.isSSM(gs.Group), created: gs.Created, rp: gs.RP, rpLocal: gs.RPLocal,
			up: gs.Up, jt: gs.JT, target: gs.Target.target(), mrib: gs.MRIB.target(), upRP: gs.UpRP, prevRPIf: gs.PrevRPIf,
			joinedAt: gs.JoinedAt, gir: gs.Graceful.state(), last: gs.Last.state()}
		g.node = tnode{seq: gs.Seq, idx: -1, owner: g}
		if g.rp.IsValid() && !g.rpLocal {
			g.rpR = e.trackImported(g.rp)
			g.rpR.rpRefs++
		}
		for _, x := range gs.Ifs {
			g.ifs = append(g.ifs, gIf{ifx: x.If, jp: x.JP, as: x.Assert, local: x.Local, et: x.ET, ppt: x.PPT,
				at: x.AT, joinedAt: x.JoinedAt, lastJoin: x.LastJoin, joiner: x.Joiner, winner: x.Winner})
		}
		slices.SortFunc(g.ifs, func(a, b gIf) int { return int(a.ifx) - int(b.ifx) })
		e.groups[g.g] = g
		for _, ss := range gs.Sources {
			k := SG{ss.Source, g.g}
			if !ss.Source.IsValid() || e.sgs[k] != nil {
				return fmt.Errorf("%w: bad or duplicate source %v", ErrSnapshot, k)
			}
			s := &sgEntry{key: k, g: g, created: ss.Created, up: ss.Up, spt: ss.SPT, rpt: ss.RPT, reg: ss.Reg,
				rpRegs: ss.RPRegs, jt: ss.JT, kat: ss.KAT, ot: ss.OT, rst: ss.RST, target: ss.Target.target(),
				mrib: ss.MRIB.target(), rptTgt: ss.RptTgt.target(), prevRPF: ss.PrevRPF, regRP: ss.RegRP,
				regFrom: ss.RegFrom, regLast: ss.RegLast, joinedAt: ss.JoinedAt, gir: ss.Graceful.state(),
				last: ss.Last.state()}
			s.node = tnode{seq: ss.Seq, idx: -1, owner: s}
			for _, x := range ss.Ifs {
				s.ifs = append(s.ifs, sgIf{ifx: x.If, jp: x.JP, rpt: x.RPT, as: x.Assert, local: x.Local, et: x.ET,
					ppt: x.PPT, ret: x.RptET, rpp: x.RptPPT, at: x.AT, joinedAt: x.JoinedAt, lastJoin: x.LastJoin,
					joiner: x.Joiner, winner: x.Winner})
			}
			slices.SortFunc(s.ifs, func(a, b sgIf) int { return int(a.ifx) - int(b.ifx) })
			s.gidx = int32(len(g.srcs))
			g.srcs = append(g.srcs, s)
			r := e.trackImported(s.key.Source)
			s.rpf = r
			s.ridx = int32(len(r.srcs))
			r.srcs = append(r.srcs, s)
			e.sgs[k] = s
		}
	}
	for a, r := range e.rpf {
		if r.refs == 0 {
			delete(e.rpf, a)
		}
	}
	// Rebuild the timer queue.
	for _, idx := range e.ifOrder {
		e.schedule(&e.ifs[idx].node)
	}
	for _, g := range e.groups {
		e.schedule(&g.node)
		for _, s := range g.srcs {
			e.schedule(&s.node)
		}
	}
	e.schedule(&e.global.node)
	return nil
}

// trackImported counts a reference to a snapshot's RPF entry (creating one
// from the RIB if the snapshot had none).
func (e *Engine) trackImported(a netip.Addr) *rpfEntry {
	return e.track(a)
}

func snapVersion(sn *Snapshot) any {
	if sn == nil {
		return "nil"
	}
	return sn.Version
}
