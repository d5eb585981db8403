package xdp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIndexAllocQuarantine: a released run is not handed out again until a
// grace period (or quarantineMax) has passed.
func TestIndexAllocQuarantine(t *testing.T) {
	g := &grace{}
	a := newIndexAlloc(4, g)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	x, err := a.alloc(2)
	require.NoError(t, err)
	assert.Equal(t, uint32(0), x)
	y, err := a.alloc(2)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), y)
	a.release(x, 2)
	assert.Equal(t, 2, a.quarantinedCount())
	assert.Equal(t, 2, a.active())
	// Full but for the quarantined run: only a grace period frees it.
	g.err = errExhausted // no membarrier: time is the only way
	_, err = a.alloc(1)
	assert.ErrorIs(t, err, errExhausted)
	now = now.Add(quarantineMax)
	z, err := a.alloc(2)
	require.NoError(t, err)
	assert.Equal(t, uint32(0), z)
	assert.Zero(t, a.quarantinedCount())
}

// TestIndexAllocGrace: with membarrier available, an allocation that finds
// nothing free waits for a grace period and then reuses quarantined runs.
func TestIndexAllocGrace(t *testing.T) {
	g := &grace{}
	a := newIndexAlloc(2, g)
	x, err := a.alloc(2)
	require.NoError(t, err)
	a.release(x, 2)
	y, err := a.alloc(1)
	require.NoError(t, err, "membarrier grace period")
	assert.Equal(t, uint32(0), y)
	assert.Equal(t, uint64(1), g.epoch)
}

func TestIndexAllocRuns(t *testing.T) {
	a := newIndexAlloc(8, &grace{})
	for _, n := range []int{3, 3} {
		_, err := a.alloc(n)
		require.NoError(t, err)
	}
	_, err := a.alloc(3)
	assert.ErrorIs(t, err, errExhausted, "only 2 left")
	i, err := a.alloc(2)
	require.NoError(t, err)
	assert.Equal(t, uint32(6), i)
	_, err = a.alloc(0)
	assert.Error(t, err)
}
