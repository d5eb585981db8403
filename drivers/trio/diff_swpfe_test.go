package trio

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// TestDifferentialSWPFE compares trio with swpfe, the software reference,
// over random OILs with down ports and LAGs of 1..8 members. Both drivers
// choose aggregate members by the platform's rule (hal/flow.go, REFERENCE.md
// decision 3), so everything must be identical: the frames each port
// receives, byte for byte, upcalls and the counters of every IFL. Besides
// the composite, a route points at an aggregate NH directly and one at an
// Indirect to an aggregate, where the rule uses the aggregate's own Up
// count. Every flow's ports are also checked against the naive reference
// of the rule (oil.expect).
func TestDifferentialSWPFE(t *testing.T) {
	iterations := 200
	if testing.Short() {
		iterations = 40
	}
	r := rand.New(rand.NewPCG(7, 8))
	now := func() time.Time { return time.Date(2012, 12, 3, 18, 28, 0, 0, time.UTC) }
	var choices int
	for it := range iterations {
		o := randomOIL(r, 64, 48, 0.2)
		recT, recS := haltest.NewRecorder(), haltest.NewRecorder()
		d := newTestDriver(t, recT, nil)
		sw, err := swpfe.New(context.Background(), hal.Config{Slot: 3, Logger: slog.New(slog.DiscardHandler), Upcalls: recS, Egress: recS, Now: now})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sw.Close() })
		other := phys(901, "xe-other", hal.PFEID(r.IntN(48)))
		const aggIndirect = hal.IndirectBase + 78
		ops := append(slices.Clone(o.ops), setIFL(other), setNH(hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}))
		// A random aggregate of the OIL, if any, for the direct routes.
		var agg *oilEntry
		for _, k := range r.Perm(len(o.entries)) {
			if o.entries[k].agg {
				agg = &o.entries[k]
				break
			}
		}
		if agg != nil {
			ops = append(ops, setNH(hal.NextHop{ID: aggIndirect, Type: hal.NHIndirect, Target: agg.nh}))
		}
		type flow struct {
			s, g netip.Addr
			ttl  uint8
			want []hal.IFLIndex // Up ports that get a copy, by the naive rule
		}
		var flows []flow
		var frames [][]byte
		for f := range 10 {
			s := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			g := netip.AddrFrom4([4]byte{232, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			ttl := uint8(1 + r.IntN(64))
			switch {
			case f == 6:
				ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, g), NH: hal.NHMDiscardID, RPF: o.ingress.Index}))
			case f == 7: // 224/4 resolve
			case f >= 8 && agg == nil:
				ops = append(ops, o.route(s, g, o.ingress.Index))
				flows = append(flows, flow{s, g, ttl, o.expectUp(s, g)})
			case f >= 8:
				nh := agg.nh // the aggregate NH as the route's NH
				if f == 9 {
					nh = aggIndirect
				}
				ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, g), NH: nh, RPF: o.ingress.Index, Flags: hal.RouteFlagsSG}))
				flows = append(flows, flow{s, g, ttl, o.expectAggregate(agg, s, g)})
			default:
				ops = append(ops, o.route(s, g, o.ingress.Index))
				flows = append(flows, flow{s, g, ttl, o.expectUp(s, g)})
			}
			frames = append(frames, haltest.Frame(s, g, ttl, r.IntN(200), nil))
		}
		frames = append(frames,
			haltest.BuildFrame(haltest.FrameSpec{Source: netip.MustParseAddr("10.0.0.1"), Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 20}),
			frames[0][:30])
		mustApply(t, d, ops...)
		mustApply(t, sw, ops...)
		msg := fmt.Sprintf("iteration %d, OIL %s", it, describeOIL(o))
		for _, in := range []hal.IFLIndex{o.ingress.Index, other.Index} {
			require.NoError(t, d.Input(in, frames), msg)
			require.NoError(t, sw.Input(in, frames), msg)
		}

		require.Equal(t, sortOutputs(recS.Outputs()), sortOutputs(recT.Outputs()), "%s: outputs", msg)
		require.Equal(t, recS.Punts(), recT.Punts(), "%s: punts", msg)
		require.Equal(t, recS.Resolves(), recT.Resolves(), "%s: resolves", msg)
		require.Equal(t, recS.WrongInterfaces(), recT.WrongInterfaces(), "%s: wrong interfaces", msg)
		for _, ifl := range append(slices.Clone(o.ifls), o.ingress, other) {
			cs, err := sw.IFLCounters(ifl.Index)
			require.NoError(t, err)
			ct, err := d.IFLCounters(ifl.Index)
			require.NoError(t, err)
			require.Equal(t, cs, ct, "%s: counters of ifl %d", msg, ifl.Index)
		}

		// Both follow the naive reference of the rule. Two frames per
		// flow were sent (one per ingress); the RPF check dropped the
		// second. Frames with TTL 1 were dropped by both.
		for _, fl := range flows {
			if fl.ttl <= 1 {
				continue
			}
			var got []hal.IFLIndex
			for _, x := range recS.Outputs() {
				if p := haltest.MustParse(x.Frame); p.Source == fl.s && p.Group == fl.g {
					got = append(got, x.Egress)
				}
			}
			require.Equal(t, sortedIFLs(fl.want), sortedIFLs(got), "%s: flow (%v,%v)", msg, fl.s, fl.g)
			choices++
		}
	}
	t.Logf("%d forwarded flows delivered identically, following the LAG rule", choices)
}

// expectUp is expect's ports that are Up: those that receive a copy.
func (o *oil) expectUp(s, g netip.Addr) []hal.IFLIndex {
	ports, _ := o.expect(s, g)
	return slices.DeleteFunc(ports, func(p hal.IFLIndex) bool { return !o.iflByIndex(p).Up })
}

// expectAggregate is the naive rule for a route to aggregate e on its own:
// N = its Up member count, so the flow leaves by Up member
// FlowHash mod N (nothing when no member is Up).
func (o *oil) expectAggregate(e *oilEntry, s, g netip.Addr) []hal.IFLIndex {
	var ups []hal.IFLIndex
	for _, m := range e.members {
		if o.iflByIndex(m).Up {
			ups = append(ups, m)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	return []hal.IFLIndex{ups[FlowHash(s, g)%uint32(len(ups))]}
}

func describeOIL(o *oil) string {
	var parts []string
	for _, e := range o.entries {
		if !e.agg {
			parts = append(parts, fmt.Sprintf("port %d", e.ifl))
			continue
		}
		var ms []string
		for _, m := range e.members {
			st := ""
			if !o.iflByIndex(m).Up {
				st = "(down)"
			}
			ms = append(ms, fmt.Sprintf("%d%s", m, st))
		}
		parts = append(parts, fmt.Sprintf("ae %d %v", e.ifl, ms))
	}
	return fmt.Sprint(parts)
}
