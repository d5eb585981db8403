package swpfe

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/hal"
)

// action is what the packet path does with a packet that hit a route.
type action uint8

const (
	actDiscard action = iota // MDiscard, Discard (and the zero plan)
	actResolve               // punt a resolve request (Resolve 983)
	actForward               // replicate to the legs
)

// plan is the flattened, immutable result of walking a route's next-hop
// chain (Indirect -> Composite -> Aggregate/Unicast -> IFL): the packet
// path never follows NH ids. It is rebuilt when anything below it changes.
type plan struct {
	act    action
	nh     hal.NHID // the NH that decided act (the Resolve NH for requests)
	legs   []leg    // one per composite member
	hasAgg bool     // some leg has more than one port: compute the LAG hash
}

// leg is one OIL member: a Unicast NH (one port) or an Aggregate NH (its
// Up member ports; the packet uses ports[LAG hash]).
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
		p := &plan{act: actForward, nh: nh.ID, legs: []leg{st.buildLeg(nh)}}
		p.hasAgg = len(p.legs[0].ports) > 1
		return p
	case hal.NHComposite:
		p := &plan{act: actForward, nh: nh.ID, legs: make([]leg, 0, len(nh.Members))}
		for _, m := range nh.Members {
			l := st.buildLeg(&st.nhs[m].nh)
			p.hasAgg = p.hasAgg || len(l.ports) > 1
			p.legs = append(p.legs, l)
		}
		return p
	}
	return &plan{act: actDiscard, nh: nh.ID}
}

func (st *state) buildLeg(nh *hal.NextHop) leg {
	if nh.Type == hal.NHUnicast {
		o := st.ifls[nh.IFL]
		if !o.ifl.Up {
			return leg{down: o.ctr}
		}
		return leg{ports: []port{portOf(o)}}
	}
	var l leg
	for _, m := range nh.Members {
		u := st.nhs[m]
		if o := st.ifls[u.nh.IFL]; o.ifl.Up {
			l.ports = append(l.ports, portOf(o))
		}
	}
	if len(l.ports) == 0 {
		l.down = st.ifls[nh.IFL].ctr
	}
	return l
}

func portOf(o *iflObj) port {
	p := port{ifl: o.ifl.Index, ctr: o.ctr}
	if len(o.ifl.MAC) == 6 {
		copy(p.mac[:], o.ifl.MAC)
		p.hasMAC = true
	}
	return p
}

// lagHash mixes (S,G) into 32 bits for aggregate member selection. It is
// the murmur3 32-bit finalizer (fmix32) applied to S*phi xor G: a few
// multiplies and shifts, stable across restarts and identical on every
// driver built on Core, and every bit of S and G reaches the high bits that
// lagPick uses. Only S and G are hashed, as seed 003 describes: all packets
// of a flow take the same member.
func lagHash(s, g uint32) uint32 {
	h := s*0x9e3779b1 ^ g // phi, the golden-ratio multiplier
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// lagPick maps h onto [0,n) with a multiply-shift (Lemire's fast range
// reduction) instead of a division.
func lagPick(h uint32, n int) int {
	return int(uint64(h) * uint64(n) >> 32)
}

// LAGIndex returns which of n Up aggregate members carries (source, group):
// the index into the aggregate NH's Members that are Up, in member order.
// Tests use it to predict the choice.
func LAGIndex(source, group netip.Addr, n int) int {
	if n <= 0 || !source.Is4() || !group.Is4() {
		return 0
	}
	return lagPick(lagHash(be32(source), be32(group)), n)
}
