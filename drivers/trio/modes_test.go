package trio

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestCardModes(t *testing.T) {
	cases := []struct {
		card string
		want ReplicationMode
	}{
		{"MPC1", ModeBinary}, {"MPC2", ModeBinary}, {"MPC-2", ModeBinary}, {"mpc2e", ModeBinary},
		{"DPCE", ModeBinary}, {"DPC", ModeBinary},
		{"MPC3", ModeUnary}, {"MPC4E", ModeUnary}, {"MPC7E", ModeUnary}, {"MPC 16x10GE", ModeUnary}, {"MPC-3D-16XGE-SFPP", ModeUnary},
	}
	for _, c := range cases {
		t.Run(c.card, func(t *testing.T) {
			d := newTestDriver(t, haltest.NewRecorder(), nil)
			require.NoError(t, d.SetOption("fpc.5.type", c.card))
			assert.Equal(t, c.want, d.Mode(5))
			assert.Equal(t, ModeBinary, d.Mode(4), "other cards keep the default")
		})
	}
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	for _, bad := range []string{"SRX", "MPC", "fpc"} {
		assert.ErrorIs(t, d.SetOption("fpc.5.type", bad), hal.ErrInvalid, bad)
	}
	assert.ErrorIs(t, d.SetOption("fpc.99.type", "MPC3"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption("fpc.x.type", "MPC3"), hal.ErrInvalid)
}

func TestModeOptions(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	assert.Equal(t, ModeBinary, d.Mode(3), "default: binary (MPC1/MPC2 class)")
	require.NoError(t, d.SetOption("fpc.3.type", "MPC3"))
	assert.Equal(t, ModeUnary, d.Mode(3))
	require.NoError(t, d.SetOption(OptNetworkServices, "enhanced-ip"))
	assert.Equal(t, ModeUnary, d.Mode(0), "enhanced-ip: unary everywhere")
	require.NoError(t, d.SetOption(OptMulticastReplication, "ingress"))
	assert.Equal(t, ModeIngress, d.Mode(3))
	require.NoError(t, d.SetOption(OptMulticastReplication, "local-latency-fairness"))
	assert.Equal(t, ModeLocalLatencyFairness, d.Mode(3))
	require.NoError(t, d.SetOption(OptMulticastReplication, ""))
	require.NoError(t, d.SetOption(OptNetworkServices, "ip"))
	assert.Equal(t, ModeBinary, d.Mode(0))
	assert.Equal(t, ModeUnary, d.Mode(3))

	assert.ErrorIs(t, d.SetOption(OptMulticastReplication, "egress"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption(OptNetworkServices, "turbo"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption("fpc.1.pic.7.no-mcast-replication", "true"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption("fpc.1.pic.1.no-mcast-replication", "maybe"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption(OptRoutes, "10"), hal.ErrNotSupported)
	assert.NoError(t, d.SetOption("some-other-knob", "x"), "unknown keys are ignored")

	// The same keys at construction.
	cfg := hal.Config{Slot: 3, Upcalls: nopUpcalls{}, Options: map[string]string{"fpc.3.type": "MPC4", OptResolveRate: "200"}}
	d2, err := New(context.Background(), cfg)
	require.NoError(t, err)
	defer d2.Close()
	assert.Equal(t, ModeUnary, d2.(*Driver).Mode(3))
	cfg.Options = map[string]string{OptMulticastReplication: "sometimes"}
	_, err = New(context.Background(), cfg)
	assert.ErrorIs(t, err, hal.ErrInvalid)
	cfg.Options = map[string]string{OptRoutes: "-1"}
	_, err = New(context.Background(), cfg)
	assert.ErrorIs(t, err, hal.ErrInvalid)
}

func TestBuildTreeLayouts(t *testing.T) {
	pfes := []hal.PFEID{9, 1, 13, 4, 6, 15, 4} // unsorted, one duplicate
	cases := []struct {
		name     string
		mode     ReplicationMode
		nh       hal.NHID
		root     hal.PFEID
		hasRoot  bool
		reverse  bool
		leafOnly []hal.PFEID
		order    []hal.PFEID
		parent   []int
	}{
		{"binary, rotation 1174 mod 6 = 4", ModeBinary, 1174, 0, false, false, nil,
			[]hal.PFEID{13, 15, 1, 4, 6, 9}, []int{-1, -1, 0, 0, 1, 1}},
		{"binary reverse", ModeBinary, 1174, 0, false, true, nil,
			[]hal.PFEID{9, 6, 4, 1, 15, 13}, []int{-1, -1, 0, 0, 1, 1}},
		{"ingress PFE removed, rotation 1174 mod 5 = 4", ModeBinary, 1174, 6, true, false, nil,
			[]hal.PFEID{15, 1, 4, 9, 13}, []int{-1, -1, 0, 0, 1}},
		{"ingress PFE hosting nothing", ModeBinary, 1174, 2, true, false, nil,
			[]hal.PFEID{13, 15, 1, 4, 6, 9}, []int{-1, -1, 0, 0, 1, 1}},
		{"unary chain", ModeUnary, 6, 0, false, false, nil,
			[]hal.PFEID{1, 4, 6, 9, 13, 15}, []int{-1, 0, 1, 2, 3, 4}},
		{"ingress replication", ModeIngress, 7, 1, true, false, nil,
			[]hal.PFEID{9, 13, 15, 4, 6}, []int{-1, -1, -1, -1, -1}},
		{"no-mcast-replication PFEs take leaf positions (binary)", ModeBinary, 6, 0, false, false, []hal.PFEID{1, 4},
			[]hal.PFEID{6, 9, 13, 15, 1, 4}, []int{-1, -1, 0, 0, 1, 1}},
		{"no-mcast-replication PFE at the end of a chain", ModeUnary, 6, 0, false, false, []hal.PFEID{4},
			[]hal.PFEID{1, 6, 9, 13, 15, 4}, []int{-1, 0, 1, 2, 3, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := BuildTree(c.mode, c.nh, pfes, c.root, c.hasRoot, c.reverse, c.leafOnly)
			assert.Equal(t, c.order, tr.Order)
			assert.Equal(t, c.parent, tr.Parent)
		})
	}
}

// chainOIL programs one unicast port on each of pfes and an (S,G) route
// entering on an ingress port on PFE in.
func chainOIL(t *testing.T, d *Driver, in hal.PFEID, pfes []hal.PFEID) (hal.IFLIndex, netip.Addr, netip.Addr) {
	t.Helper()
	ops := []hal.Op{setIFL(phys(900, "xe-in", in))}
	var members []hal.NHID
	for i, p := range pfes {
		idx := hal.IFLIndex(100 + i)
		ops = append(ops, setIFL(phys(idx, "xe-out", p)), setNH(hal.NextHop{ID: hal.NHID(200 + i), Type: hal.NHUnicast, IFL: idx}))
		members = append(members, hal.NHID(200+i))
	}
	s, g := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("232.1.1.1")
	ops = append(ops,
		setNH(hal.NextHop{ID: 300, Type: hal.NHComposite, Members: members}),
		setNH(hal.NextHop{ID: hal.IndirectBase, Type: hal.NHIndirect, Target: 300}),
		setRoute(hal.Route{Key: hal.SG(s, g), NH: hal.IndirectBase, RPF: 900}))
	mustApply(t, d, ops...)
	return 900, s, g
}

func fabricTx(t *testing.T, d *Driver, pfes ...hal.PFEID) []uint64 {
	var out []uint64
	for _, p := range pfes {
		st, err := d.PFEStats(p)
		require.NoError(t, err)
		out = append(out, st.FabricTx)
	}
	return out
}

func TestModesOnThePacketPath(t *testing.T) {
	pfes := []hal.PFEID{4, 5, 6, 7, 8, 9, 10}
	all := append([]hal.PFEID{0}, pfes...)
	send := func(t *testing.T, opts map[string]string) (*Driver, *haltest.Recorder) {
		rec := haltest.NewRecorder()
		d := newTestDriver(t, rec, opts)
		in, s, g := chainOIL(t, d, 0, pfes)
		require.NoError(t, d.Input(in, [][]byte{haltest.Frame(s, g, 64, 10, nil)}))
		require.Len(t, rec.Outputs(), len(pfes))
		return d, rec
	}
	t.Run("binary: at most two fabric copies per PFE", func(t *testing.T) {
		d, _ := send(t, nil)
		tx := fabricTx(t, d, all...)
		var sum uint64
		for _, n := range tx {
			assert.LessOrEqual(t, n, uint64(2))
			sum += n
		}
		assert.Equal(t, uint64(2), tx[0], "root feeds two")
		assert.Equal(t, uint64(len(pfes)), sum)
	})
	t.Run("unary (card MPC3 on the ingress FPC): a chain", func(t *testing.T) {
		d, _ := send(t, map[string]string{"fpc.0.type": "MPC3"})
		tx := fabricTx(t, d, all...)
		assert.Equal(t, uint64(1), tx[0], "the root sends one copy")
		ones := 0
		for _, n := range tx {
			assert.LessOrEqual(t, n, uint64(1))
			if n == 1 {
				ones++
			}
		}
		assert.Equal(t, len(pfes), ones, "every PFE but the chain's last sends one")
	})
	t.Run("ingress: the root feeds every egress PFE", func(t *testing.T) {
		d, _ := send(t, map[string]string{OptMulticastReplication: "ingress"})
		tx := fabricTx(t, d, all...)
		assert.Equal(t, []uint64{uint64(len(pfes)), 0, 0, 0, 0, 0, 0, 0}, tx)
	})
	t.Run("no-mcast-replication PFE never relays", func(t *testing.T) {
		d, _ := send(t, map[string]string{"fpc.1.pic.1.no-mcast-replication": "true", "fpc.2.pic.0.no-mcast-replication": "true"})
		tx := fabricTx(t, d, 5, 8)
		assert.Equal(t, []uint64{0, 0}, tx, "PFEs 5 and 8 are leaves")
		d2, _ := send(t, map[string]string{OptNetworkServices: "enhanced-ip", "fpc.1.pic.1.no-mcast-replication": "true"})
		assert.Equal(t, []uint64{0}, fabricTx(t, d2, 5), "the chain ends at PFE 5")
		st, _ := d2.PFEStats(5)
		assert.Equal(t, uint64(1), st.FabricRx)
	})
}
