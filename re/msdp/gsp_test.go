package msdp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// Seed 001's domain: the MSDP server 10.0.0.100 (224/4, priority 255,
// S-bit) and three RPs for three ranges; an external peer X 10.200.0.1
// peers with the server.
var (
	server = "10.0.0.100"
	rp1    = "10.1.0.1" // 239.1/16
	rp2    = "10.2.0.1" // 239.2/16
	rp3    = "10.3.0.1" // 239.3/16
	extX   = "10.200.0.1"
)

func domainRPSet() msdp.RPSetEvent {
	return msdp.RPSetEvent{HashMaskLen: 30, Entries: []msdp.RPSetEntry{
		{Group: pf("224.0.0.0/4"), RP: a(server), Priority: 255, SBit: true},
		{Group: pf("239.1.0.0/16"), RP: a(rp1), Priority: 10},
		{Group: pf("239.2.0.0/16"), RP: a(rp2), Priority: 10},
		{Group: pf("239.3.0.0/16"), RP: a(rp3), Priority: 10},
	}}
}

func TestServerAcceptsElectedRPsPassively(t *testing.T) {
	r, _ := newRig(t, msdp.Config{LocalAddress: a(server), Server: &msdp.ServerConfig{Address: a(server), AcceptRPs: []netip.Prefix{pf("10.0.0.0/8")}}})
	acts := r.handle(domainRPSet())
	// Passive whatever the addresses (RP .1.0.1 is higher than .0.0.100).
	assert.Equal(t, []msdp.Action{
		msdp.Listen{Peer: a(rp1), Local: a(server)},
		msdp.Listen{Peer: a(rp2), Local: a(server)},
		msdp.Listen{Peer: a(rp3), Local: a(server)},
	}, acts)
	// An RP leaves the RP-set: its peering goes.
	set := domainRPSet()
	set.Entries = set.Entries[:3]
	acts = r.handle(set)
	assert.Equal(t, []msdp.Action{msdp.StopListen{Peer: a(rp3)}}, acts)
	// A policy keeps RPs outside AcceptRPs out.
	set.Entries = append(set.Entries, msdp.RPSetEntry{Group: pf("239.4.0.0/16"), RP: a("192.168.0.4"), Priority: 1})
	assert.Empty(t, r.handle(set))
}

func TestRPLearnsTheServerFromTheSBit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  []msdp.RPSetEntry
		want   string // server to connect to, "" none
		rpAddr string
	}{
		{name: "the only S-bit RP", want: server, rpAddr: rp2},
		{name: "highest priority (lowest value) among servers", want: "10.0.0.50", rpAddr: rp2,
			extra: []msdp.RPSetEntry{{Group: pf("224.0.0.0/4"), RP: a("10.0.0.50"), Priority: 200, SBit: true}}},
		{name: "on a priority tie, the highest hash", want: hashWinner(), rpAddr: rp2,
			extra: []msdp.RPSetEntry{{Group: pf("224.0.0.0/4"), RP: a("10.0.0.50"), Priority: 255, SBit: true}}},
		{name: "not an elected RP: no peering", want: "", rpAddr: rp2,
			extra: []msdp.RPSetEntry{{Group: pf("239.2.0.0/16"), RP: a("10.2.0.9"), Priority: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRig(t, msdp.Config{LocalAddress: a(tc.rpAddr), RP: &msdp.RPConfig{Address: a(tc.rpAddr)}})
			set := domainRPSet()
			set.Entries = append(set.Entries, tc.extra...)
			acts := r.handle(set)
			if tc.want == "" {
				assert.Empty(t, acts)
				return
			}
			// Active whatever the addresses (10.2.0.1 is higher than the server).
			assert.Equal(t, []msdp.Action{msdp.Connect{Peer: a(tc.want), Local: a(tc.rpAddr)}}, acts)
		})
	}
}

// hashWinner computes, independently, which of the two priority-255
// servers RFC 7761's hash prefers for 224.0.0.0/30.
func hashWinner() string {
	h := func(c string) uint64 {
		g := uint64(0xe0000000) // 224.0.0.0 & mask
		b := a(c).As4()
		ci := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		return (1103515245*((1103515245*g+12345)^ci) + 12345) % (1 << 31)
	}
	if h("10.0.0.50") > h(server) || (h("10.0.0.50") == h(server) && a("10.0.0.50").Compare(a(server)) > 0) {
		return "10.0.0.50"
	}
	return server
}

