package kernel

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

func route(t *testing.T, k *Kernel, s, g netip.Addr) (MulticastRoute, bool) {
	t.Helper()
	for _, r := range k.Routes(g) {
		if r.Source == s {
			return r, true
		}
	}
	return MulticastRoute{}, false
}

func TestOwnerMerge(t *testing.T) {
	s, g := seedS, seedG
	sg := SGEntry(s, g)
	star := StarG(g)
	type step struct {
		owner Owner
		entry Entry
		c     *Contribution // nil: withdraw
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		resolve string // resolve (S,G) on this interface after the steps
		// want: "" = no route; "discard"; else "rpf owner oil..."
		want string
	}{
		{
			name: "static, IGMP and PIM downstream sets are merged, RPF from PIM",
			steps: []step{
				{OwnerStatic, sg, &Contribution{RPF: "ae101.0", Downstream: []string{"ae91.0"}}},
				{OwnerIGMP, sg, &Contribution{Downstream: []string{"xe-5/0/0.0"}}},
				{OwnerPIM, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"xe-5/1/0.0"}}},
			},
			want: "ae90.0 PIM xe-5/0/0.0 xe-5/1/0.0 ae91.0", // by IFL index
		},
		{
			name: "RPF falls back to the next owner when the preferred one leaves",
			steps: []step{
				{OwnerStatic, sg, &Contribution{RPF: "ae101.0", Downstream: []string{"ae91.0"}}},
				{OwnerPIM, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"xe-5/1/0.0"}}},
				{OwnerPIM, sg, nil},
			},
			want: "ae101.0 Static ae91.0",
		},
		{
			name: "an owner leaving keeps the others' interfaces",
			steps: []step{
				{OwnerStatic, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0"}}},
				{OwnerIGMP, sg, &Contribution{Downstream: []string{"ae91.0", "ae101.0"}}},
				{OwnerIGMP, sg, nil},
			},
			want: "ae90.0 Static ae91.0",
		},
		{
			name: "replace semantics: a new contribution drops the owner's old interfaces",
			steps: []step{
				{OwnerStatic, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0"}}},
				{OwnerStatic, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"ae101.0"}}},
			},
			want: "ae90.0 Static ae101.0",
		},
		{
			name: "the last owner leaving removes the entry",
			steps: []step{
				{OwnerStatic, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0"}}},
				{OwnerStatic, sg, nil},
			},
			want: "",
		},
		{
			name: "(*,G) alone: a resolve for any source installs the inherited OIL (RPT)",
			steps: []step{
				{OwnerPIM, star, &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0", "ae101.0"}}},
			},
			resolve: "xe-5/1/0.0",
			want:    "xe-5/1/0.0 PIM ae91.0 ae101.0",
		},
		{
			name: "(*,G) without a resolve installs nothing",
			steps: []step{
				{OwnerPIM, star, &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0"}}},
			},
			want: "",
		},
		{
			name: "(S,G) RPF wins over (*,G) RPF; OILs are merged",
			steps: []step{
				{OwnerPIM, star, &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0"}}},
				{OwnerPIM, sg, &Contribution{RPF: "ae90.0", Downstream: []string{"ae101.0"}}},
			},
			want: "ae90.0 PIM ae91.0 ae101.0",
		},
		{
			name: "(S,G,rpt) exclusion removes an interface inherited from the same owner only",
			steps: []step{
				{OwnerPIM, star, &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0", "ae101.0"}}},
				{OwnerIGMP, star, &Contribution{Downstream: []string{"ae91.0"}}},
				{OwnerPIM, sg, &Contribution{Exclude: []string{"ae91.0", "ae101.0"}}},
			},
			resolve: "xe-5/1/0.0",
			want:    "xe-5/1/0.0 PIM ae91.0",
		},
		{
			name: "(*,G) withdrawn: an inherited entry goes away",
			steps: []step{
				{OwnerPIM, star, &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0"}}},
			},
			resolve: "xe-5/1/0.0",
			want:    "xe-5/1/0.0 PIM ae91.0",
		},
		{
			name: "no state: resolve installs mdiscard",
			steps: []step{
				{OwnerPIM, StarG(seedG2), &Contribution{RPF: "xe-5/1/0.0", Downstream: []string{"ae91.0"}}},
			},
			resolve: "ae90.0",
			want:    "discard",
		},
		{
			name: "IGMP alone gives no RPF: nothing installed until an owner gives one",
			steps: []step{
				{OwnerIGMP, sg, &Contribution{Downstream: []string{"ae91.0"}}},
			},
			resolve: "ae90.0",
			want:    "discard",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			k := f.k
			for _, st := range tc.steps {
				require.NoError(t, k.Update([]Change{{Owner: st.owner, Entry: st.entry, Contribution: st.c}}))
			}
			if tc.resolve != "" {
				idx := ifIndexOf(t, k, tc.resolve)
				k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: idx, Source: s, Group: g})
			}
			r, ok := route(t, k, s, g)
			switch tc.want {
			case "":
				assert.False(t, ok, "want no route, have %+v", r)
			case "discard":
				require.True(t, ok)
				assert.Equal(t, "Pruned", r.ForwardingState)
			default:
				require.True(t, ok, "want a route")
				got := strings.Join(append([]string{r.Upstream, r.UpstreamProtocol}, r.Downstream...), " ")
				assert.Equal(t, tc.want, got)
			}
			f.checkSnapshot(t)
			if strings.HasPrefix(tc.name, "(*,G) withdrawn") {
				require.NoError(t, k.Withdraw(OwnerPIM, star))
				_, ok := route(t, k, s, g)
				assert.False(t, ok)
				f.checkSnapshot(t)
			}
		})
	}
}

func ifIndexOf(t testing.TB, k *Kernel, name string) hal.IFLIndex {
	t.Helper()
	for _, s := range k.Interfaces() {
		if s.Name == name {
			return s.Index
		}
	}
	t.Fatalf("no interface %s", name)
	return 0
}

func TestKernelEvents(t *testing.T) {
	f := newFixture(t, Config{CacheTimeout: 10 * time.Second})
	k := f.k
	require.NoError(t, k.SetContribution(OwnerPIM, SGEntry(seedS, seedG), Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0"}}))
	k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: seedG2})
	k.WrongInterface(4, ifIndexOf(t, k, "ae101.0"), 331, seedS, seedG)
	k.Traffic(hal.SG(seedS, seedG), 5, 500)
	f.clock.Advance(11 * time.Second)
	k.Tick()
	evs := k.TakeEvents(nil)
	require.Len(t, evs, 5)
	assert.Equal(t, Event{Kind: EventNewSource, Entry: SGEntry(seedS, seedG2), Interface: "ae90.0", Slot: 3, Action: ResolveDiscard}, evs[0])
	assert.Equal(t, Event{Kind: EventWrongInterface, Entry: SGEntry(seedS, seedG), Interface: "ae101.0", Expected: "ae90.0", Slot: 4}, evs[1])
	assert.Equal(t, Event{Kind: EventActivity, Entry: SGEntry(seedS, seedG), Packets: 5, Bytes: 500}, evs[2])
	kinds := []EventKind{evs[3].Kind, evs[4].Kind}
	assert.Equal(t, []EventKind{EventExpired, EventExpired}, kinds)
	assert.Empty(t, k.TakeEvents(nil))

	// A full queue drops and counts.
	small := newFixture(t, Config{EventQueue: 2})
	for i := range 5 {
		small.k.Resolve(3, hal.ResolveRequest{Ingress: 331, Source: seedS, Group: netip.AddrFrom4([4]byte{232, 9, 9, byte(i)})})
	}
	assert.Len(t, small.k.TakeEvents(nil), 2)
	assert.EqualValues(t, 3, small.k.Summary().EventsDropped)
}

// ownModel is a naive reference of the owner merge and cache semantics.
type ownModel struct {
	ifs     map[string]bool
	c       map[Owner]map[Entry]Contribution
	entries map[Entry]*refEntry
	timeout time.Duration
}

func (m *ownModel) contribs(e Entry) []OwnerContribution {
	var out []OwnerContribution
	for o := OwnerPIM; o < numOwners; o++ {
		if c, ok := m.c[o][e]; ok {
			out = append(out, OwnerContribution{Owner: o, Contribution: c})
		}
	}
	return out
}

func (m *ownModel) hasState(e Entry) bool {
	return len(m.contribs(e)) > 0 || len(m.contribs(StarG(e.Group))) > 0
}

// desired is the merged (rpf, oil) of (S,G) e; ok is false when it cannot
// be installed.
func (m *ownModel) desired(e Entry) (rpf, oil string, ok bool) {
	sg, star := m.contribs(e), m.contribs(StarG(e.Group))
	for _, l := range [][]OwnerContribution{sg, star} {
		for _, c := range l {
			if rpf == "" && c.RPF != "" {
				rpf = c.RPF
			}
		}
	}
	if !m.ifs[rpf] {
		return "", "", false
	}
	set := map[string]bool{}
	for _, c := range sg {
		for _, d := range c.Downstream {
			set[d] = true
		}
	}
	for _, c := range star {
		excl := m.c[c.Owner][e].Exclude
		for _, d := range c.Downstream {
			if !slices.Contains(excl, d) {
				set[d] = true
			}
		}
	}
	var names []string
	for d := range set {
		if m.ifs[d] && d != rpf {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return rpf, "", false
	}
	slices.Sort(names)
	return rpf, strings.Join(names, " "), true
}

func (m *ownModel) reeval(e Entry, grew bool, now time.Time) {
	cur := m.entries[e]
	switch {
	case !m.hasState(e):
		delete(m.entries, e)
	case cur != nil && !cur.discard:
		rpf, oil, ok := m.desired(e)
		if !ok {
			delete(m.entries, e)
			return
		}
		cur.rpf, cur.oil = rpf, oil
	case grew && (len(m.contribs(e)) > 0 || cur != nil):
		if rpf, oil, ok := m.desired(e); ok {
			m.entries[e] = &refEntry{rpf: rpf, oil: oil, active: now}
		}
	}
}

func grewFrom(old, nw *Contribution) bool {
	if nw == nil {
		return false
	}
	if old == nil {
		return true
	}
	if old.RPF != nw.RPF {
		return true
	}
	for _, d := range nw.Downstream {
		if !slices.Contains(old.Downstream, d) {
			return true
		}
	}
	for _, x := range old.Exclude {
		if !slices.Contains(nw.Exclude, x) {
			return true
		}
	}
	return false
}

func (m *ownModel) set(o Owner, e Entry, c *Contribution, now time.Time) {
	var old *Contribution
	if v, ok := m.c[o][e]; ok {
		old = &v
	}
	if c != nil && c.RPF == "" && len(c.Downstream) == 0 && len(c.Exclude) == 0 {
		c = nil
	}
	if c == nil && old == nil {
		return
	}
	if c != nil && old != nil && contributionEqual(*c, *old) {
		return
	}
	grew := grewFrom(old, c)
	if c == nil {
		delete(m.c[o], e)
	} else {
		m.c[o][e] = *c
	}
	if !e.IsStar() {
		m.reeval(e, grew, now)
		return
	}
	for k := range m.entries {
		if k.Group == e.Group {
			m.reeval(k, grew, now)
		}
	}
}

func (m *ownModel) resolve(e Entry, ingress string, now time.Time) {
	if m.entries[e] != nil {
		return
	}
	if m.hasState(e) {
		if rpf, oil, ok := m.desired(e); ok {
			m.entries[e] = &refEntry{rpf: rpf, oil: oil, active: now}
			return
		}
	}
	m.entries[e] = &refEntry{discard: true, rpf: ingress, active: now}
}

func TestOwnerDifferentialAgainstNaiveModel(t *testing.T) {
	seeds, steps := uint64(12), 400
	if testing.Short() {
		seeds, steps = 3, 200
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runOwnerDifferential(t, seed, steps) })
	}
}

