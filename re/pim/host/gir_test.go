package host

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim/gir"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/rib"
)

// The GIR triangle of examples/labs/gir.clab.yml, in memory: the source
// LAN behind R1, the receiver LAN behind R3; R3 reaches the source through
// R2 (preference 5) or over the direct R1 - R3 link (preference 10). R2
// goes into maintenance.
const (
	girR1 = `set interfaces xe-3/0/0 unit 0 family inet address 10.10.1.1/24
set interfaces xe-3/1/0 unit 0 family inet address 10.10.12.1/30
set interfaces xe-3/1/1 unit 0 family inet address 10.10.13.1/30
set protocols pim interface xe-3/0/0.0
set protocols pim interface xe-3/1/0.0
set protocols pim interface xe-3/1/1.0
set routing-options static route 10.10.3.0/24 next-hop 10.10.12.2 preference 5
set routing-options static route 10.10.3.0/24 next-hop 10.10.13.2 preference 10
set routing-options static route 10.10.23.0/30 next-hop 10.10.12.2
`
	girR2 = `set interfaces xe-3/1/0 unit 0 family inet address 10.10.12.2/30
set interfaces xe-3/1/1 unit 0 family inet address 10.10.23.1/30
set protocols pim interface xe-3/1/0.0
set protocols pim interface xe-3/1/1.0
set routing-options static route 10.10.1.0/24 next-hop 10.10.12.1
set routing-options static route 10.10.3.0/24 next-hop 10.10.23.2
set routing-options static route 10.10.13.0/30 next-hop 10.10.12.1
`
	girR3 = `set interfaces xe-3/0/0 unit 0 family inet address 10.10.3.1/24
set interfaces xe-3/1/0 unit 0 family inet address 10.10.13.2/30
set interfaces xe-3/1/1 unit 0 family inet address 10.10.23.2/30
set protocols pim interface xe-3/0/0.0
set protocols pim interface xe-3/1/0.0
set protocols pim interface xe-3/1/1.0
set protocols igmp interface xe-3/0/0.0
set routing-options static route 10.10.12.0/30 next-hop 10.10.23.1
`
	// R3's routes to the source LAN before and during maintenance.
	viaR2 = "set routing-options static route 10.10.1.0/24 next-hop 10.10.23.1 preference 5\nset routing-options static route 10.10.1.0/24 next-hop 10.10.13.1 preference 10\n"
	viaR1 = "set routing-options static route 10.10.1.0/24 next-hop 10.10.13.1 preference 10\n"
)

var (
	girS = netip.MustParseAddr("10.10.1.2")
	girG = netip.MustParseAddr("232.3.3.3")
)

// reload applies a new configuration as the server's commit does: the RIB
// first (its changes to the host), then the host.
func (r *router) reload(t *testing.T, w rib.WatcherID, text string, now time.Time) {
	t.Helper()
	cfg, err := config.Parse(r.name+".conf", strings.NewReader(text))
	require.NoError(t, err)
	r.do(t, func() {
		cs, err := r.rib.ApplyConfig(cfg, now)
		require.NoError(t, err)
		var mine []rib.Change
		for _, c := range cs {
			if c.Watcher == w {
				mine = append(mine, c)
			}
		}
		r.host.RIBChanged(mine)
		require.NoError(t, r.host.Configure(cfg))
	})
}

func (r *router) pimRoute(t *testing.T) kernel.Contribution {
	var c map[kernel.Entry]kernel.Contribution
	r.do(t, func() { c = r.kern.Contributions(kernel.OwnerPIM) })
	return c[kernel.SGEntry(girS, girG)]
}

func (r *router) girStatus(t *testing.T) gir.Status {
	var st gir.Status
	r.do(t, func() {
		var err error
		st, err = r.host.GIRStatus()
		require.NoError(t, err)
	})
	return st
}

func (r *router) graceful(t *testing.T) bool {
	var on bool
	r.do(t, func() { on = r.host.Engine().GracefulWindowActive() })
	return on
}

