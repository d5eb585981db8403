package trio

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func sortOutputs(outs []haltest.Output) []haltest.Output {
	outs = slices.Clone(outs)
	slices.SortFunc(outs, func(a, b haltest.Output) int {
		if a.Egress != b.Egress {
			return int(a.Egress) - int(b.Egress)
		}
		return bytes.Compare(a.Frame, b.Frame)
	})
	return outs
}

// TestDifferentialFake programs random OILs (with down ports) into trio and
// into haltest.Fake, sends the same mixed batches (forwarded flows, TTL
// expiry, RPF failures, resolves, mdiscard, punts, malformed frames) and
// requires identical outputs (frames byte for byte), upcalls and counters.
// The Fake chooses aggregate members by its default, the platform's rule
// (hal/flow.go), as trio does.
func TestDifferentialFake(t *testing.T) {
	iterations := 200
	if testing.Short() {
		iterations = 40
	}
	r := rand.New(rand.NewPCG(5, 6))
	now := func() time.Time { return time.Date(2012, 12, 3, 18, 28, 0, 0, time.UTC) }
	for it := range iterations {
		o := randomOIL(r, 64, 48, 0.2)
		recT, recF := haltest.NewRecorder(), haltest.NewRecorder()
		opts := map[string]string{}
		if it%2 == 1 {
			opts[OptNetworkServices] = "enhanced-ip"
		}
		d := newTestDriver(t, recT, opts)
		fake := haltest.NewFake(hal.Config{Slot: 3, Logger: slog.New(slog.DiscardHandler), Upcalls: recF, Egress: recF, Now: now})
		other := phys(901, "xe-other", hal.PFEID(r.IntN(48)))
		ops := append(slices.Clone(o.ops), setIFL(other), setNH(hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}))

		var frames [][]byte
		for f := range 6 {
			s := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			g := netip.AddrFrom4([4]byte{232, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			switch f {
			case 4: // mdiscard
				ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, g), NH: hal.NHMDiscardID, RPF: o.ingress.Index}))
			case 5: // no (S,G): 224/4 resolve
			default:
				ops = append(ops, o.route(s, g, o.ingress.Index))
			}
			frames = append(frames, haltest.Frame(s, g, uint8(1+r.IntN(64)), r.IntN(200), nil))
		}
		frames = append(frames,
			haltest.BuildFrame(haltest.FrameSpec{Source: netip.MustParseAddr("10.0.0.1"), Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 20}),
			frames[0][:30], // truncated
			haltest.ARPFrame(1, haltest.IFLMAC(7), haltest.NeighborAddr, haltest.RouterAddr),
			haltest.ARPFrame(1, haltest.IFLMAC(7), haltest.NeighborAddr, netip.MustParseAddr("10.128.1.77")),
			haltest.BuildFrame(haltest.FrameSpec{Source: haltest.NeighborAddr, Group: haltest.RouterAddr, TTL: 64, Proto: 6, Payload: 20}),
			haltest.BuildFrame(haltest.FrameSpec{Source: haltest.NeighborAddr, Group: netip.MustParseAddr("10.9.9.9"), TTL: 64, Proto: 17, Payload: 20}),
		)
		if it%3 != 0 {
			// The RE's host-path traps on two thirds of the iterations.
			ops = append(ops, haltest.TrapOps()...)
		}
		mustApply(t, d, ops...)
		mustApply(t, fake, ops...)
		if len(o.ifls) > 0 && it%4 == 0 {
			// A port of the OIL goes down (operationally).
			idx := o.ifls[r.IntN(len(o.ifls))].Index
			e1, e2 := d.SetLinkState(idx, false), fake.SetLinkState(idx, false)
			require.Equal(t, e1 == nil, e2 == nil, "link state of %d: %v / %v", idx, e1, e2)
			require.Equal(t, recF.LinkStates(), recT.LinkStates())
		}
		msg := fmt.Sprintf("iteration %d, %d entries", it, len(o.entries))
		for _, in := range []hal.IFLIndex{o.ingress.Index, other.Index} {
			require.NoError(t, d.Input(in, frames), msg)
			require.NoError(t, fake.Input(in, frames), msg)
		}
		require.Equal(t, sortOutputs(recF.Outputs()), sortOutputs(recT.Outputs()), "%s: outputs", msg)
		require.Equal(t, recF.Punts(), recT.Punts(), "%s: punts", msg)
		require.Equal(t, recF.Resolves(), recT.Resolves(), "%s: resolves", msg)
		require.Equal(t, recF.WrongInterfaces(), recT.WrongInterfaces(), "%s: wrong interfaces", msg)
		for _, ifl := range append(slices.Clone(o.ifls), o.ingress, other) {
			cf, err := fake.IFLCounters(ifl.Index)
			require.NoError(t, err)
			ct, err := d.IFLCounters(ifl.Index)
			require.NoError(t, err)
			require.Equal(t, cf, ct, "%s: counters of ifl %d", msg, ifl.Index)
		}
		var sf, st []hal.RouteStat
		utc := func(s hal.RouteStat) hal.RouteStat {
			if !s.LastUsed.IsZero() {
				s.LastUsed = s.LastUsed.UTC()
			}
			return s
		}
		fake.WalkRoutes(func(_ hal.Route, s hal.RouteStat) bool { sf = append(sf, utc(s)); return true })
		d.WalkRoutes(func(_ hal.Route, s hal.RouteStat) bool { st = append(st, utc(s)); return true })
		cmp := func(a, b hal.RouteStat) int { return compareRouteKeys(a.Key, b.Key) }
		slices.SortFunc(sf, cmp)
		slices.SortFunc(st, cmp)
		require.Equal(t, sf, st, "%s: route stats", msg)
	}
}

func compareRouteKeys(a, b hal.RouteKey) int {
	if c := a.Group.Compare(b.Group); c != 0 {
		return c
	}
	if a.PrefixLen != b.PrefixLen {
		return int(a.PrefixLen) - int(b.PrefixLen)
	}
	return a.Source.Compare(b.Source)
}
