package pim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSplitJoinPrune(t *testing.T) {
	var b jpBuilder
	tgt := rpfTarget{1, a("10.1.0.2")}
	g1, g2 := a("239.1.1.1"), a("239.1.1.2")
	b.add(tgt, g1, JPSource{Addr: fxRP, WC: true, RPT: true}, true)
	for i := 0; i < 300; i++ {
		b.add(tgt, g1, JPSource{Addr: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), RPT: true}, false)
	}
	b.add(tgt, g2, JPSource{Addr: fxS}, true)
	b.add(tgt, g2, JPSource{Addr: fxS}, false) // the later entry wins
	msgs := splitJP(b.msgs[0], 210, 1400, false)
	require.Greater(t, len(msgs), 1)
	total := 0
	for _, m := range msgs {
		size := 14
		for _, g := range m.Groups {
			size += 12 + 8*(len(g.Joins)+len(g.Prunes))
			total += len(g.Prunes)
			if g.Group == g1 {
				require.Equal(t, []JPSource{{Addr: fxRP, WC: true, RPT: true}}, g.Joins,
					"every part of a split group repeats the Join(*,G)")
			}
		}
		require.LessOrEqual(t, size, 1400)
		require.Equal(t, uint16(210), m.Holdtime)
	}
	require.Equal(t, 301, total, "300 (S,G,rpt) Prunes and the Prune(S,G)")
}

// TestPeriodicJoinsAreBatched: entries joined at different times towards
// one neighbour end up refreshed in few messages (upstream.go periodicJT).
func TestPeriodicJoinsAreBatched(t *testing.T) {
	f := newFx(t, nil)
	for i := 0; i < 50; i++ {
		s := netip.AddrFrom4([4]byte{10, 9, 0, byte(i)})
		f.jp(3, fxD3, fxMe3, 0xffff, fxG, js(sgSrc(s)), nil)
		f.adv(1300 * time.Millisecond)
	}
	f.refresh()
	f.adv(2 * time.Minute) // let every entry reach its phase
	msgs, entries := 0, 0
	for i := 0; i < 6; i++ {
		f.refresh()
		acts := f.adv(10 * time.Second)
		msgs += len(of[SendJoinPrune](acts))
		entries += len(jpEntries(acts))
	}
	require.Equal(t, 50, entries, "one Join per entry per minute")
	require.LessOrEqual(t, msgs, 2, "in at most two messages a minute")
}
