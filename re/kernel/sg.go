package kernel

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Join is join state for one (S,G) in the form of the original add-only
// API: the upstream is set (replaced), the downstream interfaces are added
// to those the same owner already contributes. Protocol names the owner
// ("PIM" when empty, "Static", "CLI", "MSDP", "IGMP"; see Owner).
type Join struct {
	Source     netip.Addr
	Group      netip.Addr
	Upstream   string   // IFL name, e.g. "ae90.0"
	Downstream []string // IFL names, e.g. ["ae91.0"]
	Protocol   string
}

// sgState is everything the kernel holds for one (S,G): the owners'
// contributions and the forwarding-cache entry. It exists while either does.
// Kept small: it is the per-route memory cost (see
// BenchmarkMemoryPerRoute).
type sgState struct {
	key sgKey

	// contribs are the owners' (S,G) state, sorted by owner.
	contribs []contrib
	gpos     int32 // index in its groupState.sgs

	// Forwarding-cache entry.
	cached  bool
	discard bool  // G.S/64 -> mdiscard 35
	owner   Owner // the owner that gave the installed entry its RPF
	dslot   uint8 // 1 + the slot whose resolve installed the mdiscard entry; 0: none
	rpf     hal.IFLIndex
	anyRPF  bool // that owner asked for no RPF check (Contribution.AnyRPF)
	wantAny bool // desiredLocked's answer for anyRPF (scratch)
	comp    hal.NHID
	indr    hal.NHID
	oil     *oilNH
	created int64 // unix ns
	active  int64 // unix ns of creation or last traffic: lifetime base
	wheelAt int64 // unix s of the wheel bucket holding st; 0: none

	packets, bytes uint64
	wrongIIF       uint64
	lastTraffic    int64
	winStart       int64
	winPkts        uint64
	winBytes       uint64
	pps, bps       uint64
}

func (st *sgState) route() hal.Route {
	r := hal.Route{Key: st.key.routeKey(), RPF: st.rpf}
	if st.anyRPF && !st.discard {
		r.RPF = 0
	}
	if st.discard {
		r.NH, r.Flags = hal.NHMDiscardID, hal.RouteFlagsMDiscard
	} else {
		r.NH, r.Flags = st.indr, hal.RouteFlagsSG
	}
	return r
}

// dsSet is an interned, sorted set of downstream interface names; many
// (S,G) share one.
type dsSet struct {
	key   string
	names []string
	refs  int
}

// oilNH is the multicast next hop of one distinct OIL.
type oilNH struct {
	id      hal.NHID
	key     string
	ifs     []*iface   // by IFL index
	members []hal.NHID // NHs of ifs; shared read-only with composites
	derv    []hal.NHID // leaf unicast NHs (journal "derv=")
	refs    int        // installed (S,G) routes using it
}

func (o *oilNH) nextHop() hal.NextHop {
	return hal.NextHop{ID: o.id, Type: hal.NHComposite, Members: o.members}
}

func (o *oilNH) names() []string {
	out := make([]string, len(o.ifs))
	for i, f := range o.ifs {
		out[i] = f.name
	}
	return out
}

func sortedOILs(m map[string]*oilNH) []*oilNH {
	out := make([]*oilNH, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *oilNH) int { return cmp.Compare(a.id, b.id) })
	return out
}

// installResult says why an entry could not be installed.
type installResult uint8

const (
	installOK         installResult = iota
	installNoState                  // no (S,G) or (*,G) state
	installNoUpstream               // no owner gives a configured RPF interface: no RPF route
	installNoOIL                    // no usable downstream interface
	installNoIDs                    // an id pool is exhausted
)

func (r installResult) String() string {
	switch r {
	case installOK:
		return "ok"
	case installNoState:
		return "no join state"
	case installNoUpstream:
		return "no RPF route (upstream interface not configured)"
	case installNoOIL:
		return "empty outgoing interface list"
	case installNoIDs:
		return "next-hop ids exhausted"
	}
	return "?"
}

