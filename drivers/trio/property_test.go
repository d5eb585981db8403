package trio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// checkTree asserts the structural properties of a tree over want (the
// egress PFEs without the root): every PFE exactly once, no root among
// them, parents before children (no loop), the fan-out bound and the depth
// of the mode, and leaf placement of leaf-only PFEs when it is feasible.
func checkTree(t *testing.T, tr Tree, want []hal.PFEID, leafOnly map[hal.PFEID]bool, msg string) {
	t.Helper()
	got := slices.Clone(tr.Order)
	slices.Sort(got)
	require.Equal(t, want, got, "%s: every egress PFE but the root exactly once", msg)
	m := len(tr.Order)
	for i, p := range tr.Parent {
		require.Less(t, p, i, "%s: parent of position %d precedes it", msg, i)
		require.GreaterOrEqual(t, p, -1)
	}
	fan := tr.FanOut()
	switch tr.Mode {
	case ModeBinary:
		for i, f := range fan {
			require.LessOrEqual(t, f, 2, "%s: binary fan-out of node %d", msg, i)
		}
		// n nodes including the root fill ceil(log2(n+1)) levels.
		if m > 0 {
			n := m + 1
			require.Equal(t, int(math.Ceil(math.Log2(float64(n+1)))), tr.Depth()+1, "%s: binary levels for %d nodes", msg, n)
		}
	case ModeUnary:
		for i, f := range fan {
			require.LessOrEqual(t, f, 1, "%s: unary fan-out of node %d", msg, i)
		}
		require.Equal(t, m, tr.Depth(), "%s: unary chain depth", msg)
	case ModeIngress, ModeLocalLatencyFairness:
		require.Equal(t, m, fan[0], "%s: the root feeds every PFE", msg)
		require.Equal(t, min(m, 1), tr.Depth())
	}
	// Leaf-only PFEs are leaves whenever there are enough leaf positions
	// for all of them (positions without children).
	marked, leaves := 0, 0
	for i, p := range tr.Order {
		if leafOnly[p] {
			marked++
		}
		if fan[i+1] == 0 {
			leaves++
		}
	}
	if marked <= leaves {
		for i, p := range tr.Order {
			if leafOnly[p] {
				require.Zero(t, fan[i+1], "%s: no-mcast-replication PFE %d replicates", msg, p)
			}
		}
	}
}

func TestBuildTreeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	modes := []ReplicationMode{ModeBinary, ModeUnary, ModeIngress, ModeLocalLatencyFairness}
	for it := range 3000 {
		mode := modes[r.IntN(len(modes))]
		n := r.IntN(49)
		var pfes []hal.PFEID
		for range n {
			pfes = append(pfes, hal.PFEID(r.IntN(48)))
		}
		root := hal.PFEID(r.IntN(48))
		leaf := map[hal.PFEID]bool{}
		var leafList []hal.PFEID
		for range r.IntN(4) {
			p := hal.PFEID(r.IntN(48))
			leaf[p] = true
			leafList = append(leafList, p)
		}
		nh := hal.NHID(r.Uint32())
		rev := r.IntN(2) == 1
		tr := BuildTree(mode, nh, pfes, root, true, rev, leafList)
		want := slices.Compact(slices.Sorted(slices.Values(pfes)))
		want = slices.DeleteFunc(want, func(p hal.PFEID) bool { return p == root })
		if want == nil {
			want = []hal.PFEID{}
		}
		checkTree(t, tr, want, leaf, fmt.Sprintf("iteration %d (%s, nh %d, root %d, reverse %v)", it, mode, nh, root, rev))
	}
}

