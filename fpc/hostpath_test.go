package fpc

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/ipc"
)

func pimHello(seq byte) []byte {
	f := haltest.BuildFrame(haltest.FrameSpec{Source: haltest.NeighborAddr, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 30})
	f[len(f)-1] = seq
	return f
}

// Trapped packets reach the RE as punts with their trap id, on the
// control lane; the encapsulation interface's copies arrive with
// TrapEncap; the vty shows them per trap.
func TestHostPathPuntsReachTheRE(t *testing.T) {
	re := newFakeRE(t)
	rt, fake, stop := startRuntime(t, re.ln.Addr().String())
	defer stop()
	<-re.reg
	s := <-re.conns
	g := netip.MustParseAddr("232.0.7.9")
	ops := append(haltest.TopologyOps(), haltest.TrapOps()...)
	ops = append(ops,
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: haltest.IFLEncap, Name: "pe-0/0/0.32769", Kind: hal.IFLEncap, Up: true}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: haltest.NHEncap, Type: hal.NHUnicast, IFL: haltest.IFLEncap}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 1700, Type: hal.NHComposite, Members: []hal.NHID{haltest.NHDown, haltest.NHEncap}}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.IndirectBase + 77, Type: hal.NHIndirect, Target: 1700}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(haltest.Source, g), NH: hal.IndirectBase + 77, RPF: haltest.IFLUpstream, Flags: hal.RouteFlagsSG}},
	)
	re.send(s, ops, 1)
	eventually(t, "traps applied", func() bool { return len(fake.Traps()) == 5 && rt.HostPath().Traps != nil })

	hello := pimHello(1)
	require.NoError(t, fake.Input(haltest.IFLOther, [][]byte{hello}))
	p := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.Punt); return ok }).(*ipc.Punt)
	assert.Equal(t, haltest.IFLOther, p.Ingress)
	assert.Equal(t, haltest.TrapPIM, p.Trap)
	assert.Equal(t, hello, p.Frame)

	data := haltest.Frame(haltest.Source, g, 64, 100, nil)
	require.NoError(t, fake.Input(haltest.IFLUpstream, [][]byte{data}))
	p = re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.Punt); return ok }).(*ipc.Punt)
	assert.Equal(t, hal.TrapEncap, p.Trap)
	assert.Equal(t, data, p.Frame)

	eventually(t, "punts counted on the control lane", func() bool {
		st, _ := rt.SessionStats()
		return st.ControlOut >= 2
	})
	// The sender counts a punt once the control lane took it.
	eventually(t, "punts accounted", func() bool { return rt.HostPath().Total.Sent == 2 })
	rep := rt.HostPath()
	byTrap := map[hal.TrapID]HostPathRow{}
	for _, r := range rep.Traps {
		byTrap[r.Trap] = r
	}
	assert.Equal(t, uint64(1), byTrap[haltest.TrapPIM].Sent)
	assert.Equal(t, "pim", byTrap[haltest.TrapPIM].Class)
	assert.Equal(t, uint64(1), byTrap[hal.TrapEncap].Sent)
	assert.Equal(t, "encap", byTrap[hal.TrapEncap].Class)
	assert.Equal(t, "arp 10.128.1.1", byTrap[haltest.TrapARPRouter].Match)
	assert.Equal(t, uint64(2), rep.Total.Sent)

	var out bytes.Buffer
	require.NoError(t, rt.Vty().Run(context.Background(), "show host-path statistics", &out))
	assert.Contains(t, out.String(), "Trap   Class     Match                          Rate   Received       Sent  Policed     Card    Queue     Lane   NoSess\n")
	assert.Contains(t, out.String(), "3      pim       protocol 103                   4000          1          1        0        0        0        0        0\n")
	assert.Contains(t, out.String(), "encap  encap     register encapsulation (pe-)   1000          1          1        0        0        0        0        0\n")
	out.Reset()
	require.NoError(t, rt.Vty().Run(context.Background(), "show host-path statistics | display json", &out))
	var js HostPathReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &js), out.String())
	assert.Equal(t, uint64(2), js.Total.Sent)

	// Traps the RE does not replay after a reconnect are swept.
	re.mu.Lock()
	re.kill[s]()
	re.mu.Unlock()
	s2 := <-re.conns
	re.send(s2, haltest.TopologyOps(), 2)
	eventually(t, "traps swept", func() bool { return len(fake.Traps()) == 0 })
}