// desiredLocked merges st's state with its group's (*,G) state: the RPF
// interface comes from the preferred owner that gives one ((S,G)
// contributions first, then (*,G)); the OIL is the union of the (S,G)
// downstream sets and of each owner's (*,G) downstream set less what that
// owner excludes for S, without the RPF interface, sorted by index.
func (k *Kernel) desiredLocked(st *sgState, buf []*iface) (*iface, []*iface, Owner, installResult) {
	star := k.starOf(st)
	if len(st.contribs) == 0 && len(star) == 0 {
		return nil, nil, 0, installNoState
	}
	rpf, owner := "", Owner(0)
	st.wantAny = false
	for i := range st.contribs {
		if st.contribs[i].rpf != "" {
			rpf, owner, st.wantAny = st.contribs[i].rpf, st.contribs[i].owner, st.contribs[i].any
			break
		}
	}
	if rpf == "" {
		for i := range star {
			if star[i].rpf != "" {
				rpf, owner, st.wantAny = star[i].rpf, star[i].owner, star[i].any
				break
			}
		}
	}
	up, err := k.ifaceOf(rpf)
	if err != nil || !up.up() {
		return nil, nil, owner, installNoUpstream
	}
	ifs := buf[:0]
	add := func(n string) {
		f, err := k.ifaceOf(n)
		if err != nil || f == up || !f.up() {
			return
		}
		ifs = append(ifs, f)
	}
	for i := range st.contribs {
		if d := st.contribs[i].ds; d != nil {
			for _, n := range d.names {
				add(n)
			}
		}
	}
	for i := range star {
		d := star[i].ds
		if d == nil {
			continue
		}
		var excl *dsSet
		if j := findContrib(st.contribs, star[i].owner); j >= 0 {
			excl = st.contribs[j].excl
		}
		for _, n := range d.names {
			if excl != nil {
				if _, out := slices.BinarySearch(excl.names, n); out {
					continue
				}
			}
			add(n)
		}
	}
	if len(ifs) == 0 {
		return up, nil, owner, installNoOIL
	}
	slices.SortFunc(ifs, func(a, b *iface) int { return cmp.Compare(a.index, b.index) })
	ifs = slices.Compact(ifs)
	return up, ifs, owner, installOK
}

// oilRefLocked returns the multicast NH for ifs (sorted by index), creating
// and downloading it if new, and takes a reference.
func (k *Kernel) oilRefLocked(ifs []*iface, now time.Time) (*oilNH, error) {
	var kb [64]byte
	key := kb[:0]
	for _, f := range ifs {
		key = binary.BigEndian.AppendUint32(key, uint32(f.index))
	}
	if o := k.oils[string(key)]; o != nil {
		o.refs++
		return o, nil
	}
	id, err := k.big.alloc()
	if err != nil {
		return nil, err
	}
	o := k.newOIL(id, slices.Clone(ifs))
	o.refs = 1
	k.oils[o.key] = o
	if k.track.on {
		k.track.oilsAdd = append(k.track.oilsAdd, o)
	}
	k.emit(hal.Op{Kind: hal.OpSetNH, NH: o.nextHop()})
	k.journal.add(jrec{at: now, what: jNH, verb: vAdd, nhType: hal.NHComposite, mcast: true, id: id})
	return o, nil
}

// newOIL builds the multicast NH id for ifs (sorted by index), without a
// reference.
func (k *Kernel) newOIL(id hal.NHID, ifs []*iface) *oilNH {
	var kb [64]byte
	key := kb[:0]
	for _, f := range ifs {
		key = binary.BigEndian.AppendUint32(key, uint32(f.index))
	}
	o := &oilNH{id: id, key: string(key), ifs: ifs}
	for _, f := range o.ifs {
		o.members = append(o.members, f.nh)
		o.derv = append(o.derv, f.leafNHs()...)
	}
	return o
}

// oilUnrefLocked drops a reference; the last one deletes the NH.
func (k *Kernel) oilUnrefLocked(o *oilNH, now time.Time) {
	o.refs--
	if o.refs > 0 {
		return
	}
	delete(k.oils, o.key)
	if k.track.on {
		k.track.oilsAdd = slices.DeleteFunc(k.track.oilsAdd, func(x *oilNH) bool { return x == o })
		k.track.oilsDel = append(k.track.oilsDel, o.id)
	}
	k.emit(hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: o.id, Type: hal.NHComposite}})
	k.journal.add(jrec{at: now, what: jNH, verb: vDelete, nhType: hal.NHComposite, mcast: true, id: o.id})
	k.big.free(o.id)
}

