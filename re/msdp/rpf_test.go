package msdp_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
)

// Three peers; N = 10.0.0.2 sends an SA originated by R = 10.9.9.9.
func rpfConfig() msdp.Config {
	return msdp.Config{
		LocalAddress: a("10.0.0.1"),
		Peers: []msdp.PeerConfig{
			{Address: a("10.0.0.2"), AS: 65002},
			{Address: a("10.0.0.3"), AS: 65002},
			{Address: a("10.0.0.4"), AS: 65004},
		},
	}
}

// TestPeerRPFRules checks every rule of RFC 3618 §10.1.3 in order, plus
// the platform's interface rule, the default peer and the only peer.
func TestPeerRPFRules(t *testing.T) {
	const R = "10.9.9.9"
	for _, tc := range []struct {
		name   string
		cfg    func(c *msdp.Config)
		routes []msdp.Route
		down   []string // peers not established
		from   string
		rp     string
		want   bool
	}{
		{name: "(i) the peer is the originator", from: "10.0.0.2", rp: "10.0.0.2", want: true},
		{name: "no route and no rule: dropped", from: "10.0.0.2", rp: R, want: false},
		{name: "(ii) eBGP NEXT_HOP is the peer", from: "10.0.0.2", rp: R, want: true,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, External: true, BGPNextHop: a("10.0.0.2"), Interface: "xe-0/0/0"}}},
		{name: "(ii) names another peer: N fails even on the same interface", from: "10.0.0.2", rp: R, want: false,
			routes: []msdp.Route{
				{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, External: true, BGPNextHop: a("10.0.0.3"), Interface: "xe-0/0/0"},
				{Prefix: pf("10.0.0.0/24"), Protocol: msdp.ProtoDirect, Interface: "xe-0/0/0"},
			}},
		{name: "(iii) iBGP advertiser is the peer", from: "10.0.0.3", rp: R, want: true,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, AdvertisedBy: a("10.0.0.3"), NextHop: a("10.5.5.5")}}},
		{name: "(iii) RIP advertiser is the peer", from: "10.0.0.3", rp: R, want: true,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoRIP, AdvertisedBy: a("10.0.0.3")}}},
		{name: "(iii) OSPF next hop is the peer", from: "10.0.0.4", rp: R, want: true,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoOSPF, NextHop: a("10.0.0.4"), Interface: "xe-0/0/1"}}},
		{name: "(iii) static next hop is another peer: N fails", from: "10.0.0.2", rp: R, want: false,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoStatic, NextHop: a("10.0.0.4")}}},
		{name: "(iii) next hop peer down: no neighbour from (iii) (R13)", from: "10.0.0.2", rp: R, want: false, down: []string{"10.0.0.4"},
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoOSPF, NextHop: a("10.0.0.4")}}},
		{name: "(iv) closest AS: the highest address in it", from: "10.0.0.3", rp: R, want: true,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, ASPath: []uint32{65002, 65009}}}},
		{name: "(iv) closest AS: not the lower address", from: "10.0.0.2", rp: R, want: false,
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, ASPath: []uint32{65002, 65009}}}},
		{name: "(iv) closest AS: the highest that is established", from: "10.0.0.2", rp: R, want: true, down: []string{"10.0.0.3"},
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoBGP, ASPath: []uint32{65002, 65009}}}},
		{name: "interface rule: loopback peering, same outgoing interface", from: "10.0.0.2", rp: R, want: true,
			routes: []msdp.Route{
				{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoStatic, NextHop: a("10.7.0.2"), Interface: "xe-0/0/0"},
				{Prefix: pf("10.0.0.2/32"), Protocol: msdp.ProtoStatic, NextHop: a("10.7.0.2"), Interface: "xe-0/0/0"},
			}},
		{name: "interface rule: different interfaces fail", from: "10.0.0.2", rp: R, want: false,
			routes: []msdp.Route{
				{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoStatic, NextHop: a("10.7.1.2"), Interface: "xe-0/0/1"},
				{Prefix: pf("10.0.0.2/32"), Protocol: msdp.ProtoStatic, NextHop: a("10.7.0.2"), Interface: "xe-0/0/0"},
			}},
		{name: "(v) default peer", from: "10.0.0.3", rp: R, want: true,
			cfg: func(c *msdp.Config) { c.Peers[1].DefaultPeer = true }},
		{name: "(v) only the first established default peer", from: "10.0.0.4", rp: R, want: false,
			cfg: func(c *msdp.Config) { c.Peers[1].DefaultPeer, c.Peers[2].DefaultPeer = true, true }},
		{name: "(v) the next default peer when the first is down", from: "10.0.0.4", rp: R, want: true, down: []string{"10.0.0.3"},
			cfg: func(c *msdp.Config) { c.Peers[1].DefaultPeer, c.Peers[2].DefaultPeer = true, true }},
		{name: "(v) default peer limited to other RPs", from: "10.0.0.3", rp: R, want: false,
			cfg: func(c *msdp.Config) {
				c.Peers[1].DefaultPeer, c.Peers[1].DefaultPeerRPs = true, []netip.Prefix{pf("10.8.0.0/16")}
			}},
		{name: "(v) comes after (iii)", from: "10.0.0.3", rp: R, want: false,
			cfg:    func(c *msdp.Config) { c.Peers[1].DefaultPeer = true },
			routes: []msdp.Route{{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoOSPF, NextHop: a("10.0.0.4")}}},
		{name: "the only peer", from: "10.0.0.2", rp: R, want: true,
			cfg: func(c *msdp.Config) { c.Peers = c.Peers[:1] }},
		{name: "mesh group members skip the check", from: "10.0.0.2", rp: R, want: true,
			cfg: func(c *msdp.Config) {
				c.Groups = map[string]msdp.GroupConfig{"anycast": {Mode: msdp.ModeMeshGroup}}
				c.Peers[0].Group = "anycast"
			}},
		{name: "a standard group does not", from: "10.0.0.2", rp: R, want: false,
			cfg: func(c *msdp.Config) {
				c.Groups = map[string]msdp.GroupConfig{"g": {Mode: msdp.ModeStandard}}
				c.Peers[0].Group = "g"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rpfConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r, _ := newRig(t, cfg)
			for _, rt := range tc.routes {
				r.rib.add(rt)
			}
			for _, p := range cfg.Peers {
				down := false
				for _, d := range tc.down {
					down = down || d == p.Address.String()
				}
				if !down {
					r.up(p.Address.String())
				}
			}
			r.recv(tc.from, sa(tc.rp, "10.1.1.1", "239.1.1.1"))
			info, _ := r.e.Peer(r.now, a(tc.from))
			if tc.want {
				assert.Equal(t, []string{"10.1.1.1 239.1.1.1 " + tc.from + " Accept"}, r.cached())
				assert.Zero(t, info.Stats.RPFFailures)
			} else {
				assert.Empty(t, r.cached())
				assert.Equal(t, uint64(1), info.Stats.RPFFailures)
			}
		})
	}
}

