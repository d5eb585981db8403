package kernel

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Owner is a source of multicast routing state. Each owner contributes, per
// (S,G) or (*,G) entry, an RPF interface and a downstream interface set; the
// kernel merges the contributions into the forwarding entry. The numeric
// order is the RPF preference: when several owners give an RPF interface
// for an (S,G), the lowest Owner wins (and is shown as `Upstream protocol`).
type Owner uint8

// Owners, in RPF preference order.
const (
	// OwnerPIM is PIM-SM/SSM join state (re/pim).
	OwnerPIM Owner = iota + 1
	// OwnerStatic is static joins from the configuration
	// (`set protocols igmp interface I static group G source S`).
	OwnerStatic
	// OwnerCLI is `request multicast join` at run time; it survives
	// configuration reloads.
	OwnerCLI
	// OwnerMSDP is state triggered by MSDP Source-Active messages.
	OwnerMSDP
	// OwnerIGMP is local receivers learned by IGMP; it gives downstream
	// interfaces only, never an RPF interface of its own in practice.
	OwnerIGMP
	numOwners
)

// String is the name shown as `Upstream protocol`.
func (o Owner) String() string {
	switch o {
	case OwnerPIM:
		return "PIM"
	case OwnerStatic:
		return "Static"
	case OwnerCLI:
		return "CLI"
	case OwnerMSDP:
		return "MSDP"
	case OwnerIGMP:
		return "IGMP"
	}
	return fmt.Sprintf("Owner(%d)", uint8(o))
}

// Valid reports whether o is a known owner.
func (o Owner) Valid() bool { return o >= OwnerPIM && o < numOwners }

// ParseOwner maps a protocol name (case-insensitive; "" is PIM) to its Owner.
func ParseOwner(s string) (Owner, error) {
	switch strings.ToUpper(s) {
	case "", "PIM":
		return OwnerPIM, nil
	case "STATIC":
		return OwnerStatic, nil
	case "CLI":
		return OwnerCLI, nil
	case "MSDP":
		return OwnerMSDP, nil
	case "IGMP":
		return OwnerIGMP, nil
	}
	return 0, fmt.Errorf("owner %q: %w", s, hal.ErrInvalid)
}

// Entry names multicast routing state: (S,G) when Source is valid, (*,G)
// when it is the zero Addr.
type Entry struct {
	Source netip.Addr
	Group  netip.Addr
}

// SGEntry returns the (S,G) entry.
func SGEntry(source, group netip.Addr) Entry { return Entry{Source: source, Group: group} }

// StarG returns the (*,G) entry.
func StarG(group netip.Addr) Entry { return Entry{Group: group} }

// IsStar reports whether e is a (*,G) entry.
func (e Entry) IsStar() bool { return !e.Source.IsValid() }

func (e Entry) String() string {
	if e.IsStar() {
		return "(*," + e.Group.String() + ")"
	}
	return "(" + e.Source.String() + "," + e.Group.String() + ")"
}

// Contribution is one owner's state for one entry.
type Contribution struct {
	// RPF is the upstream interface ("" when this owner only adds
	// receivers).
	RPF string
	// AnyRPF, with RPF set, asks the line cards to accept the entry's
	// packets on any interface (hal.Route RPF 0: no RPF check) while RPF
	// still names the upstream (counters, display). It is meant to be
	// transient: PIM's graceful RPF change (issue #16) sets it for a
	// moment when it moves the upstream, so that neither path's copies
	// are dropped while the old one drains (make-before-break; duplicates
	// rather than loss).
	AnyRPF bool `json:",omitempty"`
	// Downstream is the owner's outgoing interfaces.
	Downstream []string
	// Exclude, on an (S,G) entry only, removes interfaces from what this
	// owner's (*,G) contribution passes down to S: the (S,G,rpt) prune of
	// PIM, or an IGMPv3 EXCLUDE of S.
	Exclude []string
}

func (c Contribution) empty() bool {
	return c.RPF == "" && len(c.Downstream) == 0 && len(c.Exclude) == 0
}