// TestGIRTriangleInMemory: R2 announces maintenance; the PFM floods to R1
// and R3 (each drops the copy the other forwards: not its RPF interface
// towards R2), both open the graceful window at the start time; R3's
// unicast route to the source moves to R1, and R3 joins through R1 while
// still accepting from R2; the first packet on the new path (a
// wrong-interface event) switches R3 over and prunes R2's branch. Then the
// window closes at stop, and insertion and "fully operational" follow.
func TestGIRTriangleInMemory(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r1 := newRouter(t, clk, n, "r1", girR1)
	r2 := newRouter(t, clk, n, "r2", girR2)
	r3 := newRouter(t, clk, n, "r3", girR3+viaR2)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/1/0.0")
	n.connect(r2, "xe-3/1/1.0", r3, "xe-3/1/1.0")
	n.connect(r1, "xe-3/1/1.0", r3, "xe-3/1/0.0")
	var w3 rib.WatcherID
	r3.do(t, func() {
		w3 = r3.rib.NewWatcher("pim")
		require.NoError(t, r3.rib.WatchRoutes(w3, netip.MustParsePrefix("0.0.0.0/0")))
	})
	all := []*router{r1, r2, r3}
	advance(t, clk, 6*time.Second, all...)

	// The receiver behind R3 joins (S,G) with IGMPv3; the tree is R1 ->
	// R2 -> R3.
	rep := &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{{Type: igmpmsg.AllowNewSources, Group: girG, Sources: []netip.Addr{girS}}}}
	pkt, err := igmpmsg.Packet(netip.MustParseAddr("10.10.3.2"), netip.MustParseAddr("224.0.0.22"), rep)
	require.NoError(t, err)
	frame := append([]byte{0x01, 0x00, 0x5e, 0, 0, 22, 0x02, 0xaa, 0, 0, 0, 2, 0x08, 0x00}, pkt...)
	r3.do(t, func() { r3.pkt.Deliver(3, "xe-3/0/0.0", 2, frame) })
	advance(t, clk, 2*time.Second, all...)
	require.Equal(t, "xe-3/1/1.0", r3.pimRoute(t).RPF, "R3 pulls from R2")
	require.Equal(t, []string{"xe-3/1/1.0"}, r2.pimRoute(t).Downstream)
	require.Equal(t, []string{"xe-3/1/0.0"}, r1.pimRoute(t).Downstream, "R1 forwards to R2 only")
	// Traffic flows: the line cards' activity reports set the SPT bit.
	for _, r := range all {
		r.do(t, func() {
			r.host.KernelEvents([]kernel.Event{{Kind: kernel.EventActivity, Entry: kernel.SGEntry(girS, girG), Packets: 100}})
		})
	}

	// R2 goes into maintenance: start 10 s, stop 120 s.
	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(true, 10*time.Second, 120*time.Second)) })
	settle(t, all...)
	for _, r := range []*router{r1, r3} {
		st := r.girStatus(t)
		require.Len(t, st.Learned, 1, r.name)
		l := st.Learned[0]
		require.Equal(t, netip.MustParseAddr("10.10.12.2"), l.Originator, "R2's first PIM interface address")
		require.False(t, l.Open)
		require.Equal(t, 10.0, l.StartsInSec)
		require.Equal(t, 120.0, l.StopsInSec)
		require.Equal(t, uint64(1), st.Stats.DropRPF, "%s drops the copy the other forwarded: not its RPF interface towards R2", r.name)
		require.Equal(t, uint64(1), st.Stats.Forwarded)
	}
	require.Equal(t, "xe-3/1/0.0", r1.girStatus(t).Learned[0].Interface)
	require.Equal(t, "xe-3/1/1.0", r3.girStatus(t).Learned[0].Interface)
	require.Equal(t, "removal", r2.girStatus(t).Local.Mode)
	require.False(t, r3.graceful(t))

	// The copies 1 s apart are refreshes of the same window.
	advance(t, clk, 3*time.Second, all...)
	st := r3.girStatus(t)
	require.Equal(t, uint64(2), st.Learned[0].Refreshes)
	require.Equal(t, uint64(3), st.Stats.DropRPF)
	require.Equal(t, uint64(3), r2.girStatus(t).Local.Announcements)

	// At +10 s the windows open everywhere.
	advance(t, clk, 7*time.Second, all...)
	for _, r := range all {
		require.True(t, r.graceful(t), "%s in graceful mode", r.name)
	}

	// Maintenance: R3's route to the source LAN moves to R1. Graceful: R3
	// joins through R1, keeps accepting from R2.
	r3.reload(t, w3, girR3+viaR1, clk.Now())
	advance(t, clk, time.Second, all...)
	require.Equal(t, "xe-3/1/1.0", r3.pimRoute(t).RPF, "still accepting from R2")
	require.Equal(t, []string{"xe-3/1/0.0", "xe-3/1/1.0"}, r1.pimRoute(t).Downstream, "R1 forwards on both branches")
	require.Equal(t, []string{"xe-3/1/1.0"}, r2.pimRoute(t).Downstream, "R2 not pruned yet")

	// The first packet from R1 on R3's new interface: R3 switches, prunes
	// R2's branch.
	r3.do(t, func() {
		r3.host.KernelEvents([]kernel.Event{{Kind: kernel.EventWrongInterface, Entry: kernel.SGEntry(girS, girG),
			Interface: "xe-3/1/0.0", Expected: "xe-3/1/1.0"}})
	})
	settle(t, all...)
	c := r3.pimRoute(t)
	require.Equal(t, "xe-3/1/0.0", c.RPF, "R3 takes the traffic from R1")
	require.True(t, c.AnyRPF, "make-before-break: R2's copies still in flight are accepted")
	require.Equal(t, []string{"xe-3/1/1.0"}, r2.pimRoute(t).Downstream, "the Prune to R2 waits GracefulPruneDelay")
	advance(t, clk, GracefulPruneDelay+100*time.Millisecond, all...)
	require.Empty(t, r2.pimRoute(t).Downstream, "then R2 is pruned")
	advance(t, clk, GracefulSettle-GracefulPruneDelay, all...)
	c = r3.pimRoute(t)
	require.Equal(t, "xe-3/1/0.0", c.RPF)
	require.False(t, c.AnyRPF, "then the strict RPF check on the new interface")
	require.Empty(t, r2.pimRoute(t).Downstream, "R2 pruned")
	require.Equal(t, []string{"xe-3/1/1.0"}, r1.pimRoute(t).Downstream, "R1 forwards to R3 only")
	var stats struct{ started, byTraffic uint64 }
	r3.do(t, func() {
		s := r3.host.Engine().Stats()
		stats.started, stats.byTraffic = s.GracefulStarted, s.GracefulByTraffic
	})
	require.Equal(t, uint64(1), stats.started)
	require.Equal(t, uint64(1), stats.byTraffic)

	// The periodic announcement at +60 s carries the remaining window.
	advance(t, clk, 50*time.Second-GracefulSettle-100*time.Millisecond+time.Second, all...)
	st = r3.girStatus(t)
	require.True(t, st.Learned[0].Open)
	require.Equal(t, 58.0, st.Learned[0].StopsInSec, "still anchored at +120 s (now +62 s)")
	require.Equal(t, uint64(3), st.Learned[0].Refreshes)
	require.Equal(t, uint64(4), r2.girStatus(t).Local.Announcements)

	// At stop the windows close; R2 stays in maintenance, silent.
	advance(t, clk, 61*time.Second, all...)
	for _, r := range all {
		require.False(t, r.graceful(t), "%s", r.name)
	}
	require.Equal(t, "maintenance", r2.girStatus(t).Local.Mode)
	require.Empty(t, r3.girStatus(t).Learned)

	// Insertion: (0, 30) opens the windows at once; after 30 s, (0, 0).
	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(false, 0, 30*time.Second)) })
	settle(t, all...)
	require.True(t, r1.graceful(t))
	require.True(t, r3.graceful(t))
	advance(t, clk, 31*time.Second, all...)
	require.False(t, r3.graceful(t))
	require.Equal(t, "normal", r2.girStatus(t).Local.Mode)
	advance(t, clk, 3*time.Second, all...)
	st = r3.girStatus(t)
	require.Empty(t, st.Learned)
	require.Positive(t, st.Stats.Duplicates, "the 0/0 copies are the same content: suppressed")

	var hs Stats
	r2.do(t, func() { hs = r2.host.Stats() })
	require.Equal(t, uint64(2*(4+3+3)), hs.PFMOriginated, "10 announcements on R2's two PIM interfaces")
}

