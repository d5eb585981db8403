package pim

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"
)

// The simulator chains several engines in memory: every Send* action is
// delivered to the neighbours' inputs at once, Route actions build each
// router's forwarding table, and a small data plane walks packets through
// those tables, raising the kernel events (resolve, wrong interface,
// activity) a real kernel would.

type simLAN struct {
	name    string
	prefix  netip.Prefix
	ifs     []*simIf
	members map[netip.Addr]bool // groups with a receiver host on the LAN
}

type simIf struct {
	r    *simRouter
	idx  IfIndex
	lan  *simLAN
	addr netip.Addr
	cost int
}

type simRouter struct {
	name     string
	e        *Engine
	rib      *fakeRIB
	lo       netip.Addr
	ifs      []*simIf
	routes   map[SG]Route
	resolved map[SG]bool
	discard  map[SG]bool
	cfg      Config
	acts     []Action
}

type simEvent struct {
	r  *simRouter
	ev Event
	// regPkt: a data Register to decapsulate after the event (RP side).
	regPkt *SG
}

type sim struct {
	t       testing.TB
	now     time.Time
	routers []*simRouter
	lans    []*simLAN
	queue   []simEvent
	// delivered counts packets delivered to receiver hosts per LAN, per
	// packet id.
	delivered map[string]map[int]int
	pktID     int
	drops     int
	regID     []int
	// ctlDelay delays Join/Prune messages by this much per hop (0: at
	// once), so that data can be in flight while trees are built.
	ctlDelay time.Duration
	delayed  []delayedEvent
}

type delayedEvent struct {
	at time.Time
	ev simEvent
}

func newSim(t testing.TB) *sim {
	return &sim{t: t, now: t0, delivered: map[string]map[int]int{}}
}

func (s *sim) lan(name, prefix string) *simLAN {
	l := &simLAN{name: name, prefix: p(prefix), members: map[netip.Addr]bool{}}
	s.lans = append(s.lans, l)
	return l
}

func (s *sim) router(name, lo string) *simRouter {
	r := &simRouter{name: name, lo: a(lo), rib: newRIB(), routes: map[SG]Route{}, resolved: map[SG]bool{}, discard: map[SG]bool{}}
	r.cfg.RouterAddresses = []netip.Addr{r.lo}
	s.routers = append(s.routers, r)
	return r
}

// attach connects r to l with host address host (last octet) and link cost.
func (s *sim) attach(r *simRouter, l *simLAN, host byte, cost int) *simIf {
	b := l.prefix.Addr().As4()
	b[3] = host
	f := &simIf{r: r, idx: IfIndex(len(r.ifs) + 1), lan: l, addr: netip.AddrFrom4(b), cost: cost}
	r.ifs = append(r.ifs, f)
	l.ifs = append(l.ifs, f)
	r.cfg.Interfaces = append(r.cfg.Interfaces, InterfaceConfig{Index: f.idx, Name: fmt.Sprintf("ge-0/0/%d.0", f.idx-1)})
	return f
}

// start computes the RIBs (Dijkstra over LAN costs), creates the engines
// and brings every interface up.
func (s *sim) start(seed uint64) {
	s.computeRIBs()
	for i, r := range s.routers {
		e, err := New(r.cfg, Options{Seed: [2]uint64{seed, uint64(i)}, RPF: r.rib}, s.now)
		if err != nil {
			s.t.Fatal(err)
		}
		r.e = e
	}
	for _, r := range s.routers {
		for _, f := range r.ifs {
			s.push(r, InterfaceUp{If: f.idx, Addr: f.addr, Prefixes: []netip.Prefix{f.lan.prefix}})
		}
	}
	s.run()
}

func (s *sim) computeRIBs() {
	for _, r := range s.routers {
		r.rib.routes = map[netip.Prefix]RPF{}
		dist := map[*simRouter]int{r: 0}
		first := map[*simRouter]RPF{}
		done := map[*simRouter]bool{}
		for {
			var u *simRouter
			for _, x := range s.routers {
				if d, ok := dist[x]; ok && !done[x] && (u == nil || d < dist[u] || (d == dist[u] && x.name < u.name)) {
					u = x
				}
			}
			if u == nil {
				break
			}
			done[u] = true
			for _, f := range u.ifs {
				for _, g := range f.lan.ifs {
					v := g.r
					if v == u {
						continue
					}
					nd := dist[u] + f.cost
					if d, ok := dist[v]; !ok || nd < d {
						dist[v] = nd
						if u == r {
							first[v] = RPF{Iface: f.idx, NextHop: g.addr, Preference: 10, Metric: uint32(nd)}
						} else {
							fr := first[u]
							fr.Metric = uint32(nd)
							first[v] = fr
						}
					}
				}
			}
		}
		for _, f := range r.ifs {
			r.rib.routes[f.lan.prefix] = RPF{Iface: f.idx}
		}
		for _, v := range s.routers {
			fr, ok := first[v]
			if !ok {
				continue
			}
			r.rib.routes[netip.PrefixFrom(v.lo, 32)] = fr
			for _, f := range v.ifs {
				if old, ok := r.rib.routes[f.lan.prefix]; ok && !old.NextHop.IsValid() {
					continue // directly connected
				}
				best := fr
				best.Metric += uint32(f.cost)
				if old, ok := r.rib.routes[f.lan.prefix]; !ok || best.Metric < old.Metric {
					r.rib.routes[f.lan.prefix] = best
				}
			}
		}
	}
}

