package kernel

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// mirrorSink records downloads (like recSink) and applies deltas to a
// Mirror.
type mirrorSink struct {
	*recSink
	mu     sync.Mutex
	mirror *Mirror
	deltas int
}

func (s *mirrorSink) Delta(d *Delta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deltas++
	if s.mirror != nil {
		s.mirror.Apply(d)
	}
}

// randomOps drives k with random owner changes, resolves, traffic, expiry,
// cache clears and interface changes.
func randomOps(t *testing.T, f *fixture, rng *rand.Rand, steps int) {
	t.Helper()
	k := f.k
	owners := []Owner{OwnerPIM, OwnerStatic, OwnerCLI, OwnerIGMP}
	xPresent := false
	for _, i := range k.Interfaces() {
		xPresent = xPresent || i.Name == "xe-5/0/0.0"
	}
	usable := []string{"ae90.0", "ae91.0", "ae101.0", "xe-5/1/0.0"}
	if xPresent {
		usable = append(usable, "xe-5/0/0.0")
	}
	for range steps {
		g := netip.AddrFrom4([4]byte{232, 1, byte(rng.IntN(3)), byte(1 + rng.IntN(4))})
		s := netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + rng.IntN(4))})
		e := SGEntry(s, g)
		if rng.IntN(5) == 0 {
			e = StarG(g)
		}
		switch op := rng.IntN(100); {
		case op < 40:
			c := &Contribution{}
			for range rng.IntN(3) {
				c.Downstream = append(c.Downstream, usable[rng.IntN(len(usable))])
			}
			if rng.IntN(4) > 0 {
				c.RPF = usable[rng.IntN(len(usable))]
			}
			if !e.IsStar() && rng.IntN(4) == 0 {
				c.Exclude = []string{usable[rng.IntN(len(usable))]}
			}
			if rng.IntN(6) == 0 {
				c = nil
			}
			_ = k.Update([]Change{{Owner: owners[rng.IntN(len(owners))], Entry: e, Contribution: c}})
		case op < 65:
			in := usable[rng.IntN(len(usable))]
			k.Resolve(0, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: ifIndexOf(t, k, in), Source: s, Group: g})
		case op < 75:
			k.Traffic(hal.SG(s, g), uint64(1+rng.IntN(100)), 1000)
		case op < 78:
			k.WrongInterface(1, ifIndexOf(t, k, "ae90.0"), 0, s, g)
		case op < 88:
			k.Expire(f.clock.Advance(time.Duration(1+rng.IntN(8)) * time.Second))
		case op < 90:
			var traps []hal.Trap
			for id := range rng.IntN(4) {
				traps = append(traps, hal.Trap{ID: hal.TrapID(id + 1), Kind: hal.TrapProtocol, Proto: uint8(rng.IntN(3) + 100)})
			}
			require.NoError(t, k.SetTraps(traps))
		case op < 93:
			idx := ifIndexOf(t, k, []string{"xe-3/1/0.0", "xe-3/3/1.0", "xe-5/1/0.0"}[rng.IntN(3)])
			_, err := k.SetLinkState(idx, rng.IntN(2) == 0)
			require.NoError(t, err)
		case op < 95:
			k.ClearCache()
		default:
			xPresent = !xPresent
			var list []Interface
			for _, i := range seedInterfaces() {
				if i.Name != "xe-5/0/0.0" || xPresent {
					list = append(list, i)
				}
			}
			_, err := k.SetInterfaces(list)
			require.NoError(t, err)
			if !xPresent {
				usable = []string{"ae90.0", "ae91.0", "ae101.0", "xe-5/1/0.0"}
			} else {
				usable = []string{"ae90.0", "ae91.0", "ae101.0", "xe-5/0/0.0", "xe-5/1/0.0"}
			}
		}
	}
}

