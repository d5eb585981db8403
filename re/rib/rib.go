package rib

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Sentinel errors.
var (
	// ErrUnknownInterface: the named interface is not in the RIB.
	ErrUnknownInterface = errors.New("unknown interface")
	// ErrInvalid: an argument is malformed (not IPv4, host bits set, ...).
	ErrInvalid = errors.New("invalid argument")
)

// TableName is the name `show route` gives the unicast table.
const TableName = "inet.0"

// Options configure a RIB.
type Options struct {
	// LocalAS is shown as "Local AS" in `show route detail`; 0 omits it.
	LocalAS uint32
}

// RIB is the unicast routing table. It is single-threaded: every method
// must be called from one goroutine (the routing engine's owner), and none
// blocks. Mutating methods return the notifications they caused (see
// Change); reading methods never change state.
type RIB struct {
	localAS uint32

	table   trie[*dest]
	ifaces  map[string]*iface
	statics map[netip.Prefix]StaticRoute
	// groups are the next-hop groups by key; byIfl indexes them by the
	// interfaces of their next hops, so that a link change revisits only
	// the routes over that link.
	groups map[string]*nhGroup
	byIfl  map[string]map[*nhGroup]struct{}
	keyBuf []byte

	nRoutes, nActive, nHidden, nKernel int
	kgen                               uint32 // kernel resync generation

	w watchState
}

// iface is an interface as the RIB knows it.
type iface struct {
	name string
	addr netip.Prefix // address with its subnet length; invalid: none
	up   bool
}

// New returns an empty RIB.
func New(o Options) *RIB {
	return &RIB{
		localAS: o.LocalAS,
		ifaces:  map[string]*iface{},
		statics: map[netip.Prefix]StaticRoute{},
		groups:  map[string]*nhGroup{},
		byIfl:   map[string]map[*nhGroup]struct{}{},
		w:       newWatchState(),
	}
}

// Counts are the table's totals as the `show route` header prints them.
type Counts struct {
	Destinations int `json:"destination-count"`
	Routes       int `json:"total-route-count"`
	Active       int `json:"active-route-count"`
	Hidden       int `json:"hidden-route-count"`
}

// Counts returns the table's totals.
func (r *RIB) Counts() Counts {
	return Counts{Destinations: r.table.Len(), Routes: r.nRoutes, Active: r.nActive, Hidden: r.nHidden}
}

// RPF returns the route the RIB uses towards a: the active route of the
// longest prefix containing a, and its chosen next hop. Destinations whose
// routes are all hidden (no usable next hop) are skipped, so a shorter
// covering route answers. ok is false when nothing covers a or a is not
// IPv4.
//
// Among equal-cost next hops the one with the highest gateway address
// (then the highest interface name) is chosen. PIM-SM (RFC 7761) leaves
// the equal-cost choice to the implementation; one fixed rule for all
// lookups means two destinations reached over the same ECMP set resolve to
// the same interface, which MSDP peer-RPF needs when two peers are joined
// by parallel links (seed 000, caveat II).
func (r *RIB) RPF(a netip.Addr) (Result, bool) {
	if !a.Is4() {
		return Result{}, false
	}
	d, ok := r.lookup(addr4(a))
	if !ok {
		return Result{}, false
	}
	return d.result(a), true
}

func hasActive(d *dest) bool { return d.active != nil }

func (r *RIB) lookup(a uint32) (*dest, bool) {
	d, _, ok := r.table.LookupIf(a, hasActive)
	return d, ok
}

// ---- interfaces ----

// SetInterface adds or updates a logical interface and its address (with
// the subnet length, e.g. 10.0.0.1/24; an invalid prefix for none). A new
// interface is up. The address gives a Direct route to its subnet and a
// Local route to itself (a /32 address gives only the Direct route, as a
// loopback address does).
func (r *RIB) SetInterface(name string, addr netip.Prefix, now time.Time) ([]Change, error) {
	err := r.setInterface(name, addr, now)
	return r.flush(), err
}

