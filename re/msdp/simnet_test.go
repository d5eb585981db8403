package msdp_test

import (
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// simnet connects several engines through an in-memory "transport" that
// carries out their actions: Listen/Connect pair up into connections,
// Send delivers the decoded TLVs to the other end, Close tells the other
// end. Everything runs on one manual clock, deterministically.
type simnet struct {
	t       *testing.T
	now     time.Time
	routers map[string]*simRouter
	byAddr  map[netip.Addr]*simRouter
	conns   map[msdp.ConnID]*simConn
	nextID  msdp.ConnID
	queue   []simEvent
	pim     map[string][]msdp.Action // PIM-bound actions per router
}

type simRouter struct {
	name    string
	e       *msdp.Engine
	rib     *fakeRIB
	listens map[netip.Addr]netip.Addr // peer → local
	// connOf maps (peer) to the connection the router uses with it.
	connOf map[netip.Addr]msdp.ConnID
}

type simConn struct {
	id     msdp.ConnID
	a, b   *simRouter // a connected to b
	aAddr  netip.Addr
	bAddr  netip.Addr
	closed bool
}

type simEvent struct {
	to *simRouter
	ev msdp.Event
}

func newSimnet(t *testing.T) *simnet {
	return &simnet{t: t, now: t0, routers: map[string]*simRouter{}, byAddr: map[netip.Addr]*simRouter{},
		conns: map[msdp.ConnID]*simConn{}, pim: map[string][]msdp.Action{}}
}

// add creates router name owning addrs, running cfg.
func (n *simnet) add(name string, cfg msdp.Config, addrs ...string) *simRouter {
	rib := &fakeRIB{}
	e, err := msdp.New(cfg, msdp.Options{RIB: rib, Seed: uint64(len(n.routers) + 1)}, n.now)
	require.NoError(n.t, err)
	r := &simRouter{name: name, e: e, rib: rib, listens: map[netip.Addr]netip.Addr{}, connOf: map[netip.Addr]msdp.ConnID{}}
	n.routers[name] = r
	for _, s := range addrs {
		n.byAddr[a(s)] = r
	}
	n.apply(r, e.Start(n.now, nil))
	n.run()
	return r
}

func (n *simnet) apply(r *simRouter, acts []msdp.Action) {
	for _, x := range acts {
		switch x := x.(type) {
		case msdp.Listen:
			r.listens[x.Peer] = x.Local
		case msdp.StopListen:
			delete(r.listens, x.Peer)
		case msdp.Connect:
			other := n.byAddr[x.Peer]
			if other == nil || other.listens[x.Local] != x.Peer {
				n.queue = append(n.queue, simEvent{r, msdp.DialFailed{Peer: x.Peer}})
				continue
			}
			n.nextID++
			c := &simConn{id: n.nextID, a: r, b: other, aAddr: x.Local, bAddr: x.Peer}
			n.conns[c.id] = c
			r.connOf[x.Peer], other.connOf[x.Local] = c.id, c.id
			n.queue = append(n.queue,
				simEvent{r, msdp.ConnUp{Peer: x.Peer, Local: x.Local, Conn: c.id, Active: true}},
				simEvent{other, msdp.ConnUp{Peer: x.Local, Local: x.Peer, Conn: c.id}})
		case msdp.Close:
			c := n.conns[x.Conn]
			if c == nil || c.closed {
				continue
			}
			c.closed = true
			to, peer := c.b, c.aAddr
			if r == c.b {
				to, peer = c.a, c.bAddr
			}
			n.queue = append(n.queue, simEvent{to, msdp.ConnDown{Peer: peer, Conn: c.id, Remote: true}})
		case msdp.Send:
			c := n.conns[x.Conn]
			if c == nil || c.closed {
				continue
			}
			to, from := c.b, c.aAddr
			if r == c.b {
				to, from = c.a, c.bAddr
			}
			msgs, err := msdpmsg.DecodeAll(x.Data)
			require.NoError(n.t, err)
			n.queue = append(n.queue, simEvent{to, msdp.Received{Peer: from, Conn: c.id, At: n.now, Msgs: msgs}})
			if x.WantDrained {
				n.queue = append(n.queue, simEvent{r, msdp.Drained{Peer: x.Peer, Conn: x.Conn}})
			}
		default:
			n.pim[r.name] = append(n.pim[r.name], x)
		}
	}
}

// run delivers events until the network is quiet.
func (n *simnet) run() {
	for steps := 0; len(n.queue) > 0; steps++ {
		require.Less(n.t, steps, 1_000_000, "network does not settle")
		ev := n.queue[0]
		n.queue = n.queue[1:]
		n.apply(ev.to, ev.to.e.Handle(n.now, ev.ev, nil))
	}
}

// advance moves the clock, running every router's timers in time order.
func (n *simnet) advance(d time.Duration) {
	end := n.now.Add(d)
	for {
		var next time.Time
		var who *simRouter
		for _, name := range n.names() {
			r := n.routers[name]
			if t := r.e.NextDeadline(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next, who = t, r
			}
		}
		if who == nil || next.After(end) {
			break
		}
		if next.After(n.now) {
			n.now = next
		}
		n.apply(who, who.e.Expire(n.now, nil))
		n.run()
	}
	n.now = end
}

func (n *simnet) names() []string {
	var out []string
	for k := range n.routers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (n *simnet) handle(name string, ev msdp.Event) {
	r := n.routers[name]
	n.apply(r, r.e.Handle(n.now, ev, nil))
	n.run()
}

// sas lists "S G" of a router's cache, learnt entries only.
func (n *simnet) sas(name string) []string {
	var out []string
	for _, s := range n.routers[name].e.SourceActive(n.now, msdp.SAFilter{}).SAs {
		if !s.Local {
			out = append(out, s.Source.String()+" "+s.Group.String())
		}
	}
	sort.Strings(out)
	return out
}

func (n *simnet) state(name, peer string) msdp.State {
	p, err := n.routers[name].e.Peer(n.now, a(peer))
	require.NoError(n.t, err)
	return p.State
}
