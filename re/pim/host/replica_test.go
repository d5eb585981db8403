package host

import (
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
)

// chanRecorder carries the master's inputs to the replica's loop through
// their wire encoding, in order.
type chanRecorder struct {
	t       *testing.T
	replica *router
	mu      sync.Mutex
	n       int
}

func (c *chanRecorder) Record(in *Input) {
	b, err := MarshalInput(in)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.replica.eng.PostCall(func() error {
		got, err := UnmarshalInput(b)
		require.NoError(c.t, err)
		return c.replica.host.Replay(got)
	})
}

func newReplica(t testing.TB, clk *clock.Fake, n *network, name, text string) *router {
	t.Helper()
	r := newRouterWith(t, clk, n, name, text, func(h *Host) { h.SetReplica(true) })
	return r
}

// comparable returns a snapshot without its time, as JSON.
func comparable(t *testing.T, r *router) string {
	t.Helper()
	var sn *Snapshot
	r.do(t, func() {
		var err error
		sn, err = r.host.Snapshot()
		require.NoError(t, err)
	})
	sn.Taken = time.Time{}
	sn.PIM.Taken = time.Time{}
	b, err := json.MarshalIndent(sn, "", " ")
	require.NoError(t, err)
	return string(b)
}

func igmpReport(t *testing.T, s, g netip.Addr) []byte {
	rep := &igmpmsg.V3Report{Records: []igmpmsg.GroupRecord{{Type: igmpmsg.AllowNewSources, Group: g, Sources: []netip.Addr{s}}}}
	pkt, err := igmpmsg.Packet(netip.MustParseAddr("10.2.0.2"), netip.MustParseAddr("224.0.0.22"), rep)
	require.NoError(t, err)
	return append([]byte{0x01, 0x00, 0x5e, 0, 0, 22, 0x02, 0xaa, 0, 0, 0, 2, 0x08, 0x00}, pkt...)
}

// A replica of R2 that starts from R2's snapshot part-way and follows its
// inputs holds R2's state at every point; when it takes over R2's link,
// R1 sees no new neighbour (same generation ID, uptime continues) and
// keeps the (S,G) state R2 joined, while the replica's kernel, replaced by
// R2's, needs no change.
func TestReplicaFollowsAndTakesOver(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r1 := newRouter(t, clk, n, "r1", r1Conf)
	r2 := newRouter(t, clk, n, "r2", r2Conf)
	r2b := newReplica(t, clk, n, "r2b", r2Conf)
	n.connect(r1, "xe-3/1/0.0", r2, "xe-3/0/0.0")
	advance(t, clk, 6*time.Second, r1, r2)

	// A first receiver before the replica exists (seed 000 caveat I,
	// case 2: state the backup learns only from the snapshot).
	s, g1, g2 := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("232.1.1.1"), netip.MustParseAddr("232.1.1.2")
	r2.do(t, func() { r2.pkt.Deliver(3, "xe-3/1/0.0", 2, igmpReport(t, s, g1)) })
	advance(t, clk, 2*time.Second, r1, r2)

	// The replica connects: snapshot and recorder set in one loop step.
	rec := &chanRecorder{t: t, replica: r2b}
	var sn *Snapshot
	r2.do(t, func() {
		var err error
		sn, err = r2.host.Snapshot()
		require.NoError(t, err)
		r2.host.SetRecorder(rec)
	})
	raw, err := json.Marshal(sn)
	require.NoError(t, err)
	r2b.do(t, func() {
		var got Snapshot
		require.NoError(t, json.Unmarshal(raw, &got))
		require.NoError(t, r2b.host.Restore(&got))
	})
	all := []*router{r1, r2, r2b}
	require.Equal(t, comparable(t, r2), comparable(t, r2b), "equal right after the snapshot")

	// A second receiver after, and time passing: hellos, join refreshes,
	// IGMP queries all go through the replica as inputs.
	r2.do(t, func() { r2.pkt.Deliver(3, "xe-3/1/0.0", 2, igmpReport(t, s, g2)) })
	advance(t, clk, 3*time.Second, all...)
	require.Equal(t, comparable(t, r2), comparable(t, r2b), "equal after a join")
	advance(t, clk, 95*time.Second, all...)
	require.Equal(t, comparable(t, r2), comparable(t, r2b), "equal after the timers ran")
	rec.mu.Lock()
	require.Greater(t, rec.n, 8, "hellos, joins, queries and ticks were recorded")
	rec.mu.Unlock()

	// The replica sent nothing and contributed nothing.
	n.mu.Lock()
	require.Empty(t, n.tap["r2b/xe-3/0/0.0"], "the replica's link is unconnected: nothing may appear there")
	n.mu.Unlock()
	r2b.do(t, func() { require.Empty(t, r2b.kern.Contributions(kernel.OwnerPIM)) })

	var before pim.NeighborInfo
	genID := func() pim.NeighborInfo {
		var out pim.NeighborInfo
		r1.do(t, func() {
			for _, nb := range r1.host.Engine().ShowNeighbors(clk.Now()) {
				if !nb.Local {
					out = nb
				}
			}
		})
		return out
	}
	before = genID()
	require.True(t, before.HasGenID)

	// The master dies: its link now leads to the replica, which takes
	// over with the master's kernel state.
	st := r2.kern.Export()
	r2.do(t, func() { r2.host.SetRecorder(nil) })
	n.mu.Lock()
	delete(n.peers, "r2/xe-3/0/0.0")
	n.mu.Unlock()
	n.connect(r1, "xe-3/1/0.0", r2b, "xe-3/0/0.0")
	var changed int
	r2b.do(t, func() {
		require.NoError(t, r2b.kern.Replace(st))
		changed = r2b.host.Takeover()
	})
	require.Zero(t, changed, "the replicated routes are the mirrored kernel's")
	// The receiver keeps reporting, now to the new master; R1's join
	// state (holdtime 210 s) lives only if the new master refreshes it.
	for range 4 {
		r2b.do(t, func() {
			r2b.pkt.Deliver(3, "xe-3/1/0.0", 2, igmpReport(t, s, g1))
			r2b.pkt.Deliver(3, "xe-3/1/0.0", 2, igmpReport(t, s, g2))
		})
		advance(t, clk, 60*time.Second, r1, r2b)
	}

	after := genID()
	require.Equal(t, before.Addr, after.Addr)
	require.Equal(t, before.GenID, after.GenID, "same generation ID: R1 sees no restart")
	require.Greater(t, after.Uptime, before.Uptime+200, "the neighbour's uptime continues")
	var pimC map[kernel.Entry]kernel.Contribution
	r1.do(t, func() { pimC = r1.kern.Contributions(kernel.OwnerPIM) })
	for _, g := range []netip.Addr{g1, g2} {
		c, ok := pimC[kernel.SGEntry(s, g)]
		require.True(t, ok, "R1 keeps (S,%v) joined by the new master past the join holdtime", g)
		require.Equal(t, []string{"xe-3/1/0.0"}, c.Downstream)
	}
	// The new master refuses nothing a master does.
	r2b.do(t, func() { require.NoError(t, r2b.host.ClearStatistics()) })
}

