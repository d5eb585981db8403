package rib

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/config"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// lab builds the RIB most tests use: two ports and an aggregate.
//
//	xe-3/1/0.0 10.0.0.1/24   xe-3/2/0.0 10.0.1.1/24   ae91.0 10.128.2.1/24
func lab(t *testing.T) *RIB {
	t.Helper()
	r := New(Options{LocalAS: 65000})
	for _, x := range []struct{ ifl, addr string }{
		{"xe-3/1/0.0", "10.0.0.1/24"}, {"xe-3/2/0.0", "10.0.1.1/24"}, {"ae91.0", "10.128.2.1/24"},
	} {
		_, err := r.SetInterface(x.ifl, pfx(x.addr), t0)
		require.NoError(t, err)
	}
	return r
}

func rpf(t *testing.T, r *RIB, a string) Result {
	t.Helper()
	res, ok := r.RPF(ip(a))
	require.True(t, ok, "no route to %s", a)
	return res
}

func TestConnectedAndLocal(t *testing.T) {
	r := lab(t)
	res := rpf(t, r, "10.0.0.77")
	require.Equal(t, Result{
		Prefix: pfx("10.0.0.0/24"), Protocol: ProtoDirect, Interface: "xe-3/1/0.0",
		Neighbor: ip("10.0.0.77"), Connected: true, NextHops: []NextHop{{Interface: "xe-3/1/0.0"}},
	}, res)
	res = rpf(t, r, "10.0.0.1")
	require.Equal(t, ProtoLocal, res.Protocol)
	require.Equal(t, pfx("10.0.0.1/32"), res.Prefix)
	_, ok := r.RPF(ip("192.0.2.1"))
	require.False(t, ok, "no default route yet")
	_, ok = r.RPF(ip("2001:db8::1"))
	require.False(t, ok)
	require.Equal(t, Counts{Destinations: 6, Routes: 6, Active: 6}, r.Counts())

	// A /32 address (a loopback) is one Direct route.
	_, err := r.SetInterface("ae92.0", pfx("10.255.0.1/32"), t0)
	require.NoError(t, err)
	require.Equal(t, ProtoDirect, rpf(t, r, "10.255.0.1").Protocol)
	require.Equal(t, 7, r.Counts().Routes)

	// Changing the address moves both routes.
	_, err = r.SetInterface("xe-3/1/0.0", pfx("10.0.2.1/24"), t0)
	require.NoError(t, err)
	_, ok = r.RPF(ip("10.0.0.77"))
	require.False(t, ok)
	require.Equal(t, "xe-3/1/0.0", rpf(t, r, "10.0.2.9").Interface)
	require.Equal(t, 7, r.Counts().Routes)
}

