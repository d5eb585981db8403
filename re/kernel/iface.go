package kernel

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Interface is the configuration of one logical interface.
//
// Names are Junos IFL names: physical units "xe-F/P/N.U" (also ge-, et-,
// fe-, xle-, mge-; the unit defaults to 0 when omitted; the hosting PFE is
// F*4+P) and aggregates "aeN.U". A physical unit that is a LAG member (`set
// interfaces xe-3/1/0 gigether-options 802.3ad ae91`) names its aggregate in
// LAG, either "ae91" (same unit as the member) or "ae91.0"; the aggregate
// must be in the same configuration. Members are not usable as upstream or
// downstream interfaces themselves.
type Interface struct {
	Name string
	// Index is the IFL index (ifl:331 in seed 003); 0 allocates the lowest
	// free index from Config.IFLIndexBase.
	Index hal.IFLIndex
	// NH is the interface's next-hop id (Unicast for a physical unit,
	// Aggregate for aeN.U); 0 allocates from the small pool (unicast) or the
	// kernel pool (aggregate).
	NH hal.NHID
	// LAG is the aggregate a physical unit is a member of ("ae91" or
	// "ae91.0"); empty otherwise.
	LAG string
	// MAC; nil derives 02:05:86:xx:xx:xx from the index (a member uses its
	// aggregate's MAC).
	MAC net.HardwareAddr
	// MTU; 0 means 1500.
	MTU  uint16
	Addr netip.Prefix
	// Disabled marks the interface administratively down.
	Disabled bool
	// Protocol is the multicast routing protocol shown by `show multicast
	// statistics` ("PIM" when empty).
	Protocol string
}

// InterfaceState is an interface as the kernel holds it.
type InterfaceState struct {
	Name      string       `json:"name"`
	Index     hal.IFLIndex `json:"index"`
	NH        hal.NHID     `json:"nh"`
	Kind      string       `json:"kind"`
	PFE       hal.PFEID    `json:"pfe"`
	Aggregate string       `json:"aggregate,omitempty"`
	Members   []string     `json:"members,omitempty"`
	MAC       string       `json:"mac"`
	Up        bool         `json:"up"`
	Admin     bool         `json:"admin-up"`
	Link      bool         `json:"link-up"`
	Addr      netip.Prefix `json:"address,omitzero"`
}

// iface is a configured IFL with its next hop and statistics.
type iface struct {
	name     string
	index    hal.IFLIndex
	nh       hal.NHID
	kind     hal.IFLKind
	pfe      hal.PFEID
	lag      string   // member: aggregate name
	parent   *iface   // member: its aggregate
	members  []*iface // aggregate: members in configuration order
	protocol string
	spec     Interface

	ifl   hal.IFL     // as downloaded
	nhObj hal.NextHop // as downloaded
	stats IfStats

	// linkDown is the port's operational state as the line card reports
	// it (physical units only).
	linkDown bool
}

func (f *iface) isMember() bool { return f.parent != nil }

// up reports whether f can carry traffic: administratively enabled and,
// for a port, link up; an aggregate is up while one member is.
func (f *iface) up() bool {
	if f.spec.Disabled {
		return false
	}
	if f.kind == hal.IFLAggregate && len(f.members) > 0 {
		for _, m := range f.members {
			if m.up() {
				return true
			}
		}
		return false
	}
	return !f.linkDown
}

// leafNHs returns the forwarding (unicast) NHs behind f.
func (f *iface) leafNHs() []hal.NHID {
	if f.kind != hal.IFLAggregate {
		return []hal.NHID{f.nh}
	}
	out := make([]hal.NHID, 0, len(f.members))
	for _, m := range f.members {
		out = append(out, m.nh)
	}
	return out
}

// ifSpec is a validated Interface.
type ifSpec struct {
	Interface
	kind hal.IFLKind
	pfe  hal.PFEID
	lag  string
	old  *iface // kept interface, if its identity is unchanged
}

