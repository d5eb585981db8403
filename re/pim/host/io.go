package host

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/pktio"
)

// run executes the engine's actions in order: routes go to the kernel in
// one batch, messages out of their interfaces.
func (h *Host) run(acts []pim.Action) {
	var changes []kernel.Change
	flush := func() {
		if len(changes) > 0 {
			h.kernelUpdate(changes)
			changes = changes[:0]
		}
	}
	hold := false // a graceful switch holds the batch's messages back (settle.go)
	for _, a := range acts {
		switch a := a.(type) {
		case pim.Route:
			k := pim.SG{Source: a.Source, Group: a.Group}
			prev, had := h.routes[k]
			h.setRoute(k, a)
			if k.IsStarG() {
				h.starChanged(a, false)
				if !had || !slices.Equal(prev.OIL, a.OIL) {
					changes = h.reexclude(changes, a.Group)
				}
			}
			c := h.contribution(a)
			hold = h.settleRoute(k, prev, had, a, &c) || hold
			changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: entryOf(k), Contribution: &c})
		case pim.RouteDelete:
			k := pim.SG{Source: a.Source, Group: a.Group}
			r, ok := h.routes[k]
			if ok && k.IsStarG() {
				h.starChanged(r, true)
			}
			h.deleteRoute(k)
			delete(h.settling, k)
			if ok && k.IsStarG() {
				changes = h.reexclude(changes, a.Group)
			}
			changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: entryOf(k)})
		case pim.RPSetChanged:
			if h.env.MSDP != nil && h.pim != nil {
				h.env.MSDP.RPSet(int(h.pim.ShowBootstrap(h.now()).HashMaskLen), h.pim.RPSet())
			}
		default:
			// Messages go out in order with the routes before them.
			flush()
			if hold {
				h.holdMessage(a)
				continue
			}
			h.send(a)
		}
	}
	flush()
}

// setRoute records PIM's route for k (and indexes an (S,G) by group).
func (h *Host) setRoute(k pim.SG, r pim.Route) {
	h.routes[k] = r
	if k.IsStarG() {
		return
	}
	ss := h.sources[k.Group]
	if ss == nil {
		ss = map[netip.Addr]struct{}{}
		h.sources[k.Group] = ss
	}
	ss[k.Source] = struct{}{}
}

// deleteRoute forgets PIM's route for k.
func (h *Host) deleteRoute(k pim.SG) {
	delete(h.routes, k)
	if ss := h.sources[k.Group]; ss != nil && !k.IsStarG() {
		delete(ss, k.Source)
		if len(ss) == 0 {
			delete(h.sources, k.Group)
		}
	}
}

// indexRoutes rebuilds the by-group index from h.routes.
func (h *Host) indexRoutes() {
	clear(h.sources)
	for k, r := range h.routes {
		h.setRoute(k, r)
	}
}

// reexclude appends the contributions of PIM's (S,G) routes of group g,
// whose exclusions follow PIM's (*,G) route, ahead of that route's change.
func (h *Host) reexclude(changes []kernel.Change, g netip.Addr) []kernel.Change {
	for s := range h.sources[g] {
		k := pim.SG{Source: s, Group: g}
		r := h.routes[k]
		c := h.contribution(r)
		if st, ok := h.settling[k]; ok && st.iif == r.IIF && h.now().Before(st.until) {
			// In its make-before-break period (settle.go).
			c.AnyRPF = c.RPF != ""
		}
		changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: entryOf(k), Contribution: &c})
	}
	return changes
}

// contribution is PIM's kernel contribution for a route: its incoming
// interface (pd- while it decapsulates Registers: the RP's copies enter
// there) and its outgoing interfaces (pe- when the DR registers). An
// (S,G) route's OIL is the whole of inherited_olist (RFC 7761 §4.2), so
// the interfaces of PIM's (*,G) route that it lacks (an (S,G,rpt) prune, a
// prune of the RP tree at the RP) are excluded from what the kernel
// inherits from (*,G).
func (h *Host) contribution(r pim.Route) kernel.Contribution {
	var c kernel.Contribution
	if r.Source.IsValid() {
		if star, ok := h.routes[pim.SG{Group: r.Group}]; ok {
			for _, o := range star.OIL {
				if !slices.Contains(r.OIL, o) {
					if n := h.name(o); n != "" {
						c.Exclude = append(c.Exclude, n)
					}
				}
			}
		}
	}
	if r.Decap {
		c.RPF = DecapInterface
	} else if r.IIF != 0 {
		c.RPF = h.name(r.IIF)
	}
	for _, o := range r.OIL {
		if n := h.name(o); n != "" {
			c.Downstream = append(c.Downstream, n)
		}
	}
	if r.Register {
		c.Downstream = append(c.Downstream, EncapInterface)
	}
	if c.RPF == "" && len(c.Downstream) == 0 {
		// An (S,G) prune: keep the entry (discard) with its RPF.
		c.RPF = h.name(r.IIF)
	}
	return c
}