// chainLocked allocates and downloads composite and indirect for oil.
func (k *Kernel) chainLocked(o *oilNH, now time.Time) (comp, indr hal.NHID, err error) {
	comp, err = k.small.alloc()
	if err != nil {
		return 0, 0, err
	}
	indr, err = k.big.alloc()
	if err != nil {
		k.small.free(comp)
		return 0, 0, err
	}
	k.emit(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: comp, Type: hal.NHComposite, Members: o.members}})
	k.journal.add(jrec{at: now, what: jComp, verb: vAdd, id: comp, comp: o.members, derv: o.derv})
	k.emit(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: indr, Type: hal.NHIndirect, Target: comp}})
	k.journal.add(jrec{at: now, what: jNH, verb: vAdd, nhType: hal.NHIndirect, id: indr})
	return comp, indr, nil
}

// installLocked installs the forwarding chain of a joined st (replacing an
// mdiscard route if there is one).
func (k *Kernel) installLocked(st *sgState, now time.Time) installResult {
	var buf [8]*iface
	up, ifs, owner, res := k.desiredLocked(st, buf[:0])
	if res != installOK {
		return res
	}
	o, err := k.oilRefLocked(ifs, now)
	if err != nil {
		k.log.Error("multicast NH allocation failed", "sg", st.key.String(), "err", err)
		return installNoIDs
	}
	comp, indr, err := k.chainLocked(o, now)
	if err != nil {
		k.log.Error("NH chain allocation failed", "sg", st.key.String(), "err", err)
		k.oilUnrefLocked(o, now)
		return installNoIDs
	}
	verb := vAdd
	if st.cached { // an mdiscard entry becomes a forwarding entry
		verb = vChange
		k.discardGoneLocked(st)
	}
	st.cached, st.discard, st.owner = true, false, owner
	st.rpf, st.oil, st.comp, st.indr, st.anyRPF = up.index, o, comp, indr, st.wantAny
	k.markLocked(st)
	k.nForward++
	k.newEntryLocked(st, now)
	r := st.route()
	k.emit(hal.Op{Kind: hal.OpSetRoute, Route: r})
	k.journal.add(jrec{at: now, what: jRoute, verb: verb, key: r.Key, nhType: hal.NHIndirect, id: r.NH, flags: r.Flags})
	return installOK
}

// installDiscardLocked installs G.S/64 -> mdiscard 35 with RPF rpf, on
// behalf of a resolve from slot.
func (k *Kernel) installDiscardLocked(st *sgState, rpf hal.IFLIndex, slot hal.Slot, now time.Time) {
	st.cached, st.discard, st.rpf, st.oil, st.owner = true, true, rpf, nil, 0
	k.nDiscard++
	if slot.Valid() {
		st.dslot = uint8(slot) + 1
		k.discardBySlot[slot]++
	}
	k.markLocked(st)
	k.newEntryLocked(st, now)
	r := st.route()
	k.emit(hal.Op{Kind: hal.OpSetRoute, Route: r})
	k.journal.add(jrec{at: now, what: jRoute, verb: vAdd, key: r.Key, nhType: hal.NHMDiscard, id: r.NH, flags: r.Flags})
}

func (k *Kernel) newEntryLocked(st *sgState, now time.Time) {
	ns := now.UnixNano()
	st.created, st.active = ns, ns
	st.packets, st.bytes, st.wrongIIF = 0, 0, 0
	st.lastTraffic, st.winStart, st.winPkts, st.winBytes, st.pps, st.bps = 0, 0, 0, 0, 0, 0
	k.fileLocked(st)
}