// parseIFLName normalises name and returns its kind and hosting PFE.
func parseIFLName(name string) (string, hal.IFLKind, hal.PFEID, error) {
	bad := fmt.Errorf("interface %q: want xe-F/P/N.U or aeN.U: %w", name, hal.ErrInvalid)
	base, unit, hasUnit := strings.Cut(name, ".")
	if hasUnit {
		if _, err := strconv.ParseUint(unit, 10, 16); err != nil {
			return "", 0, 0, bad
		}
	} else {
		unit = "0"
	}
	norm := base + "." + unit
	if rest, ok := strings.CutPrefix(base, "ae"); ok {
		if _, err := strconv.ParseUint(rest, 10, 16); err != nil {
			return "", 0, 0, bad
		}
		return norm, hal.IFLAggregate, 0, nil
	}
	media, port, ok := strings.Cut(base, "-")
	if !ok {
		return "", 0, 0, bad
	}
	kind := hal.IFLPhysical
	switch media {
	case "xe", "ge", "et", "fe", "xle", "mge":
	case "pe":
		kind = hal.IFLEncap
	case "pd":
		kind = hal.IFLDecap
	default:
		return "", 0, 0, bad
	}
	port, _, _ = strings.Cut(port, ":") // channelised xe-1/0/0:1
	parts := strings.Split(port, "/")
	if len(parts) != 3 {
		return "", 0, 0, bad
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return "", 0, 0, bad
		}
		n[i] = int(v)
	}
	if n[1] > 3 {
		return "", 0, 0, fmt.Errorf("interface %q: PIC %d > 3: %w", name, n[1], hal.ErrInvalid)
	}
	return norm, kind, hal.PFEOf(n[0], n[1]), nil
}

// lagName returns the aggregate IFL a member unit belongs to: lag is "aeN"
// (same unit as the member) or "aeN.U".
func lagName(member, lag string) (string, error) {
	l := lag
	if !strings.Contains(l, ".") {
		_, unit, _ := strings.Cut(member, ".")
		l += "." + unit
	}
	ln, lk, _, err := parseIFLName(l)
	if err != nil || lk != hal.IFLAggregate {
		return "", fmt.Errorf("interface %s: LAG %q is not an aggregate: %w", member, lag, hal.ErrInvalid)
	}
	return ln, nil
}

// derivedMAC is 02:05:86 (locally administered, Juniper's OUI) followed by
// the low 24 bits of the index.
func derivedMAC(idx hal.IFLIndex) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x05, 0x86, byte(idx >> 16), byte(idx >> 8), byte(idx)}
}

// planLocked validates list against the current table without changing
// anything.
func (k *Kernel) planLocked(list []Interface) ([]*ifSpec, error) {
	specs := make([]*ifSpec, 0, len(list))
	byName := make(map[string]*ifSpec, len(list))
	for _, in := range list {
		name, kind, pfe, err := parseIFLName(in.Name)
		if err != nil {
			return nil, err
		}
		if byName[name] != nil {
			return nil, fmt.Errorf("interface %s: configured twice: %w", name, hal.ErrExists)
		}
		s := &ifSpec{Interface: in, kind: kind, pfe: pfe}
		s.Name = name
		if in.MAC != nil && len(in.MAC) != 6 {
			return nil, fmt.Errorf("interface %s: MAC %v: %w", name, in.MAC, hal.ErrInvalid)
		}
		if in.NH == hal.NHResolveID || in.NH == hal.NHMDiscardID {
			return nil, fmt.Errorf("interface %s: NH %d is reserved: %w", name, in.NH, hal.ErrInvalid)
		}
		if in.LAG != "" {
			if kind != hal.IFLPhysical {
				return nil, fmt.Errorf("interface %s: only physical units can be LAG members: %w", name, hal.ErrInvalid)
			}
			ln, err := lagName(name, in.LAG)
			if err != nil {
				return nil, err
			}
			s.lag = ln
		}
		specs = append(specs, s)
		byName[name] = s
	}
	idxs := make(map[hal.IFLIndex]string)
	nhs := make(map[hal.NHID]string)
	for _, s := range specs {
		if s.lag != "" {
			if a := byName[s.lag]; a == nil {
				return nil, fmt.Errorf("interface %s: aggregate %s is not configured: %w", s.Name, s.lag, ErrUnknownInterface)
			}
		}
		if old := k.ifByName[s.Name]; old != nil && old.kind == s.kind &&
			(s.Index == 0 || s.Index == old.index) && (s.NH == 0 || s.NH == old.nh) {
			s.old = old
		}
		idx, nh := s.Index, s.NH
		if s.old != nil {
			idx, nh = s.old.index, s.old.nh
		}
		if idx != 0 {
			if o, dup := idxs[idx]; dup {
				return nil, fmt.Errorf("interfaces %s and %s: index %d: %w", o, s.Name, idx, hal.ErrExists)
			}
			idxs[idx] = s.Name
		}
		if nh != 0 {
			if o, dup := nhs[nh]; dup {
				return nil, fmt.Errorf("interfaces %s and %s: NH %d: %w", o, s.Name, nh, hal.ErrExists)
			}
			nhs[nh] = s.Name
		}
	}
	// An explicit NH of a new interface must not be held by a route's NH
	// chain (interface NHs being removed are freed first).
	leaving := make(map[hal.NHID]bool)
	for _, f := range k.ifList {
		if s := byName[f.name]; s == nil || s.old != f {
			leaving[f.nh] = true
		}
	}
	for _, s := range specs {
		if s.old == nil && s.NH != 0 && !leaving[s.NH] && (k.small.isUsed(s.NH) || k.big.isUsed(s.NH)) {
			return nil, fmt.Errorf("interface %s: NH %d is in use: %w", s.Name, s.NH, hal.ErrExists)
		}
	}
	return specs, nil
}