// A PFM that is not addressed to ALL-PIM-ROUTERS, or that arrives before
// PIM is up, is counted; our PFMs carry TTL 1 and the configured TLV type.
func TestGIRHostEdges(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r2 := newRouter(t, clk, n, "r2", girR2+"set protocols pim graceful-insertion-removal tlv-type 31000\n")
	r1 := newRouter(t, clk, n, "r1", girR1)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/1/0.0")
	advance(t, clk, 6*time.Second, r1, r2)

	m := &pimmsg.PFM{Originator: netip.MustParseAddr("10.10.12.1"), TLVs: []pimmsg.TLV{{Transitive: true, Type: 5, Value: []byte{1}}}}
	pkt, err := pimmsg.Packet(netip.MustParseAddr("10.10.12.1"), netip.MustParseAddr("10.10.12.2"), m)
	require.NoError(t, err)
	frame := append([]byte{0x02, 0, 0, 0, 0, 2, 0x02, 0xaa, 0, 0, 0, 1, 0x08, 0x00}, pkt...)
	r2.do(t, func() { r2.pkt.Deliver(3, "xe-3/1/0.0", 1, frame) })
	require.Equal(t, uint64(1), r2.girStatus(t).Stats.DropNotAllPIM)

	// R2's announcement (type 31000) reaches R1 (TTL 1, else R1 would
	// drop it), whose type is the default: not a GIR TLV for R1, which
	// learns nothing (and has nowhere else to flood it).
	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(true, 0, time.Minute)) })
	settle(t, r1, r2)
	st := r1.girStatus(t)
	require.Empty(t, st.Learned)
	require.Equal(t, uint64(1), st.Stats.Accepted)
	require.Equal(t, uint64(1), st.Stats.NoGIR)
	require.Equal(t, uint16(31000), r2.girStatus(t).TLVType)

	// Without PIM there is no GIR.
	r2.reload(t, 0, "set interfaces xe-3/1/0 unit 0 family inet address 10.10.12.2/30\n", clk.Now())
	r2.do(t, func() {
		_, err := r2.host.GIRStatus()
		require.ErrorIs(t, err, ErrGIRNotRunning)
		require.ErrorIs(t, r2.host.Maintenance(true, 0, time.Minute), ErrGIRNotRunning)
	})
}