func (h *Host) kernelUpdate(changes []kernel.Change) {
	if h.replica {
		// The master's kernel is mirrored; a replica contributes at
		// takeover (Takeover).
		return
	}
	if err := h.env.Kernel.Update(changes); err != nil {
		h.stats.KernelErrors++
		h.warn("kernel", "PIM routes refused by the kernel", "err", err)
	}
}

// send encodes and sends one message action.
func (h *Host) send(a pim.Action) {
	if h.replica {
		// The backup never sends PIM packets (reference-junos §5).
		return
	}
	var (
		ifl      string
		src, dst netip.Addr
		m        pimmsg.Message
	)
	ifAddr := func(i pim.IfIndex) netip.Addr { return h.byIndex[hal.IFLIndex(i)].addr.Addr() }
	switch a := a.(type) {
	case pim.SendHello:
		ifl, src, dst, m = h.name(a.If), ifAddr(a.If), pim.AllPIMRouters, helloOut(a.Msg)
	case pim.SendJoinPrune:
		ifl, src, dst, m = h.name(a.If), ifAddr(a.If), pim.AllPIMRouters, joinPruneOut(a.Msg)
	case pim.SendAssert:
		ifl, src, dst, m = h.name(a.If), ifAddr(a.If), pim.AllPIMRouters, assertOut(a.Msg)
	case pim.SendBootstrap:
		ifl, src, dst, m = h.name(a.If), ifAddr(a.If), a.Dst, bootstrapOut(a.Msg)
	case pim.SendRegister:
		r, err := pimmsg.NewNullRegister(a.Msg.Source, a.Msg.Group)
		if err != nil {
			h.stats.PIMSendErrors++
			return
		}
		r.Border = a.Msg.Border
		src, dst, m = a.Src, a.Dst, r
	case pim.SendRegisterStop:
		src, dst, m = a.Src, a.Dst, registerStopOut(a.Msg)
	case pim.SendCRPAdv:
		src, dst, m = a.Src, a.Dst, crpOut(a.Msg)
	default:
		return
	}
	if err := h.sendPIM(ifl, src, dst, m); err != nil {
		if hello, ok := a.(pim.SendHello); ok && errors.Is(err, pktio.ErrNoCard) {
			h.helloLost[hal.IFLIndex(hello.If)] = struct{}{}
		}
		h.stats.PIMSendErrors++
		h.warn("send:"+ifl+dst.String(), "PIM send failed", "interface", ifl, "dst", dst, "err", err)
		return
	}
	h.stats.PIMSent++
}

// sendPIM sends m from src to dst: on ifl for a link-local destination,
// else by the RIB's route to dst (a unicast Register, Register-Stop or
// C-RP-Advertisement).
func (h *Host) sendPIM(ifl string, src, dst netip.Addr, m pimmsg.Message) error {
	pkt, err := pimmsg.Packet(src, dst, m)
	if err != nil {
		return err
	}
	return h.sendIP(ifl, dst, pkt)
}

func (h *Host) sendIP(ifl string, dst netip.Addr, pkt []byte) error {
	if ifl != "" {
		return h.env.Packets.SendIP(ifl, pkt)
	}
	res, ok := h.env.RIB.RPF(dst)
	if !ok {
		return errors.New("no route to " + dst.String())
	}
	nh := dst
	if !res.Connected {
		nh = res.Neighbor
	}
	return h.env.Packets.SendIPVia(res.Interface, nh, pkt)
}