// CheckInterfaces validates list as SetInterfaces would, against the
// current table, without changing anything.
func (k *Kernel) CheckInterfaces(list []Interface) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err := k.planLocked(list)
	return err
}

// SetInterfaces replaces the interface table with list (a full
// configuration, not a delta). Interfaces keep their index and NH across
// calls unless list gives different explicit values. Forwarding entries that
// use a removed or renumbered interface are rebuilt from their join state
// (or removed when nothing usable is left). The ops are downloaded to the
// Sink and also returned. On a validation error nothing changes.
func (k *Kernel) SetInterfaces(list []Interface) ([]hal.Op, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	specs, err := k.planLocked(list)
	if err != nil {
		return nil, err
	}
	now := k.now()
	byName := make(map[string]*ifSpec, len(specs))
	for _, s := range specs {
		byName[s.Name] = s
	}
	var removed []*iface
	removedIdx := make(map[hal.IFLIndex]bool)
	for _, f := range k.ifList {
		if s := byName[f.name]; s == nil || s.old != f {
			removed = append(removed, f)
			removedIdx[f.index] = true
		}
	}

	// Phase A: kept aggregates drop members that leave them, so that the
	// members can be deleted or moved.
	for _, f := range k.ifList {
		if f.kind != hal.IFLAggregate || removedIdx[f.index] {
			continue
		}
		ms := slices.DeleteFunc(slices.Clone(f.members), func(m *iface) bool {
			s := byName[m.name]
			return removedIdx[m.index] || s == nil || s.lag != f.name
		})
		if len(ms) != len(f.members) {
			f.members = ms
			k.downloadIfaceLocked(f, now)
		}
	}

	// Phase B: tear down entries that use a leaving interface.
	var rebuild []*sgState
	if len(removed) > 0 {
		for _, st := range k.sortedEntriesLocked(netip.Addr{}) {
			if !st.cached {
				continue
			}
			hit := removedIdx[st.rpf]
			if !hit && !st.discard {
				for _, f := range st.oil.ifs {
					if removedIdx[f.index] {
						hit = true
						break
					}
				}
			}
			if hit {
				k.uninstallLocked(st, now)
				if k.hasStateLocked(st) {
					rebuild = append(rebuild, st)
				} else {
					k.dropIfEmptyLocked(st)
				}
			}
		}
	}

	// Phase C: delete leaving interfaces: NHs (aggregates first), then IFLs
	// (aggregates first).
	for _, pass := range []func(f *iface){
		func(f *iface) {
			if f.nhObj.ID != 0 { // pd- has none on the cards
				k.emit(hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: f.nh, Type: f.nhObj.Type}})
				k.journal.add(jrec{at: now, what: jNH, verb: vDelete, nhType: f.nhObj.Type, id: f.nh, ifidx: f.index})
			}
			k.small.free(f.nh)
			k.big.free(f.nh)
		},
		func(f *iface) {
			k.emit(hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: f.index, Name: f.name, Kind: f.kind}})
			k.journal.add(jrec{at: now, what: jIFL, verb: vDelete, name: f.name, ifidx: f.index})
			delete(k.ifByIndex, f.index)
			delete(k.ifByName, f.name)
		},
	} {
		// Aggregates before their members; the register interfaces
		// (pe-, pd-) are ports without a LAG.
		for _, agg := range []bool{true, false} {
			for _, f := range removed {
				if (f.kind == hal.IFLAggregate) == agg {
					pass(f)
				}
			}
		}
	}

	// Phase D: allocate and (re)download everything in the new table.
	for _, s := range specs {
		if s.old == nil && s.Index != 0 {
			k.ifByIndex[s.Index] = nil // reserve
		}
		if s.old == nil && s.NH != 0 {
			// Checked by planLocked; cannot fail.
			_ = k.small.reserve(s.NH)
			_ = k.big.reserve(s.NH)
		}
	}
	list2 := make([]*iface, 0, len(specs))
	next := k.iflBase
	for _, s := range specs {
		f := s.old
		if f == nil {
			f = &iface{name: s.Name, kind: s.kind, pfe: s.pfe, index: s.Index, nh: s.NH}
			if f.index == 0 {
				for {
					if _, used := k.ifByIndex[next]; !used {
						break
					}
					next++
				}
				f.index = next
			}
			if f.nh == 0 {
				pool := &k.small
				if f.kind == hal.IFLAggregate {
					pool = &k.big
				}
				id, err := pool.alloc()
				if err != nil {
					// The pools hold >= 2^20 ids; running out here means
					// the table is full of routes.
					k.log.Error("interface NH allocation failed", "interface", f.name, "err", err)
					return k.flushLocked(), fmt.Errorf("interface %s: %w", f.name, err)
				}
				f.nh = id
			}
		}
		f.spec = s.Interface
		f.lag = s.lag
		f.protocol = s.Protocol
		if f.protocol == "" {
			f.protocol = "PIM"
		}
		k.ifByIndex[f.index] = f
		k.ifByName[f.name] = f
		list2 = append(list2, f)
	}
	k.ifList = list2
	k.track.ifaces = true
	for _, f := range list2 {
		f.parent = nil
		if f.kind == hal.IFLAggregate {
			f.members = f.members[:0:0]
		}
	}
	for _, f := range list2 {
		if f.lag != "" {
			a := k.ifByName[f.lag]
			f.parent = a
			a.members = append(a.members, f)
		}
	}
	// Ports (physical, and the register interfaces pe-/pd-, which every
	// card has) before the aggregates made of them.
	for _, pass := range []func(f *iface) bool{
		func(f *iface) bool { return f.kind != hal.IFLAggregate },
		func(f *iface) bool { return f.kind == hal.IFLAggregate },
	} {
		for _, f := range list2 {
			if pass(f) {
				k.downloadIFLLocked(f, now)
			}
		}
	}
	for _, pass := range []func(f *iface) bool{
		func(f *iface) bool { return f.kind != hal.IFLAggregate },
		func(f *iface) bool { return f.kind == hal.IFLAggregate },
	} {
		for _, f := range list2 {
			if pass(f) {
				k.downloadNHLocked(f, now)
			}
		}
	}

	// Phase E: bring forwarding entries in line with the new table.
	for _, st := range k.sortedEntriesLocked(netip.Addr{}) {
		if st.cached && !st.discard {
			k.resyncLocked(st, now)
			k.dropIfEmptyLocked(st)
		}
	}
	for _, st := range rebuild {
		if !st.cached {
			if res := k.installLocked(st, now); res != installOK {
				k.log.Info("forwarding entry not rebuilt after interface change", "sg", st.key.String(), "reason", res.String())
			}
			k.dropIfEmptyLocked(st)
		}
	}
	k.log.Info("interfaces configured", "count", len(list2), "removed", len(removed))
	return k.flushLocked(), nil
}