// Change is one owner's update of one entry; a nil Contribution withdraws
// the owner's contribution.
type Change struct {
	Owner        Owner
	Entry        Entry
	Contribution *Contribution
}

// contrib is a validated Contribution with interned names.
type contrib struct {
	owner Owner
	rpf   string // interned interface name or ""
	any   bool   // AnyRPF
	ds    *dsSet // nil: none
	excl  *dsSet // nil: none
}

func (c *contrib) export() Contribution {
	out := Contribution{RPF: c.rpf, AnyRPF: c.any && c.rpf != ""}
	if c.ds != nil {
		out.Downstream = slices.Clone(c.ds.names)
	}
	if c.excl != nil {
		out.Exclude = slices.Clone(c.excl.names)
	}
	return out
}

func findContrib(cs []contrib, o Owner) int {
	for i := range cs {
		if cs[i].owner == o {
			return i
		}
	}
	return -1
}

// groupState indexes everything the kernel holds for one group: the (*,G)
// contributions and the (S,G) states (so that a (*,G) change reaches every
// source of the group without a walk of the whole table).
type groupState struct {
	group  uint32
	star   []contrib // sorted by owner
	sgs    []*sgState
	starAt int64 // unix ns when the (*,G) state appeared
}

// groupOfLocked returns the group index, creating it when create is set.
func (k *Kernel) groupOfLocked(g uint32, create bool) *groupState {
	gs := k.groups[g]
	if gs == nil && create {
		gs = &groupState{group: g}
		k.groups[g] = gs
	}
	return gs
}

// newSGLocked creates the state of key and indexes it under its group.
func (k *Kernel) newSGLocked(key sgKey) *sgState {
	st := &sgState{key: key}
	gs := k.groupOfLocked(uint32(key>>32), true)
	st.gpos = int32(len(gs.sgs))
	gs.sgs = append(gs.sgs, st)
	k.sgs[key] = st
	return st
}

// dropIfEmptyLocked forgets st once it has neither contributions nor a
// cache entry.
func (k *Kernel) dropIfEmptyLocked(st *sgState) {
	if st.cached || len(st.contribs) > 0 {
		return
	}
	delete(k.sgs, st.key)
	gs := k.groups[uint32(st.key>>32)]
	if gs == nil {
		return
	}
	last := gs.sgs[len(gs.sgs)-1]
	gs.sgs[st.gpos] = last
	last.gpos = st.gpos
	gs.sgs[len(gs.sgs)-1] = nil
	gs.sgs = gs.sgs[:len(gs.sgs)-1]
	k.dropGroupIfEmptyLocked(gs)
}

func (k *Kernel) dropGroupIfEmptyLocked(gs *groupState) {
	if len(gs.sgs) == 0 && len(gs.star) == 0 {
		delete(k.groups, gs.group)
	}
}

// starOf returns the (*,G) contributions for st's group.
func (k *Kernel) starOf(st *sgState) []contrib {
	if gs := k.groups[uint32(st.key>>32)]; gs != nil {
		return gs.star
	}
	return nil
}

// hasStateLocked reports whether st has (S,G) or inherited (*,G) state.
func (k *Kernel) hasStateLocked(st *sgState) bool {
	return len(st.contribs) > 0 || len(k.starOf(st)) > 0
}

// internContribLocked validates c for owner o and entry key and returns it
// with interned names; the caller owns one reference on its sets.
func (k *Kernel) internContribLocked(o Owner, star bool, c *Contribution) (contrib, error) {
	out := contrib{owner: o}
	if c.RPF != "" {
		f, err := k.ifaceOf(c.RPF)
		if err != nil {
			return out, fmt.Errorf("rpf: %w", err)
		}
		out.rpf = f.name
		out.any = c.AnyRPF
	}
	ds, err := k.internNamesLocked(c.Downstream)
	if err != nil {
		return out, fmt.Errorf("downstream: %w", err)
	}
	if len(c.Exclude) > 0 && star {
		k.releaseDSLocked(ds)
		return out, fmt.Errorf("exclude on a (*,G) entry: %w", hal.ErrInvalid)
	}
	excl, err := k.internNamesLocked(c.Exclude)
	if err != nil {
		k.releaseDSLocked(ds)
		return out, fmt.Errorf("exclude: %w", err)
	}
	out.ds, out.excl = ds, excl
	return out, nil
}