// onPIM handles a received PIM packet.
func (h *Host) onPIM(p *pktio.Packet) {
	if h.ignored() {
		return
	}
	defer h.record(packetInput(p))()
	h.stats.PIMReceived++
	if h.pim == nil {
		h.bad(h.stats.PIMBad, "pim not configured", p)
		return
	}
	m, err := pimmsg.Decode(p.Payload)
	if err != nil {
		h.bad(h.stats.PIMBad, reasonOf(err), p, "err", err)
		return
	}
	idx := pim.IfIndex(h.index(p.Interface))
	linkLocal := p.Dst == pim.AllPIMRouters
	if linkLocal {
		if _, ok := h.cfg.PIM.Interface(p.Interface); !ok {
			h.stats.NotPIMInterface++
			h.bad(h.stats.PIMBad, "not a pim interface", p)
			return
		}
		if p.TTL != 1 {
			h.bad(h.stats.PIMBad, "ttl not 1", p)
			return
		}
	}
	now := h.now()
	var acts []pim.Action
	switch m := m.(type) {
	case *pimmsg.Hello:
		acts = h.pim.Handle(now, pim.RecvHello{If: idx, Src: p.Src, Msg: helloIn(m)})
	case *pimmsg.JoinPrune:
		jp, skipped := joinPruneIn(m)
		if skipped > 0 {
			h.bad(h.stats.PIMBad, "join/prune group range not supported", p)
		}
		acts = h.pim.Handle(now, pim.RecvJoinPrune{If: idx, Src: p.Src, Msg: jp})
	case *pimmsg.Assert:
		acts = h.pim.Handle(now, pim.RecvAssert{If: idx, Src: p.Src, Msg: assertIn(m)})
	case *pimmsg.Register:
		acts = h.onRegister(now, p, m)
	case *pimmsg.RegisterStop:
		acts = h.pim.Handle(now, pim.RecvRegisterStop{Src: p.Src, Dst: p.Dst, Msg: pim.RegisterStop{Group: m.Group.Addr, Source: unspecToInvalid(m.Source)}})
	case *pimmsg.Bootstrap:
		acts = h.pim.Handle(now, pim.RecvBootstrap{If: idx, Src: p.Src, Dst: p.Dst, Msg: bootstrapIn(m)})
	case *pimmsg.CandidateRPAdv:
		acts = h.pim.Handle(now, pim.RecvCRPAdv{Src: p.Src, Dst: p.Dst, Msg: crpIn(m)})
	case *pimmsg.PFM:
		h.onPFM(now, p, idx, m)
	default:
		h.bad(h.stats.PIMBad, "unhandled type "+m.Type().String(), p)
		return
	}
	h.run(acts)
	h.reschedule()
}