// desiredIFL is the hal IFL for f.
func (k *Kernel) desiredIFL(f *iface) hal.IFL {
	ifl := hal.IFL{
		Index: f.index,
		Name:  f.name,
		Kind:  f.kind,
		PFE:   f.pfe,
		MTU:   f.spec.MTU,
		Addr:  f.spec.Addr,
		Up:    f.up(),
		MAC:   f.spec.MAC,
	}
	if ifl.MTU == 0 {
		ifl.MTU = 1500
	}
	if ifl.MAC == nil {
		if f.parent != nil && f.parent.spec.MAC != nil {
			ifl.MAC = f.parent.spec.MAC
		} else if f.parent != nil {
			ifl.MAC = derivedMAC(f.parent.index)
		} else {
			ifl.MAC = derivedMAC(f.index)
		}
	}
	if f.kind == hal.IFLAggregate {
		ifl.Members = make([]hal.IFLIndex, len(f.members))
		for i, m := range f.members {
			ifl.Members[i] = m.index
		}
	}
	return ifl
}

// desiredNH is the hal NH of f.
func (k *Kernel) desiredNH(f *iface) hal.NextHop {
	if f.kind != hal.IFLAggregate {
		return hal.NextHop{ID: f.nh, Type: hal.NHUnicast, IFL: f.index}
	}
	ms := make([]hal.NHID, 0, len(f.members))
	for _, m := range f.members {
		if m.up() {
			ms = append(ms, m.nh)
		}
	}
	if len(ms) == 0 {
		// A down aggregate leaves every OIL; keep its NH complete.
		for _, m := range f.members {
			ms = append(ms, m.nh)
		}
	}
	return hal.NextHop{ID: f.nh, Type: hal.NHAggregate, IFL: f.index, Members: ms}
}

