package msdp_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

func showRig(t *testing.T) *rig {
	cfg := rpfConfig()
	cfg.Groups = map[string]msdp.GroupConfig{"North23": {}}
	cfg.Peers[0].Group = "North23"
	cfg.Peers[1].ActiveSourceLimit = &msdp.Limit{Maximum: 10, Threshold: 8, LogWarning: 60, LogInterval: 120 * time.Second}
	policyConfig(&cfg)
	r, _ := newRig(t, cfg)
	r.now = r.now.Add(5*24*time.Hour + 19*time.Hour + 25*time.Minute + 44*time.Second)
	r.up("10.0.0.2")
	r.up("10.0.0.3")
	r.handle(msdp.LocalSourceEvent{Source: a("193.1.186.55"), Group: a("224.2.127.254"), RP: a("87.44.48.2"), Active: true})
	r.advance(68 * time.Second)
	r.recv("10.0.0.2", sa("10.0.0.2", "10.1.1.1", "239.1.1.1", "10.66.1.1", "239.1.1.2"), msdpmsg.KeepAlive{})
	r.recv("10.0.0.3", msdpmsg.KeepAlive{})
	r.advance(26 * time.Second)
	return r
}

func render(t *testing.T, f func(sb *strings.Builder) error) string {
	var sb strings.Builder
	require.NoError(t, f(&sb))
	return sb.String()
}

func TestShowMSDP(t *testing.T) {
	r := showRig(t)
	got := render(t, func(sb *strings.Builder) error { return msdp.RenderPeers(sb, r.e.Peers(r.now)) })
	assert.Equal(t, `Peer address    Local address   State       Last up/down Peer-Group     SA Count
10.0.0.2        10.0.0.1        Established     00:01:34 North23        1/2
10.0.0.3        10.0.0.1        Established     00:01:34                0/0
10.0.0.4        10.0.0.1        Connecting   5d 19:27:18                0/0
`, got)
}

func TestShowMSDPDetail(t *testing.T) {
	r := showRig(t)
	p, err := r.e.Peer(r.now, a("10.0.0.2"))
	require.NoError(t, err)
	got := render(t, func(sb *strings.Builder) error { return msdp.RenderPeersDetail(sb, []msdp.PeerInfo{p}) })
	assert.Equal(t, `Peer: 10.0.0.2
    Local address: 10.0.0.1
    State: Established
    Peer-Group: North23 (standard)
    Peer Connect Retries: 0
    State timer expires: 28
    Peer Times out: 49
    SA accepted: 1
    SA received: 2
`, got)
}

func TestShowSourceActive(t *testing.T) {
	r := showRig(t)
	got := render(t, func(sb *strings.Builder) error {
		return msdp.RenderSourceActive(sb, r.e.SourceActive(r.now, msdp.SAFilter{}))
	})
	assert.Equal(t, `Global active source limit exceeded: 0
Global active source limit maximum: 25000
Global active source limit threshold: 24000
Global active source limit log-warning: 100
Global active source limit log interval: 0

Group address   Source address  Peer address    Originator      Flags
224.2.127.254   193.1.186.55    local           87.44.48.2      Accept
239.1.1.1       10.1.1.1        10.0.0.2        10.0.0.2        Accept
239.1.1.2       10.66.1.1       10.0.0.2        10.0.0.2        Reject
`, got)
	local := render(t, func(sb *strings.Builder) error {
		return msdp.RenderSourceActive(sb, r.e.SourceActive(r.now, msdp.SAFilter{Local: true}))
	})
	assert.True(t, strings.HasSuffix(local, "Flags\n224.2.127.254   193.1.186.55    local           87.44.48.2      Accept\n"), local)
}

func TestShowStatistics(t *testing.T) {
	r := showRig(t)
	st := r.e.Statistics(r.now)
	got := render(t, func(sb *strings.Builder) error { return msdp.RenderStatistics(sb, st) })
	want := `Global active source limit exceeded: 0
Global active source limit maximum: 25000
Global active source limit threshold: 24000
Global active source limit log-warning: 100
Global active source limit log interval: 0

Peer: 10.0.0.2
    Last State Change: 3:25:44 (00:01:34)
    Last message received from the peer: 3:26:52 (00:00:26)
    RPF Failures: 0
    Remote Closes: 0
    Peer Timeouts: 0
    SA messages sent: 2
    SA messages received: 1
    SA request messages sent: 0
    SA request messages received: 0
    SA response messages sent: 0
    SA response messages received: 0
    Active source exceeded: 0
    Keepalive messages sent: 2
    Keepalive messages received: 1
    Unknown messages received: 0
    Error messages received: 0

Peer: 10.0.0.3
    Last State Change: 3:25:44 (00:01:34)
    Last message received from the peer: 3:26:52 (00:00:26)
    RPF Failures: 0
    Remote Closes: 0
    Peer Timeouts: 0
    SA messages sent: 3
    SA messages received: 0
    SA request messages sent: 0
    SA request messages received: 0
    SA response messages sent: 0
    SA response messages received: 0
    Active source exceeded: 0
    Active source Maximum: 10
    Active source threshold: 8
    Active source log-warning: 60
    Active source log interval 120
    Keepalive messages sent: 2
    Keepalive messages received: 1
    Unknown messages received: 0
    Error messages received: 0
`
	assert.True(t, strings.HasPrefix(got, want), got)
}

func TestShowRouteTableInet4(t *testing.T) {
	r := showRig(t)
	got := render(t, func(sb *strings.Builder) error { return msdp.RenderRouteTable(sb, r.e.RouteTable(r.now)) })
	assert.Equal(t, `inet.4: 3 destinations, 3 routes (2 active, 0 holddown, 1 hidden)
+ = Active Route, - = Last Active, * = Both

224.2.127.254, 193.1.186.55/32*[MSDP/175/1] 00:01:34
                      Local, Originator 87.44.48.2
239.1.1.1, 10.1.1.1/32*[MSDP/175/1] 00:00:26
                      from 10.0.0.2, Originator 10.0.0.2
`, got)
}

func TestShowJSON(t *testing.T) {
	r := showRig(t)
	for name, v := range map[string]any{
		"peers":         r.e.Peers(r.now),
		"source-active": r.e.SourceActive(r.now, msdp.SAFilter{}),
		"statistics":    r.e.Statistics(r.now),
		"inet.4":        r.e.RouteTable(r.now),
	} {
		b, err := json.Marshal(v)
		require.NoError(t, err, name)
		assert.NotContains(t, string(b), "AuthenticationKey", name)
		var back any
		require.NoError(t, json.Unmarshal(b, &back), name)
	}
	b, _ := json.Marshal(r.e.Peers(r.now)[0])
	assert.Contains(t, string(b), `"peer-state":"Established"`)
	assert.Contains(t, string(b), `"peer-address":"10.0.0.2"`)
	b, _ = json.Marshal(r.e.SourceActive(r.now, msdp.SAFilter{Local: true}))
	assert.Contains(t, string(b), `"group-address":"224.2.127.254","source-address":"193.1.186.55","local":true,"originator":"87.44.48.2","flags":"Accept"`)
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		68 * time.Second: "00:01:08",
		5*24*time.Hour + 19*time.Hour + 25*time.Minute + 44*time.Second: "5d 19:25:44",
		9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second:    "1w2d 03:04:05",
		-time.Second: "00:00:00",
	} {
		assert.Equal(t, want, msdp.FormatUptime(d))
	}
}
