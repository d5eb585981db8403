package msdp

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCacheAgainstNaiveModel runs random inserts, refreshes, removals and
// expiries on the SA cache and on a plain map, and checks after every
// step that the index, the expiry order and the group lists agree.
func TestCacheAgainstNaiveModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	c := newSACache()
	model := map[saKey]int64{} // key → last refresh
	clock := int64(0)
	randKey := func() saKey {
		g := uint32(0xef000000 | rng.IntN(8))
		s := uint32(0x0a000000 | rng.IntN(40))
		return saKey(g)<<32 | saKey(s)
	}
	for step := range 20000 {
		clock++
		k := randKey()
		switch op := rng.IntN(10); {
		case op < 5: // receive: insert or refresh
			if i := c.find(k); i >= 0 {
				c.touch(i, clock)
			} else {
				c.insert(k, 1, 0, clock, 0)
			}
			model[k] = clock
		case op < 7: // remove
			if i := c.find(k); i >= 0 {
				c.remove(i)
				delete(model, k)
			}
		default: // expire the oldest
			if c.head >= 0 {
				oldest := c.at(c.head).key
				var want saKey
				best := int64(-1)
				for mk, r := range model {
					if best < 0 || r < best {
						want, best = mk, r
					}
				}
				require.Equal(t, want, oldest, "step %d", step)
				c.remove(c.head)
				delete(model, oldest)
			}
		}
		require.Equal(t, len(model), c.n, "step %d", step)
		if step%97 == 0 {
			checkCache(t, &c, model)
		}
	}
	checkCache(t, &c, model)
}

func checkCache(t *testing.T, c *saCache, model map[saKey]int64) {
	t.Helper()
	// Expiry list: every live entry once, refresh times ascending.
	var seen []saKey
	last := int64(-1)
	for i := c.head; i >= 0; i = c.at(i).next {
		require.GreaterOrEqual(t, c.at(i).refreshed, last)
		last = c.at(i).refreshed
		require.Equal(t, model[c.at(i).key], c.at(i).refreshed)
		seen = append(seen, c.at(i).key)
	}
	require.Len(t, seen, len(model))
	// Group lists: exactly the model's keys of each group.
	groups := map[uint32][]saKey{}
	for k := range model {
		groups[k.group()] = append(groups[k.group()], k)
	}
	require.Len(t, c.groups, len(groups))
	for g, keys := range groups {
		var got []saKey
		c.group(g, func(i int32) { got = append(got, c.at(i).key) })
		slices.Sort(got)
		slices.Sort(keys)
		require.Equal(t, keys, got)
	}
	for k := range model {
		require.GreaterOrEqual(t, c.find(k), int32(0))
	}
}