// The policer: per class token buckets on the injected clock, the card's
// bucket, the queue bounds, and fair draining across reasons.
func TestHostPathPolicer(t *testing.T) {
	clk := haltest.NewClock(time.Unix(1000, 0))
	lim := DefaultHostPathLimits()
	lim.Class[ClassPIM] = PuntRate{Rate: 10, Burst: 10}
	lim.Class[ClassARP] = PuntRate{Rate: 100, Burst: 100}
	lim.Card = PuntRate{Rate: 1000, Burst: 15}
	lim.QueuePerTrap, lim.QueueCard = 8, 12
	h := newHostPath(lim, clk.Now, nil) // no sender: everything queues
	h.setTraps(map[hal.TrapID]hal.Trap{
		3: {ID: 3, Kind: hal.TrapProtocol, Proto: 103},
		1: {ID: 1, Kind: hal.TrapARP, Addr: haltest.RouterAddr},
	})
	f := pimHello(0)
	for range 50 {
		h.punt(331, 3, f)
	}
	st := h.reasons[3].st
	assert.Equal(t, uint64(50), st.Received)
	assert.Equal(t, uint64(40), st.Policed, "burst of 10")
	assert.Equal(t, uint64(2), st.QueueFull, "8 per trap")
	assert.Equal(t, 8, len(h.reasons[3].q))
	for range 10 {
		h.punt(331, 1, f)
	}
	a := h.reasons[1].st
	assert.Equal(t, uint64(6), a.QueueFull, "12 per card: 4 fit")
	assert.Equal(t, 12, h.queued)

	// Draining alternates between the reasons.
	batch := h.take(nil, 4)
	var traps []hal.TrapID
	for _, m := range batch {
		traps = append(traps, m.(*ipc.Punt).Trap)
	}
	assert.Equal(t, []hal.TrapID{3, 1, 3, 1}, traps)
	h.account(batch, nil)
	assert.Equal(t, uint64(2), h.reasons[3].st.Sent)
	h.account(h.take(nil, 2), ipc.ErrControlFull)
	h.account(h.take(nil, 1), errNoSession)
	assert.Equal(t, uint64(2), h.reasons[1].st.LaneFull+h.reasons[3].st.LaneFull)
	assert.Equal(t, uint64(1), h.reasons[1].st.NoSession+h.reasons[3].st.NoSession)
	h.take(nil, 100)

	// The card's bucket (15) was drained by the 12 queued and refills at
	// 1000/s; the PIM bucket refills at 10/s.
	h.punt(331, 1, f)
	h.punt(331, 1, f)
	h.punt(331, 1, f)
	h.punt(331, 1, f)
	assert.Equal(t, uint64(1), h.reasons[1].st.CardLimit)
	clk.Advance(time.Second)
	for range 20 {
		h.punt(331, 3, f)
	}
	assert.Equal(t, uint64(40+10), h.reasons[3].st.Policed, "10 more after a second")
	// An unknown trap id (deleted meanwhile) is policed as a group trap.
	h.punt(331, 99, f)
	assert.Equal(t, ClassGroup, h.reasons[99].class)
}

// gatedDriver wraps swpfe: once gated, Apply waits until the gate opens,
// so that a test can hold the download applier; Transmit and Input are
// recorded.
type gatedDriver struct {
	*swpfe.Driver
	gate   chan struct{} // closed: Apply runs
	gated  atomic.Bool
	mu     sync.Mutex
	sent   [][]byte
	inputs [][]byte
}

func (d *gatedDriver) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	if d.gated.Load() {
		<-d.gate
	}
	return d.Driver.Apply(ctx, ops)
}