func runOwnerDifferential(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 11))
	f := newFixture(t, Config{CacheTimeout: 20 * time.Second, JournalSize: 64})
	k := f.k
	usable := []string{"ae90.0", "ae91.0", "ae101.0", "xe-5/0/0.0", "xe-5/1/0.0"}
	ref := &ownModel{ifs: map[string]bool{}, c: map[Owner]map[Entry]Contribution{}, entries: map[Entry]*refEntry{}, timeout: 20 * time.Second}
	for _, n := range usable {
		ref.ifs[n] = true
	}
	for o := OwnerPIM; o < numOwners; o++ {
		ref.c[o] = map[Entry]Contribution{}
	}
	owners := []Owner{OwnerPIM, OwnerStatic, OwnerIGMP}
	var entries []Entry
	for g := 1; g <= 3; g++ {
		grp := netip.AddrFrom4([4]byte{232, 1, 1, byte(g)})
		entries = append(entries, StarG(grp))
		for s := 1; s <= 3; s++ {
			entries = append(entries, SGEntry(netip.AddrFrom4([4]byte{10, 0, 0, byte(s)}), grp))
		}
	}
	pick := func(max int) []string {
		var out []string
		for range rng.IntN(max + 1) {
			out = append(out, usable[rng.IntN(len(usable))])
		}
		return out
	}
	for step := 0; step < steps; step++ {
		e := entries[rng.IntN(len(entries))]
		now := f.clock.Now()
		var what string
		switch op := rng.IntN(100); {
		case op < 45:
			o := owners[rng.IntN(len(owners))]
			c := &Contribution{Downstream: pick(2)}
			if o != OwnerIGMP && rng.IntN(4) > 0 {
				c.RPF = usable[rng.IntN(len(usable))]
			}
			if !e.IsStar() && rng.IntN(3) == 0 {
				c.Exclude = pick(2)
			}
			if rng.IntN(6) == 0 {
				c = nil
			}
			what = fmt.Sprintf("%s %v %+v", o, e, c)
			require.NoError(t, k.Update([]Change{{Owner: o, Entry: e, Contribution: c}}), what)
			if c != nil {
				// The kernel keeps names sorted and unique.
				cc := *c
				cc.Downstream = sortedUnique(cc.Downstream)
				cc.Exclude = sortedUnique(cc.Exclude)
				c = &cc
			}
			ref.set(o, e, c, now)
		case op < 70:
			if e.IsStar() {
				continue
			}
			in := usable[rng.IntN(len(usable))]
			what = fmt.Sprintf("resolve %v on %s", e, in)
			k.Resolve(0, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: ifIndexOf(t, k, in), Source: e.Source, Group: e.Group})
			ref.resolve(e, in, now)
		case op < 80:
			if e.IsStar() {
				continue
			}
			what = fmt.Sprintf("traffic %v", e)
			k.Traffic(hal.SG(e.Source, e.Group), 10, 10000)
			if r := ref.entries[e]; r != nil {
				r.active = now
			}
		default:
			d := time.Duration(1+rng.IntN(8)) * time.Second
			what = fmt.Sprintf("advance %v", d)
			now = f.clock.Advance(d)
			k.Expire(now)
			for key, r := range ref.entries {
				if !r.active.Add(ref.timeout).After(now) {
					delete(ref.entries, key)
				}
			}
		}
		checkOwnersAgainstRef(t, f, ref, fmt.Sprintf("step %d: %s", step, what))
	}
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func checkOwnersAgainstRef(t *testing.T, f *fixture, ref *ownModel, what string) {
	t.Helper()
	got := map[Entry]MulticastRoute{}
	for _, r := range f.k.Routes(netip.Addr{}) {
		got[SGEntry(r.Source, r.Group)] = r
	}
	require.Len(t, got, len(ref.entries), what)
	for e, want := range ref.entries {
		r, ok := got[e]
		require.True(t, ok, "%s: %v missing", what, e)
		require.Equal(t, want.rpf, r.Upstream, "%s: %v rpf", what, e)
		if want.discard {
			require.Equal(t, "Pruned", r.ForwardingState, "%s: %v", what, e)
			continue
		}
		require.Equal(t, "Forwarding", r.ForwardingState, "%s: %v", what, e)
		ds := slices.Clone(r.Downstream)
		slices.Sort(ds)
		require.Equal(t, want.oil, strings.Join(ds, " "), "%s: %v oil", what, e)
	}
	// Every owner's contributions are what the model holds.
	for o := OwnerPIM; o < numOwners; o++ {
		have := f.k.Contributions(o)
		require.Len(t, have, len(ref.c[o]), "%s: %s contributions", what, o)
		for e, c := range ref.c[o] {
			require.True(t, contributionEqual(c, have[e]), "%s: %s %v: want %+v have %+v", what, o, e, c, have[e])
		}
	}
	f.checkSnapshot(t)
}

