package igmp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// InterfaceSnapshot is an interface's dynamic state (not its configuration:
// a backup RE builds the interface from the same configuration), for
// non-stop routing (issue #17). Timers are absolute times; it marshals to
// JSON.
type InterfaceSnapshot struct {
	Iface        hal.IFLIndex    `json:"iface"`
	Up           bool            `json:"up,omitempty"`
	Querier      bool            `json:"querier,omitempty"`
	QuerierAddr  netip.Addr      `json:"querier-address,omitzero"`
	OtherQuerier time.Time       `json:"other-querier,omitzero"`
	GeneralQuery time.Time       `json:"general-query,omitzero"`
	StartupLeft  int             `json:"startup-left,omitempty"`
	Robustness   int             `json:"robustness"`
	QueryIntvl   time.Duration   `json:"query-interval"`
	Groups       []GroupSnapshot `json:"groups,omitempty"`
	Emitted      []Membership    `json:"emitted,omitempty"`
	Stats        Stats           `json:"stats"`
}

// GroupSnapshot is one group record.
type GroupSnapshot struct {
	Group        netip.Addr       `json:"group"`
	Mode         FilterMode       `json:"mode"`
	Timer        time.Time        `json:"timer,omitzero"`
	Sources      []SourceSnapshot `json:"sources,omitempty"`
	V1Host       time.Time        `json:"v1-host,omitzero"`
	V2Host       time.Time        `json:"v2-host,omitzero"`
	LastReporter netip.Addr       `json:"last-reporter,omitzero"`
	GSQLeft      int              `json:"gsq-left,omitempty"`
	GSQAt        time.Time        `json:"gsq-at,omitzero"`
	SSQAt        time.Time        `json:"ssq-at,omitzero"`
}

// SourceSnapshot is one source record.
type SourceSnapshot struct {
	Addr    netip.Addr `json:"addr"`
	Timer   time.Time  `json:"timer,omitzero"`
	Retrans int        `json:"retrans,omitempty"`
}

// Snapshot returns the interface's dynamic state.
func (s *Interface) Snapshot() InterfaceSnapshot {
	sn := InterfaceSnapshot{
		Iface: s.cfg.Iface, Up: s.up, Querier: s.querier, QuerierAddr: s.querierAddr,
		OtherQuerier: s.otherQuerier, GeneralQuery: s.generalQuery, StartupLeft: s.startupLeft,
		Robustness: s.rv, QueryIntvl: s.qi, Stats: s.stats,
	}
	for g, gr := range s.groups {
		gs := GroupSnapshot{Group: g, Mode: gr.mode, Timer: gr.timer, V1Host: gr.v1Host, V2Host: gr.v2Host,
			LastReporter: gr.lastReporter, GSQLeft: gr.gsqLeft, GSQAt: gr.gsqAt, SSQAt: gr.ssqAt}
		for a, src := range gr.sources {
			gs.Sources = append(gs.Sources, SourceSnapshot{Addr: a, Timer: src.timer, Retrans: src.retrans})
		}
		slices.SortFunc(gs.Sources, func(a, b SourceSnapshot) int { return a.Addr.Compare(b.Addr) })
		sn.Groups = append(sn.Groups, gs)
	}
	slices.SortFunc(sn.Groups, func(a, b GroupSnapshot) int { return a.Group.Compare(b.Group) })
	for _, m := range s.emitted {
		m.Sources = slices.Clone(m.Sources)
		sn.Emitted = append(sn.Emitted, m)
	}
	slices.SortFunc(sn.Emitted, func(a, b Membership) int { return a.Group.Compare(b.Group) })
	return sn
}

// Restore replaces the interface's dynamic state with sn (taken from an
// interface with the same configuration). The static groups stay the
// configured ones.
func (s *Interface) Restore(sn InterfaceSnapshot) error {
	if sn.Iface != s.cfg.Iface {
		return fmt.Errorf("igmp: snapshot of interface %d restored on %d: %w", sn.Iface, s.cfg.Iface, ErrNotFound)
	}
	if sn.Robustness < 1 || sn.QueryIntvl <= 0 {
		return fmt.Errorf("igmp: snapshot of interface %d: robustness %d, query interval %v out of range: %w", sn.Iface, sn.Robustness, sn.QueryIntvl, ErrInvalid)
	}
	groups := make(map[netip.Addr]*group, len(sn.Groups))
	for _, gs := range sn.Groups {
		if checkGroup(gs.Group) != nil {
			return fmt.Errorf("igmp: snapshot group %v: %w", gs.Group, ErrInvalid)
		}
		gr := &group{mode: gs.Mode, timer: gs.Timer, v1Host: gs.V1Host, v2Host: gs.V2Host, lastReporter: gs.LastReporter,
			gsqLeft: gs.GSQLeft, gsqAt: gs.GSQAt, ssqAt: gs.SSQAt, sources: make(map[netip.Addr]*source, len(gs.Sources))}
		for _, src := range gs.Sources {
			gr.sources[src.Addr] = &source{timer: src.Timer, retrans: src.Retrans}
		}
		groups[gs.Group] = gr
	}
	emitted := make(map[netip.Addr]Membership, len(sn.Emitted))
	for _, m := range sn.Emitted {
		m.Sources = slices.Clone(m.Sources)
		emitted[m.Group] = m
	}
	s.up, s.querier, s.querierAddr = sn.Up, sn.Querier, sn.QuerierAddr
	s.otherQuerier, s.generalQuery, s.startupLeft = sn.OtherQuerier, sn.GeneralQuery, sn.StartupLeft
	s.rv, s.qi, s.stats = sn.Robustness, sn.QueryIntvl, sn.Stats
	s.groups, s.emitted = groups, emitted
	clear(s.dirty)
	s.out = nil
	return nil
}

// Snapshot returns every interface's dynamic state, in interface order.
func (r *Router) Snapshot() []InterfaceSnapshot {
	var out []InterfaceSnapshot
	for _, i := range r.Interfaces() {
		out = append(out, r.ifaces[i].Snapshot())
	}
	return out
}

// Restore restores the interfaces of sn that exist in r (configured the
// same way); interfaces of r without a snapshot are stopped.
func (r *Router) Restore(sn []InterfaceSnapshot) error {
	seen := map[hal.IFLIndex]bool{}
	for _, is := range sn {
		s := r.ifaces[is.Iface]
		if s == nil {
			continue
		}
		if err := s.Restore(is); err != nil {
			return err
		}
		seen[is.Iface] = true
	}
	for i, s := range r.ifaces {
		if !seen[i] {
			s.Restore(InterfaceSnapshot{Iface: i, Robustness: s.cfg.Robustness, QueryIntvl: s.cfg.QueryInterval})
		}
	}
	return nil
}
