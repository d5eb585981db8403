package kernel

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// State is the kernel's whole state in exported form: interfaces with
// their indexes and next hops, the id allocators' cursors, the multicast
// NHs, every (*,G) and (S,G) entry with its owners' contributions and its
// cache entry (ids, lifetime, counters). A kernel built with Import from
// another's State has an identical Snapshot and allocates the same next
// ids. State is plain data (JSON- and gob-encodable).
//
// The journal is not part of the state (it is a trace, not state).
type State struct {
	CacheTimeout time.Duration
	Started      time.Time
	SmallPool    PoolState
	KernelPool   PoolState
	Interfaces   []InterfaceRecord
	Traps        []hal.Trap
	OILs         []OILRecord
	Stars        []StarRecord
	Entries      []EntryRecord
	Unattributed IfStats
}

// PoolState is an id allocator's cursor.
type PoolState struct {
	Next    hal.NHID
	Wrapped bool
}

// InterfaceRecord is one interface with its allocated identity.
type InterfaceRecord struct {
	Spec     Interface // as configured (Index and NH may be 0 = allocated)
	Index    hal.IFLIndex
	NH       hal.NHID
	IFL      hal.IFL     // as downloaded
	NHObj    hal.NextHop // as downloaded
	Stats    IfStats
	LinkDown bool
}

// OILRecord is one multicast NH (one distinct OIL), by interface index.
type OILRecord struct {
	ID   hal.NHID
	IFLs []hal.IFLIndex
}

// OwnerContribution is one owner's contribution in a record.
type OwnerContribution struct {
	Owner Owner
	Contribution
}

// StarRecord is the (*,G) state of a group.
type StarRecord struct {
	Group         netip.Addr
	Since         int64 // unix ns
	Contributions []OwnerContribution
}

// EntryRecord is one (S,G): contributions and cache entry.
type EntryRecord struct {
	Source, Group netip.Addr
	Contributions []OwnerContribution

	Cached, Discard bool
	Owner           Owner
	RPF             hal.IFLIndex
	AnyRPF          bool `json:",omitempty"` // the route has no RPF check (Contribution.AnyRPF)
	Composite       hal.NHID
	Indirect        hal.NHID
	OIL             hal.NHID
	Created, Active int64 // unix ns
	Packets, Bytes  uint64
	WrongIIF        uint64
	LastTraffic     int64
}

// Key returns the record's entry.
func (r *EntryRecord) Key() Entry { return SGEntry(r.Source, r.Group) }

func exportContribs(cs []contrib) []OwnerContribution {
	if len(cs) == 0 {
		return nil
	}
	out := make([]OwnerContribution, len(cs))
	for i := range cs {
		out[i] = OwnerContribution{Owner: cs[i].owner, Contribution: cs[i].export()}
	}
	return out
}

func (k *Kernel) entryRecordLocked(st *sgState) EntryRecord {
	r := EntryRecord{
		Source: st.key.source(), Group: st.key.group(),
		Contributions: exportContribs(st.contribs),
		Cached:        st.cached, Discard: st.discard, Owner: st.owner, RPF: st.rpf, AnyRPF: st.anyRPF,
		Composite: st.comp, Indirect: st.indr,
		Created: st.created, Active: st.active, Packets: st.packets, Bytes: st.bytes,
		WrongIIF: st.wrongIIF, LastTraffic: st.lastTraffic,
	}
	if st.oil != nil {
		r.OIL = st.oil.id
	}
	return r
}

func (k *Kernel) starRecordLocked(gs *groupState) StarRecord {
	return StarRecord{Group: addrOf(gs.group), Since: gs.starAt, Contributions: exportContribs(gs.star)}
}

func (k *Kernel) interfaceRecordsLocked() []InterfaceRecord {
	out := make([]InterfaceRecord, 0, len(k.ifList))
	for _, f := range k.ifList {
		out = append(out, InterfaceRecord{Spec: f.spec, Index: f.index, NH: f.nh, IFL: f.ifl, NHObj: f.nhObj, Stats: f.stats, LinkDown: f.linkDown})
	}
	return out
}

func oilRecord(o *oilNH) OILRecord {
	r := OILRecord{ID: o.id, IFLs: make([]hal.IFLIndex, len(o.ifs))}
	for i, f := range o.ifs {
		r.IFLs[i] = f.index
	}
	return r
}

// Export returns the whole state. It copies under the kernel's lock (about
// 100 bytes per (S,G)) and does no I/O.
func (k *Kernel) Export() *State {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.exportLocked()
}