func (s *sim) push(r *simRouter, ev Event) { s.queue = append(s.queue, simEvent{r: r, ev: ev}) }

func (s *sim) owner(addr netip.Addr) *simRouter {
	for _, r := range s.routers {
		if r.lo == addr {
			return r
		}
		for _, f := range r.ifs {
			if f.addr == addr {
				return r
			}
		}
	}
	return nil
}

func (r *simRouter) ifByIdx(idx IfIndex) *simIf {
	for _, f := range r.ifs {
		if f.idx == idx {
			return f
		}
	}
	return nil
}

// outputs delivers one router's actions.
func (s *sim) outputs(r *simRouter, acts []Action) {
	r.acts = append(r.acts, acts...)
	for _, x := range acts {
		switch x := x.(type) {
		case SendHello:
			f := r.ifByIdx(x.If)
			for _, g := range f.lan.ifs {
				if g != f {
					s.push(g.r, RecvHello{If: g.idx, Src: f.addr, Msg: x.Msg})
				}
			}
		case SendJoinPrune:
			f := r.ifByIdx(x.If)
			for _, g := range f.lan.ifs {
				if g == f {
					continue
				}
				ev := RecvJoinPrune{If: g.idx, Src: f.addr, Msg: x.Msg}
				if s.ctlDelay > 0 {
					s.delayed = append(s.delayed, delayedEvent{at: s.now.Add(s.ctlDelay), ev: simEvent{r: g.r, ev: ev}})
					continue
				}
				s.push(g.r, ev)
			}
		case SendAssert:
			f := r.ifByIdx(x.If)
			for _, g := range f.lan.ifs {
				if g != f {
					s.push(g.r, RecvAssert{If: g.idx, Src: f.addr, Msg: x.Msg})
				}
			}
		case SendBootstrap:
			f := r.ifByIdx(x.If)
			for _, g := range f.lan.ifs {
				if g != f && (x.Dst == AllPIMRouters || x.Dst == g.addr) {
					s.push(g.r, RecvBootstrap{If: g.idx, Src: f.addr, Dst: x.Dst, Msg: x.Msg})
				}
			}
		case SendRegister:
			if o := s.owner(x.Dst); o != nil {
				s.push(o, RecvRegister{Src: x.Src, Dst: x.Dst, Msg: x.Msg})
			}
		case SendRegisterStop:
			if o := s.owner(x.Dst); o != nil {
				s.push(o, RecvRegisterStop{Src: x.Src, Dst: x.Dst, Msg: x.Msg})
			}
		case SendCRPAdv:
			if o := s.owner(x.Dst); o != nil {
				s.push(o, RecvCRPAdv{Src: x.Src, Dst: x.Dst, Msg: x.Msg})
			}
		case Route:
			k := SG{x.Source, x.Group}
			r.routes[k] = x
			delete(r.discard, k)
		case RouteDelete:
			delete(r.routes, SG{x.Source, x.Group})
		}
	}
}