// internNamesLocked resolves interface names to their configured spelling
// and returns the interned sorted set (nil for none), with a reference.
func (k *Kernel) internNamesLocked(in []string) (*dsSet, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var nb [8]string
	names := nb[:0]
	for _, n := range in {
		f, err := k.ifaceOf(n)
		if err != nil {
			return nil, err
		}
		names = append(names, f.name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	key := strings.Join(names, "\x00")
	if d := k.dsSets[key]; d != nil {
		d.refs++
		return d, nil
	}
	return k.internDSLocked(slices.Clone(names)), nil
}

func (k *Kernel) releaseContribLocked(c *contrib) {
	k.releaseDSLocked(c.ds)
	k.releaseDSLocked(c.excl)
	c.ds, c.excl = nil, nil
}

// setContribLocked replaces (or withdraws, when c is nil) the contribution
// of owner o in *cs, consuming the references held by c. It reports
// whether anything changed, and whether the owner now gives something it
// did not before (an RPF interface, a downstream interface, or fewer
// exclusions): only such a change installs an entry that is not in the
// cache.
func (k *Kernel) setContribLocked(cs *[]contrib, o Owner, c *contrib) (changed, grew bool) {
	i := findContrib(*cs, o)
	if c == nil {
		if i < 0 {
			return false, false
		}
		k.releaseContribLocked(&(*cs)[i])
		*cs = slices.Delete(*cs, i, i+1)
		if len(*cs) == 0 {
			*cs = nil
		}
		return true, false
	}
	if i >= 0 {
		old := &(*cs)[i]
		if old.rpf == c.rpf && old.any == c.any && old.ds == c.ds && old.excl == c.excl {
			k.releaseContribLocked(c)
			return false, false
		}
		grew = old.rpf != c.rpf || !subset(c.ds, old.ds) || !subset(old.excl, c.excl)
		k.releaseContribLocked(old)
		*old = *c
		return true, grew
	}
	*cs = append(*cs, *c)
	slices.SortFunc(*cs, func(a, b contrib) int { return cmp.Compare(a.owner, b.owner) })
	return true, true
}

// subset reports whether every name of a is in b (nil is empty).
func subset(a, b *dsSet) bool {
	if a == nil || a == b {
		return true
	}
	if b == nil {
		return len(a.names) == 0
	}
	for _, n := range a.names {
		if _, ok := slices.BinarySearch(b.names, n); !ok {
			return false
		}
	}
	return true
}

// Update applies changes in order, with a single download. Invalid changes
// are skipped and reported together (errors.Join); the others are applied.
// Setting a contribution replaces the owner's previous one for that entry
// (an empty Contribution withdraws it); removing one owner's contribution
// never removes another's.
func (k *Kernel) Update(changes []Change) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	// Sized on the first op only: a batch of refreshes queues nothing.
	k.opsHint = 3*len(changes) + 8
	defer func() { k.opsHint = 0 }()
	var errs []error
	for i := range changes {
		if err := k.updateLocked(&changes[i], now); err != nil {
			errs = append(errs, err)
		}
	}
	k.flushReuseLocked()
	return errors.Join(errs...)
}

// SetContribution replaces owner o's contribution to entry e.
func (k *Kernel) SetContribution(o Owner, e Entry, c Contribution) error {
	return k.Update([]Change{{Owner: o, Entry: e, Contribution: &c}})
}

// Withdraw removes owner o's contribution to entry e (nothing if it has
// none).
func (k *Kernel) Withdraw(o Owner, e Entry) error {
	return k.Update([]Change{{Owner: o, Entry: e}})
}

func (k *Kernel) updateLocked(ch *Change, now time.Time) error {
	if !ch.Owner.Valid() {
		return fmt.Errorf("%v: owner %d: %w", ch.Entry, ch.Owner, hal.ErrInvalid)
	}
	c := ch.Contribution
	if c != nil && c.empty() {
		c = nil
	}
	var nc *contrib
	if c != nil {
		v, err := k.internContribLocked(ch.Owner, ch.Entry.IsStar(), c)
		if err != nil {
			return fmt.Errorf("%s %v: %w", ch.Owner, ch.Entry, err)
		}
		nc = &v
	}
	return k.applyContribLocked(ch.Owner, ch.Entry, nc, now)
}

// applyContribLocked sets (nc != nil) or withdraws owner o's validated
// contribution to e, consuming nc's references, and re-evaluates what it
// affects.
func (k *Kernel) applyContribLocked(o Owner, e Entry, nc *contrib, now time.Time) error {
	if e.IsStar() {
		g, err := makeGroup(e.Group)
		if err != nil {
			if nc != nil {
				k.releaseContribLocked(nc)
			}
			return fmt.Errorf("%s %v: %w", o, e, err)
		}
		gs := k.groupOfLocked(g, nc != nil)
		if gs == nil {
			return nil
		}
		had := len(gs.star) > 0
		changed, grew := k.setContribLocked(&gs.star, o, nc)
		if !changed {
			return nil
		}
		if !had {
			gs.starAt = now.UnixNano()
		}
		k.markStarLocked(gs)
		// Every cached source of the group inherits the change (a (*,G)
		// change never creates a cache entry: traffic does, through a
		// resolve). Iterate over a copy: re-evaluation may drop states
		// from gs.sgs.
		var errs []error
		for _, st := range slices.Clone(gs.sgs) {
			if !st.cached {
				continue
			}
			if err := k.reevalLocked(st, grew, now); err != nil {
				errs = append(errs, err)
			}
		}
		k.dropGroupIfEmptyLocked(gs)
		return errors.Join(errs...)
	}
	key, err := makeKey(e.Source, e.Group)
	if err != nil {
		if nc != nil {
			k.releaseContribLocked(nc)
		}
		return fmt.Errorf("%s %v: %w", o, e, err)
	}
	st := k.sgs[key]
	if st == nil {
		if nc == nil {
			return nil
		}
		st = k.newSGLocked(key)
	}
	changed, grew := k.setContribLocked(&st.contribs, o, nc)
	if !changed {
		return nil
	}
	k.markLocked(st)
	return k.reevalLocked(st, grew, now)
}

// reevalLocked brings st's forwarding entry in line with its merged state
// after a change: an installed forwarding entry is resynced (make before
// break); when the change gave st something new (grew), an entry that is
// not installed, or is an mdiscard entry, is installed at once; a state
// left with nothing is removed (seed 003: "When PIM prune is received, the
// multicast entry is removed at PFE and RE level"). A change that only
// takes something away never re-creates an expired entry: the next packet
// resolves it.
func (k *Kernel) reevalLocked(st *sgState, grew bool, now time.Time) error {
	switch {
	case !k.hasStateLocked(st):
		k.uninstallLocked(st, now)
		k.dropIfEmptyLocked(st)
	case st.cached && !st.discard:
		k.resyncLocked(st, now)
		k.dropIfEmptyLocked(st)
	case grew && (len(st.contribs) > 0 || st.cached):
		if res := k.installLocked(st, now); res == installNoIDs {
			k.dropIfEmptyLocked(st)
			return fmt.Errorf("%v: %w", st.key, hal.ErrTableFull)
		}
	}
	return nil
}

// ReplaceOwner makes all of owner o's contributions equal to want: entries
// missing from want are withdrawn, new or different ones set, identical ones
// left alone (no download). It is how a configuration reload applies the
// static joins. Invalid entries are reported and skipped.
func (k *Kernel) ReplaceOwner(o Owner, want map[Entry]Contribution) error {
	have := k.Contributions(o)
	var changes []Change
	for e := range have {
		if _, ok := want[e]; !ok {
			changes = append(changes, Change{Owner: o, Entry: e})
		}
	}
	for e, c := range want {
		if h, ok := have[e]; ok && contributionEqual(h, c) {
			continue
		}
		c := c
		changes = append(changes, Change{Owner: o, Entry: e, Contribution: &c})
	}
	// Deterministic order: withdrawals first (they free ids), then sets,
	// each by entry.
	slices.SortStableFunc(changes, func(a, b Change) int {
		if (a.Contribution == nil) != (b.Contribution == nil) {
			if a.Contribution == nil {
				return -1
			}
			return 1
		}
		return compareEntry(a.Entry, b.Entry)
	})
	return k.Update(changes)
}

func compareEntry(a, b Entry) int {
	if c := a.Group.Compare(b.Group); c != 0 {
		return c
	}
	return a.Source.Compare(b.Source)
}

func contributionEqual(a, b Contribution) bool {
	norm := func(s []string) []string {
		s = normIFLs(s)
		slices.Sort(s)
		return slices.Compact(s)
	}
	return normIFL(a.RPF) == normIFL(b.RPF) && a.AnyRPF == b.AnyRPF && slices.Equal(norm(a.Downstream), norm(b.Downstream)) &&
		slices.Equal(norm(a.Exclude), norm(b.Exclude))
}

// Contributions returns owner o's contributions by entry.
func (k *Kernel) Contributions(o Owner) map[Entry]Contribution {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[Entry]Contribution{}
	for _, gs := range k.groups {
		if i := findContrib(gs.star, o); i >= 0 {
			out[StarG(addrOf(gs.group))] = gs.star[i].export()
		}
		for _, st := range gs.sgs {
			if i := findContrib(st.contribs, o); i >= 0 {
				out[SGEntry(st.key.source(), st.key.group())] = st.contribs[i].export()
			}
		}
	}
	return out
}

// EntryState is the merged view of one entry (`show multicast route
// extensive` and tests).
type EntryState struct {
	Entry         Entry                   `json:"-"`
	Source        string                  `json:"source"`
	Group         string                  `json:"group"`
	Contributions map[string]Contribution `json:"contributions"`
}

// Entries returns every entry with state, (*,G) before the (S,G) of the
// same group, ordered by group then source.
func (k *Kernel) Entries() []EntryState {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []EntryState
	add := func(e Entry, cs []contrib) {
		if len(cs) == 0 {
			return
		}
		es := EntryState{Entry: e, Group: e.Group.String(), Source: "*", Contributions: map[string]Contribution{}}
		if !e.IsStar() {
			es.Source = e.Source.String()
		}
		for i := range cs {
			es.Contributions[cs[i].owner.String()] = cs[i].export()
		}
		out = append(out, es)
	}
	for _, gs := range k.groups {
		add(StarG(addrOf(gs.group)), gs.star)
		for _, st := range gs.sgs {
			add(SGEntry(st.key.source(), st.key.group()), st.contribs)
		}
	}
	slices.SortFunc(out, func(a, b EntryState) int {
		if c := a.Entry.Group.Compare(b.Entry.Group); c != 0 {
			return c
		}
		if a.Entry.IsStar() != b.Entry.IsStar() {
			if a.Entry.IsStar() {
				return -1
			}
			return 1
		}
		return a.Entry.Source.Compare(b.Entry.Source)
	})
	return out
}

func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// makeGroup validates a group of a (*,G) entry.
func makeGroup(group netip.Addr) (uint32, error) {
	g := group.Unmap()
	if !g.Is4() || !g.IsMulticast() || linkLocal.Contains(g) {
		return 0, fmt.Errorf("group %v: not a routable IPv4 multicast group: %w", group, hal.ErrInvalid)
	}
	return u32(g), nil
}
