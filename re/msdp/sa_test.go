package msdp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// threeUp: peers .2, .3, .4 of 10.0.0.1, all established; SAs from .2
// with RP .2 pass rule (i).
func threeUp(t *testing.T, mod func(c *msdp.Config)) *rig {
	cfg := rpfConfig()
	if mod != nil {
		mod(&cfg)
	}
	r, _ := newRig(t, cfg)
	for _, p := range cfg.Peers {
		r.up(p.Address.String())
	}
	return r
}

func TestSACacheStateTimer(t *testing.T) {
	r := threeUp(t, nil)
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.2", "239.1.1.1"))
	require.Len(t, r.cached(), 2)
	r.advance(60 * time.Second)
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.recv(p, msdpmsg.KeepAlive{})
	}
	// The originator refreshes one of them at t=60.
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1"))
	r.advance(15*time.Second - time.Millisecond)
	assert.Len(t, r.cached(), 2, "sa-hold-time 75 s not over")
	r.advance(time.Millisecond)
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1 10.0.0.2 Accept"}, r.cached())
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.recv(p, msdpmsg.KeepAlive{})
	}
	r.advance(60 * time.Second)
	assert.Empty(t, r.cached())
	assert.Equal(t, uint64(2), r.e.Statistics(r.now).Totals.Expired)
}

func TestSAHoldTimeIsConfigurable(t *testing.T) {
	r := threeUp(t, func(c *msdp.Config) {
		c.SAHoldTime = 300 * time.Second
		c.HoldTime = 400 * time.Second
		c.KeepAlive = 60 * time.Second
	})
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1"))
	for range 4 {
		r.advance(60 * time.Second)
		for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
			r.recv(p, msdpmsg.KeepAlive{})
		}
	}
	assert.Len(t, r.cached(), 1)
	r.advance(60 * time.Second)
	assert.Empty(t, r.cached())
}

func TestFloodPacingFromTheCache(t *testing.T) {
	r := threeUp(t, nil)
	acts := r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1"))
	assert.Len(t, sentSAs(t, acts, "10.0.0.3"), 1, "new: flooded at once")
	r.advance(10 * time.Second)
	acts = r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.9", "239.1.1.1"))
	assert.Equal(t, []string{"10.1.1.9 239.1.1.1 10.0.0.2"}, sentSAs(t, acts, "10.0.0.3"), "refresh within 30 s not re-flooded")
	r.advance(20 * time.Second)
	acts = r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1"))
	assert.Len(t, sentSAs(t, acts, "10.0.0.3"), 1, "at most twice per 60 s period")
}

func TestInvalidEntriesAreIgnored(t *testing.T) {
	r := threeUp(t, nil)
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "10.1.1.1", "239.1.1.1", "239.1.1.1", "0.0.0.0", "239.1.1.1", "10.1.1.2", "239.1.1.2"))
	assert.Equal(t, []string{"10.1.1.2 239.1.1.2 10.0.0.2 Accept"}, r.cached())
	info, _ := r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, uint64(3), info.Stats.BadEntries)
	assert.Equal(t, msdp.StateEstablished, info.State)
}

func policyConfig(c *msdp.Config) {
	c.Policies = map[string]*msdp.Policy{
		// Reject admin-scoped groups and sources in 10.66/16 (RFC 4611).
		"in": {Name: "in", Terms: []msdp.Term{
			{Name: "scoped", Group: []msdp.PrefixFilter{{Prefix: pf("239.192.0.0/14"), Type: msdp.OrLonger}}, Then: msdp.VerdictReject},
			{Name: "src", Source: []msdp.PrefixFilter{{Prefix: pf("10.66.0.0/16"), Type: msdp.Longer}}, Then: msdp.VerdictReject},
		}},
		// Send only 239.1.1.0/24 from originator 10.0.0.2 to 10.0.0.4.
		"out": {Name: "out", Terms: []msdp.Term{
			{Name: "ok", Group: []msdp.PrefixFilter{{Prefix: pf("239.1.1.0/24"), Type: msdp.PrefixLengthRange, Min: 24, Max: 32}},
				Originator: []msdp.PrefixFilter{{Prefix: pf("10.0.0.2/32"), Type: msdp.Exact}}, Then: msdp.VerdictAccept},
			{Name: "rest", Then: msdp.VerdictReject},
		}},
	}
	c.Import = []string{"in"}
	c.Peers[2].Export = []string{"out"}
}

