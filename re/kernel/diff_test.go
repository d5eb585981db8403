package kernel

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// refEntry / refModel are a deliberately naive reference of the kernel's
// join and cache semantics, in terms of interface names and sets.
type refJoin struct {
	up string
	ds map[string]bool
}

type refEntry struct {
	discard bool
	rpf     string
	oil     string // sorted names joined by " "
	active  time.Time
}

type refModel struct {
	ifs     map[string]bool // usable (configured, non-member) interfaces
	joins   map[sgKey]*refJoin
	entries map[sgKey]*refEntry
	timeout time.Duration
}

func (m *refModel) desired(j *refJoin) (string, bool) {
	if !m.ifs[j.up] {
		return "", false
	}
	var names []string
	for d := range j.ds {
		if m.ifs[d] && d != j.up {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return strings.Join(names, " "), true
}

func (m *refModel) install(key sgKey, now time.Time) {
	j := m.joins[key]
	oil, ok := m.desired(j)
	if !ok {
		return
	}
	m.entries[key] = &refEntry{rpf: j.up, oil: oil, active: now}
}

func (m *refModel) resync(key sgKey) {
	e, j := m.entries[key], m.joins[key]
	oil, ok := m.desired(j)
	if !ok {
		delete(m.entries, key)
		return
	}
	e.oil, e.rpf = oil, j.up
}

func (m *refModel) join(key sgKey, up string, ds []string, now time.Time) {
	j := m.joins[key]
	changed := j == nil || j.up != up
	if j == nil {
		j = &refJoin{ds: map[string]bool{}}
		m.joins[key] = j
	}
	for _, d := range ds {
		if !j.ds[d] {
			changed = true
			j.ds[d] = true
		}
	}
	j.up = up
	if !changed {
		return
	}
	if e := m.entries[key]; e != nil && !e.discard {
		m.resync(key)
	} else {
		m.install(key, now)
	}
}

func (m *refModel) prune(key sgKey, d string) {
	j := m.joins[key]
	if j == nil || !j.ds[d] {
		return
	}
	delete(j.ds, d)
	if len(j.ds) == 0 {
		delete(m.joins, key)
		delete(m.entries, key)
		return
	}
	if e := m.entries[key]; e != nil && !e.discard {
		m.resync(key)
	}
}

func (m *refModel) resolve(key sgKey, ingress string, now time.Time) {
	if m.entries[key] != nil {
		return
	}
	if m.joins[key] != nil {
		m.install(key, now)
		if m.entries[key] != nil {
			return
		}
	}
	m.entries[key] = &refEntry{discard: true, rpf: ingress, active: now}
}

func (m *refModel) expire(now time.Time) {
	for key, e := range m.entries {
		if !e.active.Add(m.timeout).After(now) {
			delete(m.entries, key)
		}
	}
}

// setIfs applies a configuration where iface x is present or not.
func (m *refModel) setIface(x string, present bool, now time.Time) {
	if m.ifs[x] == present {
		return
	}
	m.ifs[x] = present
	if !present {
		var rebuild []sgKey
		for key, e := range m.entries {
			if e.rpf == x || slices.Contains(strings.Fields(e.oil), x) {
				delete(m.entries, key)
				if m.joins[key] != nil {
					rebuild = append(rebuild, key)
				}
			}
		}
		for key, e := range m.entries {
			if !e.discard && m.joins[key] != nil {
				m.resync(key)
			}
		}
		for _, key := range rebuild {
			m.install(key, now)
		}
		return
	}
	for key, e := range m.entries {
		if !e.discard && m.joins[key] != nil {
			m.resync(key)
		}
	}
}

func TestDifferentialAgainstNaiveModel(t *testing.T) {
	seeds, steps := uint64(10), 300
	if testing.Short() {
		seeds, steps = 3, 200
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runDifferential(t, seed, steps) })
	}
}