// uninstallLocked deletes st's route and chain: route, indirect, composite,
// then the multicast NH if this was its last route.
func (k *Kernel) uninstallLocked(st *sgState, now time.Time) {
	if !st.cached {
		return
	}
	r := st.route()
	k.emit(hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: r.Key}})
	if st.discard {
		k.journal.add(jrec{at: now, what: jRoute, verb: vDelete, key: r.Key, nhType: hal.NHMDiscard, id: r.NH, flags: r.Flags})
		k.discardGoneLocked(st)
	} else {
		k.journal.add(jrec{at: now, what: jRoute, verb: vDelete, key: r.Key, nhType: hal.NHIndirect, id: r.NH, flags: r.Flags})
		k.emit(hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: st.indr, Type: hal.NHIndirect}})
		k.journal.add(jrec{at: now, what: jNH, verb: vDelete, nhType: hal.NHIndirect, id: st.indr})
		k.emit(hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: st.comp, Type: hal.NHComposite}})
		k.journal.add(jrec{at: now, what: jComp, verb: vDelete, id: st.comp, comp: st.oil.members, derv: st.oil.derv})
		k.big.free(st.indr)
		k.small.free(st.comp)
		k.oilUnrefLocked(st.oil, now)
		k.nForward--
	}
	st.cached, st.discard, st.oil, st.comp, st.indr, st.rpf, st.owner, st.anyRPF = false, false, nil, 0, 0, 0, 0, false
	k.markLocked(st)
}

// resyncLocked brings an installed forwarding entry in line with its join
// state: a new OIL gets a new composite and the indirect is repointed
// (make before break); a new upstream changes the route's RPF.
func (k *Kernel) resyncLocked(st *sgState, now time.Time) {
	var buf [8]*iface
	up, ifs, owner, res := k.desiredLocked(st, buf[:0])
	if res != installOK {
		k.uninstallLocked(st, now)
		return
	}
	if owner != st.owner {
		st.owner = owner
		k.markLocked(st)
	}
	same := len(ifs) == len(st.oil.ifs)
	for i := 0; same && i < len(ifs); i++ {
		same = ifs[i] == st.oil.ifs[i]
	}
	if !same {
		o, err := k.oilRefLocked(ifs, now)
		if err != nil {
			k.log.Error("multicast NH allocation failed", "sg", st.key.String(), "err", err)
			k.uninstallLocked(st, now)
			return
		}
		comp, err := k.small.alloc()
		if err != nil {
			k.log.Error("composite NH allocation failed", "sg", st.key.String(), "err", err)
			k.oilUnrefLocked(o, now)
			k.uninstallLocked(st, now)
			return
		}
		k.emit(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: comp, Type: hal.NHComposite, Members: o.members}})
		k.journal.add(jrec{at: now, what: jComp, verb: vAdd, id: comp, comp: o.members, derv: o.derv})
		k.emit(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: st.indr, Type: hal.NHIndirect, Target: comp}})
		k.journal.add(jrec{at: now, what: jNH, verb: vChange, nhType: hal.NHIndirect, id: st.indr})
		k.emit(hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: st.comp, Type: hal.NHComposite}})
		k.journal.add(jrec{at: now, what: jComp, verb: vDelete, id: st.comp, comp: st.oil.members, derv: st.oil.derv})
		k.small.free(st.comp)
		old := st.oil
		st.oil, st.comp = o, comp
		k.oilUnrefLocked(old, now)
		k.markLocked(st)
	}
	if up.index != st.rpf || st.wantAny != st.anyRPF {
		st.rpf, st.anyRPF = up.index, st.wantAny
		k.markLocked(st)
		r := st.route()
		k.emit(hal.Op{Kind: hal.OpSetRoute, Route: r})
		k.journal.add(jrec{at: now, what: jRoute, verb: vChange, key: r.Key, nhType: hal.NHIndirect, id: r.NH, flags: r.Flags})
	}
}

// internDSLocked returns the interned set of names (sorted, unique) and
// takes a reference.
func (k *Kernel) internDSLocked(names []string) *dsSet {
	key := strings.Join(names, "\x00")
	if d := k.dsSets[key]; d != nil {
		d.refs++
		return d
	}
	d := &dsSet{key: key, names: names, refs: 1}
	k.dsSets[key] = d
	return d
}

func (k *Kernel) releaseDSLocked(d *dsSet) {
	if d == nil {
		return
	}
	d.refs--
	if d.refs == 0 {
		delete(k.dsSets, d.key)
	}
}

// Join adds join state for (S,G) for the owner named by j.Protocol: the
// upstream is set (replaced), the downstream interfaces are added to those
// the owner already contributes. A new or changed join installs (or
// updates) the forwarding entry at once, replacing an mdiscard route; a
// refresh that changes nothing leaves the entry alone, so that periodic
// joins do not extend the cache lifetime (seed 003: the lifetime counts
// down while PIM joins keep arriving) and do not re-create an expired entry
// (the next packet resolves it).
func (k *Kernel) Join(j Join) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.joinLocked(j, k.now())
	k.flushLocked()
	return err
}

