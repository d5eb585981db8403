package swpfe

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestCsumAdjustMatchesFullRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		hdr  func() []byte
	}{
		{"seed 003 flow", func() []byte {
			f := haltest.Frame(netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr("232.0.7.1"), 64, 10, nil)
			return f[14:34]
		}},
		{"random headers", func() []byte {
			h := make([]byte, 20)
			for i := range h {
				h[i] = byte(r.Uint32())
			}
			h[0] = 0x45
			return h
		}},
		{"checksum near 0xffff", func() []byte {
			// Search a header whose checksum is 0x0000 or 0xffff-ish to
			// exercise the ones-complement edge cases of RFC 1624.
			for {
				h := make([]byte, 20)
				for i := range h {
					h[i] = byte(r.Uint32())
				}
				h[0] = 0x45
				if c := haltest.IPv4Checksum(h); c < 0x0100 || c > 0xff00 {
					return h
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 2000 {
				h := c.hdr()
				binary.BigEndian.PutUint16(h[10:12], haltest.IPv4Checksum(h))
				for ttl := range 256 {
					if ttl < 2 {
						continue
					}
					h[8] = byte(ttl)
					binary.BigEndian.PutUint16(h[10:12], haltest.IPv4Checksum(h))
					old := uint16(h[8])<<8 | uint16(h[9])
					got := csumAdjust(binary.BigEndian.Uint16(h[10:12]), old, old-0x100)
					h2 := slices.Clone(h)
					h2[8]--
					want := haltest.IPv4Checksum(h2)
					if got != want {
						// Both are valid only if the header verifies.
						binary.BigEndian.PutUint16(h2[10:12], got)
						require.Equal(t, want, got, "ttl %d header %x", ttl, h)
					}
				}
			}
		})
	}
}

func TestRewriteMatchesReference(t *testing.T) {
	src, grp := netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr("232.0.7.1")
	cases := []struct {
		name   string
		frame  []byte
		mac    []byte
		wantTo int
	}{
		{"udp ttl 64 with egress mac", haltest.Frame(src, grp, 64, 100, nil), []byte{2, 0, 0, 0, 1, 0x8b}, 1},
		{"ttl 2 becomes 1", haltest.Frame(src, grp, 2, 0, nil), []byte{2, 0, 0, 0, 1, 0x8b}, 1},
		{"egress without mac keeps source mac", haltest.Frame(src, grp, 9, 10, []byte{2, 9, 9, 9, 9, 9}), nil, 1},
		{"group with high bit in second octet", haltest.Frame(src, netip.MustParseAddr("239.255.1.2"), 30, 10, nil), []byte{2, 0, 0, 0, 1, 0x8b}, 1},
		{"ip options (ihl 6)", withOptions(haltest.Frame(src, grp, 64, 10, nil)), []byte{2, 0, 0, 0, 1, 0x8b}, 1},
		{"ethernet padding kept", append(haltest.Frame(src, grp, 64, 0, nil), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), []byte{2, 0, 0, 0, 1, 0x8b}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := haltest.NewRecorder()
			d, err := NewDriver(hal.Config{Upcalls: rec, Egress: rec})
			require.NoError(t, err)
			defer d.Close()
			p := haltest.MustParse(c.frame)
			_, err = d.Apply(t.Context(), []hal.Op{
				{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 1, Kind: hal.IFLPhysical, Up: true}},
				{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 2, Kind: hal.IFLPhysical, Up: true, MAC: c.mac}},
				{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 10, Type: hal.NHUnicast, IFL: 2}},
				{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(p.Source, p.Group), NH: 10, RPF: 1}},
			})
			require.NoError(t, err)
			in := slices.Clone(c.frame)
			require.NoError(t, d.Input(1, [][]byte{in}))
			assert.Equal(t, c.frame, in, "input untouched")
			outs := rec.OutputsTo(2)
			require.Len(t, outs, c.wantTo)
			want := slices.Clone(c.frame)
			haltest.RewriteForEgress(want, p.Group, c.mac)
			assert.Equal(t, want, outs[0])
			assert.True(t, haltest.MustParse(outs[0]).ChecksumOK)
		})
	}
}

// withOptions inserts a 4-byte IP option (NOP NOP NOP EOL) after the IPv4
// header and fixes IHL, total length and checksum.
func withOptions(f []byte) []byte {
	out := append(slices.Clone(f[:34]), 1, 1, 1, 0)
	out = append(out, f[34:]...)
	ip := out[14:]
	ip[0] = 0x46
	binary.BigEndian.PutUint16(ip[2:4], binary.BigEndian.Uint16(ip[2:4])+4)
	binary.BigEndian.PutUint16(ip[10:12], haltest.IPv4Checksum(ip[:24]))
	return out
}

