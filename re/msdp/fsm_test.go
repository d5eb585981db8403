package msdp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

func twoPeers() msdp.Config {
	return msdp.Config{
		LocalAddress: a("10.0.0.5"),
		Peers: []msdp.PeerConfig{
			{Address: a("10.0.0.9")}, // higher: we connect
			{Address: a("10.0.0.1")}, // lower: we listen
		},
	}
}

func TestLowerAddressConnectsHigherListens(t *testing.T) {
	r, acts := newRig(t, twoPeers())
	assert.Equal(t, []msdp.Action{
		msdp.Connect{Peer: a("10.0.0.9"), Local: a("10.0.0.5")},
		msdp.Listen{Peer: a("10.0.0.1"), Local: a("10.0.0.5")},
	}, acts)
	assert.Equal(t, msdp.StateConnecting, r.state("10.0.0.9"))
	assert.Equal(t, msdp.StateListen, r.state("10.0.0.1"))
}

func TestConnectRetryEvery30Seconds(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	r.handle(msdp.DialFailed{Peer: a("10.0.0.9"), Err: errors.New("connection refused")})
	assert.Empty(t, r.advance(29*time.Second), "no retry before the timer")
	acts := r.advance(time.Second)
	assert.Equal(t, []msdp.Action{msdp.Connect{Peer: a("10.0.0.9"), Local: a("10.0.0.5")}}, acts)
	acts = r.advance(30 * time.Second)
	assert.Len(t, ofType[msdp.Connect](acts), 1)
	info, _ := r.e.Peer(r.now, a("10.0.0.9"))
	assert.Equal(t, 2, info.ConnectRetries)
	// The listening side never retries.
	assert.Empty(t, ofType[msdp.Listen](acts))
}

func TestEstablishSendsKeepAliveAndStartsTimers(t *testing.T) {
	for _, p := range []string{"10.0.0.9", "10.0.0.1"} {
		t.Run(p, func(t *testing.T) {
			r, _ := newRig(t, twoPeers())
			acts := r.up(p)
			require.Len(t, acts, 1)
			s := acts[0].(msdp.Send)
			assert.True(t, s.KeepAlive)
			assert.Equal(t, msdpmsg.KeepAliveBytes, s.Data)
			info, _ := r.e.Peer(r.now, a(p))
			assert.Equal(t, int64(60), info.StateTimerExpires)
			assert.Equal(t, int64(75), info.PeerTimesOut)
		})
	}
}

func TestWrongDirectionConnectionIsClosed(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	// 10.0.0.9 is higher: it must not be the one that connects to us.
	acts := r.handle(msdp.ConnUp{Peer: a("10.0.0.9"), Conn: 7, Active: false})
	assert.Equal(t, []msdp.Action{msdp.Close{Peer: a("10.0.0.9"), Conn: 7, Reason: "passive connection while connecting"}}, acts)
	acts = r.handle(msdp.ConnUp{Peer: a("10.0.0.1"), Conn: 8, Active: true})
	assert.Equal(t, []msdp.Action{msdp.Close{Peer: a("10.0.0.1"), Conn: 8, Reason: "active connection while listening"}}, acts)
	acts = r.handle(msdp.ConnUp{Peer: a("10.9.9.9"), Conn: 9})
	assert.Equal(t, []msdp.Action{msdp.Close{Peer: a("10.9.9.9"), Conn: 9, Reason: "not a configured peer"}}, acts)
}

