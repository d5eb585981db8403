package host

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/pktio"
	"github.com/mxfwd/mxfwd/re/rib"
)

// router is one routing engine reduced to what the host needs: a kernel,
// an owner loop on a shared fake clock, a RIB and a packet dispatcher whose
// injects go onto in-memory links.
type router struct {
	name string
	cfg  *config.Config
	kern *kernel.Kernel
	eng  *engine.Engine
	rib  *rib.RIB
	pkt  *pktio.Dispatcher
	host *Host
	net  *network
}

// network is the wires between routers: an interface of a router is
// connected to an interface of another; a frame injected on one is
// delivered to the other's dispatcher on its loop.
type network struct {
	mu    sync.Mutex
	peers map[string]endpoint // "r1/xe-3/1/0.0" -> other end
	tap   map[string][][]byte // frames sent on an unconnected interface
	// absent are interfaces whose line card is not connected: a send
	// there fails with pktio.ErrNoCard, as the server's inject does.
	absent map[string]bool
}

type endpoint struct {
	r   *router
	ifl string
}

func (n *network) connect(a *router, aIf string, b *router, bIf string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.peers[a.name+"/"+aIf] = endpoint{b, bIf}
	n.peers[b.name+"/"+bIf] = endpoint{a, aIf}
}

// transport is a router's pktio.Transport.
type transport router

func (t *transport) Interface(ifl string) (pktio.Interface, bool) {
	for _, f := range t.kern.Interfaces() {
		if f.Name == ifl {
			mac, _ := net.ParseMAC(f.MAC)
			return pktio.Interface{Name: f.Name, MAC: mac, Addr: f.Addr, Up: f.Up}, true
		}
	}
	return pktio.Interface{}, false
}

func (t *transport) Inject(ifl string, frame []byte) error {
	n := t.net
	n.mu.Lock()
	if n.absent[t.name+"/"+ifl] {
		n.mu.Unlock()
		return fmt.Errorf("inject on %s: %w", ifl, pktio.ErrNoCard)
	}
	peer, ok := n.peers[t.name+"/"+ifl]
	if !ok {
		n.tap[t.name+"/"+ifl] = append(n.tap[t.name+"/"+ifl], append([]byte(nil), frame...))
	}
	n.mu.Unlock()
	if !ok {
		return nil
	}
	f := append([]byte(nil), frame...)
	// Deliver on the peer's loop, without waiting (no loop waits for
	// another).
	peer.r.eng.PostCall(func() error {
		peer.r.pkt.Deliver(3, peer.ifl, 1, f)
		return nil
	})
	return nil
}

func newRouter(t *testing.T, clk *clock.Fake, n *network, name, text string) *router {
	t.Helper()
	return newRouterWith(t, clk, n, name, text, nil)
}