// TestPacketPathProperties sends flows through random OILs (1..64 ports on
// up to 48 PFEs, LAGs of 1..8 members) from random ingress PFEs, in every
// mode, and checks what the model did against the naive LAG reference and
// against BuildTree: exactly one copy per port of the flow's sublist, one
// fabric copy into every egress PFE but the root and none elsewhere, the
// fan-out of each PFE as the tree says (<= 2 binary, <= 1 unary), no
// duplicate fabric copy.
func TestPacketPathProperties(t *testing.T) {
	iterations := 300
	if testing.Short() {
		iterations = 60
	}
	r := rand.New(rand.NewPCG(3, 4))
	type modeOpts struct {
		name string
		opts map[string]string
	}
	variants := []modeOpts{
		{"binary", nil},
		{"unary", map[string]string{OptNetworkServices: "enhanced-ip"}},
		{"ingress", map[string]string{OptMulticastReplication: "ingress"}},
		{"local-latency-fairness", map[string]string{OptMulticastReplication: "local-latency-fairness"}},
		{"cards", nil}, // random card types per FPC
	}
	for it := range iterations {
		v := variants[it%len(variants)]
		opts := map[string]string{}
		for k, val := range v.opts {
			opts[k] = val
		}
		if v.name == "cards" {
			for fpc := range 12 {
				opts["fpc."+strconv.Itoa(fpc)+".type"] = []string{"MPC2", "MPC3", "MPC4", "MPC1", "MPC 16x10GE"}[r.IntN(5)]
			}
		}
		leaf := map[hal.PFEID]bool{}
		if r.IntN(3) == 0 {
			for range 1 + r.IntN(6) {
				p := hal.PFEID(r.IntN(48))
				leaf[p] = true
				opts[fmt.Sprintf("fpc.%d.pic.%d.no-mcast-replication", p/4, p%4)] = "true"
			}
		}
		var leafList []hal.PFEID
		for p := range leaf {
			leafList = append(leafList, p)
		}
		rec := haltest.NewRecorder()
		d := newTestDriver(t, rec, opts)
		o := randomOIL(r, 64, 48, 0)
		mustApply(t, d, o.ops...)
		for f := range 4 {
			s := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			g := netip.AddrFrom4([4]byte{232, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			rpf := o.ingress.Index
			if f%2 == 1 {
				rpf = 0
			}
			mustApply(t, d, o.route(s, g, rpf))
			msg := fmt.Sprintf("iteration %d (%s) flow %v,%v oil %d entries, composite %d, ingress PFE %d", it, v.name, s, g, len(o.entries), o.composite, o.ingress.PFE)

			d.ResetReplicationStats()
			rec.Reset()
			in := haltest.Frame(s, g, 64, 26, nil)
			require.NoError(t, d.Input(o.ingress.Index, [][]byte{in}))

			// Exactly one copy per port of the flow's sublist.
			ports, _ := o.expect(s, g)
			var got []hal.IFLIndex
			for _, out := range rec.Outputs() {
				got = append(got, out.Egress)
				p := haltest.MustParse(out.Frame)
				require.True(t, p.ChecksumOK, msg)
				require.Equal(t, uint8(63), p.TTL, msg)
			}
			require.Equal(t, sortedIFLs(ports), sortedIFLs(got), "%s: delivered ports", msg)

			// The fabric did what the tree says.
			root := o.ingress.PFE
			local := map[hal.PFEID]uint64{}
			var egress []hal.PFEID
			for _, port := range ports {
				p := o.iflByIndex(port).PFE
				local[p]++
				if p != root && !slices.Contains(egress, p) {
					egress = append(egress, p)
				}
			}
			slices.Sort(egress)
			if egress == nil {
				egress = []hal.PFEID{}
			}
			mode := d.Mode(int(root) / PICsPerFPC)
			h := FlowHash(s, g)
			tr := BuildTree(mode, o.composite, egress, root, true, TreeVariant(h) == 1, leafList)
			checkTree(t, tr, egress, leaf, msg)
			fan := tr.FanOut()
			tx := map[hal.PFEID]uint64{root: uint64(fan[0])}
			rx := map[hal.PFEID]uint64{}
			for i, p := range tr.Order {
				tx[p] = uint64(fan[i+1])
				rx[p] = 1
			}
			for p := range 48 {
				st, err := d.PFEStats(hal.PFEID(p))
				require.NoError(t, err)
				pp := hal.PFEID(p)
				require.Equal(t, rx[pp], st.FabricRx, "%s: fabric copies into PFE %d", msg, p)
				require.Equal(t, tx[pp], st.FabricTx, "%s: fabric copies out of PFE %d", msg, p)
				require.Equal(t, local[pp], st.LocalCopies, "%s: local copies on PFE %d", msg, p)
				require.Zero(t, st.Drops[DropFabricDup], msg)
			}
		}
	}
}

// TestLAGSpreadUnequal shows the load spread of the sublist rule when the
// OIL holds aggregates with unequal member counts (2 and 3): #sublists is
// 3, so the 2-member aggregate sends sublists 0 and 2 to its first member,
// about 2/3 of the flows, while the 3-member aggregate is even. This is the
// documented "uneven load balancing" (reference-junos.md 1.2).
func TestLAGSpreadUnequal(t *testing.T) {
	n, member := LAGRule([]int{2, 3, 1})
	require.Equal(t, 3, n)
	var table [][]int
	for j := range n {
		table = append(table, []int{member(j, 0), member(j, 1), member(j, 2)})
	}
	assert.Equal(t, [][]int{{0, 0, 0}, {1, 1, 0}, {0, 2, 0}}, table, "member used by sublist j of each entry")
	n0, _ := LAGRule(nil)
	assert.Equal(t, 1, n0, "no LAG: one sublist")
	_, m := LAGRule([]int{0, 4})
	assert.Equal(t, -1, m(1, 0), "an aggregate without member contributes nothing")

	// Through the driver: 3000 flows into a composite over ae-a (2 members)
	// and ae-b (3 members).
	rec := haltest.NewRecorder()
	d := newTestDriver(t, rec, nil)
	ops := []hal.Op{setIFL(phys(900, "xe-in", 0))}
	mk := func(base hal.IFLIndex, nhBase hal.NHID, k int, ae hal.IFLIndex, aenh hal.NHID) {
		var ms []hal.IFLIndex
		var mn []hal.NHID
		for i := range k {
			idx := base + hal.IFLIndex(i)
			ops = append(ops, setIFL(phys(idx, "xe-m", hal.PFEID(4+int(base%8)+i))), setNH(hal.NextHop{ID: nhBase + hal.NHID(i), Type: hal.NHUnicast, IFL: idx}))
			ms, mn = append(ms, idx), append(mn, nhBase+hal.NHID(i))
		}
		ops = append(ops, setIFL(hal.IFL{Index: ae, Name: "ae", Kind: hal.IFLAggregate, Members: ms, Up: true}),
			setNH(hal.NextHop{ID: aenh, Type: hal.NHAggregate, IFL: ae, Members: mn}))
	}
	mk(100, 1100, 2, 150, 1150)
	mk(200, 1200, 3, 250, 1250)
	ops = append(ops, setNH(hal.NextHop{ID: 1300, Type: hal.NHComposite, Members: []hal.NHID{1150, 1250}}),
		setNH(hal.NextHop{ID: hal.IndirectBase + 1, Type: hal.NHIndirect, Target: 1300}))
	const flows = 3000
	g := netip.MustParseAddr("232.1.1.1")
	for i := range flows {
		s := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, g), NH: hal.IndirectBase + 1}))
	}
	mustApply(t, d, ops...)
	for i := range flows {
		s := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		require.NoError(t, d.Input(900, [][]byte{haltest.Frame(s, g, 64, 10, nil)}))
	}
	share := func(idx hal.IFLIndex) float64 {
		c, err := d.IFLCounters(idx)
		require.NoError(t, err)
		return float64(c.TxPackets) / flows
	}
	t.Logf("2-member aggregate: %.3f %.3f; 3-member aggregate: %.3f %.3f %.3f", share(100), share(101), share(200), share(201), share(202))
	// The hash is deterministic, so these bounds are not flaky; they
	// bracket the rule's 2/3, 1/3 and 1/3 shares.
	assert.InDelta(t, 2.0/3, share(100), 0.05, "first member of the 2-member aggregate")
	assert.InDelta(t, 1.0/3, share(101), 0.05)
	for _, idx := range []hal.IFLIndex{200, 201, 202} {
		assert.InDelta(t, 1.0/3, share(idx), 0.05)
	}
}

func TestFlowHashStable(t *testing.T) {
	// Pinned values: other drivers (swpfe) reproduce FlowHash bit for bit.
	assert.Equal(t, uint32(flowHash(0x0a80010a, 0xe8000701)), FlowHash(seedSource, seedGroup))
	assert.Equal(t, FlowHash(seedSource, seedGroup), FlowHash(netip.AddrFrom16(seedSource.As16()), seedGroup), "IPv4-mapped")
	x := uint64(0xe8000701)<<32 | 0x0a80010a
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	assert.Equal(t, uint32(x), FlowHash(seedSource, seedGroup))
	t.Logf("FlowHash(10.128.1.10, 232.0.7.1) = %#08x", FlowHash(seedSource, seedGroup))
	assert.Equal(t, SublistIndex(FlowHash(seedSource, seedGroup), 3)%2, EgressMember(seedSource, seedGroup, 3, 2))
	assert.Equal(t, -1, EgressMember(seedSource, seedGroup, 3, 0))
}
