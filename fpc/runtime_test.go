package fpc

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/ipc"
)

// fakeRE accepts FPC registrations and lets the test drive each session.
type fakeRE struct {
	t     testing.TB
	ln    net.Listener
	mu    sync.Mutex
	kill  map[*ipc.Session]context.CancelFunc
	in    chan ipc.Message
	conns chan *ipc.Session
	reg   chan *ipc.Register
	// refuse, when set, answers registrations with its code instead of
	// accepting them.
	refuse atomic.Uint32
	// limits of the RE's sessions (set before the first connection).
	limits ipc.Limits
	// keepalive is the sessions' keepalive interval (default 100 ms; set
	// before the first connection).
	keepalive time.Duration
	// hook, when set, sees every message first (on the session's read
	// goroutine); a message it returns true for is not queued on in.
	hook atomic.Pointer[func(ipc.Message) bool]
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newFakeRE(t testing.TB) *fakeRE {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRE{t: t, ln: ln, in: make(chan ipc.Message, 1024), conns: make(chan *ipc.Session, 4), reg: make(chan *ipc.Register, 4), ctx: ctx, stop: cancel}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeRE) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		reg, err := ipc.ReadRegister(c, ipc.DefaultLimits(), 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if code := ipc.AckCode(f.refuse.Load()); code != ipc.AckOK {
			_ = ipc.WriteMessages(c, &ipc.RegisterAck{Error: code, Reason: "refused by the test", Master: ipc.TNPMaster})
			c.Close()
			continue
		}
		select {
		case f.reg <- reg:
		case <-f.ctx.Done():
			c.Close()
			return
		}
		ka := f.keepalive
		if ka == 0 {
			ka = 100 * time.Millisecond
		}
		_ = ipc.WriteMessages(c, &ipc.RegisterAck{Error: ipc.AckOK, Master: ipc.TNPMaster, Keepalive: ka})
		s := ipc.NewSession(c, ipc.SessionConfig{Local: ipc.TNPMaster, Peer: ipc.FPCAddr(hal.Slot(reg.Slot)),
			KeepaliveInterval: ka, Limits: f.limits, Handler: func(m ipc.Message) {
				if h := f.hook.Load(); h != nil && (*h)(m) {
					return
				}
				f.in <- m
			}})
		ctx, cancel := context.WithCancel(f.ctx)
		f.mu.Lock()
		if f.kill == nil {
			f.kill = map[*ipc.Session]context.CancelFunc{}
		}
		f.kill[s] = cancel
		f.mu.Unlock()
		f.wg.Add(1)
		go func() { defer f.wg.Done(); defer cancel(); _ = s.Run(ctx) }()
		select {
		case f.conns <- s:
		case <-f.ctx.Done():
			return
		}
	}
}

func (f *fakeRE) send(s *ipc.Session, ops []hal.Op, gen uint32) {
	msgs := []ipc.Message{&ipc.ResyncBegin{Generation: gen}}
	for _, op := range ops {
		msgs = append(msgs, ipc.MessageFromOp(op, false))
	}
	msgs = append(msgs, &ipc.ResyncEnd{Generation: gen})
	require.NoError(f.t, s.Send(context.Background(), msgs...))
}