// JoinBatch applies joins with a single download. Invalid joins are skipped
// and reported together (errors.Join); the others are applied.
func (k *Kernel) JoinBatch(joins []Join) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	// A new (S,G) costs composite, indirect and route ops (plus one per new
	// OIL): size the download once instead of growing it.
	k.reserveLocked(3*len(joins) + 8)
	var errs []error
	for _, j := range joins {
		if err := k.joinLocked(j, now); err != nil {
			errs = append(errs, err)
		}
	}
	k.flushReuseLocked()
	return errors.Join(errs...)
}

func (k *Kernel) joinLocked(j Join, now time.Time) error {
	key, err := makeKey(j.Source, j.Group)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	o, err := ParseOwner(j.Protocol)
	if err != nil {
		return fmt.Errorf("join %v: %w", key, err)
	}
	up, err := k.ifaceOf(j.Upstream)
	if err != nil {
		return fmt.Errorf("join %v upstream: %w", key, err)
	}
	if len(j.Downstream) == 0 {
		return fmt.Errorf("join %v: no downstream interface: %w", key, hal.ErrInvalid)
	}
	// Resolve the new names to their configured spelling; no allocation
	// for the common single-interface join. Names the owner already
	// contributes stay even if their interface is gone for now (they
	// count again when it comes back).
	var nb [8]string
	names := nb[:0]
	for _, d := range j.Downstream {
		f, err := k.ifaceOf(d)
		if err != nil {
			return fmt.Errorf("join %v downstream: %w", key, err)
		}
		names = append(names, f.name)
	}
	nc := contrib{owner: o, rpf: up.name}
	if st := k.sgs[key]; st != nil {
		if i := findContrib(st.contribs, o); i >= 0 {
			have := &st.contribs[i]
			if have.ds != nil {
				names = append(names, have.ds.names...)
			}
			if have.excl != nil {
				have.excl.refs++
				nc.excl = have.excl
			}
		}
	}
	nc.ds = k.internSetLocked(names)
	return k.applyContribLocked(o, SGEntry(j.Source, j.Group), &nc, now)
}

// internSetLocked interns the sorted unique set of already resolved names
// (nil for none) and takes a reference. names is reordered.
func (k *Kernel) internSetLocked(names []string) *dsSet {
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	key := strings.Join(names, "\x00")
	if d := k.dsSets[key]; d != nil {
		d.refs++
		return d
	}
	return k.internDSLocked(slices.Clone(names))
}