func (r *RIB) setInterface(name string, addr netip.Prefix, now time.Time) error {
	if name == "" {
		return fmt.Errorf("rib: interface name: %w", ErrInvalid)
	}
	if addr.IsValid() && !addr.Addr().Is4() {
		return fmt.Errorf("rib: interface %s address %s: %w: not IPv4", name, addr, ErrInvalid)
	}
	f := r.ifaces[name]
	if f == nil {
		f = &iface{name: name, up: true}
		r.ifaces[name] = f
	} else if f.addr == addr {
		return nil
	}
	r.removeConnected(f)
	f.addr = addr
	r.interfaceChanged(f, now)
	return nil
}

// SetInterfaceUp marks an interface's link up or down. Routes over a down
// interface are withdrawn (Direct and Local removed, others hidden) and
// come back when it is up again.
func (r *RIB) SetInterfaceUp(name string, up bool, now time.Time) ([]Change, error) {
	f := r.ifaces[name]
	if f == nil {
		return nil, fmt.Errorf("rib: interface %s: %w", name, ErrUnknownInterface)
	}
	if f.up == up {
		return nil, nil
	}
	f.up = up
	if !up {
		r.removeConnected(f)
	}
	r.interfaceChanged(f, now)
	return r.flush(), nil
}

// RemoveInterface deletes an interface; its routes are withdrawn as for a
// link down.
func (r *RIB) RemoveInterface(name string, now time.Time) ([]Change, error) {
	err := r.removeInterface(name, now)
	return r.flush(), err
}

func (r *RIB) removeInterface(name string, now time.Time) error {
	f := r.ifaces[name]
	if f == nil {
		return fmt.Errorf("rib: interface %s: %w", name, ErrUnknownInterface)
	}
	r.removeConnected(f)
	delete(r.ifaces, name)
	r.interfaceChanged(f, now)
	return nil
}

// InterfaceUp reports whether the interface is known and up.
func (r *RIB) InterfaceUp(name string) bool {
	f := r.ifaces[name]
	return f != nil && f.up
}

func (r *RIB) removeConnected(f *iface) {
	if !f.addr.IsValid() {
		return
	}
	r.remove(f.addr.Masked(), routeKey{src: srcDirect, ifl: f.name})
	r.remove(netip.PrefixFrom(f.addr.Addr(), 32), routeKey{src: srcLocal, ifl: f.name})
}

// interfaceChanged brings every route that depends on f up to date: its
// connected routes, every static route (their next hops resolve over
// connected subnets), and the next-hop groups over f with their routes.
func (r *RIB) interfaceChanged(f *iface, now time.Time) {
	if cur := r.ifaces[f.name]; cur != nil && cur.up && cur.addr.IsValid() {
		nh := []NextHop{{Interface: f.name}}
		if cur.addr.Bits() < 32 {
			r.upsert(cur.addr.Masked(), routeKey{src: srcDirect, ifl: f.name}, ProtoDirect, PrefDirect, 0, nh, now)
			r.upsert(netip.PrefixFrom(cur.addr.Addr(), 32), routeKey{src: srcLocal, ifl: f.name}, ProtoLocal, PrefLocal, 0, nh, now)
		} else {
			r.upsert(cur.addr, routeKey{src: srcDirect, ifl: f.name}, ProtoDirect, PrefDirect, 0, nh, now)
		}
	}
	r.resolveStatics(now)
	for g := range r.byIfl[f.name] {
		u := r.usableOf(g.nhs)
		if slices.Equal(u, g.usable) {
			continue
		}
		for _, rt := range g.routes {
			r.markDirty(rt.dest)
		}
		g.usable = u
		for _, rt := range g.routes {
			r.reselect(rt.dest)
		}
	}
}

// ---- the table ----

// usableOf returns the next hops whose interface is known and up. It
// returns nhs itself when all are usable (the common case: no copy).
func (r *RIB) usableOf(nhs []NextHop) []NextHop {
	n := 0
	for _, nh := range nhs {
		if f := r.ifaces[nh.Interface]; f != nil && f.up {
			n++
		}
	}
	if n == len(nhs) {
		return nhs
	}
	out := make([]NextHop, 0, n)
	for _, nh := range nhs {
		if f := r.ifaces[nh.Interface]; f != nil && f.up {
			out = append(out, nh)
		}
	}
	return out
}