func (f *fakeRE) next(t *testing.T, want func(ipc.Message) bool) ipc.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-f.in:
			if want(m) {
				return m
			}
		case <-deadline:
			t.Fatal("timed out waiting for a message from the FPC")
			return nil
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func startRuntime(t *testing.T, re string) (*Runtime, *haltest.Fake, func()) {
	var fake *haltest.Fake
	rt, err := New(context.Background(), Config{
		Slot: 3, RE: re, DriverName: "fake",
		NewDriver: func(_ context.Context, cfg hal.Config) (hal.Driver, error) {
			fake = haltest.NewFake(cfg)
			return fake, nil
		},
		StatsInterval: 50 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return rt, fake, func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func TestRuntimeResyncMarkAndSweep(t *testing.T) {
	re := newFakeRE(t)
	rt, fake, stop := startRuntime(t, re.ln.Addr().String())
	defer stop()

	reg := <-re.reg
	require.Equal(t, uint16(3), reg.Slot)
	require.Equal(t, ipc.FPCAddr(3), reg.Addr)
	require.Equal(t, []hal.PFEID{12, 13, 14, 15}, reg.PFEs)

	s := <-re.conns
	topo := haltest.TopologyOps()
	re.send(s, topo, 1)
	eventually(t, "topology applied", func() bool { return fake.Summary().Routes == 3 })

	// A second session replays a subset: the (S,G) forwarding route and its
	// chain stay (never deleted), the mdiscard route and an unused IFL go.
	re.mu.Lock()
	re.kill[s]()
	re.mu.Unlock()
	s2 := <-re.conns
	opsBefore := len(fake.Ops())
	var subset []hal.Op
	for _, op := range topo {
		if op.Kind == hal.OpSetRoute && op.Route.Key.Group == haltest.GroupMDisc {
			continue
		}
		if op.Kind == hal.OpSetIFL && op.IFL.Index == haltest.IFLOther {
			continue
		}
		subset = append(subset, op)
	}
	re.send(s2, subset, 2)
	eventually(t, "sweep", func() bool { return fake.Summary().Routes == 2 })
	_, err := fake.IFL(haltest.IFLOther)
	eventually(t, "stale IFL swept", func() bool { _, err = fake.IFL(haltest.IFLOther); return err != nil })
	for _, op := range fake.Ops()[opsBefore:] {
		if op.Kind == hal.OpDelRoute {
			require.Equal(t, haltest.GroupMDisc, op.Route.Key.Group, "only the stale route is deleted")
		}
		require.NotEqual(t, hal.OpDelNH, op.Kind, "no NH of the replayed chain is deleted")
	}
	_, err = fake.Route(hal.SG(haltest.Source, haltest.Group))
	require.NoError(t, err)
	var vty bytes.Buffer
	require.NoError(t, rt.Vty().Run(context.Background(), "show ipc", &vty))
	require.Contains(t, vty.String(), "resyncs 2, swept 2")
}

func TestRuntimeResolveAndHits(t *testing.T) {
	re := newFakeRE(t)
	rt, fake, stop := startRuntime(t, re.ln.Addr().String())
	defer stop()
	<-re.reg
	s := <-re.conns
	re.send(s, haltest.TopologyOps(), 1)
	eventually(t, "topology applied", func() bool { return fake.Summary().Routes == 3 })

	// A flow with no (S,G): one resolve request, however many packets.
	f := BuildFrame(haltest.Source, haltest.GroupNoSG, 64, 64, 1)
	for i := 0; i < 20; i++ {
		require.NoError(t, fake.Input(haltest.IFLUpstream, [][]byte{f}))
	}
	m := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.ResolveRequest); return ok }).(*ipc.ResolveRequest)
	require.Equal(t, hal.NHResolveID, m.NH)
	require.Equal(t, haltest.IFLUpstream, m.Ingress)
	require.Equal(t, haltest.GroupNoSG, m.Group)
	require.Equal(t, haltest.Source, m.Source)
	require.Equal(t, uint16(64), m.PrefixLen)
	require.Equal(t, uint64(19), rt.Throttle().Stats().Outstanding)

	// The RE answers with a route: the outstanding entry clears.
	require.NoError(t, s.Send(context.Background(), &ipc.RouteAdd{Route: hal.Route{Key: hal.SG(haltest.Source, haltest.GroupNoSG), NH: hal.NHMDiscardID, RPF: haltest.IFLUpstream, Flags: hal.RouteFlagsMDiscard}}))
	eventually(t, "outstanding cleared", func() bool { return rt.Throttle().Pending() == 0 })

	// Traffic on a forwarding route is reported as hit deltas.
	fw := BuildFrame(haltest.Source, haltest.Group, 100, 64, 2)
	require.NoError(t, fake.Input(haltest.IFLUpstream, [][]byte{fw, fw, fw}))
	h := re.next(t, func(m ipc.Message) bool {
		h, ok := m.(*ipc.RouteHits)
		return ok && h.Key.Group == haltest.Group
	}).(*ipc.RouteHits)
	require.Equal(t, uint64(3), h.Packets)
	require.Equal(t, uint64(300), h.Bytes)

	// Settings from the RE reach the throttle and the driver.
	require.NoError(t, s.Send(context.Background(), &ipc.ConfigSet{Key: "resolve-rate", Value: "500"}))
	eventually(t, "resolve-rate", func() bool { return rt.Throttle().Rate() == 500 })
	require.Equal(t, "500", fake.Options()["resolve-rate"])

	// A wrong-interface packet is reported once per (S,G) per 3 s.
	for i := 0; i < 5; i++ {
		require.NoError(t, fake.Input(haltest.IFLOther, [][]byte{fw}))
	}
	w := re.next(t, func(m ipc.Message) bool { _, ok := m.(*ipc.WrongIIF); return ok }).(*ipc.WrongIIF)
	require.Equal(t, haltest.IFLOther, w.Ingress)
	require.Equal(t, haltest.IFLUpstream, w.Expected)
	require.Equal(t, uint64(4), rt.stats.WrongIIFLimit.Load())
}

func TestParseSG(t *testing.T) {
	for _, tc := range []struct{ in, src, grp, err string }{
		{in: "232.0.7.1.10.128.1.10", src: "10.128.1.10", grp: "232.0.7.1"},
		{in: "232.0.7.1.10.128.1.10/64", src: "10.128.1.10", grp: "232.0.7.1"},
		{in: "232.0.7.1,10.128.1.10", src: "10.128.1.10", grp: "232.0.7.1"},
		{in: "10.0.7.1.10.128.1.10", err: "not a multicast group"},
		{in: "232.0.7.1", err: "expected GROUP.SOURCE"},
		{in: "232.0.7.1.10.128.1.999", err: "out of range"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, g, err := parseSG(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, netip.MustParseAddr(tc.src), s)
			require.Equal(t, netip.MustParseAddr(tc.grp), g)
		})
	}
}

