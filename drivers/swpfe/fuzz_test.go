package swpfe

import (
	"net/netip"
	"testing"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// FuzzInput feeds arbitrary frames to a driver with a few routes (an
// (S,G) with LAG and fan-out, 224/4 resolve, an mdiscard (S,G)). It must
// never panic and never emit a frame it should not: every output parses
// and has a valid IPv4 checksum, since only well-formed frames forward.
func FuzzInput(f *testing.F) {
	s, g := benchSource, benchGroup
	f.Add(haltest.Frame(s, g, 64, 10, nil), false)
	f.Add(haltest.Frame(s, g, 1, 0, nil), false)
	f.Add(haltest.Frame(s, netip.MustParseAddr("232.9.9.9"), 64, 10, nil), false)
	f.Add(haltest.Frame(s, netip.MustParseAddr("232.0.8.1"), 64, 10, nil), false)
	f.Add(haltest.BuildFrame(haltest.FrameSpec{Source: s, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 20}), true)
	f.Add(haltest.Frame(s, g, 64, 10, nil)[:30], false)
	f.Add([]byte{}, false)

	rec := haltest.NewRecorder()
	d, err := NewDriver(hal.Config{Upcalls: rec, Egress: rec})
	if err != nil {
		f.Fatal(err)
	}
	ops := append(benchTopology(3),
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 50, Kind: hal.IFLAggregate, Members: []hal.IFLIndex{100, 101}, Up: true}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 3000, Type: hal.NHAggregate, IFL: 50, Members: []hal.NHID{2000, 2001}}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: benchComp, Type: hal.NHComposite, Members: []hal.NHID{3000, 2002}}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(s, netip.MustParseAddr("232.0.8.1")), NH: hal.NHMDiscardID}},
	)
	if _, err := d.Apply(f.Context(), ops); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte, other bool) {
		rec.Reset()
		ingress := benchIngress
		if other {
			ingress = benchEgress0
		}
		// Twice in one batch, to exercise the lookup cache.
		if err := d.Input(ingress, [][]byte{frame, frame}); err != nil {
			t.Fatal(err)
		}
		for _, o := range rec.Outputs() {
			p, err := haltest.ParseFrame(o.Frame)
			if err != nil {
				t.Fatalf("forwarded an unparsable frame: %v", err)
			}
			if !p.ChecksumOK {
				// The input's checksum may have been wrong: the rewrite
				// keeps it exactly as wrong (incremental update).
				in := haltest.MustParse(frame)
				if in.ChecksumOK {
					t.Fatalf("valid checksum broken by the rewrite")
				}
			}
		}
	})
}
