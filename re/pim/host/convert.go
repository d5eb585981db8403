package host

import (
	"fmt"
	"net/netip"

	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// The conversions between the wire codec (pimmsg) and the engine's plain
// message values (pim).

func helloIn(m *pimmsg.Hello) pim.Hello {
	h := pim.Hello{Holdtime: 105}
	if m.HasHoldtime {
		h.Holdtime = m.Holdtime
	}
	if m.HasDRPriority {
		h.HasDRPriority, h.DRPriority = true, m.DRPriority
	}
	if m.HasGenerationID {
		h.HasGenID, h.GenID = true, m.GenerationID
	}
	if d := m.LANPruneDelay; d != nil {
		h.HasLANPruneDelay, h.TBit, h.PropagationDelay, h.OverrideInterval = true, d.T, d.PropagationDelay, d.OverrideInterval
	}
	h.Addresses = m.AddressList
	return h
}

func helloOut(h pim.Hello) *pimmsg.Hello {
	m := &pimmsg.Hello{HasHoldtime: true, Holdtime: h.Holdtime}
	if h.HasDRPriority {
		m.HasDRPriority, m.DRPriority = true, h.DRPriority
	}
	if h.HasGenID {
		m.HasGenerationID, m.GenerationID = true, h.GenID
	}
	if h.HasLANPruneDelay {
		m.LANPruneDelay = &pimmsg.LANPruneDelay{T: h.TBit, PropagationDelay: h.PropagationDelay, OverrideInterval: h.OverrideInterval}
	}
	if len(h.Addresses) > 0 {
		m.AddressList = h.Addresses
	}
	return m
}

func jpSourceIn(s pimmsg.Source) pim.JPSource {
	return pim.JPSource{Addr: s.Addr, WC: s.WC, RPT: s.RPT}
}

func jpSourceOut(s pim.JPSource) pimmsg.Source {
	return pimmsg.Source{Addr: s.Addr, Sparse: true, WC: s.WC, RPT: s.RPT}
}

// joinPruneIn maps a decoded Join/Prune; group ranges other than a host
// group (/32) are skipped (they are PIM-DM/BIDIR constructs we do not run)
// and counted by the caller.
func joinPruneIn(m *pimmsg.JoinPrune) (pim.JoinPrune, int) {
	jp := pim.JoinPrune{UpstreamNeighbor: m.UpstreamNeighbor, Holdtime: m.Holdtime}
	skipped := 0
	for _, g := range m.Groups {
		if g.Group.MaskLen != 32 || g.Group.Bidir || !g.Group.Addr.IsMulticast() {
			skipped++
			continue
		}
		pg := pim.JPGroup{Group: g.Group.Addr}
		for _, s := range g.Joins {
			pg.Joins = append(pg.Joins, jpSourceIn(s))
		}
		for _, s := range g.Prunes {
			pg.Prunes = append(pg.Prunes, jpSourceIn(s))
		}
		jp.Groups = append(jp.Groups, pg)
	}
	return jp, skipped
}

func joinPruneOut(jp pim.JoinPrune) *pimmsg.JoinPrune {
	m := &pimmsg.JoinPrune{UpstreamNeighbor: jp.UpstreamNeighbor, Holdtime: jp.Holdtime}
	for _, g := range jp.Groups {
		mg := pimmsg.JPGroup{Group: pimmsg.HostGroup(g.Group)}
		for _, s := range g.Joins {
			mg.Joins = append(mg.Joins, jpSourceOut(s))
		}
		for _, s := range g.Prunes {
			mg.Prunes = append(mg.Prunes, jpSourceOut(s))
		}
		m.Groups = append(m.Groups, mg)
	}
	return m
}

func assertIn(m *pimmsg.Assert) pim.Assert {
	return pim.Assert{Group: m.Group.Addr, Source: m.Source,
		Metric: pim.AssertMetric{RPT: m.RPT, Preference: m.MetricPreference, Metric: m.Metric}}
}

func assertOut(a pim.Assert) *pimmsg.Assert {
	src := a.Source
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	return &pimmsg.Assert{Group: pimmsg.HostGroup(a.Group), Source: src, RPT: a.Metric.RPT,
		MetricPreference: a.Metric.Preference, Metric: a.Metric.Metric}
}

func registerStopOut(r pim.RegisterStop) *pimmsg.RegisterStop {
	src := r.Source
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	return &pimmsg.RegisterStop{Group: pimmsg.HostGroup(r.Group), Source: src}
}

func groupPrefix(g pimmsg.Group) netip.Prefix {
	return netip.PrefixFrom(g.Addr, int(g.MaskLen)).Masked()
}

func groupOut(p netip.Prefix) pimmsg.Group { return pimmsg.GroupRange(p) }

func bootstrapIn(m *pimmsg.Bootstrap) rpset.Bootstrap {
	b := rpset.Bootstrap{FragmentTag: m.FragmentTag, HashMaskLen: m.HashMaskLen, Priority: m.BSRPriority, BSR: m.BSR, NoForward: m.NoForward}
	for _, g := range m.Groups {
		bg := rpset.BSMGroup{Prefix: groupPrefix(g.Group), RPCount: g.RPCount}
		for _, r := range g.RPs {
			bg.RPs = append(bg.RPs, rpset.BSMRP{Addr: r.Addr, Holdtime: r.Holdtime, Priority: r.Priority, SBit: r.MSDP})
		}
		b.Groups = append(b.Groups, bg)
	}
	return b
}

func bootstrapOut(b rpset.Bootstrap) *pimmsg.Bootstrap {
	m := &pimmsg.Bootstrap{NoForward: b.NoForward, FragmentTag: b.FragmentTag, HashMaskLen: b.HashMaskLen, BSRPriority: b.Priority, BSR: b.BSR}
	for _, g := range b.Groups {
		mg := pimmsg.BSRGroup{Group: groupOut(g.Prefix), RPCount: g.RPCount}
		for _, r := range g.RPs {
			mg.RPs = append(mg.RPs, pimmsg.BSRRP{Addr: r.Addr, Holdtime: r.Holdtime, Priority: r.Priority, MSDP: r.SBit})
		}
		m.Groups = append(m.Groups, mg)
	}
	return m
}

func crpIn(m *pimmsg.CandidateRPAdv) rpset.CRPAdv {
	c := rpset.CRPAdv{RP: m.RP, Priority: m.Priority, Holdtime: m.Holdtime, SBit: m.MSDP}
	for _, g := range m.Groups {
		c.Groups = append(c.Groups, groupPrefix(g))
	}
	return c
}

func crpOut(c rpset.CRPAdv) *pimmsg.CandidateRPAdv {
	m := &pimmsg.CandidateRPAdv{MSDP: c.SBit, Priority: c.Priority, Holdtime: c.Holdtime, RP: c.RP}
	for _, g := range c.Groups {
		m.Groups = append(m.Groups, groupOut(g))
	}
	return m
}

// innerSG returns the (S,G) of a Register's encapsulated packet.
func innerSG(pkt []byte) (netip.Addr, netip.Addr, error) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("register: inner packet of %d bytes is not IPv4", len(pkt))
	}
	return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), nil
}
