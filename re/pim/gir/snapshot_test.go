package gir

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A snapshot taken mid-flight (our removal announcing, a learned window
// open, duplicate memory) and imported into a fresh controller through
// JSON gives the same actions and state from then on.
func TestSnapshotReplay(t *testing.T) {
	f := newFx(t, Options{})
	f.do(Enable{Start: 30 * time.Second, Stop: 300 * time.Second, Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}})
	f.do(rx(pfm(t, 5, 100)))
	f.adv(7 * time.Second)
	b, err := json.Marshal(f.c.Export())
	require.NoError(t, err)
	var sn Snapshot
	require.NoError(t, json.Unmarshal(b, &sn))
	g := New(f.c.Config(), Options{}, t0.Add(time.Hour)) // another start time: the snapshot's wins
	require.NoError(t, g.Import(&sn))
	require.Equal(t, f.c.Export(), g.Export())
	require.Equal(t, f.c.NextDeadline(), g.NextDeadline())
	require.Equal(t, f.c.Status(f.now), g.Status(f.now))
	for _, step := range []time.Duration{time.Second, 30 * time.Second, time.Minute, 5 * time.Minute} {
		f.now = f.now.Add(step)
		a1, a2 := f.c.Advance(f.now), g.Advance(f.now)
		require.Equal(t, a1, a2)
		dup := rx(pfm(t, 0, 100))
		a1, _ = f.c.Handle(f.now, dup)
		a2, _ = g.Handle(f.now, dup)
		require.Equal(t, a1, a2)
	}
	require.Equal(t, f.c.Export(), g.Export())
	require.ErrorIs(t, g.Import(nil), ErrSnapshot)
	require.ErrorIs(t, g.Import(&Snapshot{Local: LocalSnapshot{Mode: 9}}), ErrSnapshot)
}