// TestRPFCacheFollowsTheRIB: results are cached per (RP, peer) and
// recomputed after RIBChanged.
func TestRPFCacheFollowsTheRIB(t *testing.T) {
	r, _ := newRig(t, rpfConfig())
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.up(p)
	}
	r.recv("10.0.0.2", sa("10.9.9.9", "10.1.1.1", "239.1.1.1"))
	require.Empty(t, r.cached())
	r.rib.add(msdp.Route{Prefix: pf("10.9.0.0/16"), Protocol: msdp.ProtoOSPF, NextHop: a("10.0.0.2")})
	r.recv("10.0.0.2", sa("10.9.9.9", "10.1.1.1", "239.1.1.1"))
	require.Empty(t, r.cached(), "still the cached result")
	r.handle(msdp.RIBChanged{})
	r.recv("10.0.0.2", sa("10.9.9.9", "10.1.1.1", "239.1.1.1"))
	require.Len(t, r.cached(), 1)
}

func TestOwnSAIsDropped(t *testing.T) {
	cfg := rpfConfig()
	cfg.OriginatorID = a("10.255.0.1")
	r, _ := newRig(t, cfg)
	r.up("10.0.0.2")
	r.recv("10.0.0.2", sa("10.255.0.1", "10.1.1.1", "239.1.1.1"), sa("10.0.0.1", "10.1.1.2", "239.1.1.1"))
	assert.Empty(t, r.cached())
	info, _ := r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, uint64(2), info.Stats.OwnSAs)
}

func TestMeshGroupFlooding(t *testing.T) {
	// m1, m2, m3 form mesh group "mg"; x is an ordinary peer.
	cfg := msdp.Config{
		LocalAddress: a("10.0.0.1"),
		Groups:       map[string]msdp.GroupConfig{"mg": {Mode: msdp.ModeMeshGroup}},
		Peers: []msdp.PeerConfig{
			{Address: a("10.0.0.2"), Group: "mg"},
			{Address: a("10.0.0.3"), Group: "mg"},
			{Address: a("10.0.0.4"), Group: "mg"},
			{Address: a("10.0.0.5")},
		},
	}
	r, _ := newRig(t, cfg)
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		r.up(p)
	}
	// From a member: accepted without peer-RPF (no route at all), not
	// re-flooded to members, flooded to the others (§10.2 rule 1).
	acts := r.recv("10.0.0.2", sa("10.9.9.9", "10.1.1.1", "239.1.1.1"))
	assert.Empty(t, sentSAs(t, acts, "10.0.0.3"))
	assert.Empty(t, sentSAs(t, acts, "10.0.0.4"))
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1 10.9.9.9"}, sentSAs(t, acts, "10.0.0.5"))
	// From a non-member that passes peer-RPF: to every member (rule 2).
	acts = r.recv("10.0.0.5", sa("10.0.0.5", "10.1.1.2", "239.1.1.2"))
	for _, m := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		assert.Equal(t, []string{"10.1.1.2 239.1.1.2 10.0.0.5"}, sentSAs(t, acts, m), m)
	}
	assert.Empty(t, sentSAs(t, acts, "10.0.0.5"), "never back to the sender")
}

func TestNotFloodedBackToTheOriginator(t *testing.T) {
	r, _ := newRig(t, rpfConfig())
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.up(p)
	}
	r.rib.add(msdp.Route{Prefix: pf("10.0.0.3/32"), Protocol: msdp.ProtoOSPF, NextHop: a("10.0.0.2")})
	// RP 10.0.0.3 is a peer but the SA comes from 10.0.0.2: rule (i)
	// names 10.0.0.3 (established), so 10.0.0.2 fails.
	acts := r.recv("10.0.0.2", sa("10.0.0.3", "10.1.1.1", "239.1.1.1"))
	assert.Empty(t, acts)
	acts = r.recv("10.0.0.3", sa("10.0.0.3", "10.1.1.1", "239.1.1.1"))
	assert.Empty(t, sentSAs(t, acts, "10.0.0.3"))
	assert.Len(t, sentSAs(t, acts, "10.0.0.2"), 1)
	assert.Len(t, sentSAs(t, acts, "10.0.0.4"), 1)
}