// gspDomain builds the server, the three RPs and the external peer on a
// simulated network, with the RP-set delivered to all.
func gspDomain(t *testing.T) *simnet {
	n := newSimnet(t)
	n.add("server", msdp.Config{
		LocalAddress: a(server),
		Server:       &msdp.ServerConfig{Address: a(server)},
		Peers:        []msdp.PeerConfig{{Address: a(extX)}},
	}, server)
	n.add("x", msdp.Config{LocalAddress: a(extX), Peers: []msdp.PeerConfig{{Address: a(server)}}}, extX)
	for _, rp := range []struct{ name, addr string }{{"rp1", rp1}, {"rp2", rp2}, {"rp3", rp3}} {
		n.add(rp.name, msdp.Config{LocalAddress: a(rp.addr), RP: &msdp.RPConfig{Address: a(rp.addr)}}, rp.addr)
	}
	for _, name := range []string{"server", "rp1", "rp2", "rp3"} {
		n.handle(name, domainRPSet())
	}
	n.advance(31 * time.Second) // the server listens before x's retry
	for _, p := range []string{rp1, rp2, rp3, extX} {
		require.Equal(t, msdp.StateEstablished, n.state("server", p), p)
	}
	return n
}

func TestGroupSpecificPeeringDomain(t *testing.T) {
	n := gspDomain(t)

	// The restarted server asked each peer once for all its sources.
	for _, p := range []string{rp1, rp2, rp3, extX} {
		info, _ := n.routers["server"].e.Peer(n.now, a(p))
		assert.Equal(t, uint64(1), info.Stats.SARequestSent, p)
	}

	// X originates sources in every range and one no RP covers.
	n.handle("x", msdp.LocalSourceEvent{Source: a("10.200.1.1"), Group: a("239.1.0.5"), RP: a(extX), Active: true})
	n.handle("x", msdp.LocalSourceEvent{Source: a("10.200.2.1"), Group: a("239.2.0.5"), RP: a(extX), Active: true})
	n.handle("x", msdp.LocalSourceEvent{Source: a("10.200.3.1"), Group: a("239.3.0.5"), RP: a(extX), Active: true})
	n.handle("x", msdp.LocalSourceEvent{Source: a("10.200.9.1"), Group: a("239.9.0.5"), RP: a(extX), Active: true})

	// Each RP receives exactly the SAs of its range.
	assert.Equal(t, []string{"10.200.1.1 239.1.0.5"}, n.sas("rp1"))
	assert.Equal(t, []string{"10.200.2.1 239.2.0.5"}, n.sas("rp2"))
	assert.Equal(t, []string{"10.200.3.1 239.3.0.5"}, n.sas("rp3"))
	assert.Len(t, n.sas("server"), 4)

	// An internal RP's SA goes to the external peer, never to the other RPs.
	n.handle("rp2", msdp.LocalSourceEvent{Source: a("10.2.9.9"), Group: a("239.2.7.7"), RP: a(rp2), Active: true})
	assert.Contains(t, n.sas("x"), "10.2.9.9 239.2.7.7")
	assert.NotContains(t, n.sas("rp1"), "10.2.9.9 239.2.7.7")
	assert.NotContains(t, n.sas("rp3"), "10.2.9.9 239.2.7.7")
	// … even for a group of another RP's range.
	n.handle("rp1", msdp.LocalSourceEvent{Source: a("10.1.9.9"), Group: a("239.3.7.7"), RP: a(rp1), Active: true})
	assert.NotContains(t, n.sas("rp3"), "10.1.9.9 239.3.7.7")
	assert.Contains(t, n.sas("x"), "10.1.9.9 239.3.7.7")

	// The periodic refresh keeps every cache as it is, range by range.
	for range 3 {
		n.advance(60 * time.Second)
	}
	assert.Equal(t, []string{"10.200.1.1 239.1.0.5"}, n.sas("rp1"))
	assert.Equal(t, []string{"10.200.2.1 239.2.0.5"}, n.sas("rp2"))
	assert.Equal(t, []string{"10.200.3.1 239.3.0.5"}, n.sas("rp3"))
}

func TestRPSendsSARequestOnNewStarG(t *testing.T) {
	n := gspDomain(t)
	n.handle("x", msdp.LocalSourceEvent{Source: a("10.200.2.1"), Group: a("239.2.0.5"), RP: a(extX), Active: true})
	// rp2 clears its cache, then a receiver joins: SA-Request, SA-Response,
	// and PIM is asked to join the source at once.
	n.routers["rp2"].e.ClearCache(n.now, msdp.CacheFilter{}, nil)
	require.Empty(t, n.sas("rp2"))
	n.pim["rp2"] = nil
	n.handle("rp2", msdp.StarGEvent{Group: a("239.2.0.5"), Joined: true})
	assert.Equal(t, []string{"10.200.2.1 239.2.0.5"}, n.sas("rp2"))
	assert.Contains(t, n.pim["rp2"], msdp.Action(msdp.JoinSource{Source: a("10.200.2.1"), Group: a("239.2.0.5"), RP: a(extX)}))
	info, _ := n.routers["rp2"].e.Peer(n.now, a(server))
	assert.Equal(t, uint64(1), info.Stats.SARequestSent)
	assert.Equal(t, uint64(1), info.Stats.SAResponseReceived)
}