// TestLAGRule checks that the aggregate member follows the platform's rule
// (hal/flow.go, REFERENCE.md decision 3), which depends on the nh-list the
// aggregate is used in: aggregate A (2 Up members of 3, the middle one
// down) and B (3 members) in composite {A, B} have 3 sublists, A alone in
// composite {A} has 2, and A referenced directly by a route or through an
// Indirect has 2 (its own Up count).
func TestLAGRule(t *testing.T) {
	const (
		in            hal.IFLIndex = 1
		aeA, aeB      hal.IFLIndex = 50, 60
		nhA, nhB      hal.NHID     = 500, 600
		compAB, compA hal.NHID     = 700, 701
		indAB, indA   hal.NHID     = hal.IndirectBase + 1, hal.IndirectBase + 2
		indAgg        hal.NHID     = hal.IndirectBase + 3
	)
	rec := haltest.NewRecorder()
	d, err := NewDriver(hal.Config{Upcalls: rec, Egress: rec})
	require.NoError(t, err)
	defer d.Close()
	ops := []hal.Op{{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: in, Kind: hal.IFLPhysical, Up: true}}}
	aggregate := func(ae hal.IFLIndex, nh hal.NHID, up []bool) (ports []hal.IFLIndex) {
		var ms []hal.IFLIndex
		var nhs []hal.NHID
		for k, u := range up {
			idx, mnh := ae+1+hal.IFLIndex(k), nh+1+hal.NHID(k)
			ops = append(ops,
				hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Kind: hal.IFLPhysical, Up: u, MAC: haltest.IFLMAC(idx)}},
				hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: mnh, Type: hal.NHUnicast, IFL: idx}})
			ms, nhs = append(ms, idx), append(nhs, mnh)
			if u {
				ports = append(ports, idx)
			}
		}
		ops = append(ops,
			hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ae, Kind: hal.IFLAggregate, Up: true, Members: ms}},
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: nh, Type: hal.NHAggregate, IFL: ae, Members: nhs}})
		return ports
	}
	upA := aggregate(aeA, nhA, []bool{true, false, true})
	upB := aggregate(aeB, nhB, []bool{true, true, true})
	ops = append(ops,
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: compAB, Type: hal.NHComposite, Members: []hal.NHID{nhA, nhB}}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: compA, Type: hal.NHComposite, Members: []hal.NHID{nhA}}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: indAB, Type: hal.NHIndirect, Target: compAB}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: indA, Type: hal.NHIndirect, Target: compA}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: indAgg, Type: hal.NHIndirect, Target: nhA}},
	)
	routes := []struct {
		name     string
		group    netip.Addr
		nh       hal.NHID
		sublists int
		aggs     [][]hal.IFLIndex // Up ports of each aggregate of the nh-list
	}{
		{"composite {A, B}", netip.MustParseAddr("232.1.0.1"), indAB, 3, [][]hal.IFLIndex{upA, upB}},
		{"composite {A}", netip.MustParseAddr("232.1.0.2"), indA, 2, [][]hal.IFLIndex{upA}},
		{"indirect to A", netip.MustParseAddr("232.1.0.3"), indAgg, 2, [][]hal.IFLIndex{upA}},
		{"route to A", netip.MustParseAddr("232.1.0.4"), nhA, 2, [][]hal.IFLIndex{upA}},
	}
	const flows = 200
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 5, byte(i >> 8), byte(i)}) }
	for _, r := range routes {
		for i := range flows {
			ops = append(ops, hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(src(i), r.group), NH: r.nh}})
		}
	}
	_, err = d.Apply(t.Context(), ops)
	require.NoError(t, err)
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			used := map[hal.IFLIndex]bool{}
			for i := range flows {
				s := src(i)
				rec.Reset()
				require.NoError(t, d.Input(in, [][]byte{haltest.Frame(s, r.group, 64, 10, nil)}))
				var want []hal.IFLIndex
				for _, ports := range r.aggs {
					want = append(want, ports[hal.EgressMember(s, r.group, r.sublists, len(ports))])
				}
				var got []hal.IFLIndex
				for _, o := range rec.Outputs() {
					got = append(got, o.Egress)
					used[o.Egress] = true
				}
				require.Equal(t, want, got, "flow %v", s)
			}
			for _, ports := range r.aggs {
				for _, p := range ports {
					assert.True(t, used[p], "Up member %d used by some of %d flows", p, flows)
				}
			}
		})
	}
}

func TestPacketPathAllocatesNothing(t *testing.T) {
	for _, fanout := range []int{1, 16} {
		d, frames := benchSetup(t, fanout, 64, 32)
		allocs := testing.AllocsPerRun(200, func() {
			if err := d.Input(benchIngress, frames); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "fanout %d", fanout)
		d.Close()
	}
}

func TestCountersAfterReplaceSurvive(t *testing.T) {
	d, frames := benchSetup(t, 2, 64, 4)
	require.NoError(t, d.Input(benchIngress, frames))
	// Replace the route and the egress IFL with identical values.
	_, err := d.Apply(t.Context(), []hal.Op{
		{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(benchSource, benchGroup), NH: benchIndirect, RPF: benchIngress}},
		{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: benchEgress0, Kind: hal.IFLPhysical, Up: true, MAC: haltest.IFLMAC(benchEgress0)}},
	})
	require.NoError(t, err)
	c, err := d.IFLCounters(benchEgress0)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), c.TxPackets)
	r, err := d.Route(hal.SG(benchSource, benchGroup))
	require.NoError(t, err)
	var st hal.RouteStat
	d.WalkRoutes(func(rr hal.Route, s hal.RouteStat) bool {
		if rr.Key == r.Key {
			st = s
		}
		return true
	})
	assert.Equal(t, uint64(4), st.Counters.Packets)
}
