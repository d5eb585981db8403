package kernel

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

func floodReq(i int) hal.ResolveRequest {
	return hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331,
		Source: netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}), Group: netip.AddrFrom4([4]byte{239, 9, byte(i >> 8), byte(i)})}
}

// A card's resolves for flows nobody joined install mdiscard entries up to
// its bound and the kernel's; beyond them they are refused before anything
// is allocated, counted per card, and joined flows still install.
func TestDiscardBounds(t *testing.T) {
	f := newFixture(t, Config{DiscardLimitPerSlot: 3, DiscardLimit: 5})
	k := f.k
	require.NoError(t, k.Join(seedJoin()))
	k.ClearCache()

	var got []ResolveAction
	for i := range 5 {
		got = append(got, k.Resolve(3, floodReq(i)).Action)
	}
	assert.Equal(t, []ResolveAction{ResolveDiscard, ResolveDiscard, ResolveDiscard, ResolveLimited, ResolveLimited}, got)
	res := k.Resolve(3, floodReq(9))
	require.ErrorIs(t, res.Err, ErrDiscardLimit)
	require.ErrorIs(t, res.Err, hal.ErrTableFull)
	assert.Len(t, k.sgs, 4, "refused resolves allocate no state (3 mdiscard entries and the join)")

	// Another card has its own bound, within the kernel's.
	assert.Equal(t, ResolveDiscard, k.Resolve(4, floodReq(100)).Action)
	assert.Equal(t, ResolveDiscard, k.Resolve(4, floodReq(101)).Action)
	assert.Equal(t, ResolveLimited, k.Resolve(4, floodReq(102)).Action, "the kernel's bound")
	assert.Equal(t, []SlotDiscards{{Slot: 3, Entries: 3, Refused: 3}, {Slot: 4, Entries: 2, Refused: 1}}, k.DiscardsBySlot())
	assert.EqualValues(t, 4, k.Summary().DiscardRefused)
	assert.Equal(t, 5, k.Summary().DiscardRoutes)

	// A joined flow is not an mdiscard entry: it installs at any count.
	assert.Equal(t, ResolveForwarding, k.Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, Source: seedS, Group: seedG}).Action)

	// A join turns an mdiscard entry into a forwarding entry: its card
	// gets the room back.
	r0 := floodReq(0)
	require.NoError(t, k.Join(Join{Source: r0.Source, Group: r0.Group, Upstream: "ae90.0", Downstream: []string{"ae91.0"}}))
	assert.Equal(t, []SlotDiscards{{Slot: 3, Entries: 2, Refused: 3}, {Slot: 4, Entries: 2, Refused: 1}}, k.DiscardsBySlot())
	assert.Equal(t, ResolveDiscard, k.Resolve(3, floodReq(3)).Action)

	// Export and import keep the per-card counts.
	k2 := New(Config{Now: f.clock.Now})
	require.NoError(t, k2.Import(k.Export()))
	for i := range k2.DiscardsBySlot() {
		assert.Equal(t, k.DiscardsBySlot()[i].Entries, k2.DiscardsBySlot()[i].Entries)
	}

	// Expiry frees the room.
	f.clock.Advance(DefaultCacheTimeout + time.Second)
	k.Expire(f.clock.Now())
	for _, d := range k.DiscardsBySlot() {
		assert.Zero(t, d.Entries, "slot %d", d.Slot)
	}
	assert.Equal(t, ResolveDiscard, k.Resolve(3, floodReq(50)).Action)
	f.checkSnapshot(t)
}

// Negative bounds are no bounds.
func TestDiscardUnbounded(t *testing.T) {
	f := newFixture(t, Config{DiscardLimitPerSlot: -1, DiscardLimit: -1})
	for i := range 100 {
		require.Equal(t, ResolveDiscard, f.k.Resolve(3, floodReq(i)).Action)
	}
}