func iflEqual(a, b hal.IFL) bool {
	return a.Index == b.Index && a.Name == b.Name && a.Kind == b.Kind && a.PFE == b.PFE &&
		slices.Equal(a.Members, b.Members) && bytes.Equal(a.MAC, b.MAC) && a.MTU == b.MTU &&
		a.Addr == b.Addr && a.Up == b.Up
}

func nhEqual(a, b hal.NextHop) bool {
	return a.ID == b.ID && a.Type == b.Type && a.IFL == b.IFL && a.Target == b.Target &&
		slices.Equal(a.Members, b.Members)
}

// downloadIfaceLocked re-downloads an aggregate's IFL and NH (phase A).
func (k *Kernel) downloadIfaceLocked(f *iface, now time.Time) {
	k.downloadIFLLocked(f, now)
	k.downloadNHLocked(f, now)
}

func (k *Kernel) downloadIFLLocked(f *iface, now time.Time) {
	ifl := k.desiredIFL(f)
	if f.ifl.Index != 0 && iflEqual(ifl, f.ifl) {
		return
	}
	verb := vChange
	if f.ifl.Index == 0 {
		verb = vAdd
	}
	f.ifl = ifl
	k.emit(hal.Op{Kind: hal.OpSetIFL, IFL: ifl})
	k.journal.add(jrec{at: now, what: jIFL, verb: verb, name: f.name, ifidx: f.index})
}

func (k *Kernel) downloadNHLocked(f *iface, now time.Time) {
	if f.kind == hal.IFLDecap {
		// Nothing is sent out of pd-: it is an ingress only (its NH id
		// stays reserved for it).
		return
	}
	nh := k.desiredNH(f)
	if f.nhObj.ID != 0 && nhEqual(nh, f.nhObj) {
		return
	}
	verb := vChange
	if f.nhObj.ID == 0 {
		verb = vAdd
	}
	f.nhObj = nh
	k.emit(hal.Op{Kind: hal.OpSetNH, NH: nh})
	k.journal.add(jrec{at: now, what: jNH, verb: verb, nhType: nh.Type, id: nh.ID, ifidx: f.index})
}

// SetLinkState records the operational state of the port of IFL index
// (reported by its line card). A port that goes down leaves every OIL and
// stops being an RPF interface (its entries are resynced, make before
// break); its aggregate drops it from the member list and goes down with
// its last member. When it comes back the entries with join state are
// installed again. It reports whether the state changed.
func (k *Kernel) SetLinkState(index hal.IFLIndex, up bool) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.ifByIndex[index]
	if f == nil {
		return false, fmt.Errorf("link state of IFL %d: %w", index, ErrUnknownInterface)
	}
	if f.kind == hal.IFLAggregate {
		return false, fmt.Errorf("link state of %s: an aggregate's state follows its members: %w", f.name, hal.ErrInvalid)
	}
	if f.linkDown == !up {
		return false, nil
	}
	now := k.now()
	f.linkDown = !up
	k.track.ifaces = true
	k.downloadIFLLocked(f, now)
	if p := f.parent; p != nil {
		k.downloadIFLLocked(p, now)
		k.downloadNHLocked(p, now)
	}
	name := f.name
	if f.parent != nil {
		name = f.parent.name
	}
	k.eventLocked(Event{Kind: EventInterface, Interface: f.name, Up: up})
	for _, st := range k.sortedEntriesLocked(netip.Addr{}) {
		switch {
		case st.cached && !st.discard:
			k.resyncLocked(st, now)
			k.dropIfEmptyLocked(st)
		case up && !st.cached && len(st.contribs) > 0:
			k.installLocked(st, now)
		}
	}
	k.log.Info("interface link state", "interface", name, "up", up)
	k.flushLocked()
	return true, nil
}

