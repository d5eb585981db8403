package rib

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWatchAddress(t *testing.T) {
	r := lab(t)
	pim := r.NewWatcher("pim")
	msdp := r.NewWatcher("msdp")
	src := ip("10.9.1.1")

	// Watching an unreachable address: current answer is "none".
	res, ok, err := r.Watch(pim, src)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, res.Found())
	_, _, err = r.Watch(msdp, src)
	require.NoError(t, err)

	// A route appears: both watchers are told, in watcher order.
	ch, err := r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2")}}}, t0)
	require.NoError(t, err)
	require.Len(t, ch, 2)
	require.Equal(t, []WatcherID{pim, msdp}, []WatcherID{ch[0].Watcher, ch[1].Watcher})
	require.Equal(t, src, ch[0].Addr)
	require.False(t, ch[0].Old.Found())
	require.Equal(t, "xe-3/1/0.0", ch[0].New.Interface)
	require.Equal(t, ip("10.0.0.2"), ch[0].New.Neighbor)

	// The same configuration again: nothing changes, nobody is told.
	ch, err = r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2")}}}, t0)
	require.NoError(t, err)
	require.Empty(t, ch)

	// A metric change alone is a change (GIR, issue #16).
	ch, err = r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2")}, Metric: 50}}, t0)
	require.NoError(t, err)
	require.Len(t, ch, 2)
	require.EqualValues(t, 0, ch[0].Old.Metric)
	require.EqualValues(t, 50, ch[0].New.Metric)
	require.Equal(t, ch[0].Old.Interface, ch[0].New.Interface)

	// MSDP stops watching; a more specific route moves the RPF interface
	// (re-RPF): only PIM is told.
	require.NoError(t, r.Unwatch(msdp, src))
	ch, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{{Prefix: pfx("10.9.1.0/24"), Protocol: RTProtOSPF, Priority: 20,
		NextHops: []NextHop{{Interface: "ae91.0", Gateway: ip("10.128.2.2")}}}}}, t0)
	require.NoError(t, err)
	require.Len(t, ch, 1)
	require.Equal(t, pim, ch[0].Watcher)
	require.Equal(t, pfx("10.9.0.0/16"), ch[0].Old.Prefix)
	require.Equal(t, pfx("10.9.1.0/24"), ch[0].New.Prefix)
	require.Equal(t, "ae91.0", ch[0].New.Interface)
	require.Equal(t, ProtoOSPF, ch[0].New.Protocol)

	// A route elsewhere changes: no notification.
	ch, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{{Prefix: pfx("10.10.0.0/16"), Protocol: RTProtOSPF, Priority: 20,
		NextHops: []NextHop{{Interface: "ae91.0", Gateway: ip("10.128.2.2")}}}}}, t0)
	require.NoError(t, err)
	require.Empty(t, ch)

	// Link down: the OSPF route is hidden, RPF falls back to the static.
	ch, err = r.SetInterfaceUp("ae91.0", false, t0)
	require.NoError(t, err)
	require.Len(t, ch, 1)
	require.Equal(t, "xe-3/1/0.0", ch[0].New.Interface)

	// A directly connected source: the neighbour is the source itself.
	local := ip("10.0.1.50")
	res, ok, err = r.Watch(pim, local)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, res.Connected)
	require.Equal(t, local, res.Neighbor)

	require.NoError(t, r.RemoveWatcher(msdp))
	require.ErrorIs(t, r.RemoveWatcher(msdp), ErrUnknownWatcher)
	_, _, err = r.Watch(msdp, src)
	require.ErrorIs(t, err, ErrUnknownWatcher)
	require.ErrorIs(t, r.Unwatch(msdp, src), ErrUnknownWatcher)
	require.ErrorIs(t, r.WatchRoutes(msdp, pfx("0.0.0.0/0")), ErrUnknownWatcher)
	_, _, err = r.Watch(pim, ip("2001:db8::1"))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestWatchRoutes(t *testing.T) {
	r := lab(t)
	all := r.NewWatcher("all")
	ten9 := r.NewWatcher("10.9/16")
	require.NoError(t, r.WatchRoutes(all, pfx("0.0.0.0/0")))
	require.NoError(t, r.WatchRoutes(ten9, pfx("10.9.0.0/16")))
	require.NoError(t, r.WatchRoutes(ten9, pfx("10.9.7.7/16")), "masked, and a repeat is a no-op")
	require.ErrorIs(t, r.WatchRoutes(ten9, netip.Prefix{}), ErrInvalid)

	ch, err := r.SetStatic([]StaticRoute{
		{Prefix: pfx("10.9.1.0/24"), NextHops: []netip.Addr{ip("10.0.0.2")}},
		{Prefix: pfx("10.8.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2")}},
		{Prefix: pfx("10.0.0.0/8"), NextHops: []netip.Addr{ip("10.0.0.2")}},
	}, t0)
	require.NoError(t, err)
	type note struct {
		w WatcherID
		p string
	}
	var got []note
	for _, c := range ch {
		require.False(t, c.Addr.IsValid())
		require.False(t, c.Old.Found())
		require.True(t, c.New.Found())
		require.False(t, c.New.Connected)
		got = append(got, note{c.Watcher, c.Prefix.String()})
	}
	// By prefix; 10.0.0.0/8 covers 10.9/16 but is not inside it.
	require.Equal(t, []note{{all, "10.0.0.0/8"}, {all, "10.8.0.0/16"}, {all, "10.9.1.0/24"}, {ten9, "10.9.1.0/24"}}, got)

	// Link down: the connected routes go, the statics' next hop with them.
	ch, err = r.SetInterfaceUp("xe-3/1/0.0", false, t0)
	require.NoError(t, err)
	got = got[:0]
	for _, c := range ch {
		got = append(got, note{c.Watcher, c.Prefix.String()})
		require.False(t, c.New.Found())
	}
	require.Equal(t, []note{{all, "10.0.0.0/8"}, {all, "10.0.0.0/24"}, {all, "10.0.0.1/32"}, {all, "10.8.0.0/16"},
		{all, "10.9.1.0/24"}, {ten9, "10.9.1.0/24"}}, got)
	// A route-level result of a connected route has no neighbour.
	ch, err = r.SetInterfaceUp("xe-3/1/0.0", true, t0)
	require.NoError(t, err)
	for _, c := range ch {
		if c.Prefix == pfx("10.0.0.0/24") {
			require.True(t, c.New.Connected)
			require.False(t, c.New.Neighbor.IsValid())
		}
	}
	require.NoError(t, r.RemoveWatcher(all))
	require.NoError(t, r.RemoveWatcher(ten9))
	ch, err = r.SetStatic(nil, t0)
	require.NoError(t, err)
	require.Empty(t, ch)
}