func TestVtyLayouts(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 3, RE: "127.0.0.1:1", DriverName: "fake", NewDriver: haltest.NewFakeDriver})
	require.NoError(t, err)
	_, err = rt.Driver().Apply(context.Background(), haltest.TopologyOps())
	require.NoError(t, err)
	rt.applyOps(context.Background(), nil, false)
	tree := rt.Vty()
	run := func(cmd string) string {
		var b bytes.Buffer
		require.NoError(t, tree.Run(context.Background(), cmd, &b))
		return b.String()
	}
	require.Equal(t, `IPv4 Route Table 0, default.0, 0x0:
Destination   NH IP Addr      Type     NH ID Interface
------------  --------------- -------- ----- ---------
232.0.7.1.10.128.1.10/64                          Indirect 1048590 RT-ifl 331

Nexthop details:
1048590(Indirect, IPv4, ifl:0:-, pfe-id:0, i-ifl:0:-)
    1173(Compst, IPv4, ifl:0:-, pfe-id:0, comp-fn:multicast)
        1048583(Aggreg., IPv4, ifl:332:ae91.0, pfe-id:0)
            1378(Unicast, IPv4, ifl:395:xe-3/1/0.0, pfe-id:13)
            1387(Unicast, IPv4, ifl:400:xe-3/3/1.0, pfe-id:15)
        1390(Unicast, IPv4, ifl:410:xe-2/0/0.0, pfe-id:8)

  RT flags: 0x800e, Ignore: 0x00000000, COS index: 0
  DCU id: 0, SCU id: 0,  RPF ifl list id: 0
`, run("show route long_ip prefix 232.0.7.1.10.128.1.10 detail"))
	require.Contains(t, run("show route long_ip prefix 232.0.9.1.10.128.1.10 detail"),
		"224/4                                              Resolve   983 RT-ifl 0\n\nNexthop details:\n983(Resolve, IPv4, ifl:0:-, pfe-id:0)\n\n  RT flags: 0x000a,")
	require.Contains(t, run("show route long_ip prefix 232.0.8.1.10.128.1.10"),
		"232.0.8.1.10.128.1.10/64                          mdiscard    35 RT-ifl 331\n")
	require.Contains(t, run("show nhdb id 1173"), " 1173    Compst  -              -                      IPv4             -     0  0x00000000 0x00000000\n")
	require.Contains(t, run("show nhdb id 1378"), " 1378   Unicast  xe-3/1/0.0     -                      IPv4      Ethernet  1500  0x00000000 0x00000000\n")
	require.Equal(t, "Nexthop Info:\n   ID      Type    Protocol    Resolve-Rate\n-----  --------  ----------  ---------------\n  983   Resolve        IPv4               66\n", run("show nhdb mcast resolve"))
	require.Contains(t, run("show nhdb summary"), "Total number of NH = 8")
	require.Contains(t, run("show version"), "Hostname: mxfwd\n")
	rt.setOption("host-name", "bob")
	require.Contains(t, run("show version"), "Hostname: bob\nSlot: 3\n")
	require.True(t, strings.HasPrefix(run("show route long_ip"), routeHeader))
	var b bytes.Buffer
	require.ErrorContains(t, tree.Run(context.Background(), "show nhdb id 4242", &b), "not found")
	require.ErrorContains(t, tree.Run(context.Background(), "test traffic source 10.0.0.1 group 10.1.1.1 interface xe-0/0/0.0", &b), "multicast")
	require.NoError(t, rt.Driver().Close())
}

// A resolve raised by a packet that was looked up before the route arrived
// is not sent: the route exists by the time the upcall runs.
func TestResolveSuppressedWhenRouteExists(t *testing.T) {
	rt, err := New(context.Background(), Config{Slot: 3, RE: "127.0.0.1:1", DriverName: "fake", NewDriver: haltest.NewFakeDriver})
	require.NoError(t, err)
	defer rt.Driver().Close()
	rt.applyOps(context.Background(), haltest.TopologyOps(), false)
	up := (*upcalls)(rt)
	up.OnResolve(hal.ResolveRequest{NH: hal.NHResolveID, Ingress: haltest.IFLUpstream, Source: haltest.Source, Group: haltest.Group})
	require.Equal(t, uint64(1), rt.stats.ResolveStale.Load())
	require.Equal(t, uint64(0), rt.stats.ResolveSent.Load())
	up.OnResolve(hal.ResolveRequest{NH: hal.NHResolveID, Ingress: haltest.IFLUpstream, Source: haltest.Source, Group: haltest.GroupNoSG})
	require.Equal(t, uint64(1), rt.stats.ResolveSent.Load())
}