func (d *gatedDriver) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	d.mu.Lock()
	d.sent = append(d.sent, slices.Clone(frames[0]))
	d.mu.Unlock()
	return d.Driver.Transmit(egress, frames)
}

func (d *gatedDriver) Input(ingress hal.IFLIndex, frames [][]byte) error {
	d.mu.Lock()
	d.inputs = append(d.inputs, slices.Clone(frames[0]))
	d.mu.Unlock()
	return d.Driver.Input(ingress, frames)
}

// An inject is sent while the card's download applier is held in the
// middle of a download: injects do not wait for the applier. (That the
// RE's session sends it ahead of the queued download is
// TestSendControlOvertakesBulk in ipc.) Forward injects go through the PFE.
func TestInjectAheadOfDownloads(t *testing.T) {
	re := newFakeRE(t)
	// Under the race detector decoding a frame of thousands of routes
	// can take longer than 3 x 100 ms: keep the session alive.
	re.keepalive = 2 * time.Second
	drv := &gatedDriver{gate: make(chan struct{})}
	rt, err := New(context.Background(), Config{
		Slot: 3, RE: re.ln.Addr().String(), DriverName: "swpfe",
		NewDriver: func(_ context.Context, cfg hal.Config) (hal.Driver, error) {
			sw, err := swpfe.NewDriver(cfg)
			drv.Driver = sw
			return drv, err
		},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	<-re.reg
	s := <-re.conns
	re.send(s, haltest.TopologyOps(), 1)
	eventually(t, "topology", func() bool { return drv.Summary().Routes == 3 })

	// A download the applier cannot apply yet (less than its queue, so
	// that the session reader is not held), then an inject behind it on
	// the wire.
	drv.gated.Store(true)
	const n = 20_000
	var msgs []ipc.Message
	for i := range n {
		src := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		msgs = append(msgs, &ipc.RouteAdd{Route: hal.Route{Key: hal.SG(src, haltest.Group), NH: haltest.NHIndirect, RPF: haltest.IFLUpstream, Flags: hal.RouteFlagsSG}})
	}
	require.NoError(t, s.Send(context.Background(), msgs...))
	inj := haltest.Frame(haltest.NeighborAddr, netip.MustParseAddr("224.0.0.13"), 1, 30, nil)
	require.NoError(t, s.Send(context.Background(), &ipc.Inject{Egress: haltest.IFLDown, Frame: inj}))
	eventually(t, "inject sent while the applier is held", func() bool { return rt.stats.Injected.Load() == 1 })
	assert.Equal(t, 3, drv.Summary().Routes, "nothing of the download applied yet")
	drv.mu.Lock()
	assert.Equal(t, [][]byte{inj}, drv.sent)
	drv.mu.Unlock()
	close(drv.gate)
	eventually(t, "download applied", func() bool { return drv.Summary().Routes == n+3 })

	// Forward: into the PFE as received on the IFL.
	fwd := haltest.Frame(haltest.Source, haltest.Group, 64, 40, nil)
	require.NoError(t, s.SendControl(context.Background(), &ipc.Inject{Egress: haltest.IFLUpstream, Forward: true, Frame: fwd}))
	eventually(t, "forwarded inject", func() bool { return rt.stats.InjectFwd.Load() == 1 })
	drv.mu.Lock()
	assert.Equal(t, [][]byte{fwd}, drv.inputs)
	drv.mu.Unlock()
	eventually(t, "copy on xe-2/0/0.0", func() bool {
		for _, e := range rt.Egress() {
			if e.IFL == haltest.IFLDown && e.Packets+e.Control == 2 { // the injected hello counts as control
				return true
			}
		}
		return false
	})
	// A failed inject is counted.
	require.NoError(t, s.SendControl(context.Background(), &ipc.Inject{Egress: 4242, Frame: fwd}))
	eventually(t, "failed inject", func() bool { return rt.stats.InjectFailed.Load() == 1 })
}

// Link state reaches the RE when it changes and again after every resync;
// the vty sets it on in-memory ports.
func TestLinkStateToRE(t *testing.T) {
	re := newFakeRE(t)
	rt, _, stop := startRuntime(t, re.ln.Addr().String())
	defer stop()
	<-re.reg
	s := <-re.conns
	re.send(s, haltest.TopologyOps(), 1)
	eventually(t, "topology", func() bool { _, ok := rt.IFLByName("xe-2/0/0.0"); return ok })
	var out bytes.Buffer
	require.NoError(t, rt.Vty().Run(context.Background(), "test interface xe-2/0/0.0 down", &out))
	assert.Equal(t, "Interface xe-2/0/0.0 (ifl 410) link down\n", out.String())
	ls := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.LinkState); return ok }).(*ipc.LinkState)
	assert.Equal(t, &ipc.LinkState{IFL: haltest.IFLDown, Up: false}, ls)
	assert.ErrorContains(t, rt.Vty().Run(context.Background(), "test interface xe-2/0/0.0 sideways", &out), "expected down or up")
	assert.ErrorContains(t, rt.Vty().Run(context.Background(), "test interface xe-9/9/9.0 up", &out), "unknown interface")

	// A new session: the state is sent again after the resync.
	re.mu.Lock()
	re.kill[s]()
	re.mu.Unlock()
	s2 := <-re.conns
	re.send(s2, haltest.TopologyOps(), 2)
	ls = re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.LinkState); return ok }).(*ipc.LinkState)
	assert.Equal(t, &ipc.LinkState{IFL: haltest.IFLDown, Up: false}, ls)
	out.Reset()
	require.NoError(t, rt.Vty().Run(context.Background(), "show ipc", &out))
	assert.Contains(t, out.String(), "link xe-2/0/0.0 (ifl 410) down\n")
}

