package xdp

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(map[string]string{"mode": "tc", "mode.xe-3/0/0": "native", "routes": "1000", "upcall-interval": "10ms", "netns": "x"})
	require.NoError(t, err)
	assert.Equal(t, ModeTC, o.Mode)
	assert.Equal(t, ModeNative, o.PortMode["xe-3/0/0"])
	assert.Equal(t, 1000, o.Routes)
	assert.Equal(t, 10*time.Millisecond, o.UpcallInterval)
	for _, bad := range []map[string]string{
		{"mode": "fast"}, {"mode.xe-3/0/0": "x"}, {"routes": "many"}, {"routes": "1"}, {"upcall-interval": "-1s"},
	} {
		_, err := parseOptions(bad)
		assert.ErrorIs(t, err, hal.ErrInvalid, "%v", bad)
	}
}

func TestModeOrder(t *testing.T) {
	o, _ := parseOptions(nil)
	veth := &port{phys: "xe-0/0/0"}
	nic := &port{phys: "xe-0/0/1", hardware: true}
	m, _ := modeOrder(veth, o)
	assert.Equal(t, []Mode{ModeTC, ModeGeneric}, m, "no native XDP on a veth by default")
	m, _ = modeOrder(nic, o)
	assert.Equal(t, []Mode{ModeNative, ModeTC, ModeGeneric}, m)
	o.PortMode["xe-0/0/0"] = ModeGeneric
	m, why := modeOrder(veth, o)
	assert.Equal(t, []Mode{ModeGeneric}, m)
	assert.Equal(t, "configured", why)
}

// TestHitsAndVty: WalkHits visits only the routes whose counters grew,
// stamped with the driver clock; the vty shows the ports' modes; Close
// leaves no goroutine and no descriptor behind.
func TestHitsAndVty(t *testing.T) {
	n := porttest.NewNet(t, 2)
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	clock := haltest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	d, err := newDriver(t.Context(), hal.Config{Slot: 3, Logger: testLogger(t), Upcalls: porttest.NopUpcalls{}, Now: clock.Now,
		Ports: n.Ports, Options: map[string]string{"netns": n.Router}})
	require.NoError(t, err)
	n.Program(t, d)
	idle := hal.SG(porttest.Source, netip.MustParseAddr("232.0.7.9"))
	_, err = d.Apply(t.Context(), []hal.Op{{Kind: hal.OpSetRoute, Route: hal.Route{Key: idle, NH: porttest.NHIndirect, RPF: porttest.IFLIn, Flags: hal.RouteFlagsSG}}})
	require.NoError(t, err)
	n.WaitForwarding(t, 20*time.Second)
	clock.Advance(time.Minute)
	since := clock.Now()
	// Only (S,G) routes: a stray packet from the namespaces (the
	// receivers' IGMP reports) may hit the 224/4 resolve route.
	var hits []hal.RouteKey
	d.WalkHits(since, func(r hal.Route, st hal.RouteStat) bool {
		if !r.Key.IsSG() {
			return true
		}
		hits = append(hits, r.Key)
		assert.Equal(t, since, st.LastUsed, "stamped by the driver clock at the walk that saw it grow")
		assert.NotZero(t, st.Counters.Packets)
		return true
	})
	assert.Equal(t, []hal.RouteKey{hal.SG(porttest.Source, porttest.Group)}, hits, "only the route that forwarded")
	clock.Advance(time.Minute)
	hits = nil
	d.WalkHits(clock.Now().Add(-time.Second), func(r hal.Route, _ hal.RouteStat) bool {
		if r.Key.IsSG() {
			hits = append(hits, r.Key)
		}
		return true
	})
	assert.Empty(t, hits, "nothing forwarded since")

	var b bytes.Buffer
	handled, err := d.HandleVty([]string{"show", "xdp", "ports"}, &b)
	require.True(t, handled)
	require.NoError(t, err)
	assert.Contains(t, b.String(), "tc", b.String())
	b.Reset()
	_, err = d.HandleVty([]string{"show", "xdp", "ports", "detail"}, &b)
	require.NoError(t, err)
	assert.Contains(t, b.String(), "mode: tc (auto: not a NIC")
	b.Reset()
	_, err = d.HandleVty([]string{"show", "xdp", "summary", "--json"}, &b)
	require.NoError(t, err)
	var s Summary
	require.NoError(t, json.Unmarshal(b.Bytes(), &s))
	assert.Equal(t, 3, s.Routes, "(S,G), the idle (S,G) and 224/4")
	assert.Equal(t, 2, s.Entries, "one entry NH shared by both (S,G) routes, and Resolve: %+v", s)
	handled, _ = d.HandleVty([]string{"show", "route"}, &b)
	assert.False(t, handled)
	for _, m := range d.Metrics() {
		assert.True(t, strings.HasPrefix(m.Name, "mxfwd_xdp_"), m.Name)
	}

	require.NoError(t, d.Close())
	// Polled here: testify's Eventually runs its condition on a goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for (runtime.NumGoroutine() > goroutines || fdCount(t) > fds) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines after Close")
	assert.LessOrEqual(t, fdCount(t), fds, "descriptors after Close")
}