func (k *Kernel) exportLocked() *State {
	s := &State{
		CacheTimeout: k.timeout,
		Started:      k.started,
		SmallPool:    PoolState{Next: k.small.next, Wrapped: k.small.wrapped},
		KernelPool:   PoolState{Next: k.big.next, Wrapped: k.big.wrapped},
		Interfaces:   k.interfaceRecordsLocked(),
		Traps:        k.trapListLocked(),
		Unattributed: k.unattributed,
	}
	for _, o := range sortedOILs(k.oils) {
		s.OILs = append(s.OILs, oilRecord(o))
	}
	gs := make([]*groupState, 0, len(k.groups))
	for _, g := range k.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *groupState) int { return cmp.Compare(a.group, b.group) })
	for _, g := range gs {
		if len(g.star) > 0 {
			s.Stars = append(s.Stars, k.starRecordLocked(g))
		}
	}
	for _, st := range k.sortedEntriesLocked(netip.Addr{}) {
		s.Entries = append(s.Entries, k.entryRecordLocked(st))
	}
	return s
}

// OpsTo streams the state as download ops in dependency order — interface
// IFLs and NHs (physical before aggregate), the fixed NHs 983 and 35,
// multicast NHs, composites, indirects, the 224/4 default route, then the
// (S,G) routes — in batches of at most batch ops (0: 4096) to fn. It is
// what a (re)connecting line card is sent. An error from fn stops it.
func (s *State) OpsTo(batch int, fn func(ops []hal.Op) error) error {
	if batch <= 0 {
		batch = 4096
	}
	buf := make([]hal.Op, 0, batch)
	var err error
	put := func(op hal.Op) {
		if err != nil {
			return
		}
		buf = append(buf, op)
		if len(buf) == batch {
			err = fn(buf)
			buf = make([]hal.Op, 0, batch)
		}
	}
	ifs := slices.Clone(s.Interfaces)
	slices.SortFunc(ifs, func(a, b InterfaceRecord) int { return cmp.Compare(a.Index, b.Index) })
	nhOf := make(map[hal.IFLIndex]hal.NHID, len(ifs))
	for _, r := range ifs {
		nhOf[r.Index] = r.NH
	}
	// Ports (physical, pe-, pd-) before aggregates.
	for _, agg := range []bool{false, true} {
		for _, r := range ifs {
			if (r.IFL.Kind == hal.IFLAggregate) == agg {
				put(hal.Op{Kind: hal.OpSetIFL, IFL: r.IFL})
			}
		}
	}
	for _, agg := range []bool{false, true} {
		for _, r := range ifs {
			if (r.IFL.Kind == hal.IFLAggregate) == agg && r.NHObj.ID != 0 {
				put(hal.Op{Kind: hal.OpSetNH, NH: r.NHObj})
			}
		}
	}
	for _, nh := range defaultNHs() {
		put(hal.Op{Kind: hal.OpSetNH, NH: nh})
	}
	for _, t := range s.Traps {
		put(hal.Op{Kind: hal.OpSetTrap, Trap: t})
	}
	members := make(map[hal.NHID][]hal.NHID, len(s.OILs))
	for _, o := range s.OILs {
		ms := make([]hal.NHID, len(o.IFLs))
		for i, x := range o.IFLs {
			ms[i] = nhOf[x]
		}
		members[o.ID] = ms
		put(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: o.ID, Type: hal.NHComposite, Members: ms}})
	}
	for i := range s.Entries {
		if e := &s.Entries[i]; e.Cached && !e.Discard {
			put(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: e.Composite, Type: hal.NHComposite, Members: members[e.OIL]}})
		}
	}
	for i := range s.Entries {
		if e := &s.Entries[i]; e.Cached && !e.Discard {
			put(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: e.Indirect, Type: hal.NHIndirect, Target: e.Composite}})
		}
	}
	put(hal.Op{Kind: hal.OpSetRoute, Route: defaultRoute()})
	for i := range s.Entries {
		e := &s.Entries[i]
		if !e.Cached {
			continue
		}
		r := hal.Route{Key: hal.SG(e.Source, e.Group), RPF: e.RPF, NH: e.Indirect, Flags: hal.RouteFlagsSG}
		if e.Discard {
			r.NH, r.Flags = hal.NHMDiscardID, hal.RouteFlagsMDiscard
		} else if e.AnyRPF {
			r.RPF = 0
		}
		put(hal.Op{Kind: hal.OpSetRoute, Route: r})
	}
	if err == nil && len(buf) > 0 {
		err = fn(buf)
	}
	return err
}