func TestStaticResolutionPreferenceAndECMP(t *testing.T) {
	r := lab(t)
	_, err := r.SetStatic([]StaticRoute{
		{Prefix: pfx("0.0.0.0/0"), NextHops: []netip.Addr{ip("10.0.0.2")}},
		// Two next hops on two ports: ECMP; RPF takes the highest address.
		{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.1.2"), ip("10.0.0.2")}, Metric: 7},
		// Not connected: hidden.
		{Prefix: pfx("10.10.0.0/16"), NextHops: []netip.Addr{ip("192.0.2.1")}},
		// A static route to a connected subnet loses to Direct (0 < 5).
		{Prefix: pfx("10.128.2.0/24"), NextHops: []netip.Addr{ip("10.0.0.2")}},
	}, t0)
	require.NoError(t, err)

	res := rpf(t, r, "10.9.3.4")
	require.Equal(t, Result{
		Prefix: pfx("10.9.0.0/16"), Protocol: ProtoStatic, Preference: 5, Metric: 7,
		Interface: "xe-3/2/0.0", Neighbor: ip("10.0.1.2"),
		NextHops: []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.0.0.2")}, {Interface: "xe-3/2/0.0", Gateway: ip("10.0.1.2")}},
	}, res)
	// The unresolvable route is hidden: the default route answers.
	res = rpf(t, r, "10.10.1.1")
	require.Equal(t, pfx("0.0.0.0/0"), res.Prefix)
	require.Equal(t, ip("10.0.0.2"), res.Neighbor)
	require.Equal(t, ProtoDirect, rpf(t, r, "10.128.2.9").Protocol)
	c := r.Counts()
	require.Equal(t, 1, c.Hidden)
	require.Equal(t, 10, c.Routes)
	require.Equal(t, 8, c.Active) // 6 connected + default + 10.9/16; 10.128.2/24 has two routes

	// Lower preference wins over Direct? No: a static route with
	// preference 1 still loses to Direct 0, and a metric does not matter
	// across preferences.
	_, err = r.SetStatic([]StaticRoute{{Prefix: pfx("10.128.2.0/24"), NextHops: []netip.Addr{ip("10.0.0.2")}, Preference: 1}}, t0)
	require.NoError(t, err)
	require.Equal(t, ProtoDirect, rpf(t, r, "10.128.2.9").Protocol)
	// Removing statics by omission.
	_, ok := r.RPF(ip("10.9.3.4"))
	require.False(t, ok)
	require.Equal(t, Counts{Destinations: 6, Routes: 7, Active: 6}, r.Counts())
}

func TestSelectionOrder(t *testing.T) {
	r := lab(t)
	p := pfx("10.50.0.0/16")
	kernel := func(prio uint32, proto uint8, gw string) KernelRoute {
		return KernelRoute{Prefix: p, Priority: prio, Protocol: proto, NextHops: []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip(gw)}}}
	}
	apply := func(u KernelUpdate) {
		_, err := r.ApplyKernel(u, t0)
		require.NoError(t, err)
	}
	// BGP 170 alone.
	apply(KernelUpdate{Routes: []KernelRoute{kernel(20, RTProtBGP, "10.0.0.9")}})
	require.Equal(t, ProtoBGP, rpf(t, r, "10.50.1.1").Protocol)
	require.EqualValues(t, 170, rpf(t, r, "10.50.1.1").Preference)
	// OSPF 10 beats BGP 170 despite a higher metric.
	apply(KernelUpdate{Routes: []KernelRoute{kernel(30, RTProtOSPF, "10.0.0.8")}})
	require.Equal(t, ProtoOSPF, rpf(t, r, "10.50.1.1").Protocol)
	// Kernel 10 with a lower metric beats OSPF 10 metric 30.
	apply(KernelUpdate{Routes: []KernelRoute{kernel(25, 4 /* static */, "10.0.0.7")}})
	res := rpf(t, r, "10.50.1.1")
	require.Equal(t, ProtoKernel, res.Protocol)
	require.EqualValues(t, 25, res.Metric)
	require.Equal(t, ip("10.0.0.7"), res.Neighbor)
	// Same preference and metric: OSPF before Kernel (protocol order).
	// (Another TOS: the kernel identifies a route by prefix, TOS and
	// priority, so the same priority and TOS would replace the route.)
	tos := kernel(25, RTProtOSPF, "10.0.0.8")
	tos.TOS = 4
	apply(KernelUpdate{Routes: []KernelRoute{tos}})
	require.Equal(t, ProtoOSPF, rpf(t, r, "10.50.1.1").Protocol)
	require.Equal(t, 4, len(r.Show(p, t0).Entries[0].Routes))
	apply(KernelUpdate{Routes: []KernelRoute{kernel(25, RTProtRIP, "10.0.0.8")}})
	require.Equal(t, 4, len(r.Show(p, t0).Entries[0].Routes), "same key: replaced")
	// Static 5 beats them all.
	_, err := r.SetStatic([]StaticRoute{{Prefix: p, NextHops: []netip.Addr{ip("10.0.1.5")}, Metric: 100}}, t0)
	require.NoError(t, err)
	require.Equal(t, ProtoStatic, rpf(t, r, "10.50.1.1").Protocol)
	// A more specific route always wins the lookup.
	apply(KernelUpdate{Routes: []KernelRoute{{Prefix: pfx("10.50.1.0/24"), Priority: 1000, Protocol: RTProtBGP,
		NextHops: []NextHop{{Interface: "ae91.0", Gateway: ip("10.128.2.2")}}}}})
	require.Equal(t, "ae91.0", rpf(t, r, "10.50.1.1").Interface)
	require.Equal(t, ProtoStatic, rpf(t, r, "10.50.2.1").Protocol)
}