func fdCount(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// TestTableFull: a route or an OIL that does not fit in its map fails with
// hal.ErrTableFull, and the programming state does not keep it (read-back
// says what the kernel forwards).
func TestTableFull(t *testing.T) {
	route := func(i int, nh hal.NHID) hal.Op {
		return hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), porttest.Group), NH: nh, RPF: porttest.IFLIn, Flags: hal.RouteFlagsSG}}
	}
	t.Run("routes", func(t *testing.T) {
		n := porttest.NewNet(t, 2)
		var d *Driver
		starter(ModeTC, &d, "routes", "16")(t, n.Router, n.Ports, porttest.NopUpcalls{})
		n.Program(t, d) // 2 routes
		var ops []hal.Op
		for i := 0; i < 15; i++ {
			ops = append(ops, route(i, porttest.NHIndirect))
		}
		applied, err := d.Apply(t.Context(), ops)
		assert.Equal(t, 14, applied, "16 routes fit")
		assert.ErrorIs(t, err, hal.ErrTableFull)
		_, err = d.Route(route(14, 0).Route.Key)
		assert.ErrorIs(t, err, hal.ErrNotFound, "the route the map refused is not kept")
		_, err = d.Route(route(13, 0).Route.Key)
		assert.NoError(t, err)
	})
	t.Run("OIL variants", func(t *testing.T) {
		n := porttest.NewNet(t, 2)
		var d *Driver
		starter(ModeTC, &d, "oils", "16")(t, n.Router, n.Ports, porttest.NopUpcalls{})
		n.Program(t, d) // one OIL variant
		made := 0
		var err error
		for i := 0; i < 20; i++ {
			comp, ind := hal.NHID(5000+2*i), hal.NHID(5001+2*i)
			_, err = d.Apply(t.Context(), []hal.Op{
				{Kind: hal.OpSetNH, NH: hal.NextHop{ID: comp, Type: hal.NHComposite, Members: []hal.NHID{porttest.NHUnicastBase}}},
				{Kind: hal.OpSetNH, NH: hal.NextHop{ID: ind, Type: hal.NHIndirect, Target: comp}},
				route(i, ind),
			})
			if err != nil {
				break
			}
			made++
		}
		assert.ErrorIs(t, err, hal.ErrTableFull)
		assert.Equal(t, 15, made, "16 variants, one held by the first OIL")
		_, rerr := d.Route(route(made, 0).Route.Key)
		assert.ErrorIs(t, rerr, hal.ErrNotFound, "the route whose OIL did not fit is not kept")
		assert.Equal(t, 16, d.TableSummary().OILVariants)
	})
}