// Prune removes downstream from every owner's (S,G) contribution. A
// contribution left with no downstream interface is withdrawn; removing the
// last state removes the forwarding entry (seed 003: "When PIM prune is
// received, the multicast entry is removed at PFE and RE level").
func (k *Kernel) Prune(source, group netip.Addr, downstream string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.flushLocked()
	key, err := makeKey(source, group)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	st := k.sgs[key]
	if st == nil || len(st.contribs) == 0 {
		return fmt.Errorf("prune %v: %w", key, ErrNoJoin)
	}
	name := downstream
	if n, _, _, err := parseIFLName(downstream); err == nil {
		name = n
	}
	now := k.now()
	type cut struct {
		o  Owner
		nc *contrib
	}
	var cuts []cut
	for i := range st.contribs {
		c := &st.contribs[i]
		if c.ds == nil {
			continue
		}
		j, found := slices.BinarySearch(c.ds.names, name)
		if !found {
			continue
		}
		rest := slices.Delete(slices.Clone(c.ds.names), j, j+1)
		if len(rest) == 0 && c.excl == nil {
			cuts = append(cuts, cut{o: c.owner})
			continue
		}
		nc := contrib{owner: c.owner, rpf: c.rpf, any: c.any, ds: k.internSetLocked(rest), excl: c.excl}
		if nc.excl != nil {
			nc.excl.refs++
		}
		cuts = append(cuts, cut{o: c.owner, nc: &nc})
	}
	if len(cuts) == 0 {
		return fmt.Errorf("prune %v: downstream %s not joined: %w", key, downstream, ErrNoJoin)
	}
	var errs []error
	for _, c := range cuts {
		if err := k.applyContribLocked(c.o, SGEntry(source, group), c.nc, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveJoin withdraws every owner's (S,G) state and so the forwarding
// entry, unless (*,G) state still covers it.
func (k *Kernel) RemoveJoin(source, group netip.Addr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.flushLocked()
	key, err := makeKey(source, group)
	if err != nil {
		return fmt.Errorf("remove join: %w", err)
	}
	st := k.sgs[key]
	if st == nil || len(st.contribs) == 0 {
		return fmt.Errorf("remove join %v: %w", key, ErrNoJoin)
	}
	for i := range st.contribs {
		k.releaseContribLocked(&st.contribs[i])
	}
	st.contribs = nil
	k.markLocked(st)
	return k.reevalLocked(st, false, k.now())
}

// ResolveAction is what the kernel did with a resolve request.
type ResolveAction uint8

// Resolve outcomes.
const (
	// ResolveForwarding: join state existed; the forwarding chain and route
	// were installed.
	ResolveForwarding ResolveAction = iota + 1
	// ResolveDiscard: no usable join state; G.S/64 -> mdiscard 35 was
	// installed.
	ResolveDiscard
	// ResolveExisting: the (S,G) already has a route; nothing changed
	// (counted as Resolve filtered). Route is the installed route, which the
	// caller may re-send to the requesting FPC.
	ResolveExisting
	// ResolveFiltered: a group that is never resolved (224.0.0.0/24).
	ResolveFiltered
	// ResolveError: malformed request or unknown ingress; nothing changed.
	ResolveError
	// ResolveLimited: the (S,G) has no usable join state and an mdiscard
	// entry would go beyond the requesting card's or the kernel's bound
	// (Config.DiscardLimitPerSlot, DiscardLimit); nothing changed, the
	// refusal is counted per card (DiscardsBySlot). The flow resolves
	// again at its card's resolve rate, and gets its entry once entries
	// expire.
	ResolveLimited
)

func (a ResolveAction) String() string {
	switch a {
	case ResolveForwarding:
		return "forwarding"
	case ResolveDiscard:
		return "discard"
	case ResolveExisting:
		return "existing"
	case ResolveFiltered:
		return "filtered"
	case ResolveError:
		return "error"
	case ResolveLimited:
		return "limited"
	}
	return fmt.Sprintf("ResolveAction(%d)", uint8(a))
}

// ResolveResult is the outcome of Resolve.
type ResolveResult struct {
	Action ResolveAction
	Route  hal.Route // the route now installed for the (S,G), if any
	Err    error     // for ResolveError
}

// Resolve handles a resolve-addr-request from the FPC in slot (seed 003,
// "Kernel Resolution"); see the package comment for the counters. The
// resulting ops are downloaded to every FPC through the Sink.
func (k *Kernel) Resolve(slot hal.Slot, req hal.ResolveRequest) ResolveResult {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.flushLocked()
	ing := k.ingressOf(req.Ingress)
	if ing == nil {
		k.unattributed.ResolveError++
		return ResolveResult{Action: ResolveError, Err: fmt.Errorf("resolve from slot %d: ingress ifl %d: %w", slot, req.Ingress, ErrUnknownInterface)}
	}
	if g := req.Group.Unmap(); g.Is4() && linkLocal.Contains(g) {
		ing.stats.ResolveFiltered++
		return ResolveResult{Action: ResolveFiltered}
	}
	key, err := makeKey(req.Source, req.Group)
	if err != nil {
		ing.stats.ResolveError++
		return ResolveResult{Action: ResolveError, Err: fmt.Errorf("resolve from slot %d: %w", slot, err)}
	}
	st := k.sgs[key]
	if st != nil && st.cached {
		ing.stats.ResolveFiltered++
		return ResolveResult{Action: ResolveExisting, Route: st.route()}
	}
	limited := func() ResolveResult {
		if slot.Valid() {
			k.discardRefused[slot]++
		}
		return ResolveResult{Action: ResolveLimited, Err: fmt.Errorf("resolve %v from slot %d: %w", key, slot, ErrDiscardLimit)}
	}
	// A flow without join state gets an mdiscard entry: refused at the
	// bounds before anything is allocated (the path of a flood).
	hasState := false
	if st != nil {
		hasState = k.hasStateLocked(st)
	} else if gs := k.groups[uint32(key>>32)]; gs != nil {
		hasState = len(gs.star) > 0
	}
	if !hasState && k.discardFullLocked(slot) {
		return limited()
	}
	ing.stats.KernelResolve++
	now := k.now()
	if st == nil {
		st = k.newSGLocked(key)
	}
	ev := Event{Kind: EventNewSource, Entry: SGEntry(key.source(), key.group()), Interface: ing.name, Slot: slot}
	if k.hasStateLocked(st) {
		res := k.installLocked(st, now)
		switch res {
		case installOK:
			ev.Action = ResolveForwarding
			k.eventLocked(ev)
			return ResolveResult{Action: ResolveForwarding, Route: st.route()}
		case installNoUpstream:
			ing.stats.ResolveNoRoute++
		case installNoIDs:
			ing.stats.ResolveError++
			k.dropIfEmptyLocked(st)
			return ResolveResult{Action: ResolveError, Err: fmt.Errorf("resolve %v: %w", key, hal.ErrTableFull)}
		}
	}
	if k.discardFullLocked(slot) {
		k.dropIfEmptyLocked(st)
		return limited()
	}
	k.installDiscardLocked(st, ing.index, slot, now)
	ev.Action = ResolveDiscard
	k.eventLocked(ev)
	return ResolveResult{Action: ResolveDiscard, Route: st.route()}
}

// WrongInterface records an RPF failure reported by the FPC in slot: a
// packet of (S,G) arrived on ingress instead of expected.
func (k *Kernel) WrongInterface(slot hal.Slot, ingress, expected hal.IFLIndex, source, group netip.Addr) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ing := k.ingressOf(ingress)
	if ing == nil {
		k.unattributed.MismatchError++
		return
	}
	key, err := makeKey(source, group)
	if err != nil {
		ing.stats.MismatchError++
		return
	}
	st := k.sgs[key]
	switch {
	case st == nil || !st.cached:
		ing.stats.MismatchNoRoute++
	case st.rpf == ing.index:
		ing.stats.MismatchError++
	default:
		ing.stats.Mismatch++
		st.wrongIIF++
		k.markLocked(st)
		k.deltaLocked()
		k.eventLocked(Event{Kind: EventWrongInterface, Entry: SGEntry(key.source(), key.group()),
			Interface: ing.name, Expected: k.ifName(st.rpf), Slot: slot})
	}
}

// rateWindow is the shortest interval over which route rates are computed,
// and rateStale the silence after which they read 0 (FPCs report traffic
// every few seconds; 10 s covers a missed report).
const (
	rateWindow = int64(time.Second)
	rateStale  = int64(10 * time.Second)
)

// Traffic reports packets and bytes that hit route key since the previous
// report (deltas, summed over FPCs). Traffic with packets > 0 resets the
// entry's cache lifetime. In counters go to the route's RPF interface, Out
// counters to each interface of its OIL.
func (k *Kernel) Traffic(key hal.RouteKey, packets, bytes uint64) {
	if !key.IsSG() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	sk, err := makeKey(key.Source, key.Group)
	if err != nil {
		return
	}
	st := k.sgs[sk]
	if st == nil || !st.cached || packets == 0 {
		return
	}
	now := k.now().UnixNano()
	st.packets += packets
	st.bytes += bytes
	st.active = now
	if st.lastTraffic == 0 || now-st.lastTraffic > rateStale {
		st.winStart, st.winPkts, st.winBytes = now, 0, 0
	} else {
		st.winPkts += packets
		st.winBytes += bytes
		if d := now - st.winStart; d >= rateWindow {
			st.pps = st.winPkts * uint64(time.Second) / uint64(d)
			st.bps = st.winBytes * uint64(time.Second) / uint64(d)
			st.winStart, st.winPkts, st.winBytes = now, 0, 0
		}
	}
	st.lastTraffic = now
	k.markLocked(st)
	defer k.deltaLocked()
	k.eventLocked(Event{Kind: EventActivity, Entry: SGEntry(sk.source(), sk.group()), Packets: packets, Bytes: bytes})
	if f := k.ifByIndex[st.rpf]; f != nil {
		f.stats.InPackets += packets
		f.stats.InBytes += bytes
	}
	if !st.discard {
		for _, f := range st.oil.ifs {
			f.stats.OutPackets += packets
			f.stats.OutBytes += bytes
		}
	}
}

// Expire deletes the cache entries whose lifetime ran out at now (route and
// NH chain, or the mdiscard route); join state stays. It returns the number
// of entries removed; their deletes are downloaded in one batch.
func (k *Kernel) Expire(now time.Time) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	ns, sec := now.UnixNano(), now.Unix()
	timeout := int64(k.timeout)
	n := 0
	for k.wheel.Len() > 0 && k.wheel.min() <= sec {
		at := heap.Pop(&k.wheel).(int64)
		bucket := k.wheel.buckets[at]
		delete(k.wheel.buckets, at)
		for _, st := range bucket {
			if st.wheelAt != at {
				continue // refiled elsewhere
			}
			st.wheelAt = 0
			if !st.cached {
				continue
			}
			if st.active+timeout > ns {
				k.fileLocked(st)
				continue
			}
			discard := st.discard
			k.uninstallLocked(st, now)
			k.eventLocked(Event{Kind: EventExpired, Entry: SGEntry(st.key.source(), st.key.group()), Discard: discard})
			k.dropIfEmptyLocked(st)
			n++
		}
	}
	k.flushLocked()
	return n
}

// ClearCache deletes every forwarding-cache entry (`clear multicast
// forwarding-cache`); join state stays and the next packet of each flow
// resolves again. It returns the number of entries removed.
func (k *Kernel) ClearCache() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	n := 0
	for _, st := range k.sortedEntriesLocked(netip.Addr{}) {
		if !st.cached {
			continue
		}
		k.uninstallLocked(st, now)
		k.dropIfEmptyLocked(st)
		n++
	}
	k.wheel.reset()
	for _, st := range k.sgs {
		st.wheelAt = 0
	}
	k.flushLocked()
	return n
}