func runDifferential(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	f := newFixture(t, Config{CacheTimeout: 20 * time.Second, JournalSize: 64})
	k := f.k
	ref := &refModel{
		ifs:     map[string]bool{"ae90.0": true, "ae91.0": true, "ae101.0": true, "xe-5/0/0.0": true, "xe-5/1/0.0": true},
		joins:   map[sgKey]*refJoin{},
		entries: map[sgKey]*refEntry{},
		timeout: 20 * time.Second,
	}
	ifIndex := map[string]hal.IFLIndex{}
	for _, s := range k.Interfaces() {
		ifIndex[s.Name] = s.Index
	}
	ups := []string{"ae90.0", "xe-5/1/0.0"}
	downs := []string{"ae91.0", "ae101.0", "xe-5/0/0.0", "xe-5/1/0.0"}
	ingresses := []string{"ae90.0", "xe-3/0/0.0", "xe-5/1/0.0", "ae91.0"}
	var keys []sgKey
	for s := 1; s <= 3; s++ {
		for g := 1; g <= 4; g++ {
			key, err := makeKey(netip.AddrFrom4([4]byte{10, 0, 0, byte(s)}), netip.AddrFrom4([4]byte{232, 1, 1, byte(g)}))
			require.NoError(t, err)
			keys = append(keys, key)
		}
	}
	x := "xe-5/0/0.0"
	xPresent := true
	for step := 0; step < steps; step++ {
		key := keys[rng.IntN(len(keys))]
		now := f.clock.Now()
		var what string
		switch op := rng.IntN(100); {
		case op < 35:
			up := ups[rng.IntN(len(ups))]
			n := 1 + rng.IntN(2)
			var ds []string
			for range n {
				ds = append(ds, downs[rng.IntN(len(downs))])
			}
			what = fmt.Sprintf("join %v up=%s ds=%v", key, up, ds)
			err := k.Join(Join{Source: key.source(), Group: key.group(), Upstream: up, Downstream: ds})
			if !xPresent && (up == x || slices.Contains(ds, x)) {
				require.ErrorIs(t, err, hal.ErrNotFound, what)
				continue
			}
			require.NoError(t, err, what)
			ref.join(key, up, ds, now)
		case op < 45:
			d := downs[rng.IntN(len(downs))]
			what = fmt.Sprintf("prune %v %s", key, d)
			err := k.Prune(key.source(), key.group(), d)
			j := ref.joins[key]
			if j == nil || !j.ds[d] {
				require.ErrorIs(t, err, hal.ErrNotFound, what)
			} else {
				require.NoError(t, err, what)
			}
			ref.prune(key, d)
		case op < 50:
			what = fmt.Sprintf("remove %v", key)
			err := k.RemoveJoin(key.source(), key.group())
			if ref.joins[key] == nil {
				require.ErrorIs(t, err, hal.ErrNotFound, what)
			} else {
				require.NoError(t, err, what)
				delete(ref.joins, key)
				delete(ref.entries, key)
			}
		case op < 70:
			in := ingresses[rng.IntN(len(ingresses))]
			what = fmt.Sprintf("resolve %v on %s", key, in)
			k.Resolve(0, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: ifIndex[in], Source: key.source(), Group: key.group()})
			if in == "xe-3/0/0.0" {
				in = "ae90.0"
			}
			ref.resolve(key, in, now)
		case op < 80:
			what = fmt.Sprintf("traffic %v", key)
			k.Traffic(key.routeKey(), 10, 10000)
			if e := ref.entries[key]; e != nil {
				e.active = now
			}
		case op < 93:
			d := time.Duration(1+rng.IntN(8)) * time.Second
			what = fmt.Sprintf("advance %v", d)
			now = f.clock.Advance(d)
			k.Expire(now)
			ref.expire(now)
		case op < 95:
			what = "clear"
			k.ClearCache()
			clear(ref.entries)
		default:
			xPresent = !xPresent
			what = fmt.Sprintf("iface %s present=%v", x, xPresent)
			var list []Interface
			for _, i := range seedInterfaces() {
				if i.Name != x || xPresent {
					list = append(list, i)
				}
			}
			_, err := k.SetInterfaces(list)
			require.NoError(t, err)
			ref.setIface(x, xPresent, now)
		}
		checkAgainstRef(t, f, ref, fmt.Sprintf("seed step %d: %s", step, what))
	}
	// Tear everything down: no NH may be left behind.
	for key := range ref.joins {
		require.NoError(t, k.RemoveJoin(key.source(), key.group()))
	}
	k.ClearCache()
	require.Empty(t, k.NextHops())
	s := k.Summary()
	require.Zero(t, s.ForwardingRoutes+s.DiscardRoutes+s.Joins)
	k.mu.Lock()
	small, big := k.small.count(), k.big.count()
	require.Equal(t, small, k.small.inUse)
	require.Equal(t, big, k.big.inUse)
	require.Empty(t, k.sgs)
	require.Empty(t, k.dsSets)
	k.mu.Unlock()
	// Only interface NHs (and 983/35 if inside the small pool) remain.
	nIf := len(k.Interfaces())
	require.Equal(t, nIf, small+big)
	f.checkSnapshot(t)
}

