package rib

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// model is a deliberately naive RIB: it keeps the inputs (interfaces,
// static routes, kernel routes) and recomputes every answer by scanning all
// routes. The differential test drives it and the RIB with the same random
// operations and requires the same lookups, counts and notifications.
type model struct {
	ifaces  map[string]*iface
	statics []StaticRoute
	kernel  map[kernelKey]KernelRoute
}

// kernelKey is a kernel route's identity (prefix, TOS, priority).
type kernelKey struct {
	prefix netip.Prefix
	prio   uint32
	tos    uint8
}

func (k KernelRoute) key() kernelKey {
	return kernelKey{prefix: k.Prefix, prio: k.Priority, tos: k.TOS}
}

type mroute struct {
	prefix netip.Prefix
	key    routeKey
	proto  Protocol
	pref   uint32
	metric uint32
	usable []NextHop
}

func (m *model) resolve(gw netip.Addr) (string, bool) {
	best := (*iface)(nil)
	for _, f := range m.ifaces {
		if f.up && f.addr.IsValid() && f.addr.Contains(gw) && f.addr.Addr() != gw {
			if best == nil || f.addr.Bits() > best.addr.Bits() || (f.addr.Bits() == best.addr.Bits() && f.name < best.name) {
				best = f
			}
		}
	}
	if best == nil {
		return "", false
	}
	return best.name, true
}

// routes lists every route, hidden ones included (empty usable).
func (m *model) routes() []mroute {
	var out []mroute
	for _, f := range m.ifaces {
		if !f.up || !f.addr.IsValid() {
			continue
		}
		nh := []NextHop{{Interface: f.name}}
		if f.addr.Bits() == 32 {
			out = append(out, mroute{f.addr, routeKey{src: srcDirect, ifl: f.name}, ProtoDirect, 0, 0, nh})
			continue
		}
		out = append(out, mroute{f.addr.Masked(), routeKey{src: srcDirect, ifl: f.name}, ProtoDirect, 0, 0, nh},
			mroute{netip.PrefixFrom(f.addr.Addr(), 32), routeKey{src: srcLocal, ifl: f.name}, ProtoLocal, 0, 0, nh})
	}
	for _, s := range m.statics {
		var nhs []NextHop
		for _, gw := range s.NextHops {
			if ifl, ok := m.resolve(gw); ok {
				nhs = append(nhs, NextHop{Interface: ifl, Gateway: gw})
			}
		}
		pref := s.Preference
		if pref == 0 {
			pref = 5
		}
		out = append(out, mroute{s.Prefix, routeKey{src: srcStatic}, ProtoStatic, pref, s.Metric, sortNextHops(nhs)})
	}
	for _, k := range m.kernel {
		var nhs []NextHop
		for _, nh := range k.NextHops {
			if f := m.ifaces[nh.Interface]; f != nil && f.up {
				nhs = append(nhs, nh)
			}
		}
		p := KernelProtocol(k.Protocol)
		out = append(out, mroute{k.Prefix, routeKey{src: srcKernel, prio: k.Priority, tos: k.TOS}, p, p.DefaultPreference(), k.Priority, sortNextHops(nhs)})
	}
	return out
}

// best returns the active route of every destination.
func (m *model) best() map[netip.Prefix]mroute {
	out := map[netip.Prefix]mroute{}
	for _, r := range m.routes() {
		if len(r.usable) == 0 {
			continue
		}
		cur, ok := out[r.prefix]
		if !ok || cmp.Or(cmp.Compare(r.pref, cur.pref), cmp.Compare(r.metric, cur.metric),
			cmp.Compare(r.proto, cur.proto), compareKey(r.key, cur.key)) < 0 {
			out[r.prefix] = r
		}
	}
	return out
}

func (m *model) result(r mroute, a netip.Addr) Result {
	sel := r.usable[len(r.usable)-1]
	res := Result{Prefix: r.prefix, Protocol: r.proto, Preference: r.pref, Metric: r.metric,
		Interface: sel.Interface, Neighbor: sel.Gateway, NextHops: r.usable}
	if !sel.Gateway.IsValid() {
		res.Connected, res.Neighbor = true, a
	}
	return res
}

func (m *model) rpf(a netip.Addr) Result {
	var found *mroute
	for _, r := range m.best() {
		if r.prefix.Contains(a) && (found == nil || r.prefix.Bits() > found.prefix.Bits()) {
			found = &r
		}
	}
	if found == nil {
		return Result{}
	}
	return m.result(*found, a)
}