func TestECMPChoiceIsStable(t *testing.T) {
	// Seed 000 caveat II: R2 (the MSDP peer) and R3 (the originator) are
	// both reached over two parallel links; peer-RPF needs both lookups to
	// pick the same interface whatever order the next hops came in.
	r := lab(t)
	nhs := []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.0.0.2")}, {Interface: "xe-3/2/0.0", Gateway: ip("10.0.1.2")}}
	rev := []NextHop{nhs[1], nhs[0]}
	_, err := r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{
		{Prefix: pfx("2.2.2.2/32"), Protocol: RTProtOSPF, Priority: 20, NextHops: nhs},
		{Prefix: pfx("3.3.3.3/32"), Protocol: RTProtOSPF, Priority: 20, NextHops: rev},
	}}, t0)
	require.NoError(t, err)
	a, b := rpf(t, r, "2.2.2.2"), rpf(t, r, "3.3.3.3")
	require.Equal(t, a.Interface, b.Interface)
	require.Equal(t, "xe-3/2/0.0", a.Interface)
	require.Equal(t, ip("10.0.1.2"), a.Neighbor)
	require.Len(t, a.NextHops, 2)
}

func TestInterfaceDownUp(t *testing.T) {
	r := lab(t)
	_, err := r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2"), ip("10.0.1.2")}}}, t0)
	require.NoError(t, err)
	_, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{
		{Prefix: pfx("10.60.0.0/16"), Protocol: RTProtOSPF, Priority: 20, NextHops: []NextHop{{Interface: "xe-3/2/0.0", Gateway: ip("10.0.1.3")}}},
		{Prefix: pfx("10.60.0.0/16"), Protocol: RTProtOSPF, Priority: 40, NextHops: []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.0.0.3")}}},
	}}, t0)
	require.NoError(t, err)
	require.Equal(t, "xe-3/2/0.0", rpf(t, r, "10.9.0.1").Interface)
	require.Equal(t, "xe-3/2/0.0", rpf(t, r, "10.60.0.1").Interface)
	before := r.Counts()

	_, err = r.SetInterfaceUp("xe-3/2/0.0", false, t0.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, r.InterfaceUp("xe-3/2/0.0"))
	// The connected subnet is gone, the static route falls back to its
	// other next hop, the imported route to its worse alternative.
	_, ok := r.RPF(ip("10.0.1.9"))
	require.False(t, ok)
	res := rpf(t, r, "10.9.0.1")
	require.Equal(t, "xe-3/1/0.0", res.Interface)
	require.Len(t, res.NextHops, 1)
	res = rpf(t, r, "10.60.0.1")
	require.EqualValues(t, 40, res.Metric)
	require.Equal(t, "xe-3/1/0.0", res.Interface)
	c := r.Counts()
	require.Equal(t, 1, c.Hidden, "the metric-20 route is hidden")
	require.Equal(t, before.Routes-2, c.Routes, "Direct and Local removed")

	// Both links down: everything over them is withdrawn.
	_, err = r.SetInterfaceUp("xe-3/1/0.0", false, t0.Add(time.Minute))
	require.NoError(t, err)
	for _, a := range []string{"10.9.0.1", "10.60.0.1", "10.0.0.5"} {
		_, ok := r.RPF(ip(a))
		require.False(t, ok, a)
	}

	// Up again: all back as before.
	for _, ifl := range []string{"xe-3/1/0.0", "xe-3/2/0.0"} {
		_, err = r.SetInterfaceUp(ifl, true, t0.Add(2*time.Minute))
		require.NoError(t, err)
	}
	require.Equal(t, before, r.Counts())
	require.Equal(t, "xe-3/2/0.0", rpf(t, r, "10.9.0.1").Interface)
	require.EqualValues(t, 20, rpf(t, r, "10.60.0.1").Metric)

	_, err = r.SetInterfaceUp("xe-9/9/9.0", false, t0)
	require.ErrorIs(t, err, ErrUnknownInterface)

	// Removing an interface withdraws like a link down.
	_, err = r.RemoveInterface("xe-3/2/0.0", t0)
	require.NoError(t, err)
	require.Equal(t, "xe-3/1/0.0", rpf(t, r, "10.9.0.1").Interface)
	_, err = r.RemoveInterface("xe-3/2/0.0", t0)
	require.ErrorIs(t, err, ErrUnknownInterface)
}