// Interfaces returns the interface table in index order.
func (k *Kernel) Interfaces() []InterfaceState {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]InterfaceState, 0, len(k.ifList))
	for _, f := range k.ifList {
		s := InterfaceState{
			Name: f.name, Index: f.index, NH: f.nh, Kind: f.kind.String(), PFE: f.pfe,
			MAC: f.ifl.MAC.String(), Up: f.ifl.Up, Admin: !f.spec.Disabled, Link: !f.linkDown, Addr: f.spec.Addr,
		}
		if f.parent != nil {
			s.Aggregate = f.parent.name
		}
		for _, m := range f.members {
			s.Members = append(s.Members, m.name)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b InterfaceState) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// ifaceOf resolves a configured interface usable as upstream/downstream.
func (k *Kernel) ifaceOf(name string) (*iface, error) {
	f := k.ifByName[name]
	if f == nil {
		if n, _, _, err := parseIFLName(name); err == nil {
			f = k.ifByName[n]
		}
	}
	if f == nil {
		return nil, fmt.Errorf("interface %q: %w", name, ErrUnknownInterface)
	}
	if f.isMember() {
		return nil, fmt.Errorf("interface %s is a member of %s: %w", name, f.parent.name, hal.ErrInvalid)
	}
	return f, nil
}

// ingressOf maps an FPC-reported ingress IFL to the interface that counts
// it (a LAG member counts on its aggregate).
func (k *Kernel) ingressOf(idx hal.IFLIndex) *iface {
	f := k.ifByIndex[idx]
	if f != nil && f.parent != nil {
		return f.parent
	}
	return f
}

// InjectTarget chooses where a frame sent out of the interface name
// leaves: the interface itself for a port, or for an aggregate the up
// member that the flow rule (hal/flow.go) picks for hash. It returns the
// port's IFL index and hosting PFE (its slot is PFE/4).
func (k *Kernel) InjectTarget(name string, hash uint32) (hal.IFLIndex, hal.PFEID, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, err := k.ifaceOf(name)
	if err != nil {
		return 0, 0, err
	}
	if f.kind != hal.IFLAggregate {
		if !f.up() {
			return 0, 0, fmt.Errorf("interface %s is down: %w", f.name, hal.ErrInvalid)
		}
		return f.index, f.pfe, nil
	}
	var ups []*iface
	for _, m := range f.members {
		if m.up() {
			ups = append(ups, m)
		}
	}
	if len(ups) == 0 {
		return 0, 0, fmt.Errorf("aggregate %s has no member up: %w", f.name, hal.ErrInvalid)
	}
	m := ups[hal.MemberIndex(hal.SublistIndex(hash, len(ups)), len(ups))]
	return m.index, m.pfe, nil
}

// InterfaceByName returns the configured spelling of name and, for a LAG
// member, its aggregate's name.
func (k *Kernel) InterfaceByName(name string) (canonical, logical string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.ifByName[name]
	if f == nil {
		if n, _, _, err := parseIFLName(name); err == nil {
			f = k.ifByName[n]
		}
	}
	if f == nil {
		return "", "", false
	}
	if f.parent != nil {
		return f.name, f.parent.name, true
	}
	return f.name, f.name, true
}

// InterfaceUp reports whether the interface can carry traffic (admin up,
// link up; an aggregate while a member is).
func (k *Kernel) InterfaceUp(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.ifByName[name]
	return f != nil && f.up()
}

// InterfaceByIndex returns the name of IFL index and, for a LAG member,
// its aggregate's name (the interface protocols see).
func (k *Kernel) InterfaceByIndex(index hal.IFLIndex) (name, logical string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.ifByIndex[index]
	if f == nil {
		return "", "", false
	}
	if f.parent != nil {
		return f.name, f.parent.name, true
	}
	return f.name, f.name, true
}