// The maintenance statement acts when it changes: committed, a removal
// window; changed, a new one; removed, the insertion window; a reload that
// leaves it alone changes nothing (a request in between stands).
func TestGIRFromConfiguration(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r2 := newRouter(t, clk, n, "r2", girR2)
	require.Equal(t, "normal", r2.girStatus(t).Local.Mode)
	maint := girR2 + "set protocols pim graceful-insertion-removal maintenance start 5 stop 50\n"
	r2.reload(t, 0, maint, clk.Now())
	st := r2.girStatus(t)
	require.Equal(t, "removal", st.Local.Mode)
	require.Equal(t, clk.Now().Add(5*time.Second), st.Local.WindowStart)
	require.Equal(t, clk.Now().Add(50*time.Second), st.Local.WindowStop)

	advance(t, clk, 10*time.Second, r2)
	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(true, 0, 200*time.Second)) })
	r2.reload(t, 0, maint, clk.Now())
	require.Equal(t, clk.Now().Add(200*time.Second), r2.girStatus(t).Local.WindowStop, "the same statement: the request stands")

	r2.reload(t, 0, girR2+"set protocols pim graceful-insertion-removal maintenance\n", clk.Now())
	st = r2.girStatus(t)
	require.Equal(t, clk.Now().Add(time.Duration(config.GIRDefaultStart)*time.Second), st.Local.WindowStart, "changed: the defaults")
	require.Equal(t, clk.Now().Add(time.Duration(config.GIRDefaultStop)*time.Second), st.Local.WindowStop)
	require.Equal(t, gir.DefaultStart, time.Duration(config.GIRDefaultStart)*time.Second, "the CLI and the configuration agree")
	require.Equal(t, gir.DefaultStop, time.Duration(config.GIRDefaultStop)*time.Second)
	require.Equal(t, gir.DefaultInsertion, time.Duration(config.GIRDefaultInsertion)*time.Second)

	r2.reload(t, 0, girR2+"set protocols pim graceful-insertion-removal insertion-window 40\n", clk.Now())
	st = r2.girStatus(t)
	require.Equal(t, "insertion", st.Local.Mode)
	require.Equal(t, clk.Now().Add(40*time.Second), st.Local.WindowStop)
}

// An administrative boundary (RFC 8364 §3.2) stops PFMs both ways; the
// configured originator address is the one in our PFMs.
func TestGIRBoundaryAndOriginator(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r1 := newRouter(t, clk, n, "r1", girR1+"set protocols pim graceful-insertion-removal boundary xe-3/1/0.0\n")
	r2 := newRouter(t, clk, n, "r2", "set interfaces lo0 unit 0 family inet address 10.255.0.2/32\n"+girR2+
		"set protocols pim graceful-insertion-removal originator-address 10.10.23.1\n")
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/1/0.0")
	advance(t, clk, 6*time.Second, r1, r2)
	require.Equal(t, netip.MustParseAddr("10.10.23.1"), r2.girStatus(t).Originator, "configured, not lo0's")

	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(true, 0, time.Minute)) })
	settle(t, r1, r2)
	st := r1.girStatus(t)
	require.Equal(t, uint64(1), st.Stats.DropBoundary)
	require.Empty(t, st.Learned)

	r1.do(t, func() { require.NoError(t, r1.host.Maintenance(true, 0, time.Minute)) })
	settle(t, r1, r2)
	require.Zero(t, r2.girStatus(t).Stats.Received, "nothing sent on the boundary")
}

