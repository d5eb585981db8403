package swpfe

import "github.com/mxfwd/mxfwd/hal"

// action is what the packet path does with a packet that hit a route.
type action uint8

const (
	actDiscard action = iota // MDiscard, Discard (and the zero plan)
	actResolve               // punt a resolve request (Resolve 983)
	actForward               // replicate to the legs; every action from here on forwards
)

// plan is the flattened, immutable result of walking a route's next-hop
// chain (Indirect -> Composite -> Aggregate/Unicast -> IFL): the packet
// path never follows NH ids. It is rebuilt when anything below it changes.
//
// The aggregate member a copy leaves by depends on the whole nh-list, not
// only on the aggregate (hal/flow.go, REFERENCE.md decision 3): the plan of
// each forwarding NH carries its own sublist count, so an aggregate used by
// two composites (or directly by a route) may send a flow to different
// members in each.
type plan struct {
	act  action
	nh   hal.NHID // the NH that decided act (the Resolve NH for requests)
	legs []leg    // one per composite member
	// sublists is hal.SublistCount over the legs' Up member counts (1
	// without an aggregate of two or more Up members): a packet uses
	// sublist hal.SublistIndex(hal.FlowHash4(S,G), sublists).
	sublists int
	// encap is the counters of the encapsulation IFL (pe-) when the OIL
	// holds one that is Up: the packet is punted once with
	// hal.TrapEncap, whatever number of entries reach it. An encap IFL
	// that is down is an ordinary leg without ports (PortDown).
	encap *iflCounters
}

// leg is one OIL member: a Unicast NH (one port) or an Aggregate NH (its
// Up member ports, in member order; sublist j uses
// ports[hal.MemberIndex(j, len(ports))]).
type leg struct {
	ports []port
	// down is charged PortDown when ports is empty: the unicast IFL, or
	// the aggregate IFL when no member is Up.
	down *iflCounters
}

// port is a physical egress IFL as the rewrite needs it.
type port struct {
	ifl    hal.IFLIndex
	ctr    *iflCounters
	mac    [6]byte
	hasMAC bool
	// down: the port is operationally down (hal.LinkSetter); it stays in
	// the member choice of an aggregate of two or more members and its
	// copies count PortDown. (A unicast leg or a one-member aggregate
	// whose port is down has no ports: the packet path checks down only
	// where it chooses among members.)
	down bool
}

// buildPlan resolves o's chain from the writer state. References were
// validated when the objects were set and cannot dangle (deletes of
// referenced objects fail), so lookups here always succeed.
func (st *state) buildPlan(o *nhObj) *plan {
	nh := &o.nh
	switch nh.Type {
	case hal.NHResolve:
		return &plan{act: actResolve, nh: nh.ID}
	case hal.NHMDiscard, hal.NHDiscard:
		return &plan{act: actDiscard, nh: nh.ID}
	case hal.NHIndirect:
		return st.buildPlan(st.nhs[nh.Target])
	case hal.NHUnicast, hal.NHAggregate:
		// An nh-list of one entry: an aggregate referenced directly
		// uses N = its own Up member count.
		return st.forwardPlan(nh.ID, []hal.NHID{nh.ID})
	case hal.NHComposite:
		return st.forwardPlan(nh.ID, nh.Members)
	}
	return &plan{act: actDiscard, nh: nh.ID}
}

// forwardPlan returns the forwarding plan of NH id over the nh-list
// members, with its sublist count. Entries on an encapsulation IFL that is
// Up become the plan's encap, not legs.
func (st *state) forwardPlan(id hal.NHID, members []hal.NHID) *plan {
	p := &plan{act: actForward, nh: id}
	legs := make([]leg, 0, len(members))
	for _, m := range members {
		nh := &st.nhs[m].nh
		if nh.Type == hal.NHUnicast {
			if o := st.ifls[nh.IFL]; o.ifl.Kind == hal.IFLEncap && o.ifl.Up {
				p.encap = o.ctr
				continue
			}
		}
		legs = append(legs, st.buildLeg(nh))
	}
	up := make([]int, len(legs))
	for i := range legs {
		up[i] = len(legs[i].ports)
	}
	p.legs, p.sublists = legs, hal.SublistCount(up)
	return p
}

func (st *state) buildLeg(nh *hal.NextHop) leg {
	if nh.Type == hal.NHUnicast {
		o := st.ifls[nh.IFL]
		if !o.ifl.Up || o.operDown {
			return leg{down: o.ctr}
		}
		return leg{ports: []port{portOf(o)}}
	}
	var l leg
	for _, m := range nh.Members {
		u := st.nhs[m]
		if o := st.ifls[u.nh.IFL]; o.ifl.Up && o.ifl.Kind == hal.IFLPhysical {
			l.ports = append(l.ports, portOf(o))
		}
	}
	switch {
	case len(l.ports) == 0:
		l.down = st.ifls[nh.IFL].ctr
	case len(l.ports) == 1 && l.ports[0].down:
		// One member, operationally down: no choice to keep, so the
		// packet path needs no per-copy check (the member counts the
		// drop; the sublist count, at least 1, is unchanged).
		l.down, l.ports = l.ports[0].ctr, nil
	}
	return l
}

func portOf(o *iflObj) port {
	p := port{ifl: o.ifl.Index, ctr: o.ctr, down: o.operDown}
	if len(o.ifl.MAC) == 6 {
		copy(p.mac[:], o.ifl.MAC)
		p.hasMAC = true
	}
	return p
}