func TestKernelResyncAndDelete(t *testing.T) {
	r := lab(t)
	nh := []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.0.0.2")}}
	kr := func(p string, prio uint32) KernelRoute {
		return KernelRoute{Prefix: pfx(p), Priority: prio, Protocol: RTProtOSPF, NextHops: nh}
	}
	_, err := r.ApplyKernel(KernelUpdate{Resync: true, Routes: []KernelRoute{kr("10.70.0.0/16", 20), kr("10.71.0.0/16", 20), kr("10.72.0.0/16", 20)}}, t0)
	require.NoError(t, err)
	require.Equal(t, 9, r.Counts().Routes)
	w := r.NewWatcher("test")
	require.NoError(t, r.WatchRoutes(w, pfx("0.0.0.0/0")))
	// A resync that drops one, keeps one and changes one.
	ch, err := r.ApplyKernel(KernelUpdate{Resync: true, Routes: []KernelRoute{kr("10.71.0.0/16", 20), kr("10.72.0.0/16", 20), kr("10.73.0.0/16", 30)}}, t0)
	require.NoError(t, err)
	var got []string
	for _, c := range ch {
		got = append(got, c.Prefix.String())
	}
	require.Equal(t, []string{"10.70.0.0/16", "10.73.0.0/16"}, got)
	require.False(t, ch[0].New.Found())
	require.False(t, ch[1].Old.Found())
	// Delete by key (prefix, TOS, priority): another priority is another route.
	ch, err = r.ApplyKernel(KernelUpdate{Delete: true, Routes: []KernelRoute{{Prefix: pfx("10.71.0.0/16"), Priority: 99}}}, t0)
	require.NoError(t, err)
	require.Empty(t, ch)
	ch, err = r.ApplyKernel(KernelUpdate{Delete: true, Routes: []KernelRoute{{Prefix: pfx("10.71.0.0/16"), Priority: 20}}}, t0)
	require.NoError(t, err)
	require.Len(t, ch, 1)
	_, ok := r.RPF(ip("10.71.0.1"))
	require.False(t, ok)
	// Over an interface the RIB does not know: hidden.
	_, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{{Prefix: pfx("10.74.0.0/16"), NextHops: []NextHop{{Interface: "xe-7/0/0.0", Gateway: ip("10.9.9.9")}}}}}, t0)
	require.NoError(t, err)
	_, ok = r.RPF(ip("10.74.0.1"))
	require.False(t, ok)
	require.Equal(t, 1, r.Counts().Hidden)
	// The interface appears: the route is usable.
	_, err = r.SetInterface("xe-7/0/0.0", pfx("10.9.9.1/24"), t0)
	require.NoError(t, err)
	require.Equal(t, "xe-7/0/0.0", rpf(t, r, "10.74.0.1").Interface)

	_, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{{Prefix: pfx("10.75.0.1/16")}}}, t0)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestApplyConfig(t *testing.T) {
	const conf = `
set interfaces xe-3/0/0 gigether-options 802.3ad ae90
set interfaces ae90 unit 0 family inet address 10.128.1.1/24
set interfaces xe-3/1/0 unit 0 family inet address 10.0.0.1/24
set interfaces xe-3/1/0 unit 5
set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 metric 3
set routing-options static route 10.9.0.0/16 next-hop 10.128.1.2 preference 7
`
	cfg, err := config.Parse("c.conf", strings.NewReader(conf))
	require.NoError(t, err)
	r := New(Options{})
	_, err = r.ApplyConfig(cfg, t0)
	require.NoError(t, err)
	res := rpf(t, r, "10.9.0.1")
	require.EqualValues(t, 7, res.Preference)
	require.EqualValues(t, 3, res.Metric)
	require.Equal(t, "ae90.0", res.Interface, "the highest next-hop address, 10.128.1.2, is chosen")
	require.True(t, r.InterfaceUp("xe-3/1/0.5"))
	require.False(t, r.InterfaceUp("xe-3/0/0.0"), "aggregate members are not interfaces")
	require.Equal(t, "ae90.0", rpf(t, r, "10.128.1.10").Interface)

	// Reload without ae90 and the static route: both go, with one change
	// list for the watcher.
	w := r.NewWatcher("pim")
	_, _, err = r.Watch(w, ip("10.128.1.10"))
	require.NoError(t, err)
	cfg2, err := config.Parse("c2.conf", strings.NewReader("set interfaces xe-3/1/0 unit 0 family inet address 10.0.0.1/24\n"))
	require.NoError(t, err)
	ch, err := r.ApplyConfig(cfg2, t0)
	require.NoError(t, err)
	require.Len(t, ch, 1)
	require.Equal(t, ip("10.128.1.10"), ch[0].Addr)
	require.False(t, ch[0].New.Found())
	_, ok := r.RPF(ip("10.9.0.1"))
	require.False(t, ok)
	require.False(t, r.InterfaceUp("xe-3/1/0.5"))
}