// Import replaces the kernel's state with s. It is meant for a kernel that
// holds nothing but its defaults (a backup RE taking over); it emits no
// download and no journal line: consumers are resynced from a snapshot
// (an FPC at registration). Cache lifetimes continue from the exported
// activity times. On error the kernel is unchanged.
func (k *Kernel) Import(s *State) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.ifList) > 0 || len(k.sgs) > 0 || len(k.oils) > 0 {
		return fmt.Errorf("import: kernel already holds state: %w", hal.ErrExists)
	}
	return k.importLocked(s)
}

// Replace replaces whatever state the kernel holds with s: a backup RE
// taking over swaps the state it built from its own configuration for the
// one mirrored from the master, so that every next-hop id is the master's.
// Like Import it emits no download and no journal line (the cards are
// resynced from a snapshot); pending events and uncommitted downloads of
// the replaced state are dropped. On error the kernel is unchanged.
func (k *Kernel) Replace(s *State) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.importLocked(s); err != nil {
		return err
	}
	k.pending = k.pending[:0]
	k.events = k.events[:0]
	t := &k.track
	clear(t.sgs)
	clear(t.stars)
	t.oilsAdd, t.oilsDel, t.ifaces, t.traps, t.timeout = nil, nil, false, false, false
	return nil
}