// nextIDs joins a fresh (S,G) and returns the ids it got.
func nextIDs(t *testing.T, k *Kernel, sink *recSink) []hal.NHID {
	t.Helper()
	sink.take()
	require.NoError(t, k.SetContribution(OwnerPIM, SGEntry(netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("232.9.9.9")),
		Contribution{RPF: "ae90.0", Downstream: []string{"ae91.0", "ae101.0", "xe-5/1/0.0"}}))
	var ids []hal.NHID
	for _, op := range sink.take() {
		if op.Kind == hal.OpSetNH {
			ids = append(ids, op.NH.ID)
		}
	}
	require.NotEmpty(t, ids)
	return ids
}

func importInto(t *testing.T, s *State, now func() time.Time) (*Kernel, *recSink) {
	t.Helper()
	sink := newRecSink(t)
	k := New(Config{Now: now, Sink: sink})
	sink.take()
	require.NoError(t, k.Import(s))
	// A consumer of the imported kernel starts from its snapshot, as an
	// FPC does at registration (after deleting the defaults it had).
	sink.model = newPFEModel()
	sink.Download(k.Snapshot())
	sink.take()
	return k, sink
}

func TestExportImportRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := newFixture(t, Config{CacheTimeout: 30 * time.Second})
			randomOps(t, f, rand.New(rand.NewPCG(seed, 3)), 400)
			exp := f.k.Export()

			// Through gob, as a backup RE would receive it.
			var buf bytes.Buffer
			require.NoError(t, gob.NewEncoder(&buf).Encode(exp))
			var dec State
			require.NoError(t, gob.NewDecoder(&buf).Decode(&dec))

			k2, sink2 := importInto(t, &dec, f.clock.Now)
			require.Equal(t, f.k.Snapshot(), k2.Snapshot(), "identical snapshot")
			require.Equal(t, exp, k2.Export(), "identical export")
			require.Equal(t, f.k.Summary().ForwardingRoutes, k2.Summary().ForwardingRoutes)
			require.Equal(t, nextIDs(t, f.k, f.sink), nextIDs(t, k2, sink2), "same next ids")
			// Both age the same way.
			f.clock.Advance(40 * time.Second)
			require.Equal(t, f.k.Expire(f.clock.Now()), k2.Expire(f.clock.Now()))
			require.Equal(t, f.k.Snapshot(), k2.Snapshot())
		})
	}
}

func TestImportRejectsInconsistentState(t *testing.T) {
	f := newFixture(t, Config{})
	require.NoError(t, f.k.Join(seedJoin()))
	good := f.k.Export()
	for name, mutate := range map[string]func(s *State){
		"unknown OIL":        func(s *State) { s.Entries[0].OIL = 1 },
		"duplicate NH id":    func(s *State) { s.Entries[0].Composite = s.Interfaces[0].NH },
		"owner out of range": func(s *State) { s.Entries[0].Contributions[0].Owner = 99 },
		"unknown interface":  func(s *State) { s.OILs[0].IFLs = []hal.IFLIndex{7} },
	} {
		t.Run(name, func(t *testing.T) {
			s := f.k.Export()
			mutate(s)
			k2 := New(Config{Now: f.clock.Now})
			require.Error(t, k2.Import(s))
			require.Zero(t, k2.Summary().Interfaces, "nothing half-imported")
			require.Len(t, k2.Snapshot(), 3, "only the defaults")
		})
	}
	k3, _ := importInto(t, good, f.clock.Now)
	require.Error(t, k3.Import(good), "a kernel with state refuses an import")
}

func TestReplaceSwapsAWholeState(t *testing.T) {
	f := newFixture(t, Config{CacheTimeout: 30 * time.Second})
	randomOps(t, f, rand.New(rand.NewPCG(11, 3)), 400)
	exp := f.k.Export()

	// A backup's kernel built from its own configuration, with state of
	// its own, takes the master's.
	g := newFixture(t, Config{CacheTimeout: 30 * time.Second})
	randomOps(t, g, rand.New(rand.NewPCG(12, 3)), 100)
	require.NoError(t, g.k.Replace(exp))
	require.Equal(t, f.k.Snapshot(), g.k.Snapshot(), "identical snapshot")
	require.Equal(t, exp, g.k.Export(), "identical export")
	require.Empty(t, g.k.TakeEvents(nil), "the replaced state's events are gone")

	bad := f.k.Export()
	if len(bad.Entries) > 0 {
		bad.Entries[0].Contributions = []OwnerContribution{{Owner: 99}}
		before := g.k.Export()
		require.Error(t, g.k.Replace(bad))
		require.Equal(t, before, g.k.Export(), "unchanged on error")
	}
}