func TestIFLFromLinux(t *testing.T) {
	for in, want := range map[string]string{
		"xe-3-1-0.0": "xe-3/1/0.0", "ge-0-0-11.100": "ge-0/0/11.100", "et-1-2-3.4": "et-1/2/3.4",
		"ae91.0": "ae91.0", "eth0": "", "lo": "", "xe-3-1-0": "", "xe-3/1/0.0": "", "ae91": "",
	} {
		got, ok := IFLFromLinux(in)
		require.Equal(t, want != "", ok, in)
		require.Equal(t, want, got, in)
	}
}

func TestBadArguments(t *testing.T) {
	r := lab(t)
	_, err := r.SetInterface("xe-3/3/0.0", pfx("2001:db8::1/64"), t0)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = r.SetInterface("", pfx("10.1.1.1/24"), t0)
	require.ErrorIs(t, err, ErrInvalid)
	for _, s := range []StaticRoute{
		{Prefix: pfx("10.9.0.1/16"), NextHops: []netip.Addr{ip("10.0.0.2")}},
		{Prefix: pfx("2001:db8::/32"), NextHops: []netip.Addr{ip("10.0.0.2")}},
		{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("2001:db8::1")}},
	} {
		_, err = r.SetStatic([]StaticRoute{s}, t0)
		require.ErrorIs(t, err, ErrInvalid, "%v", s)
	}
	_, err = r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16")}, {Prefix: pfx("10.9.0.0/16")}}, t0)
	require.ErrorIs(t, err, ErrInvalid)
	// A gateway equal to our own address does not resolve.
	_, err = r.SetStatic([]StaticRoute{{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.1")}}}, t0)
	require.NoError(t, err)
	_, ok := r.RPF(ip("10.9.0.1"))
	require.False(t, ok)
}