func (k *Kernel) importLocked(s *State) error {
	// Build everything on the side, then swap it in.
	n := &Kernel{
		ifByName: make(map[string]*iface), ifByIndex: make(map[hal.IFLIndex]*iface),
		sgs: make(map[sgKey]*sgState), groups: make(map[uint32]*groupState),
		oils: make(map[string]*oilNH), dsSets: make(map[string]*dsSet),
		small: newIDPool(k.small.name, k.small.base, k.small.limit),
		big:   newIDPool(k.big.name, k.big.base, k.big.limit),
		log:   k.log,
	}
	_ = n.small.reserve(hal.NHResolveID)
	_ = n.small.reserve(hal.NHMDiscardID)
	reserve := func(id hal.NHID, what string) error {
		if err := n.small.reserve(id); err != nil {
			return fmt.Errorf("import: %s: %w", what, err)
		}
		if err := n.big.reserve(id); err != nil {
			return fmt.Errorf("import: %s: %w", what, err)
		}
		return nil
	}
	for _, r := range s.Interfaces {
		name, kind, pfe, err := parseIFLName(r.Spec.Name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if n.ifByIndex[r.Index] != nil || n.ifByName[name] != nil {
			return fmt.Errorf("import: interface %s (index %d) twice: %w", name, r.Index, hal.ErrExists)
		}
		f := &iface{name: name, index: r.Index, nh: r.NH, kind: kind, pfe: pfe, spec: r.Spec,
			ifl: r.IFL, nhObj: r.NHObj, stats: r.Stats, protocol: r.Spec.Protocol, linkDown: r.LinkDown}
		if f.protocol == "" {
			f.protocol = "PIM"
		}
		if r.Spec.LAG != "" {
			if f.lag, err = lagName(name, r.Spec.LAG); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
		if err := reserve(r.NH, "interface "+name+" NH"); err != nil {
			return err
		}
		n.ifByIndex[f.index] = f
		n.ifByName[f.name] = f
		n.ifList = append(n.ifList, f)
	}
	for _, f := range n.ifList {
		if f.lag != "" {
			a := n.ifByName[f.lag]
			if a == nil {
				return fmt.Errorf("import: interface %s: aggregate %s missing: %w", f.name, f.lag, ErrUnknownInterface)
			}
			f.parent = a
			a.members = append(a.members, f)
		}
	}
	oilByID := map[hal.NHID]*oilNH{}
	for _, r := range s.OILs {
		ifs := make([]*iface, len(r.IFLs))
		for i, x := range r.IFLs {
			if ifs[i] = n.ifByIndex[x]; ifs[i] == nil {
				return fmt.Errorf("import: OIL %d: interface %d: %w", r.ID, x, ErrUnknownInterface)
			}
		}
		if err := reserve(r.ID, fmt.Sprintf("OIL %d", r.ID)); err != nil {
			return err
		}
		o := n.newOIL(r.ID, ifs)
		if n.oils[o.key] != nil {
			return fmt.Errorf("import: OIL %d duplicates another: %w", r.ID, hal.ErrExists)
		}
		n.oils[o.key] = o
		oilByID[o.id] = o
	}
	importContribs := func(e Entry, in []OwnerContribution) ([]contrib, error) {
		var out []contrib
		for _, oc := range in {
			if !oc.Owner.Valid() {
				return nil, fmt.Errorf("import: %v: owner %d: %w", e, oc.Owner, hal.ErrInvalid)
			}
			// Contributions may name interfaces that are gone for now
			// (they count again when the interface comes back): intern
			// them as they are, only normalised.
			c := contrib{owner: oc.Owner}
			if oc.RPF != "" {
				c.rpf = normIFL(oc.RPF)
				c.any = oc.AnyRPF
			}
			if len(oc.Exclude) > 0 && e.IsStar() {
				return nil, fmt.Errorf("import: %v %s: exclude on a (*,G) entry: %w", e, oc.Owner, hal.ErrInvalid)
			}
			c.ds = n.internSetLocked(normIFLs(oc.Downstream))
			c.excl = n.internSetLocked(normIFLs(oc.Exclude))
			out = append(out, c)
		}
		slices.SortFunc(out, func(a, b contrib) int { return cmp.Compare(a.owner, b.owner) })
		return out, nil
	}
	for _, r := range s.Stars {
		g, err := makeGroup(r.Group)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		cs, err := importContribs(StarG(r.Group), r.Contributions)
		if err != nil {
			return err
		}
		gs := n.groupOfLocked(g, true)
		gs.star, gs.starAt = cs, r.Since
	}
	for i := range s.Entries {
		r := &s.Entries[i]
		key, err := makeKey(r.Source, r.Group)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if n.sgs[key] != nil {
			return fmt.Errorf("import: %v twice: %w", key, hal.ErrExists)
		}
		cs, err := importContribs(r.Key(), r.Contributions)
		if err != nil {
			return err
		}
		st := n.newSGLocked(key)
		st.contribs = cs
		st.cached, st.discard, st.owner, st.rpf, st.anyRPF = r.Cached, r.Discard, r.Owner, r.RPF, r.AnyRPF
		st.created, st.active, st.packets, st.bytes, st.wrongIIF, st.lastTraffic =
			r.Created, r.Active, r.Packets, r.Bytes, r.WrongIIF, r.LastTraffic
		if st.cached && !st.discard {
			o := oilByID[r.OIL]
			if o == nil {
				return fmt.Errorf("import: %v: OIL %d: %w", key, r.OIL, hal.ErrNotFound)
			}
			if err := reserve(r.Composite, fmt.Sprintf("%v composite", key)); err != nil {
				return err
			}
			if err := reserve(r.Indirect, fmt.Sprintf("%v indirect", key)); err != nil {
				return err
			}
			st.oil, st.comp, st.indr = o, r.Composite, r.Indirect
			o.refs++
			n.nForward++
		} else if st.cached {
			n.nDiscard++
		}
	}
	for _, o := range n.oils {
		if o.refs == 0 {
			return fmt.Errorf("import: OIL %d is used by no route: %w", o.id, hal.ErrInvalid)
		}
	}
	traps := make(map[hal.TrapID]hal.Trap, len(s.Traps))
	for _, t := range s.Traps {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		traps[t.ID] = t
	}
	// Swap in.
	k.traps = traps
	k.ifByName, k.ifByIndex, k.ifList = n.ifByName, n.ifByIndex, n.ifList
	k.sgs, k.groups, k.oils, k.dsSets = n.sgs, n.groups, n.oils, n.dsSets
	k.nForward, k.nDiscard = n.nForward, n.nDiscard
	k.small.used, k.small.inUse = n.small.used, n.small.inUse
	k.big.used, k.big.inUse = n.big.used, n.big.inUse
	k.small.next, k.small.wrapped = s.SmallPool.Next, s.SmallPool.Wrapped
	k.big.next, k.big.wrapped = s.KernelPool.Next, s.KernelPool.Wrapped
	if s.CacheTimeout > 0 {
		k.timeout = s.CacheTimeout
	}
	if !s.Started.IsZero() {
		k.started = s.Started
	}
	k.unattributed = s.Unattributed
	k.wheel.reset()
	for _, st := range k.sgs {
		st.wheelAt = 0
		if st.cached {
			k.fileLocked(st)
		}
	}
	return nil
}

func normIFL(n string) string {
	if nn, _, _, err := parseIFLName(n); err == nil {
		return nn
	}
	return n
}

func normIFLs(in []string) []string {
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = normIFL(n)
	}
	return out
}

// Delta is the change of state made by one kernel operation, in exported
// form (Config.Deltas). Applied in order to a Mirror that started from an
// Export, it keeps the mirror's State equal to the kernel's.
type Delta struct {
	CacheTimeout time.Duration // 0: unchanged
	SmallPool    PoolState
	KernelPool   PoolState
	// Interfaces is the whole interface table when it changed (nil:
	// unchanged); Traps likewise.
	Interfaces   []InterfaceRecord
	Traps        []hal.Trap
	OILs         []OILRecord // created
	DeletedOILs  []hal.NHID
	Stars        []StarRecord // upserted; no Contributions: deleted
	Entries      []EntryRecord
	Deleted      []Entry
	Unattributed IfStats
}

// DeltaSink is implemented by a Sink that follows the state
// incrementally. Delta is called with the kernel's lock held, after the
// Download of the same operation; the same rules as Download apply.
type DeltaSink interface {
	Delta(d *Delta)
}

// trackState records what an operation changed (Config.Deltas).
type trackState struct {
	on      bool
	sgs     map[sgKey]struct{}
	stars   map[uint32]struct{}
	oilsAdd []*oilNH
	oilsDel []hal.NHID
	ifaces  bool
	traps   bool
	timeout bool
}

func (t *trackState) dirty() bool {
	return len(t.sgs) > 0 || len(t.stars) > 0 || len(t.oilsAdd) > 0 || len(t.oilsDel) > 0 || t.ifaces || t.traps || t.timeout
}

// markLocked records that st changed.
func (k *Kernel) markLocked(st *sgState) {
	if !k.track.on {
		return
	}
	if k.track.sgs == nil {
		k.track.sgs = make(map[sgKey]struct{})
	}
	k.track.sgs[st.key] = struct{}{}
}

// markStarLocked records that a group's (*,G) state changed.
func (k *Kernel) markStarLocked(gs *groupState) {
	if !k.track.on {
		return
	}
	if k.track.stars == nil {
		k.track.stars = make(map[uint32]struct{})
	}
	k.track.stars[gs.group] = struct{}{}
}

// deltaLocked builds the Delta of what was marked since the last one and
// hands it to the sink.
func (k *Kernel) deltaLocked() {
	t := &k.track
	if !t.on || !t.dirty() {
		return
	}
	d := &Delta{
		SmallPool:    PoolState{Next: k.small.next, Wrapped: k.small.wrapped},
		KernelPool:   PoolState{Next: k.big.next, Wrapped: k.big.wrapped},
		Unattributed: k.unattributed,
		DeletedOILs:  t.oilsDel,
	}
	if t.timeout {
		d.CacheTimeout = k.timeout
	}
	if t.ifaces {
		d.Interfaces = k.interfaceRecordsLocked()
	}
	if t.traps {
		d.Traps = k.trapListLocked()
		if d.Traps == nil {
			d.Traps = []hal.Trap{}
		}
	}
	for _, o := range t.oilsAdd {
		d.OILs = append(d.OILs, oilRecord(o))
	}
	for g := range t.stars {
		if gs := k.groups[g]; gs != nil && len(gs.star) > 0 {
			d.Stars = append(d.Stars, k.starRecordLocked(gs))
		} else {
			d.Stars = append(d.Stars, StarRecord{Group: addrOf(g)})
		}
	}
	for key := range t.sgs {
		if st := k.sgs[key]; st != nil {
			d.Entries = append(d.Entries, k.entryRecordLocked(st))
		} else {
			d.Deleted = append(d.Deleted, SGEntry(key.source(), key.group()))
		}
	}
	slices.SortFunc(d.Stars, func(a, b StarRecord) int { return a.Group.Compare(b.Group) })
	slices.SortFunc(d.Entries, func(a, b EntryRecord) int { return compareEntry(a.Key(), b.Key()) })
	slices.SortFunc(d.Deleted, compareEntry)
	clear(t.sgs)
	clear(t.stars)
	t.oilsAdd, t.oilsDel, t.ifaces, t.traps, t.timeout = nil, nil, false, false, false
	if ds, ok := k.sink.(DeltaSink); ok {
		ds.Delta(d)
	}
}

// Mirror follows a kernel's State through its Deltas: what a backup RE
// keeps until it takes over (then Import(m.State())). Not safe for
// concurrent use.
type Mirror struct {
	s       State
	entries map[Entry]int // index in s.Entries
	stars   map[netip.Addr]int
	oils    map[hal.NHID]int
}

// NewMirror starts a mirror from an export.
func NewMirror(s *State) *Mirror {
	m := &Mirror{s: *s}
	m.s.Interfaces = slices.Clone(s.Interfaces)
	m.s.OILs = slices.Clone(s.OILs)
	m.s.Stars = slices.Clone(s.Stars)
	m.s.Entries = slices.Clone(s.Entries)
	m.reindex()
	return m
}

func (m *Mirror) reindex() {
	m.entries = make(map[Entry]int, len(m.s.Entries))
	for i := range m.s.Entries {
		m.entries[m.s.Entries[i].Key()] = i
	}
	m.stars = make(map[netip.Addr]int, len(m.s.Stars))
	for i := range m.s.Stars {
		m.stars[m.s.Stars[i].Group] = i
	}
	m.oils = make(map[hal.NHID]int, len(m.s.OILs))
	for i := range m.s.OILs {
		m.oils[m.s.OILs[i].ID] = i
	}
}

// Apply applies one Delta.
func (m *Mirror) Apply(d *Delta) {
	if d.CacheTimeout > 0 {
		m.s.CacheTimeout = d.CacheTimeout
	}
	m.s.SmallPool, m.s.KernelPool, m.s.Unattributed = d.SmallPool, d.KernelPool, d.Unattributed
	if d.Interfaces != nil {
		m.s.Interfaces = slices.Clone(d.Interfaces)
	}
	if d.Traps != nil {
		m.s.Traps = slices.Clone(d.Traps)
		if len(m.s.Traps) == 0 {
			m.s.Traps = nil
		}
	}
	for _, id := range d.DeletedOILs {
		if i, ok := m.oils[id]; ok {
			removeAt(&m.s.OILs, m.oils, i, func(r OILRecord) hal.NHID { return r.ID })
		}
	}
	for _, r := range d.OILs {
		if i, ok := m.oils[r.ID]; ok {
			m.s.OILs[i] = r
		} else {
			m.oils[r.ID] = len(m.s.OILs)
			m.s.OILs = append(m.s.OILs, r)
		}
	}
	for _, r := range d.Stars {
		i, ok := m.stars[r.Group]
		switch {
		case len(r.Contributions) == 0 && ok:
			removeAt(&m.s.Stars, m.stars, i, func(r StarRecord) netip.Addr { return r.Group })
		case len(r.Contributions) == 0:
		case ok:
			m.s.Stars[i] = r
		default:
			m.stars[r.Group] = len(m.s.Stars)
			m.s.Stars = append(m.s.Stars, r)
		}
	}
	for _, e := range d.Deleted {
		if i, ok := m.entries[e]; ok {
			removeAt(&m.s.Entries, m.entries, i, func(r EntryRecord) Entry { return r.Key() })
		}
	}
	for _, r := range d.Entries {
		if i, ok := m.entries[r.Key()]; ok {
			m.s.Entries[i] = r
		} else {
			m.entries[r.Key()] = len(m.s.Entries)
			m.s.Entries = append(m.s.Entries, r)
		}
	}
}

// removeAt swap-removes element i of *list and fixes the index.
func removeAt[T any, K comparable](list *[]T, index map[K]int, i int, key func(T) K) {
	l := *list
	delete(index, key(l[i]))
	last := len(l) - 1
	if i != last {
		l[i] = l[last]
		index[key(l[i])] = i
	}
	var zero T
	l[last] = zero
	*list = l[:last]
}

// State returns the mirrored state, sorted as Export sorts it.
func (m *Mirror) State() *State {
	s := m.s
	s.Interfaces = slices.Clone(m.s.Interfaces)
	s.OILs = slices.Clone(m.s.OILs)
	slices.SortFunc(s.OILs, func(a, b OILRecord) int { return cmp.Compare(a.ID, b.ID) })
	s.Stars = slices.Clone(m.s.Stars)
	slices.SortFunc(s.Stars, func(a, b StarRecord) int { return a.Group.Compare(b.Group) })
	s.Entries = slices.Clone(m.s.Entries)
	slices.SortFunc(s.Entries, func(a, b EntryRecord) int { return compareEntry(a.Key(), b.Key()) })
	// Export leaves empty lists nil.
	if len(s.OILs) == 0 {
		s.OILs = nil
	}
	if len(s.Stars) == 0 {
		s.Stars = nil
	}
	if len(s.Entries) == 0 {
		s.Entries = nil
	}
	return &s
}

// Len returns the number of mirrored (S,G) entries.
func (m *Mirror) Len() int { return len(m.s.Entries) }
