package igmp_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// randomEvent is a report, leave or query from a random host.
func randomEvent(rng *rand.Rand) igmp.Event {
	groups := ips("239.1.1.1", "239.1.1.2", "232.1.1.1")
	srcs := ips("10.1.1.1", "10.1.1.2", "10.1.1.3")
	g := groups[rng.IntN(len(groups))]
	var some []netip.Addr
	for _, s := range srcs {
		if rng.IntN(2) == 0 {
			some = append(some, s)
		}
	}
	hostAddr := ips("10.0.0.9", "10.0.0.10")[rng.IntN(2)]
	switch rng.IntN(8) {
	case 0:
		return from(hostAddr, &igmpmsg.Report{Version: 2, Group: g})
	case 1:
		return from(hostAddr, &igmpmsg.Leave{Group: g})
	case 2:
		return from(lower, generalQuery(2, 125))
	default:
		types := []igmpmsg.RecordType{igmpmsg.ModeIsInclude, igmpmsg.ModeIsExclude, igmpmsg.ChangeToInclude,
			igmpmsg.ChangeToExclude, igmpmsg.AllowNewSources, igmpmsg.BlockOldSources}
		return from(hostAddr, v3(rec(types[rng.IntN(len(types))], g, some...)))
	}
}

// TestSnapshotRestoreContinuesIdentically: an interface restored from a
// snapshot (through JSON, as a backup RE receives it) behaves exactly as
// the original for every later event and timer.
func TestSnapshotRestoreContinuesIdentically(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		cfg := baseConfig()
		cfg.Static = []igmp.Static{{Group: ip("239.9.9.9")}}
		a := newIface(t, cfg)
		now := t0
		a.Step(now, igmp.Start{})
		step := func(s *igmp.Interface, now time.Time, ev igmp.Event) []string {
			var out []string
			for _, act := range s.Step(now, ev) {
				out = append(out, fmtAction(act))
			}
			return out
		}
		var events []igmp.Event
		var times []time.Time
		for range 200 {
			now = now.Add(time.Duration(rng.IntN(20000)) * time.Millisecond)
			events, times = append(events, randomEvent(rng)), append(times, now)
		}
		cut := 50 + rng.IntN(100)
		for i := range cut {
			step(a, times[i], events[i])
		}
		raw, err := json.Marshal(a.Snapshot())
		require.NoError(t, err)
		var sn igmp.InterfaceSnapshot
		require.NoError(t, json.Unmarshal(raw, &sn))
		b := newIface(t, cfg)
		require.NoError(t, b.Restore(sn))
		require.Equal(t, a.State(), b.State(), "seed %d: same state after restore", seed)
		for i := cut; i < len(events); i++ {
			// Timers that ran out before the event first, as a loop would.
			for {
				na, oka := a.NextDeadline()
				nb, okb := b.NextDeadline()
				require.Equal(t, oka, okb)
				require.Equal(t, na, nb, "seed %d: same next deadline", seed)
				if !oka || na.After(times[i]) {
					break
				}
				require.Equal(t, step(a, na, igmp.Tick{}), step(b, na, igmp.Tick{}), "seed %d: same timer actions", seed)
			}
			require.Equal(t, step(a, times[i], events[i]), step(b, times[i], events[i]), "seed %d event %d: same actions", seed, i)
		}
		require.Equal(t, a.State(), b.State())
		require.Equal(t, a.Memberships(), b.Memberships())
	}
}

func TestRestoreRejectsForeignSnapshots(t *testing.T) {
	a := newIface(t, baseConfig())
	sn := a.Snapshot()
	sn.Iface = 99
	require.ErrorIs(t, a.Restore(sn), igmp.ErrNotFound)
	sn = a.Snapshot()
	sn.Groups = []igmp.GroupSnapshot{{Group: ip("10.1.1.1")}}
	require.ErrorIs(t, a.Restore(sn), igmp.ErrInvalid)

	r := igmp.NewRouter()
	_, err := r.Add(baseConfig())
	require.NoError(t, err)
	_, err = r.Step(t0, 7, igmp.Start{})
	require.NoError(t, err)
	_, err = r.Step(t0, 7, from(host, &igmpmsg.Report{Version: 2, Group: g1}))
	require.NoError(t, err)
	snap := r.Snapshot()
	r2 := igmp.NewRouter()
	_, err = r2.Add(baseConfig())
	require.NoError(t, err)
	require.NoError(t, r2.Restore(snap))
	require.Equal(t, r.Memberships(), r2.Memberships())
}