func (m *model) counts() Counts {
	var c Counts
	dests := map[netip.Prefix]bool{}
	for _, r := range m.routes() {
		dests[r.prefix] = true
		c.Routes++
		if len(r.usable) == 0 {
			c.Hidden++
		}
	}
	c.Destinations = len(dests)
	c.Active = len(m.best())
	return c
}

// TestRIBDifferential applies random interface, link, static and kernel
// operations to the RIB and the model, and after each one requires equal
// counts, equal RPF answers for a set of addresses, and notifications that
// are exactly the model's before/after differences: for watched addresses,
// and for a route watcher of the whole table.
func TestRIBDifferential(t *testing.T) {
	ifls := []string{"xe-3/1/0.0", "xe-3/2/0.0", "ae91.0", "ae92.0"}
	addrs := []string{"10.0.0.1/24", "10.0.1.1/24", "10.0.0.2/30", "10.0.0.9/32", "10.0.0.1/16", "10.0.1.2/24"}
	prefixes := []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24",
		"10.0.0.0/30", "10.0.0.2/32", "10.1.0.0/16", "10.0.2.0/23", "10.0.3.0/24"}
	gws := []string{"10.0.0.2", "10.0.0.3", "10.0.1.2", "10.0.1.5", "10.0.3.1", "10.0.0.9"}
	watched := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.2", "10.0.2.9", "10.0.3.3", "10.1.5.5", "192.0.2.1", "10.0.0.9"}

	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		pick := func(l []string) string { return l[rng.IntN(len(l))] }
		r := New(Options{})
		m := &model{ifaces: map[string]*iface{}, kernel: map[kernelKey]KernelRoute{}}
		w := r.NewWatcher("diff")
		require.NoError(t, r.WatchRoutes(w, pfx("0.0.0.0/0")))
		lastAddr := map[netip.Addr]Result{}
		for _, a := range watched {
			res, _, err := r.Watch(w, ip(a))
			require.NoError(t, err)
			lastAddr[ip(a)] = res
		}
		kernelRoute := func() KernelRoute {
			k := KernelRoute{Prefix: pfx(pick(prefixes)), Priority: uint32(10 * (1 + rng.IntN(2))), TOS: uint8(rng.IntN(2) * 4),
				Protocol: []uint8{RTProtOSPF, RTProtBGP, 4, RTProtISIS}[rng.IntN(4)]}
			for range 1 + rng.IntN(2) {
				k.NextHops = append(k.NextHops, NextHop{Interface: pick(ifls), Gateway: ip(pick(gws))})
			}
			return k
		}
		now := t0
		for op := 0; op < 1200; op++ {
			now = now.Add(time.Second)
			beforeBest := m.best()
			var ch []Change
			var err error
			var desc string
			switch n := rng.IntN(10); {
			case n < 2:
				name, a := pick(ifls), netip.Prefix{}
				if rng.IntN(5) > 0 {
					a = pfx(pick(addrs))
				}
				desc = fmt.Sprintf("set interface %s %s", name, a)
				ch, err = r.SetInterface(name, a, now)
				if f := m.ifaces[name]; f != nil {
					f.addr = a
				} else {
					m.ifaces[name] = &iface{name: name, addr: a, up: true}
				}
			case n < 4:
				name, up := pick(ifls), rng.IntN(2) == 0
				desc = fmt.Sprintf("link %s up=%v", name, up)
				ch, err = r.SetInterfaceUp(name, up, now)
				if f := m.ifaces[name]; f != nil {
					f.up = up
				} else {
					require.ErrorIs(t, err, ErrUnknownInterface)
					err = nil
				}
			case n < 5:
				name := pick(ifls)
				desc = "remove " + name
				ch, err = r.RemoveInterface(name, now)
				if m.ifaces[name] != nil {
					delete(m.ifaces, name)
				} else {
					require.ErrorIs(t, err, ErrUnknownInterface)
					err = nil
				}
			case n < 6:
				var ss []StaticRoute
				used := map[string]bool{}
				for range rng.IntN(4) {
					p := pick(prefixes)
					if used[p] {
						continue
					}
					used[p] = true
					s := StaticRoute{Prefix: pfx(p), Preference: uint32(rng.IntN(3) * 3), Metric: uint32(rng.IntN(2))}
					for range 1 + rng.IntN(2) {
						s.NextHops = append(s.NextHops, ip(pick(gws)))
					}
					ss = append(ss, s)
				}
				desc = fmt.Sprintf("statics %v", ss)
				ch, err = r.SetStatic(ss, now)
				m.statics = ss
			case n < 8:
				k := kernelRoute()
				desc = fmt.Sprintf("kernel add %v", k)
				ch, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{k}}, now)
				m.kernel[k.key()] = k
			case n < 9:
				k := kernelRoute()
				for kk, v := range m.kernel { // delete an existing one most of the time
					if rng.IntN(3) > 0 {
						k = v
					}
					_ = kk
					break
				}
				desc = fmt.Sprintf("kernel delete %v", k.key())
				ch, err = r.ApplyKernel(KernelUpdate{Delete: true, Routes: []KernelRoute{{Prefix: k.Prefix, Priority: k.Priority, TOS: k.TOS}}}, now)
				delete(m.kernel, k.key())
			default:
				next := map[kernelKey]KernelRoute{}
				var list []KernelRoute
				for range rng.IntN(6) {
					k := kernelRoute()
					if _, dup := next[k.key()]; !dup {
						next[k.key()] = k
						list = append(list, k)
					}
				}
				desc = fmt.Sprintf("kernel resync %d routes", len(list))
				ch, err = r.ApplyKernel(KernelUpdate{Resync: true, Routes: list}, now)
				m.kernel = next
			}
			require.NoError(t, err, desc)
			ctx := fmt.Sprintf("seed %d op %d: %s", seed, op, desc)
			require.Equal(t, m.counts(), r.Counts(), ctx)

			// Address notifications: exactly the changed RPF answers.
			var wantAddr []Change
			for _, a := range watched {
				now := m.rpf(ip(a))
				if !now.Equal(lastAddr[ip(a)]) {
					wantAddr = append(wantAddr, Change{Watcher: w, Addr: ip(a), Old: lastAddr[ip(a)], New: now})
					lastAddr[ip(a)] = now
				}
			}
			slices.SortFunc(wantAddr, func(a, b Change) int { return a.Addr.Compare(b.Addr) })
			// Route notifications: every destination whose active route changed.
			afterBest := m.best()
			var wantRoute []Change
			seen := map[netip.Prefix]bool{}
			for _, set := range []map[netip.Prefix]mroute{beforeBest, afterBest} {
				for p := range set {
					if seen[p] {
						continue
					}
					seen[p] = true
					var old, cur Result
					if x, ok := beforeBest[p]; ok {
						old = m.result(x, netip.Addr{})
					}
					if x, ok := afterBest[p]; ok {
						cur = m.result(x, netip.Addr{})
					}
					if !old.Equal(cur) {
						wantRoute = append(wantRoute, Change{Watcher: w, Prefix: p, Old: old, New: cur})
					}
				}
			}
			slices.SortFunc(wantRoute, func(a, b Change) int { return comparePrefix(a.Prefix, b.Prefix) })
			var gotRoute, gotAddr []Change
			for _, c := range ch {
				if c.Addr.IsValid() {
					gotAddr = append(gotAddr, c)
				} else {
					gotRoute = append(gotRoute, c)
				}
			}
			requireSameChanges(t, wantRoute, gotRoute, ctx+" (route changes)")
			requireSameChanges(t, wantAddr, gotAddr, ctx+" (address changes)")

			// Lookups of unwatched addresses too.
			for range 4 {
				a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(2)), byte(rng.IntN(4)), byte(rng.IntN(12))})
				want := m.rpf(a)
				got, ok := r.RPF(a)
				require.Equal(t, want.Found(), ok, "%s: rpf %s", ctx, a)
				require.True(t, want.Equal(got), "%s: rpf %s: want %+v got %+v", ctx, a, want, got)
			}
		}
	}
}

func requireSameChanges(t *testing.T, want, got []Change, ctx string) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: want %+v\ngot %+v", ctx, want, got)
	for i := range want {
		w, g := want[i], got[i]
		ok := w.Watcher == g.Watcher && w.Addr == g.Addr && w.Prefix == g.Prefix && w.Old.Equal(g.Old) && w.New.Equal(g.New)
		require.True(t, ok, "%s: change %d: want %+v\ngot %+v", ctx, i, w, g)
	}
}