// group returns the next-hop group of nhs (sorted, deduplicated: see
// sortNextHops), creating it if needed. The key is built in a reused
// buffer, so finding an existing group allocates nothing.
func (r *RIB) group(nhs []NextHop) *nhGroup {
	b := r.keyBuf[:0]
	for _, nh := range nhs {
		var a [4]byte // no gateway: 0.0.0.0, never a gateway
		if nh.Gateway.IsValid() {
			a = nh.Gateway.As4()
		}
		b = append(b, a[:]...)
		b = append(b, nh.Interface...)
		b = append(b, 0)
	}
	r.keyBuf = b
	if g := r.groups[string(b)]; g != nil {
		return g
	}
	g := &nhGroup{key: string(b), nhs: slices.Clone(nhs)}
	g.usable = r.usableOf(g.nhs)
	r.groups[g.key] = g
	for _, nh := range g.nhs {
		m := r.byIfl[nh.Interface]
		if m == nil {
			m = map[*nhGroup]struct{}{}
			r.byIfl[nh.Interface] = m
		}
		m[g] = struct{}{}
	}
	return g
}

func (r *RIB) attach(rt *route, g *nhGroup) {
	rt.grp, rt.gpos = g, int32(len(g.routes))
	g.routes = append(g.routes, rt)
}

// detach takes rt out of its group, dropping the group with its last route.
func (r *RIB) detach(rt *route) {
	g := rt.grp
	last := g.routes[len(g.routes)-1]
	g.routes[rt.gpos], last.gpos = last, rt.gpos
	g.routes[len(g.routes)-1] = nil
	g.routes = g.routes[:len(g.routes)-1]
	rt.grp = nil
	if len(g.routes) > 0 {
		return
	}
	delete(r.groups, g.key)
	for _, nh := range g.nhs {
		if m := r.byIfl[nh.Interface]; m != nil {
			delete(m, g)
			if len(m) == 0 {
				delete(r.byIfl, nh.Interface)
			}
		}
	}
}

// upsert adds or replaces the route key of prefix p. nhs must be sorted
// and deduplicated (sortNextHops). It returns the route.
func (r *RIB) upsert(p netip.Prefix, key routeKey, proto Protocol, pref, metric uint32, nhs []NextHop, now time.Time) *route {
	k, b := key4(p)
	slot, _ := r.table.Slot(k, b)
	d := *slot
	if d == nil {
		d = &dest{key: k, bits: b}
		*slot = d
	}
	var rt *route
	for _, x := range d.routes {
		if x.key == key {
			rt = x
			break
		}
	}
	g := r.group(nhs)
	if rt != nil && rt.proto == proto && rt.pref == pref && rt.metric == metric && rt.grp == g {
		return rt
	}
	r.markDirty(d)
	switch {
	case rt == nil:
		rt = &route{key: key, dest: d}
		d.routes = append(d.routes, rt)
		r.nRoutes++
		if key.src == srcKernel {
			r.nKernel++
		}
		r.attach(rt, g)
	case rt.grp != g:
		r.detach(rt)
		r.attach(rt, g)
	}
	rt.proto, rt.pref, rt.metric, rt.since = proto, pref, metric, now.UnixNano()
	r.reselect(d)
	return rt
}

// find returns the route key of prefix p.
func (r *RIB) find(p netip.Prefix, key routeKey) *route {
	k, b := key4(p)
	d, ok := r.table.Get(k, b)
	if !ok {
		return nil
	}
	for _, x := range d.routes {
		if x.key == key {
			return x
		}
	}
	return nil
}

// remove deletes the route key of prefix p, if present.
func (r *RIB) remove(p netip.Prefix, key routeKey) {
	if rt := r.find(p, key); rt != nil {
		r.removeRoute(rt)
	}
}

func (r *RIB) removeRoute(rt *route) {
	d := rt.dest
	r.markDirty(d)
	if !rt.eligible() {
		r.nHidden--
		d.hidden--
	}
	if d.active == rt {
		d.active = nil
		r.nActive--
	}
	r.detach(rt)
	d.routes = slices.DeleteFunc(d.routes, func(x *route) bool { return x == rt })
	r.nRoutes--
	if rt.key.src == srcKernel {
		r.nKernel--
	}
	if len(d.routes) == 0 {
		r.table.Delete(d.key, d.bits)
		return
	}
	r.reselectCounted(d)
}