func TestKeepAliveOnlyWhenNothingElseWasSent(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	r.up("10.0.0.9")
	r.up("10.0.0.1")
	r.advance(30 * time.Second)
	// An SA flooded to 10.0.0.9 restarts its KeepAlive timer.
	acts := r.recv("10.0.0.1", sa("10.0.0.1", "10.1.1.1", "239.1.1.1"))
	require.Len(t, sentSAs(t, acts, "10.0.0.9"), 1)
	acts = r.advance(30 * time.Second) // t=60: only 10.0.0.1 owes one
	ka := ofType[msdp.Send](acts)
	require.Len(t, ka, 1)
	assert.Equal(t, a("10.0.0.1"), ka[0].Peer)
	assert.True(t, ka[0].KeepAlive)
	r.recv("10.0.0.9", msdpmsg.KeepAlive{}) // keep its hold timer going
	acts = r.advance(30 * time.Second)      // t=90: 10.0.0.9's, 60 s after the SA
	ka = ofType[msdp.Send](acts)
	require.Len(t, ka, 1)
	assert.Equal(t, a("10.0.0.9"), ka[0].Peer)
}

func TestHoldTimer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		peer   string
		feed   func(r *rig)
		expire bool
	}{
		{"expires after 75 s of silence", "10.0.0.9", func(r *rig) {}, true},
		{"a KeepAlive restarts it", "10.0.0.9", func(r *rig) { r.recv("10.0.0.9", msdpmsg.KeepAlive{}) }, false},
		{"any message restarts it", "10.0.0.9", func(r *rig) { r.recv("10.0.0.9", &msdpmsg.Unknown{T: 200}) }, false},
		{"an Alive from the priority path restarts it", "10.0.0.1", func(r *rig) {
			r.handle(msdp.Alive{Peer: a("10.0.0.1"), Conn: r.conns[a("10.0.0.1")], At: r.now})
		}, false},
		{"an Alive of an old connection does not", "10.0.0.1", func(r *rig) {
			r.handle(msdp.Alive{Peer: a("10.0.0.1"), Conn: 999, At: r.now})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRig(t, twoPeers())
			r.up(tc.peer)
			r.advance(50 * time.Second)
			tc.feed(r)
			acts := r.advance(26 * time.Second)
			closes := ofType[msdp.Close](acts)
			info, _ := r.e.Peer(r.now, a(tc.peer))
			if !tc.expire {
				assert.Empty(t, closes)
				assert.Equal(t, msdp.StateEstablished, info.State)
				return
			}
			require.Len(t, closes, 1)
			assert.Contains(t, closes[0].Reason, "hold timer expired")
			assert.Equal(t, uint64(1), info.Stats.PeerTimeouts)
			// The peering is still enabled: it starts again at once.
			if info.Active {
				assert.Equal(t, msdp.StateConnecting, info.State)
				assert.Len(t, ofType[msdp.Connect](acts), 1)
			} else {
				assert.Equal(t, msdp.StateListen, info.State)
			}
		})
	}
}

func TestFormatErrorResetsTheSession(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	r.up("10.0.0.1")
	_, ferr := msdpmsg.NewDecoder().Decode([]byte{1, 0, 20, 2, 10, 0, 0, 1, 0, 0, 0, 32, 239, 1, 1, 1, 10, 1, 1, 1, 9, 9, 9}, nil)
	require.Error(t, ferr)
	acts := r.handle(msdp.Received{Peer: a("10.0.0.1"), Conn: r.conns[a("10.0.0.1")], At: r.now,
		Msgs: []msdpmsg.Message{msdpmsg.KeepAlive{}}, Err: ferr})
	closes := ofType[msdp.Close](acts)
	require.Len(t, closes, 1)
	assert.Contains(t, closes[0].Reason, "entry count")
	info, _ := r.e.Peer(r.now, a("10.0.0.1"))
	assert.Equal(t, uint64(1), info.Stats.ErrorsReceived)
	assert.Equal(t, uint64(1), info.Stats.KeepAliveReceived, "messages before the bad TLV count")
	assert.Equal(t, msdp.StateListen, info.State)
	assert.Contains(t, r.logs.String(), "field=\"entry count\"")
}