func TestLinkState(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	require.NoError(t, k.SetContribution(OwnerPIM, SGEntry(seedS, seedG), Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0", "xe-5/0/0.0"}}))
	oil := func() string {
		r, ok := route(t, k, seedS, seedG)
		if !ok {
			return "none"
		}
		return strings.Join(r.Downstream, " ")
	}
	require.Equal(t, "xe-5/0/0.0 ae91.0", oil())
	ae91NH := func() []hal.NHID {
		for _, op := range k.Snapshot() {
			if op.Kind == hal.OpSetNH && op.NH.ID == 1048583 {
				return op.NH.Members
			}
		}
		return nil
	}
	// One member of ae91 down: the aggregate carries on with the other.
	changed, err := k.SetLinkState(ifIndexOf(t, k, "xe-3/1/0.0"), false)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, []hal.NHID{1387}, ae91NH())
	require.Equal(t, "xe-5/0/0.0 ae91.0", oil())
	// The last member down: ae91 leaves the OIL (make before break).
	_, err = k.SetLinkState(ifIndexOf(t, k, "xe-3/3/1.0"), false)
	require.NoError(t, err)
	require.Equal(t, "xe-5/0/0.0", oil())
	// A port that is in no aggregate.
	_, err = k.SetLinkState(ifIndexOf(t, k, "xe-5/0/0.0"), false)
	require.NoError(t, err)
	require.Equal(t, "none", oil(), "no usable downstream left")
	// The upstream down: nothing installs; back up: the joined entry returns.
	_, err = k.SetLinkState(ifIndexOf(t, k, "xe-5/0/0.0"), true)
	require.NoError(t, err)
	require.Equal(t, "xe-5/0/0.0", oil())
	_, err = k.SetLinkState(ifIndexOf(t, k, "xe-3/1/0.0"), true)
	require.NoError(t, err)
	require.Equal(t, "xe-5/0/0.0 ae91.0", oil())
	require.Equal(t, []hal.NHID{1378}, ae91NH())
	changed, err = k.SetLinkState(ifIndexOf(t, k, "xe-3/1/0.0"), true)
	require.NoError(t, err)
	require.False(t, changed)
	_, err = k.SetLinkState(ifIndexOf(t, k, "ae91.0"), false)
	require.ErrorIs(t, err, hal.ErrInvalid, "an aggregate's state follows its members")
	var ups []bool
	for _, ev := range k.TakeEvents(nil) {
		if ev.Kind == EventInterface {
			ups = append(ups, ev.Up)
		}
	}
	require.Equal(t, []bool{false, false, false, true, true}, ups)
	f.checkSnapshot(t)
}

func TestTraps(t *testing.T) {
	f := newFixture(t, Config{})
	k := f.k
	pim := hal.Trap{ID: 1, Kind: hal.TrapProtocol, Proto: 103}
	arp := hal.Trap{ID: 16, Kind: hal.TrapARP, Addr: netip.MustParseAddr("10.128.2.1")}
	require.NoError(t, k.SetTraps([]hal.Trap{arp, pim}))
	require.Equal(t, []hal.OpKind{hal.OpSetTrap, hal.OpSetTrap}, opKinds(f.sink.take()))
	require.Equal(t, []hal.Trap{pim, arp}, k.Traps())
	require.NoError(t, k.SetTraps([]hal.Trap{pim, arp}))
	require.Empty(t, f.sink.take(), "unchanged: nothing downloaded")
	arp.Addr = netip.MustParseAddr("10.128.2.9")
	require.NoError(t, k.SetTraps([]hal.Trap{arp}))
	ops := f.sink.take()
	require.Equal(t, []hal.OpKind{hal.OpDelTrap, hal.OpSetTrap}, opKinds(ops))
	require.Equal(t, arp, ops[1].Trap)
	require.Error(t, k.SetTraps([]hal.Trap{arp, arp}), "duplicate id")
	require.Error(t, k.SetTraps([]hal.Trap{{ID: 2, Kind: hal.TrapLocal}}), "no address")
	require.Equal(t, []hal.Trap{arp}, k.Traps(), "a bad list changes nothing")
	f.checkSnapshot(t)
}