// reselect recounts a destination's hidden routes (a route's next hops
// may have changed) and picks its active route.
func (r *RIB) reselect(d *dest) {
	h := int32(0)
	for _, x := range d.routes {
		if !x.eligible() {
			h++
		}
	}
	r.nHidden += int(h - d.hidden)
	d.hidden = h
	r.reselectCounted(d)
}

// reselectCounted sorts d's routes in selection order and sets the active
// route; hidden counts must already be right.
func (r *RIB) reselectCounted(d *dest) {
	if len(d.routes) > 1 {
		slices.SortFunc(d.routes, better)
	}
	var act *route
	if len(d.routes) > 0 && d.routes[0].eligible() {
		act = d.routes[0]
	}
	switch {
	case d.active == nil && act != nil:
		r.nActive++
	case d.active != nil && act == nil:
		r.nActive--
	}
	d.active = act
}

// ---- static routes ----

// StaticRoute is `set routing-options static route PREFIX next-hop ADDR
// [preference N] [metric N]`: one route with one or more next hops (ECMP),
// each resolved to the interface whose connected subnet contains it.
type StaticRoute struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr
	// Preference; 0 means the default, 5.
	Preference uint32
	Metric     uint32
}

// SetStatic replaces the set of static routes.
// It fails, changing nothing, if a route is malformed.
func (r *RIB) SetStatic(routes []StaticRoute, now time.Time) ([]Change, error) {
	err := r.setStatic(routes, now)
	return r.flush(), err
}

func (r *RIB) setStatic(routes []StaticRoute, now time.Time) error {
	next := make(map[netip.Prefix]StaticRoute, len(routes))
	for _, s := range routes {
		if !s.Prefix.IsValid() || !s.Prefix.Addr().Is4() || s.Prefix != s.Prefix.Masked() {
			return fmt.Errorf("rib: static route %s: %w: not an IPv4 prefix without host bits", s.Prefix, ErrInvalid)
		}
		if _, dup := next[s.Prefix]; dup {
			return fmt.Errorf("rib: static route %s: %w: given twice", s.Prefix, ErrInvalid)
		}
		for _, gw := range s.NextHops {
			if !gw.Is4() {
				return fmt.Errorf("rib: static route %s next hop %s: %w: not IPv4", s.Prefix, gw, ErrInvalid)
			}
		}
		s.NextHops = slices.Clone(s.NextHops)
		next[s.Prefix] = s
	}
	for p := range r.statics {
		if _, ok := next[p]; !ok {
			r.remove(p, routeKey{src: srcStatic})
		}
	}
	r.statics = next
	r.resolveStatics(now)
	return nil
}

// resolveStatics (re)resolves every static route's next hops over the
// connected subnets of the interfaces that are up. A route none of whose
// next hops resolves stays in the table, hidden.
func (r *RIB) resolveStatics(now time.Time) {
	for p, s := range r.statics {
		nhs := make([]NextHop, 0, len(s.NextHops))
		for _, gw := range s.NextHops {
			if f := r.connectedIface(gw); f != nil {
				nhs = append(nhs, NextHop{Interface: f.name, Gateway: gw})
			}
		}
		pref := s.Preference
		if pref == 0 {
			pref = PrefStatic
		}
		r.upsert(p, routeKey{src: srcStatic}, ProtoStatic, pref, s.Metric, sortNextHops(nhs), now)
	}
}

// connectedIface returns the up interface whose subnet contains gw most
// specifically (ties: the lowest name), or nil. A gateway that is the
// interface's own address does not resolve.
func (r *RIB) connectedIface(gw netip.Addr) *iface {
	var best *iface
	for _, f := range r.ifaces {
		if !f.up || !f.addr.IsValid() || !f.addr.Contains(gw) || f.addr.Addr() == gw {
			continue
		}
		if best == nil || f.addr.Bits() > best.addr.Bits() ||
			(f.addr.Bits() == best.addr.Bits() && f.name < best.name) {
			best = f
		}
	}
	return best
}