func TestUnknownTLVIsDiscardedWithoutReset(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	r.up("10.0.0.1")
	acts := r.recv("10.0.0.1", &msdpmsg.Unknown{T: msdpmsg.TypeNotification, Value: []byte{1}},
		&msdpmsg.Unknown{T: msdpmsg.TypeTracerouteReply}, &msdpmsg.Unknown{T: 250})
	assert.Empty(t, acts)
	info, _ := r.e.Peer(r.now, a("10.0.0.1"))
	assert.Equal(t, uint64(3), info.Stats.UnknownReceived)
	assert.Equal(t, msdp.StateEstablished, info.State)
}

func TestRemoteCloseRestarts(t *testing.T) {
	r, _ := newRig(t, twoPeers())
	r.up("10.0.0.9")
	old := r.conns[a("10.0.0.9")]
	// News of an older connection is ignored.
	assert.Empty(t, r.handle(msdp.ConnDown{Peer: a("10.0.0.9"), Conn: old + 100, Remote: true}))
	acts := r.handle(msdp.ConnDown{Peer: a("10.0.0.9"), Conn: old, Remote: true, Reason: "EOF"})
	assert.Equal(t, []msdp.Action{
		msdp.Close{Peer: a("10.0.0.9"), Conn: old, Reason: "EOF"},
		msdp.Connect{Peer: a("10.0.0.9"), Local: a("10.0.0.5")},
	}, acts)
	info, _ := r.e.Peer(r.now, a("10.0.0.9"))
	assert.Equal(t, uint64(1), info.Stats.RemoteCloses)
	// A second connection while established is refused.
	r.up("10.0.0.9")
	acts = r.handle(msdp.ConnUp{Peer: a("10.0.0.9"), Conn: 77, Active: true})
	assert.Equal(t, []msdp.Action{msdp.Close{Peer: a("10.0.0.9"), Conn: 77, Reason: "session already established"}}, acts)
}

func TestDisabledPeerStaysDisabled(t *testing.T) {
	cfg := twoPeers()
	cfg.Peers[0].Disable = true
	r, acts := newRig(t, cfg)
	assert.Equal(t, msdp.StateDisabled, r.state("10.0.0.9"))
	assert.Empty(t, ofType[msdp.Connect](acts))
}

func TestReconfigure(t *testing.T) {
	cfg := twoPeers()
	cfg.Peers[0].Group = "g"
	cfg.Groups = map[string]msdp.GroupConfig{"g": {}}
	r, _ := newRig(t, cfg)
	r.up("10.0.0.9")
	r.up("10.0.0.1")
	r.recv("10.0.0.1", sa("10.0.0.1", "10.1.1.1", "239.1.1.1"))
	require.Len(t, r.cached(), 1)

	// Remove 10.0.0.1 (its SAs go), change 10.0.0.9's local address
	// (session restarts), add 10.0.0.7 (starts: we are lower, connect).
	cfg2 := cfg
	cfg2.Peers = []msdp.PeerConfig{{Address: a("10.0.0.9"), LocalAddress: a("10.0.0.6"), Group: "g"}, {Address: a("10.0.0.7")}}
	acts, err := r.e.Reconfigure(r.now, cfg2, nil)
	require.NoError(t, err)
	assert.Empty(t, r.cached())
	assert.Equal(t, []msdp.Action{
		msdp.Close{Peer: a("10.0.0.9"), Conn: r.conns[a("10.0.0.9")], Reason: "session parameters changed"},
		msdp.Connect{Peer: a("10.0.0.9"), Local: a("10.0.0.6")},
		msdp.Close{Peer: a("10.0.0.1"), Conn: r.conns[a("10.0.0.1")], Reason: "peer removed from the configuration"},
		msdp.StopListen{Peer: a("10.0.0.1")},
		msdp.Connect{Peer: a("10.0.0.7"), Local: a("10.0.0.5")},
	}, acts)
	_, err = r.e.Peer(r.now, a("10.0.0.1"))
	require.ErrorIs(t, err, msdp.ErrNoPeer)

	// A change of policy keeps the session.
	cfg3 := cfg2
	cfg3.Policies = map[string]*msdp.Policy{"p": {Name: "p"}}
	cfg3.Peers[1].Import = []string{"p"}
	acts, err = r.e.Reconfigure(r.now, cfg3, nil)
	require.NoError(t, err)
	assert.Empty(t, acts)
}