func TestImportAndExportPolicies(t *testing.T) {
	r := threeUp(t, policyConfig)
	acts := r.recv("10.0.0.2", sa("10.0.0.2",
		"10.1.1.1", "239.1.1.1",
		"10.1.1.1", "239.193.0.1", // scoped: rejected on import
		"10.66.1.1", "239.1.1.2", // rejected source
		"10.1.1.1", "239.2.2.2", // accepted, not exported to .4
	))
	assert.Equal(t, []string{
		"10.1.1.1 239.1.1.1 10.0.0.2 Accept",
		"10.66.1.1 239.1.1.2 10.0.0.2 Reject",
		"10.1.1.1 239.2.2.2 10.0.0.2 Accept",
		"10.1.1.1 239.193.0.1 10.0.0.2 Reject",
	}, r.cached())
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1 10.0.0.2", "10.1.1.1 239.2.2.2 10.0.0.2"}, sentSAs(t, acts, "10.0.0.3"))
	assert.Equal(t, []string{"10.1.1.1 239.1.1.1 10.0.0.2"}, sentSAs(t, acts, "10.0.0.4"))
	info, _ := r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, 2, info.SAAccepted)
	assert.Equal(t, 4, info.SAReceived)
	assert.Equal(t, uint64(2), info.Stats.PolicyRejected)

	// A new import policy re-judges the cache.
	cfg := r.e.Config()
	cfg.Import = nil
	_, err := r.e.Reconfigure(r.now, cfg, nil)
	require.NoError(t, err)
	info, _ = r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, 4, info.SAAccepted)
}

func TestPolicyMatchTypes(t *testing.T) {
	g := a("239.1.1.1")
	for _, tc := range []struct {
		f    msdp.PrefixFilter
		want bool
	}{
		{msdp.PrefixFilter{Prefix: pf("239.1.1.1/32"), Type: msdp.Exact}, true},
		{msdp.PrefixFilter{Prefix: pf("239.1.1.0/24"), Type: msdp.Exact}, false},
		{msdp.PrefixFilter{Prefix: pf("239.1.1.0/24"), Type: msdp.OrLonger}, true},
		{msdp.PrefixFilter{Prefix: pf("239.1.1.1/32"), Type: msdp.OrLonger}, true},
		{msdp.PrefixFilter{Prefix: pf("239.1.1.1/32"), Type: msdp.Longer}, false},
		{msdp.PrefixFilter{Prefix: pf("239.0.0.0/8"), Type: msdp.Longer}, true},
		{msdp.PrefixFilter{Prefix: pf("238.0.0.0/8"), Type: msdp.OrLonger}, false},
		{msdp.PrefixFilter{Prefix: pf("239.0.0.0/8"), Type: msdp.PrefixLengthRange, Min: 16, Max: 24}, false},
		{msdp.PrefixFilter{Prefix: pf("239.0.0.0/8"), Type: msdp.PrefixLengthRange, Min: 16, Max: 32}, true},
	} {
		p := &msdp.Policy{Terms: []msdp.Term{{Group: []msdp.PrefixFilter{tc.f}, Then: msdp.VerdictReject}}}
		assert.Equal(t, tc.want, p.Evaluate(g, a("10.1.1.1"), a("10.0.0.2")) == msdp.VerdictReject, "%+v", tc.f)
	}
}

func entries(n, base int) []string {
	var out []string
	for i := range n {
		k := base + i
		out = append(out, fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255), fmt.Sprintf("239.%d.%d.%d", k>>16&255, k>>8&255, k&255))
	}
	return out
}