func TestRPAnswersTheServersRequest(t *testing.T) {
	r, _ := newRig(t, msdp.Config{LocalAddress: a(rp1), RP: &msdp.RPConfig{Address: a(rp1)}})
	r.handle(domainRPSet())
	r.handle(msdp.LocalSourceEvent{Source: a("10.1.5.5"), Group: a("239.1.5.5"), RP: a(rp1), Active: true})
	r.handle(msdp.LocalSourceEvent{Source: a("10.1.5.6"), Group: a("239.1.5.6"), RP: a(rp1), Active: true})
	r.up(server)
	acts := r.recv(server, &msdpmsg.SARequest{Group: netip.IPv4Unspecified()})
	assert.Equal(t, []msdpmsg.Message{&msdpmsg.SAResponse{SourceActive: *sa(rp1, "10.1.5.5", "239.1.5.5", "10.1.5.6", "239.1.5.6")}},
		sent(t, acts)[a(server)])
}

// TestThreeRouterPeerRPF: R1 — R2 — R3 in a line, loopback peerings
// R1-R2 and R2-R3, plus R1-R3 directly; R3 has no route to R1's RP via
// R2, so the copy R2 forwards fails peer-RPF at R3 while R1's direct copy
// passes (rule (i)).
func TestThreeRouterPeerRPF(t *testing.T) {
	n := newSimnet(t)
	n.add("r1", msdp.Config{LocalAddress: a("10.9.0.1"), Peers: []msdp.PeerConfig{{Address: a("10.9.0.2")}, {Address: a("10.9.0.3")}}}, "10.9.0.1")
	n.add("r2", msdp.Config{LocalAddress: a("10.9.0.2"), Peers: []msdp.PeerConfig{{Address: a("10.9.0.1")}, {Address: a("10.9.0.3")}}}, "10.9.0.2")
	n.add("r3", msdp.Config{LocalAddress: a("10.9.0.3"), Peers: []msdp.PeerConfig{{Address: a("10.9.0.1")}, {Address: a("10.9.0.2")}}}, "10.9.0.3")
	n.advance(31 * time.Second)
	n.handle("r1", msdp.LocalSourceEvent{Source: a("10.1.1.1"), Group: a("239.1.1.1"), RP: a("10.9.0.1"), Active: true})
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1"}, n.sas("r2"))
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1"}, n.sas("r3"))
	// r3 got the SA from r1 (rule (i)) and from r2 (fails: r1 is an
	// established peer and thus the RPF neighbour).
	p2, _ := n.routers["r3"].e.Peer(n.now, a("10.9.0.2"))
	assert.Equal(t, uint64(1), p2.Stats.RPFFailures)
	s := n.routers["r3"].e.SourceActive(n.now, msdp.SAFilter{}).SAs
	require.Len(t, s, 1)
	assert.Equal(t, a("10.9.0.1"), s[0].Peer)

	// Take r1-r3 down: now r3 accepts r1's SAs through r2 by its route.
	n.routers["r3"].rib.add(msdp.Route{Prefix: pf("10.9.0.0/24"), Protocol: msdp.ProtoOSPF, NextHop: a("10.9.0.2"), Interface: "xe-0/0/0"})
	cfg := n.routers["r3"].e.Config()
	cfg.Peers = cfg.Peers[1:]
	acts, err := n.routers["r3"].e.Reconfigure(n.now, cfg, nil)
	require.NoError(t, err)
	n.apply(n.routers["r3"], acts)
	n.run()
	n.handle("r1", msdp.LocalSourceEvent{Source: a("10.1.1.2"), Group: a("239.1.1.2"), RP: a("10.9.0.1"), Active: true})
	assert.Contains(t, n.sas("r3"), "10.1.1.2 239.1.1.2")
}

// TestMeshGroupDoesNotReflood: four anycast RPs in a full mesh group;
// an SA from one reaches each other member exactly once.
func TestMeshGroupDoesNotReflood(t *testing.T) {
	n := newSimnet(t)
	addrs := []string{"10.8.0.1", "10.8.0.2", "10.8.0.3", "10.8.0.4"}
	for i, me := range addrs {
		cfg := msdp.Config{LocalAddress: a(me), Groups: map[string]msdp.GroupConfig{"anycast": {Mode: msdp.ModeMeshGroup}}}
		for _, o := range addrs {
			if o != me {
				cfg.Peers = append(cfg.Peers, msdp.PeerConfig{Address: a(o), Group: "anycast"})
			}
		}
		n.add([]string{"a", "b", "c", "d"}[i], cfg, me)
	}
	n.advance(31 * time.Second)
	n.handle("a", msdp.LocalSourceEvent{Source: a("10.1.1.1"), Group: a("239.1.1.1"), RP: a("10.8.0.1"), Active: true})
	for _, name := range []string{"b", "c", "d"} {
		assert.Equal(t, []string{"10.1.1.1 239.1.1.1"}, n.sas(name), name)
		var received, sentOut uint64
		for _, p := range n.routers[name].e.Peers(n.now) {
			received += p.Stats.SAReceived
			sentOut += p.Stats.SASent
		}
		assert.Equal(t, uint64(1), received, "%s received the SA once", name)
		assert.Zero(t, sentOut, "%s re-flooded nothing", name)
	}
}