func newRouterWith(t testing.TB, clk *clock.Fake, n *network, name, text string, setup func(*Host)) *router {
	t.Helper()
	cfg, err := config.Parse(name+".conf", strings.NewReader(text))
	require.NoError(t, err)
	r := &router{name: name, cfg: cfg, net: n}
	r.kern = kernel.New(kernel.Config{Now: clk.Now})
	var ifs []kernel.Interface
	// In name order, so that a replica built from the same text has the
	// same interface indexes (as the server's plan does).
	for _, dev := range slices.Sorted(maps.Keys(cfg.Interfaces)) {
		i := cfg.Interfaces[dev]
		if dev == "lo0" {
			continue
		}
		for un, u := range i.Units {
			ifs = append(ifs, kernel.Interface{Name: dev + "." + string(rune('0'+un)), Addr: u.Address})
		}
	}
	_, err = r.kern.SetInterfaces(ifs)
	require.NoError(t, err)
	r.eng = engine.New(engine.Config{Kernel: r.kern, Clock: clk})
	r.rib = rib.New(rib.Options{})
	_, err = r.rib.ApplyConfig(cfg, clk.Now())
	require.NoError(t, err)
	r.pkt = pktio.NewDispatcher((*transport)(r), nil, clk.Now)
	r.host = New(Env{Kernel: r.kern, Engine: r.eng, Packets: r.pkt, RIB: r.rib, Seed: [2]uint64{uint64(name[len(name)-1]), 7},
		Inject: func(ifl string, frame []byte, forward bool) error { return nil }})
	r.eng.Subscribe(r.host.KernelEvents)
	if setup != nil {
		setup(r.host)
	}
	require.NoError(t, r.host.Configure(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// do runs fn on r's loop.
func (r *router) do(t testing.TB, fn func()) {
	t.Helper()
	require.NoError(t, r.eng.Do(context.Background(), func() error { fn(); return nil }))
}

// settle lets queued deliveries run on every loop.
func settle(t *testing.T, rs ...*router) {
	for range 4 {
		for _, r := range rs {
			r.do(t, func() {})
		}
	}
}

// advance moves the clock in steps so that each step's timers and the
// packets they send are handled before the next.
func advance(t *testing.T, clk *clock.Fake, d time.Duration, rs ...*router) {
	for step := time.Duration(0); step < d; step += 100 * time.Millisecond {
		clk.Advance(100 * time.Millisecond)
		settle(t, rs...)
	}
}

const r1Conf = `set interfaces xe-3/0/0 unit 0 family inet address 10.1.0.1/24
set interfaces xe-3/1/0 unit 0 family inet address 10.0.12.1/30
set protocols pim interface xe-3/0/0.0
set protocols pim interface xe-3/1/0.0
set routing-options static route 10.2.0.0/24 next-hop 10.0.12.2
`

const r2Conf = `set interfaces xe-3/0/0 unit 0 family inet address 10.0.12.2/30
set interfaces xe-3/1/0 unit 0 family inet address 10.2.0.1/24
set protocols pim interface xe-3/0/0.0
set protocols pim interface xe-3/1/0.0
set protocols igmp interface xe-3/1/0.0
set routing-options static route 10.1.0.0/24 next-hop 10.0.12.1
`

// Two routers back to back: they become PIM neighbours; an IGMPv3 report
// for (S,G) behind R2 makes R2 join towards R1, and R1's kernel gets PIM's
// (S,G) contribution with R2's link in the OIL.
func TestTwoRoutersJoinThroughTheHost(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r1 := newRouter(t, clk, n, "r1", r1Conf)
	r2 := newRouter(t, clk, n, "r2", r2Conf)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/0/0.0")
	advance(t, clk, 6*time.Second, r1, r2)

	var nbrs []pim.NeighborInfo
	r1.do(t, func() {
		for _, nb := range r1.host.Engine().ShowNeighbors(clk.Now()) {
			if !nb.Local {
				nbrs = append(nbrs, nb)
			}
		}
	})
	require.Len(t, nbrs, 1)
	require.Equal(t, netip.MustParseAddr("10.0.12.2"), nbrs[0].Addr)

	// An IGMPv3 report from the receiver behind R2.
	s, g := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("232.1.1.1")
	rep := &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{{Type: igmpmsg.AllowNewSources, Group: g, Sources: []netip.Addr{s}}}}
	pkt, err := igmpmsg.Packet(netip.MustParseAddr("10.2.0.2"), netip.MustParseAddr("224.0.0.22"), rep)
	require.NoError(t, err)
	frame := append([]byte{0x01, 0x00, 0x5e, 0, 0, 22, 0x02, 0xaa, 0, 0, 0, 2, 0x08, 0x00}, pkt...)
	r2.do(t, func() { r2.pkt.Deliver(3, "xe-3/1/0.0", 2, frame) })
	advance(t, clk, 2*time.Second, r1, r2)

	var pimC map[kernel.Entry]kernel.Contribution
	r1.do(t, func() { pimC = r1.kern.Contributions(kernel.OwnerPIM) })
	c, ok := pimC[kernel.SGEntry(s, g)]
	require.True(t, ok, "R1 has PIM state for (S,G): %v", pimC)
	require.Equal(t, "xe-3/0/0.0", c.RPF)
	require.Equal(t, []string{"xe-3/1/0.0"}, c.Downstream)
	r2.do(t, func() { pimC = r2.kern.Contributions(kernel.OwnerPIM) })
	c = pimC[kernel.SGEntry(s, g)]
	require.Equal(t, "xe-3/0/0.0", c.RPF, "R2 pulls from R1")
	require.Equal(t, []string{"xe-3/1/0.0"}, c.Downstream, "to its receiver")

	// A PIM packet with a bad checksum is counted, never handled.
	bad := append([]byte(nil), frame[:14]...)
	hello, err := pimPacket(netip.MustParseAddr("10.0.12.9"))
	require.NoError(t, err)
	hello[len(hello)-1] ^= 0xff
	r1.do(t, func() { r1.pkt.Deliver(3, "xe-3/1/0.0", 1, append(bad, hello...)) })
	var st Stats
	r1.do(t, func() { st = r1.host.Stats() })
	require.EqualValues(t, 1, st.PIMBad["bad checksum"])
	_ = hal.TrapEncap
}

// Hellos sent while the line card of an interface is not connected go
// nowhere; once a card connects (CardConnected) they go out again within
// the triggered-Hello delay, not a Hello_Period (30 s) later.
func TestHelloLostBeforeTheCardIsResent(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}, absent: map[string]bool{"r1/xe-3/1/0.0": true}}
	r1 := newRouter(t, clk, n, "r1", r1Conf)
	r2 := newRouter(t, clk, n, "r2", r2Conf)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/0/0.0")
	r2Knows := func() bool {
		var ok bool
		r2.do(t, func() {
			for _, nb := range r2.host.Engine().ShowNeighbors(clk.Now()) {
				ok = ok || nb.Addr == netip.MustParseAddr("10.0.12.1")
			}
		})
		return ok
	}
	advance(t, clk, 6*time.Second, r1, r2)
	require.False(t, r2Knows(), "r1's first Hello went nowhere")
	var st Stats
	r1.do(t, func() { st = r1.host.Stats() })
	require.NotZero(t, st.PIMSendErrors)

	// The card comes; the next periodic Hello would be ~30 s away.
	n.mu.Lock()
	delete(n.absent, "r1/xe-3/1/0.0")
	n.mu.Unlock()
	advance(t, clk, 2*time.Second, r1, r2)
	require.False(t, r2Knows(), "nothing until the card is reported")
	r1.do(t, func() { r1.host.CardConnected() })
	advance(t, clk, 5*time.Second, r1, r2)
	require.True(t, r2Knows(), "a Hello within Triggered_Hello_Delay of the card")

	// Nothing lost any more: a second card changes nothing.
	r1.do(t, func() {
		require.Empty(t, r1.host.helloLost)
		r1.host.CardConnected()
	})
}