func TestActiveSourceLimits(t *testing.T) {
	t.Run("global maximum", func(t *testing.T) {
		r := threeUp(t, func(c *msdp.Config) { c.ActiveSourceLimit = &msdp.Limit{Maximum: 10} })
		r.recv("10.0.0.2", sa("10.0.0.2", entries(25, 0)...))
		assert.Len(t, r.cached(), 10)
		assert.Equal(t, uint64(15), r.e.SourceActive(r.now, msdp.SAFilter{}).Global.Exceeded)
	})
	t.Run("per peer maximum, other peers unaffected", func(t *testing.T) {
		r := threeUp(t, func(c *msdp.Config) { c.Peers[0].ActiveSourceLimit = &msdp.Limit{Maximum: 5} })
		r.recv("10.0.0.2", sa("10.0.0.2", entries(20, 0)...))
		r.recv("10.0.0.3", sa("10.0.0.3", entries(20, 100)...))
		info, _ := r.e.Peer(r.now, a("10.0.0.2"))
		assert.Equal(t, 5, info.SAReceived)
		assert.Equal(t, uint64(15), info.Stats.ActiveSourceExceeded)
		info, _ = r.e.Peer(r.now, a("10.0.0.3"))
		assert.Equal(t, 20, info.SAReceived)
	})
	t.Run("random early drop between threshold and maximum", func(t *testing.T) {
		r := threeUp(t, func(c *msdp.Config) {
			c.ActiveSourceLimit = &msdp.Limit{Maximum: 2000, Threshold: 1000, LogWarning: 80}
		})
		for i := 0; i < 4000; i += 200 {
			r.recv("10.0.0.2", sa("10.0.0.2", entries(200, i)...))
		}
		n := len(r.cached())
		exceeded := r.e.SourceActive(r.now, msdp.SAFilter{}).Global.Exceeded
		assert.Equal(t, uint64(4000-n), exceeded)
		assert.Greater(t, n, 1000, "everything up to the threshold is taken")
		assert.LessOrEqual(t, n, 2000)
		assert.Contains(t, r.logs.String(), "msdp active sources near the limit")
		// Deterministic with the same seed.
		r2 := threeUp(t, func(c *msdp.Config) { c.ActiveSourceLimit = &msdp.Limit{Maximum: 2000, Threshold: 1000} })
		for i := 0; i < 4000; i += 200 {
			r2.recv("10.0.0.2", sa("10.0.0.2", entries(200, i)...))
		}
		assert.Equal(t, n, len(r2.cached()))
	})
	t.Run("default global limit is the platform's", func(t *testing.T) {
		r := threeUp(t, nil)
		g := r.e.SourceActive(r.now, msdp.SAFilter{}).Global
		assert.Equal(t, msdp.DefaultActiveSourceLimit(), g.Limit)
	})
}

func TestPIMIntegration(t *testing.T) {
	r := threeUp(t, nil)
	// (*,G) first, then the SA: join.
	assert.Empty(t, r.handle(msdp.StarGEvent{Group: a("239.1.1.1"), Joined: true}))
	acts := r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.2", "239.2.2.2"))
	assert.Equal(t, []msdp.JoinSource{{Source: a("10.1.1.1"), Group: a("239.1.1.1"), RP: a("10.0.0.2")}}, ofType[msdp.JoinSource](acts))
	// SA first, then (*,G): join every cached source of G (RFC 3618 §3).
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.3", "239.2.2.2"))
	acts = r.handle(msdp.StarGEvent{Group: a("239.2.2.2"), Joined: true})
	assert.ElementsMatch(t, []msdp.JoinSource{
		{Source: a("10.1.1.2"), Group: a("239.2.2.2"), RP: a("10.0.0.2")},
		{Source: a("10.1.1.3"), Group: a("239.2.2.2"), RP: a("10.0.0.2")},
	}, ofType[msdp.JoinSource](acts))
	// A refresh does not join again; expiry says the source is gone.
	acts = r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1"))
	assert.Empty(t, ofType[msdp.JoinSource](acts))
	r.advance(74 * time.Second)
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.recv(p, msdpmsg.KeepAlive{})
	}
	acts = r.advance(2 * time.Second)
	assert.ElementsMatch(t, []msdp.SourceGone{
		{Source: a("10.1.1.1"), Group: a("239.1.1.1")},
		{Source: a("10.1.1.2"), Group: a("239.2.2.2")},
		{Source: a("10.1.1.3"), Group: a("239.2.2.2")},
	}, ofType[msdp.SourceGone](acts))
}