func checkAgainstRef(t *testing.T, f *fixture, ref *refModel, what string) {
	t.Helper()
	k := f.k
	routes := k.Routes(netip.Addr{})
	got := map[sgKey]MulticastRoute{}
	for _, r := range routes {
		key, _ := makeKey(r.Source, r.Group)
		got[key] = r
	}
	if len(got) != len(ref.entries) {
		for key := range got {
			if ref.entries[key] == nil {
				t.Logf("extra in kernel: %v %+v join=%+v", key, got[key], ref.joins[key])
			}
		}
		for key := range ref.entries {
			if _, ok := got[key]; !ok {
				t.Logf("missing in kernel: %v %+v", key, ref.entries[key])
			}
		}
	}
	require.Len(t, got, len(ref.entries), what)
	want := map[string]int{}
	for key, e := range ref.entries {
		r, ok := got[key]
		require.True(t, ok, "%s: %v missing", what, key)
		require.Equal(t, e.rpf, r.Upstream, "%s: %v upstream", what, key)
		if e.discard {
			require.Equal(t, "Pruned", r.ForwardingState, what)
		} else {
			require.Equal(t, "Forwarding", r.ForwardingState, what)
			ds := slices.Clone(r.Downstream)
			slices.Sort(ds)
			require.Equal(t, e.oil, strings.Join(ds, " "), "%s: %v oil", what, key)
			oilNames := strings.Fields(e.oil)
			slices.SortFunc(oilNames, func(a, b string) int {
				return int(k.ifByName[a].index) - int(k.ifByName[b].index)
			})
			want[strings.Join(oilNames, " ")]++
		}
		require.EqualValues(t, (e.active.Add(ref.timeout).Sub(f.clock.Now())+time.Second-1)/time.Second, r.CacheLifetime, "%s: %v lifetime", what, key)
	}
	// One multicast NH per distinct OIL, refcount = routes using it.
	nhs := k.NextHops()
	gotNH := map[string]int{}
	for _, nh := range nhs {
		name := strings.Join(nh.Downstream, " ")
		_, dup := gotNH[name]
		require.False(t, dup, "%s: OIL %q has two NHs", what, name)
		gotNH[name] = nh.Refcount
		require.Equal(t, 1, nh.KRefcount)
	}
	require.Equal(t, want, gotNH, what)
	// Every NH id in the state is unique and the downloads built exactly
	// the snapshot's state.
	seen := map[hal.NHID]bool{}
	for _, op := range k.Snapshot() {
		if op.Kind == hal.OpSetNH {
			require.False(t, seen[op.NH.ID], "%s: NH %d twice", what, op.NH.ID)
			seen[op.NH.ID] = true
		}
	}
	f.checkSnapshot(t)
}