// logCounter counts log records whose message contains a string.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// The card tries every RE it knows and follows the one that accepts it;
// refusals never make it give up, and each kind is logged once a minute.
func TestMultipleREs(t *testing.T) {
	backup, master := newFakeRE(t), newFakeRE(t)
	backup.refuse.Store(uint32(ipc.AckNotMaster))
	master.refuse.Store(uint32(ipc.AckSlotInUse))
	logs := &logCounter{}
	var fake *haltest.Fake
	rt, err := New(context.Background(), Config{
		Slot: 3, RE: backup.ln.Addr().String() + "," + master.ln.Addr().String(), DriverName: "fake",
		NewDriver: func(_ context.Context, cfg hal.Config) (hal.Driver, error) {
			fake = haltest.NewFake(cfg)
			return fake, nil
		},
		Logger:     slog.New(logs),
		BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// Both refuse for a while: the card keeps trying (and forwarding).
	eventually(t, "refusals", func() bool { return rt.stats.Refusals.Load() >= 20 })
	select {
	case err := <-done:
		t.Fatalf("Run returned on refusals: %v", err)
	default:
	}
	assert.Equal(t, 2, logs.count("RE refused the registration"), "one log line per RE and reason per minute")
	_, err = fake.Apply(context.Background(), haltest.TopologyOps())
	require.NoError(t, err)
	require.NoError(t, fake.Input(haltest.IFLUpstream, [][]byte{haltest.Frame(haltest.Source, haltest.Group, 64, 10, nil)}))
	eventually(t, "forwarding while refused", func() bool { return len(rt.Egress()) > 0 })

	// The master accepts: the card follows it.
	master.refuse.Store(0)
	<-master.reg
	s := <-master.conns
	eventually(t, "connected", rt.Connected)
	assert.Equal(t, master.ln.Addr().String(), rt.Master())
	var out bytes.Buffer
	require.NoError(t, rt.Vty().Run(context.Background(), "show ipc", &out))
	assert.Contains(t, out.String(), "connected\n  master RE "+master.ln.Addr().String()+"\n")

	// Switchover: the old master goes away and refuses, the other
	// accepts now.
	master.refuse.Store(uint32(ipc.AckNotMaster))
	backup.refuse.Store(0)
	master.mu.Lock()
	master.kill[s]()
	master.mu.Unlock()
	<-backup.reg
	<-backup.conns
	eventually(t, "following the new master", func() bool { return rt.Master() == backup.ln.Addr().String() })
}