func TestEncapsulatedData(t *testing.T) {
	r := threeUp(t, nil)
	r.handle(msdp.StarGEvent{Group: a("239.1.1.1"), Joined: true})
	pkt := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 16, 17, 0, 0, 10, 1, 1, 1, 239, 1, 1, 1}
	m := sa("10.0.0.2", "10.1.1.1", "239.1.1.1")
	m.Data = pkt
	acts := r.recv("10.0.0.2", m)
	assert.Equal(t, []msdp.DeliverData{{Source: a("10.1.1.1"), Group: a("239.1.1.1"), Packet: pkt}}, ofType[msdp.DeliverData](acts))
	fwd := sent(t, acts)[a("10.0.0.3")]
	require.Len(t, fwd, 1)
	assert.Equal(t, pkt, fwd[0].(*msdpmsg.SourceActive).Data, "data flooded with its SA")
	// A packet that does not match the last entry is not delivered.
	bad := sa("10.0.0.2", "10.1.1.5", "239.1.1.1")
	bad.Data = pkt
	acts = r.recv("10.0.0.2", bad)
	assert.Empty(t, ofType[msdp.DeliverData](acts))
	assert.Nil(t, sent(t, acts)[a("10.0.0.3")][0].(*msdpmsg.SourceActive).Data)
}

func TestLocalSourceOrigination(t *testing.T) {
	r := threeUp(t, nil)
	ev := msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.5.5.5"), RP: a("10.255.0.1"), Active: true}
	acts := r.handle(ev)
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		assert.Equal(t, []string{"10.50.0.1 239.5.5.5 10.255.0.1"}, sentSAs(t, acts, p), "triggered SA to %s, RP field = the RP", p)
	}
	assert.Equal(t, []string{"10.50.0.1 239.5.5.5 local Accept"}, r.cached())
	// Periodic: once per 60 s period, never twice within one.
	var times []time.Duration
	for i := range 300 {
		acts := r.advance(time.Second)
		if i%20 == 0 {
			for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
				r.recv(p, msdpmsg.KeepAlive{})
			}
		}
		if len(sentSAs(t, acts, "10.0.0.2")) > 0 {
			times = append(times, r.now.Sub(t0))
		}
	}
	require.GreaterOrEqual(t, len(times), 4)
	prev := time.Duration(0)
	for _, x := range times {
		assert.GreaterOrEqual(t, x-prev, 60*time.Second, "advertised at %v", times)
		assert.LessOrEqual(t, x-prev, 63*time.Second, "advertised at %v", times)
		prev = x
	}
	// Inactive: no more SAs (MSDP has no withdrawal, peers time it out).
	r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.5.5.5"), Active: false})
	for _, p := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		r.recv(p, msdpmsg.KeepAlive{})
	}
	acts = r.advance(70 * time.Second)
	assert.Empty(t, sentSAs(t, acts, "10.0.0.2"))
	assert.Empty(t, r.cached())
}

func TestOriginatorIDAndConfiguredSources(t *testing.T) {
	r := threeUp(t, func(c *msdp.Config) {
		c.OriginatorID = a("10.255.9.9")
		c.LocalSources = []msdp.LocalSource{{Source: a("10.60.0.1"), Group: a("239.6.6.6")}}
	})
	acts := r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.5.5.5"), RP: a("10.255.0.1"), Active: true})
	assert.Equal(t, []string{"10.50.0.1 239.5.5.5 10.255.9.9"}, sentSAs(t, acts, "10.0.0.3"))
	assert.Equal(t, []string{"10.50.0.1 239.5.5.5 local Accept", "10.60.0.1 239.6.6.6 local Accept"}, r.cached())
}

func TestNewPeerGetsTheCache(t *testing.T) {
	cfg := rpfConfig()
	cfg.Groups = map[string]msdp.GroupConfig{"mg": {Mode: msdp.ModeMeshGroup}}
	cfg.Peers[0].Group, cfg.Peers[2].Group = "mg", "mg"
	r, _ := newRig(t, cfg)
	r.up("10.0.0.2")
	r.up("10.0.0.3")
	r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.5.5.5"), RP: a("10.255.0.1"), Active: true})
	r.recv("10.0.0.2", sa("10.9.9.9", "10.1.1.1", "239.1.1.1")) // from mesh member .2
	r.recv("10.0.0.3", sa("10.0.0.3", "10.1.1.2", "239.1.1.2"))
	acts := r.up("10.0.0.4") // mesh member: gets local + .3's, not .2's (same mesh group)
	assert.Equal(t, []string{"10.1.1.2 239.1.1.2 10.0.0.3", "10.50.0.1 239.5.5.5 10.255.0.1"}, sentSAs(t, acts, "10.0.0.4"))
	assert.True(t, ofType[msdp.Send](acts)[0].KeepAlive, "the KeepAlive first")
}