func TestDeltasKeepAMirrorEqual(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := &manualClock{t: time.Date(2012, 12, 3, 15, 23, 31, 0, time.UTC)}
			sink := &mirrorSink{recSink: newRecSink(t)}
			k := New(Config{Now: c.Now, Sink: sink, Deltas: true, CacheTimeout: 30 * time.Second})
			f := &fixture{k: k, clock: c, sink: sink.recSink}
			rng := rand.New(rand.NewPCG(seed, 5))
			// The mirror starts from an export taken part-way, as a
			// backup that connects late.
			_, err := k.SetInterfaces(seedInterfaces())
			require.NoError(t, err)
			randomOps(t, f, rng, 100)
			sink.mu.Lock()
			sink.mirror = NewMirror(k.Export())
			sink.mu.Unlock()
			for range 6 {
				randomOps(t, f, rng, 60)
				sink.mu.Lock()
				got := sink.mirror.State()
				sink.mu.Unlock()
				want := k.Export()
				// Interface counters are not followed incrementally.
				for i := range want.Interfaces {
					want.Interfaces[i].Stats = IfStats{}
				}
				for i := range got.Interfaces {
					got.Interfaces[i].Stats = IfStats{}
				}
				require.Equal(t, want, got)
				k2, _ := importInto(t, got, c.Now)
				require.Equal(t, k.Snapshot(), k2.Snapshot())
			}
			require.Positive(t, sink.deltas)
		})
	}
}

// The register interfaces are ports every card has: their IFLs and NHs
// are downloaded (incrementally and in a snapshot), so that a route with
// pe- in its OIL is complete on the card.
func TestRegisterInterfacesAreDownloaded(t *testing.T) {
	f := newFixture(t, Config{})
	ifs := append(seedInterfaces(), Interface{Name: "pe-0/0/0.32769"}, Interface{Name: "pd-0/0/0.32768"})
	_, err := f.k.SetInterfaces(ifs)
	require.NoError(t, err)
	kinds := map[hal.IFLKind]bool{}
	for _, op := range f.sink.take() {
		if op.Kind == hal.OpSetIFL {
			kinds[op.IFL.Kind] = true
		}
	}
	require.True(t, kinds[hal.IFLEncap] && kinds[hal.IFLDecap], "pe- and pd- downloaded: %v", kinds)
	// A registering DR's route: data in on a port, out to pe- (the
	// recording sink's model refuses a route whose NHs it lacks).
	s, g := netip.MustParseAddr("10.40.1.2"), netip.MustParseAddr("239.2.2.2")
	require.NoError(t, f.k.SetContribution(OwnerPIM, SGEntry(s, g), Contribution{RPF: "xe-5/0/0.0", Downstream: []string{"pe-0/0/0.32769"}}))
	f.k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: ifIndexOf(t, f.k, "xe-5/0/0.0"), Source: s, Group: g})
	f.sink.take()
	m := newPFEModel()
	require.NoError(t, m.apply(f.k.Snapshot()), "a card fed the snapshot has every object the route needs")
	r, ok := m.routes[hal.SG(s, g)]
	require.True(t, ok)
	require.NotEqual(t, hal.NHMDiscardID, r.NH)
	for _, st := range f.k.Interfaces() {
		if st.Name == "pe-0/0/0.32769" || st.Name == "pd-0/0/0.32768" {
			require.True(t, st.Up, "%s is up", st.Name)
		}
	}
}