func TestConfigValidation(t *testing.T) {
	ok := twoPeers()
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		name string
		mod  func(c *msdp.Config)
		want string
	}{
		{"keepalive not below hold", func(c *msdp.Config) { c.KeepAlive, c.HoldTime = 75*time.Second, 75*time.Second }, "less than hold-time"},
		{"hold below 3 s", func(c *msdp.Config) { c.KeepAlive, c.HoldTime = time.Second, 2*time.Second }, "below 3 s"},
		{"sa-hold-time below the advertisement period", func(c *msdp.Config) { c.SAHoldTime = 30 * time.Second }, "sa-hold-time"},
		{"no local address", func(c *msdp.Config) { c.LocalAddress = netip.Addr{} }, "no IPv4 local-address"},
		{"duplicate peer", func(c *msdp.Config) { c.Peers = append(c.Peers, c.Peers[0]) }, "configured twice"},
		{"unknown group", func(c *msdp.Config) { c.Peers[0].Group = "x" }, "no group"},
		{"unknown policy", func(c *msdp.Config) { c.Peers[0].Import = []string{"x"} }, "no policy"},
		{"threshold above maximum", func(c *msdp.Config) { c.ActiveSourceLimit = &msdp.Limit{Maximum: 10, Threshold: 20} }, "threshold"},
		{"local sources without originator", func(c *msdp.Config) {
			c.LocalSources = []msdp.LocalSource{{Source: a("10.1.1.1"), Group: a("239.1.1.1")}}
		}, "originator-id"},
		{"bad prefix-length-range", func(c *msdp.Config) {
			c.Policies = map[string]*msdp.Policy{"p": {Terms: []msdp.Term{{Group: []msdp.PrefixFilter{{Prefix: pf("239.0.0.0/8"), Type: msdp.PrefixLengthRange, Min: 4, Max: 32}}}}}}
		}, "prefix-length-range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := twoPeers()
			tc.mod(&c)
			err := c.Validate()
			require.ErrorIs(t, err, msdp.ErrConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestStandbyAdoptsSessions: an engine not yet started (non-stop
// routing's backup) opens nothing, takes handed-over sessions as they
// are (no KeepAlive owed), and Start then enables only the other peers.
func TestStandbyAdoptsSessions(t *testing.T) {
	e, err := msdp.New(twoPeers(), msdp.Options{}, t0)
	require.NoError(t, err)
	acts := e.Handle(t0, msdp.ConnUp{Peer: a("10.0.0.9"), Conn: 5, Active: true, Adopted: true}, nil)
	assert.Empty(t, acts, "no KeepAlive, no cache dump: the session goes on")
	p, _ := e.Peer(t0, a("10.0.0.9"))
	assert.Equal(t, msdp.StateEstablished, p.State)
	// Not adopted: refused while standby.
	acts = e.Handle(t0, msdp.ConnUp{Peer: a("10.0.0.1"), Conn: 6}, nil)
	assert.Equal(t, []msdp.Action{msdp.Close{Peer: a("10.0.0.1"), Conn: 6, Reason: "peer disabled"}}, acts)
	acts = e.Start(t0, nil)
	assert.Equal(t, []msdp.Action{msdp.Listen{Peer: a("10.0.0.1"), Local: a("10.0.0.5")}}, acts)
	// The adopted session's KeepAlive timer runs from the adoption.
	acts = e.Expire(t0.Add(60*time.Second), nil)
	require.Len(t, acts, 1)
	assert.True(t, acts[0].(msdp.Send).KeepAlive)
}