func TestReplicaRefusesLocalInputsAndClears(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r := newReplica(t, clk, n, "r2", r2Conf)
	r.do(t, func() {
		require.Nil(t, r.host.Engine(), "the engine is built by the master's configure input")
		r.pkt.Deliver(3, "xe-3/1/0.0", 2, igmpReport(t, netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("232.1.1.1")))
		require.Zero(t, r.host.Stats().IGMPReceived, "a replica takes no packet of its own")
		require.NoError(t, r.host.Replay(&Input{Kind: InConfigure, Now: clk.Now()}))
		require.NotNil(t, r.host.Engine())
		require.ErrorIs(t, r.host.ClearJoin(netip.Addr{}), ErrReplica)
		require.ErrorIs(t, r.host.ClearStatistics(), ErrReplica)
		require.Error(t, r.host.Replay(&Input{Kind: 99}))
		require.Error(t, r.host.Replay(&Input{Kind: InPacket}))
	})
	for _, bad := range []string{`{"kind":0}`, `{"kind":42}`, `not json`, `{"kind":1,"packet":{"payload":"!!"}}`} {
		_, err := UnmarshalInput([]byte(bad))
		require.Error(t, err, bad)
	}
	_ = strings.TrimSpace
}

func FuzzReplay(f *testing.F) {
	f.Add([]byte(`{"kind":1,"now":"2026-12-04T00:00:00Z","packet":{"interface":"xe-3/1/0.0","src":"10.2.0.2","dst":"224.0.0.22","proto":2,"ttl":1,"payload":"IgAAAA=="}}`))
	f.Add([]byte(`{"kind":2,"now":"2026-12-04T00:00:00Z","kernel":[{"Kind":1,"Entry":{"Source":"10.1.0.2","Group":"232.1.1.1"},"Interface":"xe-3/1/0.0"}]}`))
	f.Add([]byte(`{"kind":3,"now":"2026-12-04T00:00:00Z","prefixes":["10.1.0.0/24"]}`))
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	n := &network{peers: map[string]endpoint{}, tap: map[string][][]byte{}}
	r := newReplica(f, clk, n, "r2", r2Conf)
	r.do(f, func() { require.NoError(f, r.host.Replay(&Input{Kind: InConfigure, Now: clk.Now()})) })
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := UnmarshalInput(b)
		if err != nil {
			return
		}
		r.do(t, func() { _ = r.host.Replay(in) })
	})
}
