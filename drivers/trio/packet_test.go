package trio

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// fanoutSetup programs 16 ports on 8 PFEs (2 per PFE) and n flows into
// them from an ingress port on PFE 0; it returns the ingress and one frame
// per flow.
func fanoutSetup(t testing.TB, d *Driver, n int) (hal.IFLIndex, [][]byte) {
	ops := []hal.Op{setIFL(phys(900, "xe-0/0/0.0", 0))}
	var members []hal.NHID
	for i := range 16 {
		idx := hal.IFLIndex(100 + i)
		ops = append(ops, setIFL(phys(idx, "xe-out", hal.PFEID(4+i/2))), setNH(hal.NextHop{ID: hal.NHID(200 + i), Type: hal.NHUnicast, IFL: idx}))
		members = append(members, hal.NHID(200+i))
	}
	ops = append(ops,
		setNH(hal.NextHop{ID: 300, Type: hal.NHComposite, Members: members}),
		setNH(hal.NextHop{ID: hal.IndirectBase, Type: hal.NHIndirect, Target: 300}))
	var frames [][]byte
	g := netip.MustParseAddr("232.1.1.1")
	for i := range n {
		s := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		ops = append(ops, setRoute(hal.Route{Key: hal.SG(s, g), NH: hal.IndirectBase, RPF: 900}))
		frames = append(frames, haltest.FrameOfLen(s, g, 64, 64))
	}
	mustApply(t, d, ops...)
	return 900, frames
}

func TestInputZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	d.egress = &countingEgress{}
	in, frames := fanoutSetup(t, d, 4)
	batch := [][]byte{frames[0], frames[0], frames[1], frames[2], frames[3], frames[3]}
	require.NoError(t, d.Input(in, batch)) // warm the pool
	allocs := testing.AllocsPerRun(200, func() {
		_ = d.Input(in, batch)
	})
	assert.Zero(t, allocs, "allocations per Input batch in steady state")
}

func TestInputDoesNotModifyCallerFrames(t *testing.T) {
	rec := haltest.NewRecorder()
	d := newTestDriver(t, rec, nil)
	in, frames := fanoutSetup(t, d, 2)
	orig := [][]byte{bytes.Clone(frames[0]), bytes.Clone(frames[1])}
	require.NoError(t, d.Input(in, [][]byte{frames[0], frames[1], frames[0]}))
	assert.Equal(t, orig, frames[:2])
	outs := rec.Outputs()
	require.Len(t, outs, 48)
	for _, o := range outs {
		p := haltest.MustParse(o.Frame)
		assert.True(t, p.ChecksumOK)
		assert.Equal(t, uint8(63), p.TTL)
		assert.Equal(t, macOf(o.Egress).String(), p.SrcMAC.String())
		assert.Equal(t, haltest.MulticastMAC(p.Group).String(), p.DstMAC.String())
	}
}

// TestConcurrentChurn runs Input on two ingress ports while the composite,
// its ports and the options change underneath, and the vty reads: no race,
// no duplicate fabric copy, every output a valid frame.
func TestConcurrentChurn(t *testing.T) {
	rec := &checkingEgress{t: t}
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	d.egress = rec
	in, frames := fanoutSetup(t, d, 8)
	mustApply(t, d, setIFL(phys(901, "xe-0/0/1.0", 22)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			var members []hal.NHID
			for k := range 1 + i%16 {
				members = append(members, hal.NHID(200+k))
			}
			port := phys(hal.IFLIndex(100+i%16), "xe-out", hal.PFEID(4+(i*7)%40))
			port.Up = i%3 != 0
			ops := []hal.Op{setIFL(port), setNH(hal.NextHop{ID: 300, Type: hal.NHComposite, Members: members})}
			if _, err := d.Apply(ctx, ops); err != nil && ctx.Err() == nil {
				t.Errorf("apply: %v", err)
				return
			}
			_ = d.SetOption(OptNetworkServices, []string{"", "enhanced-ip"}[i%2])
			var b bytes.Buffer
			_ = d.NHDetail(300, &b)
		}
	}()
	for _, ingress := range []hal.IFLIndex{in, 901} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				if err := d.Input(ingress, frames); err != nil {
					t.Errorf("input: %v", err)
					return
				}
			}
		}()
	}
	for range 50 {
		_ = d.ReplicationStats()
		d.WalkRoutes(func(hal.Route, hal.RouteStat) bool { return true })
	}
	cancel()
	wg.Wait()
	for p := range MaxPFEs {
		st, _ := d.PFEStats(hal.PFEID(p))
		require.Zero(t, st.Drops[DropFabricDup], "pfe %d", p)
	}
	c, err := d.IFLCounters(in)
	require.NoError(t, err)
	assert.Equal(t, uint64(300*len(frames)), c.RxPackets)
}

// checkingEgress validates every frame it is handed.
type checkingEgress struct {
	t  *testing.T
	mu sync.Mutex
	n  int
}

func (c *checkingEgress) Output(_ hal.IFLIndex, frames [][]byte) {
	for _, f := range frames {
		p, err := haltest.ParseFrame(f)
		if err != nil || !p.ChecksumOK || p.TTL != 63 {
			c.t.Errorf("bad output frame: %v %+v", err, p)
		}
	}
	c.mu.Lock()
	c.n += len(frames)
	c.mu.Unlock()
}

func TestClosedDriver(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	mustApply(t, d, seedOps()...)
	require.NoError(t, d.Close())
	assert.ErrorIs(t, d.Close(), hal.ErrClosed)
	assert.ErrorIs(t, d.NHDetail(seedComposite, &bytes.Buffer{}), hal.ErrClosed)
	_, err := d.HandleVty([]string{"show nhdb mcast resolve"}, &bytes.Buffer{})
	assert.ErrorIs(t, err, hal.ErrClosed)
	assert.ErrorIs(t, d.SetOption(OptResolveRate, "100"), hal.ErrClosed)
}

func FuzzInput(f *testing.F) {
	s, g := seedSource, seedGroup
	f.Add(haltest.Frame(s, g, 64, 10, nil), uint8(0))
	f.Add(haltest.Frame(s, g, 1, 0, nil), uint8(1))
	f.Add(haltest.Frame(s, netip.MustParseAddr("232.0.8.1"), 64, 10, nil), uint8(2))
	f.Add(haltest.Frame(s, netip.MustParseAddr("239.9.9.9"), 64, 10, nil), uint8(0))
	f.Add(haltest.BuildFrame(haltest.FrameSpec{Source: s, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 30}), uint8(0))
	f.Add([]byte{}, uint8(3))
	rec := haltest.NewRecorder()
	d := newTestDriver(f, rec, nil)
	mustApply(f, d, seedOps()...)
	ingress := []hal.IFLIndex{seedUpstream, seedUpMember, seedM1, seedAE}
	f.Fuzz(func(t *testing.T, frame []byte, which uint8) {
		in := ingress[int(which)%len(ingress)]
		before, err := d.IFLCounters(in)
		require.NoError(t, err)
		half := frame[:len(frame)/2]
		require.NoError(t, d.Input(in, [][]byte{frame, half, frame}))
		after, err := d.IFLCounters(in)
		require.NoError(t, err)
		require.Equal(t, before.RxPackets+3, after.RxPackets)
		if rec.Dropped() > 0 {
			rec.Reset()
		}
	})
}