// fileLocked puts st in the wheel bucket of its expiry second unless it is
// already filed at or before it (it is then refiled when that bucket is
// processed).
func (k *Kernel) fileLocked(st *sgState) {
	exp := st.active + int64(k.timeout)
	sec := exp / int64(time.Second)
	if exp%int64(time.Second) != 0 {
		sec++
	}
	if st.wheelAt != 0 && st.wheelAt <= sec {
		return
	}
	st.wheelAt = sec
	k.wheel.add(sec, st)
}

// sortedEntriesLocked returns the (S,G) states, optionally only of group,
// ordered by group then source.
func (k *Kernel) sortedEntriesLocked(group netip.Addr) []*sgState {
	out := make([]*sgState, 0, len(k.sgs))
	var g uint32
	filter := group.IsValid()
	if filter {
		gg := group.Unmap()
		if !gg.Is4() {
			return nil
		}
		g = u32(gg)
	}
	for key, st := range k.sgs {
		if filter && uint32(key>>32) != g {
			continue
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *sgState) int { return cmp.Compare(a.key, b.key) })
	return out
}

// wheel is a lazy timer wheel: buckets of entries keyed by expiry second,
// with a min-heap of the bucket keys. Traffic only moves an entry's
// activity time; the entry is refiled when its old bucket comes due.
type wheel struct {
	keys    []int64
	buckets map[int64][]*sgState
}

func (w *wheel) Len() int           { return len(w.keys) }
func (w *wheel) Less(i, j int) bool { return w.keys[i] < w.keys[j] }
func (w *wheel) Swap(i, j int)      { w.keys[i], w.keys[j] = w.keys[j], w.keys[i] }
func (w *wheel) Push(x any)         { w.keys = append(w.keys, x.(int64)) }
func (w *wheel) Pop() any {
	n := len(w.keys)
	x := w.keys[n-1]
	w.keys = w.keys[:n-1]
	return x
}
func (w *wheel) min() int64 { return w.keys[0] }

func (w *wheel) add(sec int64, st *sgState) {
	if w.buckets == nil {
		w.buckets = make(map[int64][]*sgState)
	}
	b, ok := w.buckets[sec]
	if !ok {
		heap.Push(w, sec)
	}
	w.buckets[sec] = append(b, st)
}

func (w *wheel) reset() {
	w.keys = nil
	w.buckets = nil
}