func TestCacheDumpIsPacedByDrained(t *testing.T) {
	r := threeUp(t, func(c *msdp.Config) { c.ActiveSourceLimit = &msdp.Limit{} })
	// 40,000 SAs from .2, then .3 flaps.
	for i := 0; i < 40000; i += 255 {
		r.recv("10.0.0.2", sa("10.0.0.2", entries(min(255, 40000-i), i)...))
	}
	r.handle(msdp.ConnDown{Peer: a("10.0.0.3"), Conn: r.conns[a("10.0.0.3")], Remote: true})
	acts := r.up("10.0.0.3")
	total := len(sentSAs(t, acts, "10.0.0.3"))
	steps := 1
	for {
		s := ofType[msdp.Send](acts)
		last := s[len(s)-1]
		if !last.WantDrained {
			break
		}
		assert.Less(t, len(last.Data), 300<<10, "one step stays small")
		acts = r.handle(msdp.Drained{Peer: a("10.0.0.3"), Conn: r.conns[a("10.0.0.3")]})
		total += len(sentSAs(t, acts, "10.0.0.3"))
		steps++
	}
	assert.Equal(t, 40000, total)
	assert.Equal(t, 3, steps)
}

func TestSARequestAndResponse(t *testing.T) {
	r := threeUp(t, nil)
	r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.1.1.1"), RP: a("10.255.0.1"), Active: true})
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.2", "239.2.2.2"))
	r.recv("10.0.0.3", sa("10.0.0.3", "10.1.1.3", "239.1.1.1"))
	acts := r.recv("10.0.0.2", &msdpmsg.SARequest{Group: a("239.1.1.1")})
	msgs := sent(t, acts)[a("10.0.0.2")]
	require.Len(t, msgs, 2, "one SA-Response per originator; nothing learnt from the requester")
	assert.Equal(t, []msdpmsg.Message{
		&msdpmsg.SAResponse{SourceActive: msdpmsg.SourceActive{RP: a("10.0.0.3"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.1.1.3")}}}},
		&msdpmsg.SAResponse{SourceActive: msdpmsg.SourceActive{RP: a("10.255.0.1"), Entries: []msdpmsg.Entry{{Group: a("239.1.1.1"), Source: a("10.50.0.1")}}}},
	}, msgs)
	info, _ := r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, uint64(1), info.Stats.SARequestReceived)
	assert.Equal(t, uint64(2), info.Stats.SAResponseSent)

	// A response is cached without peer-RPF and not flooded.
	r.handle(msdp.StarGEvent{Group: a("239.7.7.7"), Joined: true})
	acts = r.recv("10.0.0.4", &msdpmsg.SAResponse{SourceActive: *sa("10.99.0.1", "10.7.7.7", "239.7.7.7")})
	assert.Empty(t, ofType[msdp.Send](acts))
	assert.Equal(t, []msdp.JoinSource{{Source: a("10.7.7.7"), Group: a("239.7.7.7"), RP: a("10.99.0.1")}}, ofType[msdp.JoinSource](acts))
	assert.Len(t, r.e.SourceActive(r.now, msdp.SAFilter{Group: a("239.7.7.7")}).SAs, 1)
}

func TestClearCommands(t *testing.T) {
	r := threeUp(t, nil)
	r.handle(msdp.StarGEvent{Group: a("239.1.1.1"), Joined: true})
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.2", "239.2.2.2"))
	r.recv("10.0.0.3", sa("10.0.0.3", "10.1.1.3", "239.3.3.3", "10.1.1.4", "239.2.2.2"))
	require.Len(t, r.cached(), 4)

	acts := r.e.ClearCache(r.now, msdp.CacheFilter{Group: a("239.2.2.2")}, nil)
	assert.Len(t, r.cached(), 2)
	assert.Empty(t, acts)

	acts, err := r.e.ClearPeer(r.now, a("10.0.0.2"), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.1.1.3 239.3.3.3 10.0.0.3 Accept"}, r.cached())
	assert.Equal(t, []msdp.SourceGone{{Source: a("10.1.1.1"), Group: a("239.1.1.1")}}, ofType[msdp.SourceGone](acts))
	require.Len(t, ofType[msdp.Close](acts), 1)
	info, _ := r.e.Peer(r.now, a("10.0.0.2"))
	assert.Equal(t, msdp.PeerStats{}, info.Stats)
	assert.NotEqual(t, msdp.StateEstablished, info.State, "the session restarts")

	_, err = r.e.ClearPeer(r.now, a("10.9.9.9"), nil)
	require.ErrorIs(t, err, msdp.ErrNoPeer)

	r.e.ClearStatistics(r.now)
	info, _ = r.e.Peer(r.now, a("10.0.0.3"))
	assert.Equal(t, msdp.PeerStats{}, info.Stats)
	assert.Len(t, r.cached(), 1, "clear statistics keeps the cache")

	r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.5.5.5"), RP: a("10.255.0.1"), Active: true})
	r.e.ClearCache(r.now, msdp.CacheFilter{}, nil)
	assert.Equal(t, []string{"10.50.0.1 239.5.5.5 local Accept"}, r.cached(), "local sources stay")
}

func TestSourceActiveFilters(t *testing.T) {
	r := threeUp(t, nil)
	r.handle(msdp.LocalSourceEvent{Source: a("10.50.0.1"), Group: a("239.1.1.1"), RP: a("10.255.0.1"), Active: true})
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.1.1.2", "239.2.2.2"))
	r.recv("10.0.0.3", sa("10.0.0.3", "10.1.1.3", "239.1.1.1"))
	n := func(f msdp.SAFilter) int { return len(r.e.SourceActive(r.now, f).SAs) }
	assert.Equal(t, 4, n(msdp.SAFilter{}))
	assert.Equal(t, 3, n(msdp.SAFilter{Group: a("239.1.1.1")}))
	assert.Equal(t, 1, n(msdp.SAFilter{Originator: a("10.0.0.3")}))
	assert.Equal(t, 1, n(msdp.SAFilter{Local: true}))
	assert.Equal(t, 2, n(msdp.SAFilter{Peer: a("10.0.0.2")}))
	assert.Equal(t, 1, n(msdp.SAFilter{Group: a("239.1.1.1"), Originator: a("10.255.0.1")}))
	assert.Equal(t, 0, n(msdp.SAFilter{Group: netip.MustParseAddr("239.9.9.9")}))
}

// TestAllGroupsRequestIsPaced: an all-groups SA-Request (seed 001's
// restarted server) is answered from the whole cache in paced steps of
// SA-Responses, without what the requester itself sent.
func TestAllGroupsRequestIsPaced(t *testing.T) {
	r := threeUp(t, func(c *msdp.Config) { c.ActiveSourceLimit = &msdp.Limit{} })
	for i := 0; i < 40000; i += 255 {
		r.recv("10.0.0.2", sa("10.0.0.2", entries(min(255, 40000-i), i)...))
	}
	r.recv("10.0.0.3", sa("10.0.0.3", entries(10, 50000)...))
	acts := r.recv("10.0.0.3", &msdpmsg.SARequest{Group: netip.IPv4Unspecified()})
	count := func(acts []msdp.Action) (n int) {
		for _, m := range sent(t, acts)[a("10.0.0.3")] {
			resp, ok := m.(*msdpmsg.SAResponse)
			require.True(t, ok, "only SA-Responses: %T", m)
			require.Equal(t, a("10.0.0.2"), resp.RP, "nothing learnt from the requester")
			n += len(resp.Entries)
		}
		return n
	}
	total, steps := count(acts), 1
	for {
		s := ofType[msdp.Send](acts)
		if len(s) == 0 || !s[len(s)-1].WantDrained {
			break
		}
		acts = r.handle(msdp.Drained{Peer: a("10.0.0.3"), Conn: r.conns[a("10.0.0.3")]})
		total += count(acts)
		steps++
	}
	assert.Equal(t, 40000, total)
	assert.Equal(t, 3, steps)
}