func unspecToInvalid(a netip.Addr) netip.Addr {
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// onRegister handles a Register at the RP: the engine decides, and the
// encapsulated packet follows the tree from pd- when PIM decapsulates for
// its (S,G) or (*,G).
func (h *Host) onRegister(now time.Time, p *pktio.Packet, m *pimmsg.Register) []pim.Action {
	s, g, err := innerSG(m.Packet)
	if err != nil {
		h.bad(h.stats.PIMBad, "register inner packet", p, "err", err)
		return nil
	}
	acts := h.pim.Handle(now, pim.RecvRegister{Src: p.Src, Dst: p.Dst, Msg: pim.Register{Source: s, Group: g, Null: m.Null, Border: m.Border}})
	h.run(acts)
	if rp, local, ok := h.pim.RP(g, now); ok && local && rp == p.Dst {
		h.registered(s, g, rp, now)
	}
	if !m.Null && !h.replica {
		h.forwardDecap(s, g, m.Packet)
	}
	return nil
}

// forwardDecap injects a decapsulated packet on pd- when PIM decapsulates
// for its (S,G) or (*,G), so that it follows the tree.
func (h *Host) forwardDecap(s, g netip.Addr, pkt []byte) {
	r, ok := h.routes[pim.SG{Source: s, Group: g}]
	if !ok {
		r, ok = h.routes[pim.SG{Group: g}]
	}
	if !ok || !r.Decap || len(r.OIL) == 0 {
		return
	}
	a := g.As4()
	frame := make([]byte, 0, 14+len(pkt))
	frame = append(frame, 0x01, 0x00, 0x5e, a[1]&0x7f, a[2], a[3])
	frame = append(frame, 0x02, 0, 0, 0, 0, 0xd0)
	frame = append(frame, 0x08, 0x00)
	frame = append(frame, pkt...)
	if err := h.env.Inject(DecapInterface, frame, true); err != nil {
		h.warn("decap", "decapsulated register not forwarded", "sg", pim.SG{Source: s, Group: g}, "err", err)
		return
	}
	h.stats.RegistersDecap++
}

// onEncap encapsulates a data packet the pe- interface trapped in a
// Register to the RP of its (S,G) (the DR's data path, RFC 7761 §4.4.1).
func (h *Host) onEncap(p *pktio.Packet) {
	if h.pim == nil || h.replica {
		return
	}
	r, ok := h.routes[pim.SG{Source: p.Src, Group: p.Dst}]
	if !ok || !r.Register || !r.RegisterRP.IsValid() {
		h.stats.EncapNoRoute++
		return
	}
	src := h.byIndex[hal.IFLIndex(h.index(p.Interface))].addr.Addr()
	if !src.IsValid() {
		src = h.routerAddress(h.cfg)
	}
	reg := &pimmsg.Register{Packet: slices.Clone(p.IP)}
	if err := h.sendPIM("", src, r.RegisterRP, reg); err != nil {
		h.stats.PIMSendErrors++
		h.warn("register", "register not sent", "rp", r.RegisterRP, "err", err)
		return
	}
	h.stats.RegistersSent++
}

// onIGMP handles a received IGMP packet.
func (h *Host) onIGMP(p *pktio.Packet) {
	if h.ignored() {
		return
	}
	defer h.record(packetInput(p))()
	h.stats.IGMPReceived++
	idx := h.index(p.Interface)
	if h.igmp.Interface(idx) == nil {
		h.bad(h.stats.IGMPBad, "not an igmp interface", p)
		return
	}
	m, err := igmpmsg.Decode(p.Payload)
	if err != nil {
		h.bad(h.stats.IGMPBad, "malformed", p, "err", err)
		return
	}
	if p.TTL != 1 {
		h.bad(h.stats.IGMPBad, "ttl not 1", p)
		return
	}
	acts, err := h.igmp.Step(h.now(), idx, igmp.Received{Src: p.Src, Msg: m})
	if err != nil {
		h.bad(h.stats.IGMPBad, "rejected", p, "err", err)
		return
	}
	h.runIGMP(acts)
	h.reschedule()
}

// runIGMP executes the IGMP router's actions: queries out of their
// interface, membership changes to PIM.
func (h *Host) runIGMP(acts []igmp.Action) {
	now := h.now()
	for _, a := range acts {
		switch a := a.(type) {
		case *igmp.SendQuery:
			st := h.byIndex[a.Iface]
			if h.replica {
				continue
			}
			pkt, err := igmpmsg.Packet(st.addr.Addr(), a.Dst, &a.Query)
			if err == nil {
				err = h.env.Packets.SendIP(st.name, pkt)
			}
			if err != nil {
				h.warn("igmp-send:"+st.name, "IGMP query not sent", "interface", st.name, "err", err)
				continue
			}
			h.stats.IGMPSent++
		case *igmp.MembershipChanged:
			if h.pim == nil {
				continue
			}
			for _, ev := range h.membershipEvents(a) {
				h.run(h.pim.Handle(now, ev))
			}
		}
	}
}

// membershipEvents turns an IGMP membership into PIM's local-membership
// events: Exclude{} is (*,G); Exclude{S…} is (*,G) minus those sources;
// Include{S…} is (S,G) for each; what was there before and is not any more
// is cleared.
func (h *Host) membershipEvents(a *igmp.MembershipChanged) []pim.Event {
	k := memberKey{a.Iface, a.Group}
	old := h.members[k]
	if a.Wants() {
		h.members[k] = a.Membership
	} else {
		delete(h.members, k)
	}
	i := pim.IfIndex(a.Iface)
	var evs []pim.Event
	star := a.Mode == igmp.Exclude
	if old.Mode == igmp.Exclude && !star {
		evs = append(evs, pim.Membership{If: i, Group: a.Group, Mode: pim.MemberNone})
	}
	if star {
		evs = append(evs, pim.Membership{If: i, Group: a.Group, Mode: pim.MemberInclude})
	}
	for _, s := range old.Sources {
		if !slices.Contains(a.Sources, s) || old.Mode != a.Mode {
			evs = append(evs, pim.Membership{If: i, Group: a.Group, Source: s, Mode: pim.MemberNone})
		}
	}
	mode := pim.MemberInclude
	if star {
		mode = pim.MemberExclude
	}
	for _, s := range a.Sources {
		evs = append(evs, pim.Membership{If: i, Group: a.Group, Source: s, Mode: mode})
	}
	return evs
}

// bad counts a dropped packet by reason and logs it once per minute per
// neighbour and reason.
func (h *Host) bad(counts map[string]uint64, reason string, p *pktio.Packet, args ...any) {
	if len(counts) < 64 {
		counts[reason]++
	} else {
		counts["other"]++
	}
	h.warn("bad:"+reason+p.Src.String(), "dropped a control packet", append([]any{"reason", reason, "from", p.Src, "interface", p.Interface}, args...)...)
}

// reasonOf names a decode error for the counters.
func reasonOf(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{pimmsg.ErrChecksum, "bad checksum"},
		{pimmsg.ErrTruncated, "truncated"},
		{pimmsg.ErrVersion, "bad version"},
		{pimmsg.ErrUnknownType, "unknown type"},
		{pimmsg.ErrAddressFamily, "bad address family"},
		{pimmsg.ErrUnsupported, "unsupported"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "malformed"
}