// pimPacket is a Hello from src, as an IPv4 packet.
func pimPacket(src netip.Addr) ([]byte, error) {
	return pimmsgPacket(src)
}

// deliverPIM hands r a PIM message from src, as received on ifl.
func deliverPIM(t *testing.T, r *router, ifl string, src netip.Addr, m pimmsg.Message) {
	t.Helper()
	pkt, err := pimmsg.Packet(src, pim.AllPIMRouters, m)
	require.NoError(t, err)
	frame := append([]byte{0x01, 0x00, 0x5e, 0, 0, 13, 0x02, 0xbb, 0, 0, 0, 2, 0x08, 0x00}, pkt...)
	r.do(t, func() { r.pkt.Deliver(3, ifl, 1, frame) })
}

// An (S,G,rpt) prune takes an interface out of PIM's (S,G) route: the
// kernel, which passes PIM's (*,G) interfaces down to every source of the
// group, is told to exclude it (and only it), and the exclusion follows
// the (*,G) route when that changes.
func TestRptPruneExcludesTheInterfaceInTheKernel(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r := newRouter(t, clk, n, "r1", `set interfaces xe-3/0/0 unit 0 family inet address 10.7.0.1/30
set interfaces xe-3/1/0 unit 0 family inet address 10.7.1.1/30
set interfaces xe-3/1/1 unit 0 family inet address 10.7.2.1/30
set protocols pim interface xe-3/0/0.0
set protocols pim interface xe-3/1/0.0
set protocols pim interface xe-3/1/1.0
set protocols pim rp static address 10.7.9.9
set routing-options static route 10.7.9.9/32 next-hop 10.7.0.2
set routing-options static route 10.7.8.0/24 next-hop 10.7.0.2
`)
	a, b := netip.MustParseAddr("10.7.1.2"), netip.MustParseAddr("10.7.2.2")
	me1, me2 := netip.MustParseAddr("10.7.1.1"), netip.MustParseAddr("10.7.2.1")
	hello := &pimmsg.Hello{HasHoldtime: true, Holdtime: 105}
	deliverPIM(t, r, "xe-3/1/0.0", a, hello)
	deliverPIM(t, r, "xe-3/1/1.0", b, hello)
	s, g := netip.MustParseAddr("10.7.8.2"), netip.MustParseAddr("239.7.7.7")
	star := pimmsg.Source{Addr: netip.MustParseAddr("10.7.9.9"), Sparse: true, WC: true, RPT: true}
	join := func(up netip.Addr, joins, prunes []pimmsg.Source) *pimmsg.JoinPrune {
		return &pimmsg.JoinPrune{UpstreamNeighbor: up, Holdtime: 210,
			Groups: []pimmsg.JPGroup{{Group: pimmsg.HostGroup(g), Joins: joins, Prunes: prunes}}}
	}
	deliverPIM(t, r, "xe-3/1/0.0", a, join(me1, []pimmsg.Source{star}, nil))
	deliverPIM(t, r, "xe-3/1/1.0", b, join(me2, []pimmsg.Source{star}, nil))
	// b prunes S off the RP tree.
	deliverPIM(t, r, "xe-3/1/1.0", b, join(me2, nil, []pimmsg.Source{{Addr: s, Sparse: true, RPT: true}}))
	advance(t, clk, 4*time.Second, r) // past the prune-pending time

	var pimC map[kernel.Entry]kernel.Contribution
	r.do(t, func() { pimC = r.kern.Contributions(kernel.OwnerPIM) })
	require.ElementsMatch(t, []string{"xe-3/1/0.0", "xe-3/1/1.0"}, pimC[kernel.StarG(g)].Downstream)
	c, ok := pimC[kernel.SGEntry(s, g)]
	require.True(t, ok, "PIM has (S,G,rpt) state: %v", pimC)
	require.Equal(t, []string{"xe-3/1/1.0"}, c.Exclude, "the rpt-pruned interface is not inherited")

	// A packet from S on the RP tree goes to a only.
	r.do(t, func() {
		r.kern.Resolve(3, hal.ResolveRequest{Ingress: r.host.index("xe-3/0/0.0"), Source: s, Group: g})
	})
	settle(t, r)
	var routes []kernel.MulticastRoute
	r.do(t, func() { routes = r.kern.Routes(g) })
	require.Len(t, routes, 1)
	require.Equal(t, []string{"xe-3/1/0.0"}, routes[0].Downstream)

	// a leaves the (*,G): nothing of the RP tree is left to exclude from.
	deliverPIM(t, r, "xe-3/1/0.0", a, join(me1, nil, []pimmsg.Source{star}))
	advance(t, clk, 4*time.Second, r)
	r.do(t, func() { pimC = r.kern.Contributions(kernel.OwnerPIM) })
	require.Equal(t, []string{"xe-3/1/1.0"}, pimC[kernel.StarG(g)].Downstream)
	if c, ok := pimC[kernel.SGEntry(s, g)]; ok {
		require.Equal(t, []string{"xe-3/1/1.0"}, c.Exclude)
	}
}