// GIR under non-stop routing: a replica of R3 restored mid-window follows
// R3's inputs (PFMs, the graceful switch, a maintenance request, timers)
// and holds the same GIR state, learned windows and make-before-break
// periods included; it sends no PFM.
func TestGIRReplica(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r1 := newRouter(t, clk, n, "r1", girR1)
	r2 := newRouter(t, clk, n, "r2", girR2)
	r3 := newRouter(t, clk, n, "r3", girR3+viaR2)
	r3b := newReplica(t, clk, n, "r3b", girR3+viaR2)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/1/0.0")
	n.connect(r2, "xe-3/1/1.0", r3, "xe-3/1/1.0")
	n.connect(r1, "xe-3/1/1.0", r3, "xe-3/1/0.0")
	all := []*router{r1, r2, r3, r3b}
	advance(t, clk, 6*time.Second, r1, r2, r3)

	// R2 announces maintenance before the replica exists.
	r2.do(t, func() { require.NoError(t, r2.host.Maintenance(true, 10*time.Second, 120*time.Second)) })
	advance(t, clk, time.Second, r1, r2, r3)

	rec := &chanRecorder{t: t, replica: r3b}
	var sn *Snapshot
	r3.do(t, func() {
		var err error
		sn, err = r3.host.Snapshot()
		require.NoError(t, err)
		r3.host.SetRecorder(rec)
	})
	raw, err := json.Marshal(sn)
	require.NoError(t, err)
	r3b.do(t, func() {
		var got Snapshot
		require.NoError(t, json.Unmarshal(raw, &got))
		require.NoError(t, r3b.host.Restore(&got))
	})
	require.Equal(t, comparable(t, r3), comparable(t, r3b), "equal right after the snapshot")
	require.Len(t, r3b.girStatus(t).Learned, 1, "the learned window came with the snapshot")

	// The receiver joins, the window opens, the route moves, traffic
	// arrives on the new path: all replayed.
	r3.do(t, func() { r3.pkt.Deliver(3, "xe-3/0/0.0", 2, igmpReport(t, girS, girG)) })
	advance(t, clk, 2*time.Second, all...)
	r3.do(t, func() {
		r3.host.KernelEvents([]kernel.Event{{Kind: kernel.EventActivity, Entry: kernel.SGEntry(girS, girG), Packets: 9}})
	})
	advance(t, clk, 8*time.Second, all...)
	require.True(t, r3b.graceful(t), "the replica's engine is in graceful mode too")
	var w3 rib.WatcherID
	r3.do(t, func() {
		w3 = r3.rib.NewWatcher("pim")
		require.NoError(t, r3.rib.WatchRoutes(w3, netip.MustParsePrefix("0.0.0.0/0")))
	})
	r3.reload(t, w3, girR3+viaR1, clk.Now())
	advance(t, clk, time.Second, all...)
	r3.do(t, func() {
		r3.host.KernelEvents([]kernel.Event{{Kind: kernel.EventWrongInterface, Entry: kernel.SGEntry(girS, girG), Interface: "xe-3/1/0.0"}})
	})
	settle(t, all...)
	require.Equal(t, comparable(t, r3), comparable(t, r3b), "equal in the make-before-break period")
	require.Contains(t, comparable(t, r3b), `"settling"`)

	// R3's own maintenance request is an input too; the replica refuses
	// one of its own.
	r3.do(t, func() { require.NoError(t, r3.host.Maintenance(true, 0, time.Minute)) })
	r3b.do(t, func() { require.ErrorIs(t, r3b.host.Maintenance(true, 0, time.Minute), ErrReplica) })
	advance(t, clk, 70*time.Second, all...)
	require.Equal(t, comparable(t, r3), comparable(t, r3b), "equal after the windows closed")
	var hs Stats
	r3b.do(t, func() { hs = r3b.host.Stats() })
	require.Zero(t, hs.PFMOriginated+hs.PFMForwarded, "the replica sent no PFM")
	r3.do(t, func() { hs = r3.host.Stats() })
	require.Positive(t, hs.PFMOriginated)
}
