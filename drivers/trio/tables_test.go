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

func TestTablesFull(t *testing.T) {
	ctx := context.Background()
	t.Run("routes", func(t *testing.T) {
		d := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptRoutes: "16"})
		mustApply(t, d, seedOps()...) // 3 routes
		var ops []hal.Op
		for i := range 14 {
			ops = append(ops, setRoute(hal.Route{Key: hal.SG(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), seedGroup), NH: seedIndirect}))
		}
		n, err := d.Apply(ctx, ops)
		assert.Equal(t, 13, n)
		assert.ErrorIs(t, err, hal.ErrTableFull)
		assert.Contains(t, err.Error(), "op 13 ")
		// Replacing an installed route still works; so does a new one
		// after a delete.
		mustApply(t, d, ops[0])
		mustApply(t, d, delRoute(ops[0].Route.Key), ops[13])
		assert.Equal(t, 16, d.Summary().Routes)
	})
	t.Run("next hops", func(t *testing.T) {
		d := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptNHs: "6"})
		n, err := d.Apply(ctx, seedOps())
		assert.ErrorIs(t, err, hal.ErrTableFull)
		assert.Less(t, n, len(seedOps()))
		assert.Equal(t, 6, d.Summary().NHs)
	})
	t.Run("multicast lists", func(t *testing.T) {
		// The seed composite takes 2 lists (2 sublists); a limit of 3 refuses
		// a second one.
		d := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptMcastLists: "3"})
		mustApply(t, d, seedOps()...)
		mustApply(t, d, setNH(hal.NextHop{ID: seedComposite, Type: hal.NHComposite, Members: []hal.NHID{seedNHAE}})) // replace: same usage
		mustApply(t, d, setNH(hal.NextHop{ID: 1174, Type: hal.NHComposite, Members: []hal.NHID{seedNHM1}}))          // 1 list
		_, err := d.Apply(ctx, []hal.Op{setNH(hal.NextHop{ID: 1175, Type: hal.NHComposite, Members: []hal.NHID{seedNHM2}})})
		assert.ErrorIs(t, err, hal.ErrTableFull)
		mustApply(t, d, delNH(1174))
		mustApply(t, d, setNH(hal.NextHop{ID: 1175, Type: hal.NHComposite, Members: []hal.NHID{seedNHM2}}))
	})
	t.Run("interfaces", func(t *testing.T) {
		d := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptIFLs: "2"})
		mustApply(t, d, setIFL(phys(1, "a", 0)), setIFL(phys(2, "b", 0)), setIFL(phys(2, "b", 1)))
		_, err := d.Apply(ctx, []hal.Op{setIFL(phys(3, "c", 0))})
		assert.ErrorIs(t, err, hal.ErrTableFull)
	})
	t.Run("defaults", func(t *testing.T) {
		d := newTestDriver(t, haltest.NewRecorder(), nil)
		assert.Equal(t, limits{routes: DefaultRoutes, nhs: DefaultNHs, mcastLists: DefaultMcastLists, ifls: DefaultIFLs, opLog: DefaultOpLog}, d.lim)
	})
}

func TestPFEOutOfRange(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	_, err := d.Apply(context.Background(), []hal.Op{setIFL(phys(1, "xe-70/0/0.0", hal.PFEOf(70, 0)))})
	assert.ErrorIs(t, err, hal.ErrInvalid)
	_, err = d.PFEStats(hal.PFEID(MaxPFEs))
	assert.ErrorIs(t, err, hal.ErrInvalid)
}

func TestOpLog(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptOpLog: "5"})
	mustApply(t, d, seedOps()[:3]...)
	log := d.OpLog()
	require.Len(t, log, 3)
	assert.Equal(t, uint64(1), log[0].Seq)
	assert.Equal(t, hal.OpSetIFL, log[0].Kind)
	assert.Equal(t, "set-ifl 330(xe-3/0/0.0)", log[0].Desc)
	assert.NoError(t, log[0].Err)

	_, err := d.Apply(context.Background(), []hal.Op{delNH(4242)})
	require.Error(t, err)
	mustApply(t, d, seedOps()[3:]...)
	log = d.OpLog()
	require.Len(t, log, 5, "bounded ring")
	assert.Equal(t, uint64(len(seedOps())+1), log[4].Seq, "newest last")
	for i := 1; i < len(log); i++ {
		assert.Equal(t, log[i-1].Seq+1, log[i].Seq)
	}
	assert.Equal(t, "set-route 232.0.8.1.10.128.1.10/64", log[4].Desc)

	d2 := newTestDriver(t, haltest.NewRecorder(), map[string]string{OptOpLog: "5"})
	_, _ = d2.Apply(context.Background(), []hal.Op{delNH(4242)})
	l2 := d2.OpLog()
	require.Len(t, l2, 1)
	assert.ErrorIs(t, l2[0].Err, hal.ErrNotFound, "failed ops are logged with their error")
}

// TestRecompileFollowsChanges checks that a composite's expansion follows
// changes underneath it: a LAG member going down, a member NH moving to
// another port, an aggregate gaining a member.
func TestRecompileFollowsChanges(t *testing.T) {
	rec := haltest.NewRecorder()
	d := newTestDriver(t, rec, nil)
	mustApply(t, d, seedOps()...)
	send := func() []hal.IFLIndex {
		rec.Reset()
		require.NoError(t, d.Input(seedUpMember, [][]byte{haltest.Frame(seedSource, seedGroup, 64, 10, nil)}))
		var out []hal.IFLIndex
		for _, o := range rec.Outputs() {
			out = append(out, o.Egress)
		}
		return out
	}
	first := send()
	require.Len(t, first, 1)
	other := seedM1
	if first[0] == seedM1 {
		other = seedM2
	}
	// The chosen member goes down: the flow moves to the other one.
	down := phys(first[0], "xe-3/x", 13)
	if first[0] == seedM2 {
		down.PFE = 15
	}
	down.Name, down.Up = map[hal.IFLIndex]string{seedM1: "xe-3/1/0.0", seedM2: "xe-3/3/1.0"}[first[0]], false
	mustApply(t, d, setIFL(down))
	assert.Equal(t, []hal.IFLIndex{other}, send())
	c, _ := d.NextHop(seedComposite)
	assert.Equal(t, []hal.NHID{seedNHAE}, c.Members)
	// Both down: PortDown on the aggregate.
	down2 := phys(other, "xe-3/y", 13)
	down2.Up = false
	mustApply(t, d, setIFL(down2))
	assert.Empty(t, send())
	cnt, _ := d.IFLCounters(seedAE)
	assert.Equal(t, uint64(1), cnt.PortDown)
	// A unicast member NH moves to a new port on PFE 40.
	mustApply(t, d, setIFL(phys(700, "xe-10/0/0.0", 40)), setNH(hal.NextHop{ID: seedNHM1, Type: hal.NHUnicast, IFL: 700}))
	assert.Equal(t, []hal.IFLIndex{700}, send())
}
