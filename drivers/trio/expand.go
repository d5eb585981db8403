package trio

import (
	"cmp"
	"slices"

	"github.com/mxfwd/mxfwd/hal"
)

// compiled is the expansion of a composite NH: its sublists of forwarding
// (unicast) NHs, each with the sorted list of egress PFEs its tree spans and
// the egress grouped by PFE for local replication. Immutable once
// published; rebuilt whenever an NH or IFL it expands through changes.
type compiled struct {
	id       hal.NHID
	sublists []sublist
	fwdPer   int         // #fwd-nhs per sublist (the largest, should they differ)
	dead     []*iflEntry // aggregates of the nh-list without an Up member, encap IFLs not Up
	// encap is the encapsulation IFL (pe-) of the nh-list when it is Up:
	// the ingress PFE punts each packet once with hal.TrapEncap.
	encap *iflEntry
}

// sublist is one combination of LAG member choices.
type sublist struct {
	fwd    []fwdNH     // forwarding NHs in kernel nh-list order (vty)
	egress []fwdNH     // the same, stably sorted by PFE
	pfes   []hal.PFEID // egress PFEs, sorted ascending, unique
	start  []int32     // egress[start[k]:start[k+1]] live on pfes[k]
}

// fwdNH is one forwarding NH of a sublist with what the packet path needs
// of its IFL.
type fwdNH struct {
	nh     hal.NHID
	ifl    *iflEntry
	index  hal.IFLIndex
	pfe    hal.PFEID
	mac    [6]byte
	hasMAC bool
	up     bool
	down   bool // operationally down: copies count PortDown
}

// local returns the egress of sublist position k (pfes[k]).
func (s *sublist) local(k int) []fwdNH { return s.egress[s.start[k]:s.start[k+1]] }

// pfeIndex returns the position of p in s.pfes, or -1.
func (s *sublist) pfeIndex(p hal.PFEID) int {
	lo, hi := 0, len(s.pfes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.pfes[m] < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s.pfes) && s.pfes[lo] == p {
		return lo
	}
	return -1
}

// compileLocked expands a kernel nh-list (aggregate and unicast NHs,
// already validated) into sublists with LAGRule. self, when not nil, is the
// new value of an NH being set (it is not in the table yet). An aggregate
// contributes its members whose IFL is Up, in member order; one with no Up
// member is recorded as dead (its copies count PortDown on the aggregate
// IFL). Every entry of the nh-list yields one copy, as in the contract's
// reference (haltest.Fake): two entries reaching the same port send it two
// copies (the RE never builds such an OIL).
func (d *Driver) compileLocked(id hal.NHID, members []hal.NHID, self *hal.NextHop) *compiled {
	nhOf := func(m hal.NHID) (hal.NextHop, bool) {
		if self != nil && m == self.ID {
			return *self, true
		}
		e, ok := d.nhs.load(m)
		if !ok {
			return hal.NextHop{}, false
		}
		return e.st.Load().nh, true
	}
	c := &compiled{id: id}
	// Per kernel entry, the forwarding entries it can resolve to, all in
	// one backing array (an aggregate lists at most its members).
	size := 0
	for _, m := range members {
		if nh, ok := nhOf(m); ok {
			size += max(1, len(nh.Members))
		}
	}
	backing := make([]fwdNH, 0, size)
	choices := make([][]fwdNH, len(members))
	counts := make([]int, len(members))
	total := 0
	for i, m := range members {
		nh, ok := nhOf(m)
		if !ok {
			continue
		}
		from := len(backing)
		switch nh.Type {
		case hal.NHUnicast:
			if ie, ok := d.ifls.load(nh.IFL); ok && ie.st.Load().ifl.Kind == hal.IFLEncap {
				switch {
				case ie.st.Load().ifl.Up:
					c.encap = ie
				case !slices.Contains(c.dead, ie):
					c.dead = append(c.dead, ie)
				}
				break
			}
			if f, ok := d.fwdLocked(m, nh); ok {
				backing = append(backing, f)
			}
		case hal.NHAggregate:
			for _, u := range nh.Members {
				un, ok := nhOf(u)
				if !ok || un.Type != hal.NHUnicast {
					continue
				}
				if f, ok := d.fwdLocked(u, un); ok && f.up && f.ifl.st.Load().ifl.Kind == hal.IFLPhysical {
					backing = append(backing, f)
				}
			}
			if len(backing) == from {
				if ae, ok := d.ifls.load(nh.IFL); ok && !slices.Contains(c.dead, ae) {
					c.dead = append(c.dead, ae)
				}
			}
		}
		choices[i] = backing[from:len(backing):len(backing)]
		counts[i] = len(choices[i])
		if counts[i] > 0 {
			total++
		}
	}
	n, member := LAGRule(counts)
	c.sublists = make([]sublist, n)
	// One backing array for all sublists' forwarding NHs and one for their
	// egress: a handful of allocations per composite instead of a few per
	// sublist.
	fwdAll := make([]fwdNH, 0, n*total)
	egAll := make([]fwdNH, 0, n*total)
	pfeAll := make([]hal.PFEID, 0, n*total)
	startAll := make([]int32, 0, n*(total+1))
	for j := range n {
		from := len(fwdAll)
		for i := range choices {
			k := member(j, i)
			if k < 0 {
				continue
			}
			fwdAll = append(fwdAll, choices[i][k])
		}
		sl := &c.sublists[j]
		sl.fwd = fwdAll[from:len(fwdAll):len(fwdAll)]
		egFrom := len(egAll)
		egAll = append(egAll, sl.fwd...)
		sl.egress = egAll[egFrom:len(egAll):len(egAll)]
		slices.SortStableFunc(sl.egress, func(a, b fwdNH) int { return cmp.Compare(a.pfe, b.pfe) })
		pfeFrom, startFrom := len(pfeAll), len(startAll)
		for k, f := range sl.egress {
			if k == 0 || f.pfe != sl.egress[k-1].pfe {
				pfeAll = append(pfeAll, f.pfe)
				startAll = append(startAll, int32(k))
			}
		}
		startAll = append(startAll, int32(len(sl.egress)))
		sl.pfes = pfeAll[pfeFrom:len(pfeAll):len(pfeAll)]
		sl.start = startAll[startFrom:len(startAll):len(startAll)]
		c.fwdPer = max(c.fwdPer, len(sl.fwd))
	}
	return c
}

// fwdLocked resolves unicast NH id (value nh) to its forwarding entry. The
// source MAC is the egress IFL's; an IFL without one keeps the frame's.
func (d *Driver) fwdLocked(id hal.NHID, nh hal.NextHop) (fwdNH, bool) {
	ie, ok := d.ifls.load(nh.IFL)
	if !ok {
		return fwdNH{}, false
	}
	st := ie.st.Load()
	return fwdNH{nh: id, ifl: ie, index: nh.IFL, pfe: st.ifl.PFE, mac: st.mac, hasMAC: st.hasMAC, up: st.ifl.Up, down: st.operDown}, true
}