// run processes queued events until none is left.
func (s *sim) run() {
	for n := 0; len(s.queue) > 0; n++ {
		if n > 1_000_000 {
			s.t.Fatal("sim: event storm")
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.outputs(ev.r, ev.r.e.Handle(s.now, ev.ev))
		if ev.regPkt != nil {
			s.decap(ev.r, *ev.regPkt)
		}
	}
}

// advance moves the clock to now+d, firing timers in order.
func (s *sim) advance(d time.Duration) {
	end := s.now.Add(d)
	for {
		var next time.Time
		for _, r := range s.routers {
			if nd := r.e.NextDeadline(); !nd.IsZero() && (next.IsZero() || nd.Before(next)) {
				next = nd
			}
		}
		for _, d := range s.delayed {
			if next.IsZero() || d.at.Before(next) {
				next = d.at
			}
		}
		if next.IsZero() || next.After(end) {
			break
		}
		if next.After(s.now) {
			s.now = next
		}
		var keep []delayedEvent
		for _, d := range s.delayed {
			if d.at.After(s.now) {
				keep = append(keep, d)
			} else {
				s.queue = append(s.queue, d.ev)
			}
		}
		s.delayed = keep
		for _, r := range s.routers {
			if nd := r.e.NextDeadline(); !nd.IsZero() && !nd.After(s.now) {
				s.outputs(r, r.e.Advance(s.now))
			}
		}
		s.run()
	}
	s.now = end
	s.run()
}

// join makes a receiver host on l join (*,G) (or (S,G) when src is set).
func (s *sim) join(l *simLAN, g netip.Addr, src netip.Addr, mode MembershipMode) {
	if mode == MemberNone {
		delete(l.members, g)
	} else {
		l.members[g] = true
	}
	for _, f := range l.ifs {
		s.push(f.r, Membership{If: f.idx, Group: g, Source: src, Mode: mode})
	}
	s.run()
}

// send emits one data packet from a source host on l and walks it through
// the network; it returns the packet id.
func (s *sim) send(l *simLAN, src, g netip.Addr) int {
	s.pktID++
	id := s.pktID
	s.onLAN(l, nil, SG{src, g}, id, 0)
	s.run()
	return id
}

func (s *sim) onLAN(l *simLAN, from *simIf, k SG, id, hops int) {
	if hops > 16 {
		s.t.Fatalf("sim: packet %d looping", id)
	}
	if l.members[k.Group] {
		m := s.delivered[l.name]
		if m == nil {
			m = map[int]int{}
			s.delivered[l.name] = m
		}
		m[id]++
	}
	for _, f := range l.ifs {
		if f != from {
			s.arrive(f.r, f, k, id, hops)
		}
	}
}

// lookup is the kernel's answer: the (S,G) contribution, else the (*,G)
// template for a resolved flow; ok=false means "resolve".
func (r *simRouter) lookup(k SG) (Route, bool) {
	if rt, ok := r.routes[k]; ok {
		return rt, true
	}
	if !r.resolved[k] {
		return Route{}, false
	}
	if r.discard[k] {
		return Route{Source: k.Source, Group: k.Group}, true
	}
	if rt, ok := r.routes[SG{Group: k.Group}]; ok {
		rt.Source = k.Source
		return rt, true
	}
	return Route{Source: k.Source, Group: k.Group}, true
}

func (s *sim) arrive(r *simRouter, in *simIf, k SG, id, hops int) {
	rt, ok := r.lookup(k)
	if !ok {
		res, acts := r.e.Resolve(s.now, k.Source, k.Group, in.idx)
		s.outputs(r, acts)
		r.resolved[k] = true
		if res.Discard {
			r.discard[k] = true
		}
		rt, _ = r.lookup(k)
		if _, own := r.routes[k]; !own && !res.Discard {
			rt = res.Route
		}
	}
	if rt.IIF != in.idx {
		s.push(r, WrongInterface{If: in.idx, Source: k.Source, Group: k.Group})
		s.drops++
		return
	}
	s.push(r, DataActivity{If: in.idx, Source: k.Source, Group: k.Group})
	for _, o := range rt.OIL {
		f := r.ifByIdx(o)
		s.onLAN(f.lan, f, k, id, hops+1)
	}
	if rt.Register {
		if rp := s.owner(rt.RegisterRP); rp != nil {
			kk := k
			s.queue = append(s.queue, simEvent{r: rp, ev: RecvRegister{Src: in.addr, Dst: rt.RegisterRP,
				Msg: Register{Source: k.Source, Group: k.Group}}, regPkt: &kk})
			s.regID = append(s.regID, id)
		}
	}
}

// decap forwards a decapsulated Register at the RP when its route says so.
func (s *sim) decap(rp *simRouter, k SG) {
	id := s.regID[0]
	s.regID = s.regID[1:]
	rt, ok := rp.routes[k]
	if !ok || !rt.Decap {
		return
	}
	for _, o := range rt.OIL {
		f := rp.ifByIdx(o)
		s.onLAN(f.lan, f, k, id, 1)
	}
}

func (s *sim) deliveries(l *simLAN, id int) int { return s.delivered[l.name][id] }

func (r *simRouter) routeStr(k SG) string {
	rt, ok := r.routes[k]
	if !ok {
		return "none"
	}
	oil := slices.Clone(rt.OIL)
	sort.Slice(oil, func(i, j int) bool { return oil[i] < oil[j] })
	return fmt.Sprintf("iif=%d oil=%v reg=%v decap=%v gnew=%d", rt.IIF, oil, rt.Register, rt.Decap, rt.GracefulNew)
}
