package msdp

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"
)

// The accessors below return plain JSON-able values (for `| display
// json`); the Render functions format them as the modelled platform's CLI
// does (reference-junos.md §2.6, layouts tagged [MEMORY] there). The
// owner goroutine calls the accessors; renderers need no engine.

// PeerInfo is one peer of `show msdp [detail]` and `show msdp peer A`.
type PeerInfo struct {
	Address   netip.Addr `json:"peer-address"`
	Local     netip.Addr `json:"local-address"`
	State     State      `json:"peer-state"`
	Group     string     `json:"peer-group,omitempty"`
	MeshGroup bool       `json:"mesh-group,omitempty"`
	Internal  bool       `json:"internal,omitempty"`
	// Active: this side connects (the lower address, RFC 3618 §11).
	Active          bool      `json:"active"`
	LastStateChange time.Time `json:"last-state-change"`
	// LastUpDown is how long the peer has been in its state.
	LastUpDown     time.Duration `json:"last-up-down"`
	ConnectRetries int           `json:"peer-connect-retries"`
	// StateTimerExpires: seconds to the ConnectRetry (StateConnecting) or
	// KeepAlive (StateEstablished) timer; -1 when none runs.
	StateTimerExpires int64 `json:"state-timer-expires"`
	// PeerTimesOut: seconds to the Hold timer; -1 when none runs.
	PeerTimesOut int64 `json:"peer-times-out"`
	SAAccepted   int   `json:"sa-accepted"`
	SAReceived   int   `json:"sa-received"`
	// LastReceived is when the last message arrived (zero: never).
	LastReceived      time.Time `json:"last-message-received,omitzero"`
	ActiveSourceLimit *Limit    `json:"active-source-limit,omitempty"`
	Stats             PeerStats `json:"statistics"`
}

func (e *Engine) peerInfo(p *peer, now int64) PeerInfo {
	pi := PeerInfo{
		Address: p.addr, Local: p.local, State: p.state, Group: p.group, MeshGroup: p.mesh != "",
		Internal: p.internal, Active: p.active, LastStateChange: e.timeOf(p.since),
		LastUpDown: time.Duration(now - p.since), ConnectRetries: p.retries,
		StateTimerExpires: -1, PeerTimesOut: -1, SAAccepted: p.saAccepted, SAReceived: p.saCount,
		ActiveSourceLimit: p.limit, Stats: p.stats,
	}
	secs := func(t int64) int64 { return max(0, (t-now+int64(time.Second)-1)/int64(time.Second)) }
	switch p.state {
	case StateConnecting:
		if p.connectRetryAt != 0 {
			pi.StateTimerExpires = secs(p.connectRetryAt)
		}
	case StateEstablished:
		pi.StateTimerExpires = secs(p.lastSent + int64(e.cfg.KeepAlive))
		pi.PeerTimesOut = secs(p.lastHeard + int64(e.cfg.HoldTime))
	}
	if p.lastReceived != 0 {
		pi.LastReceived = e.timeOf(p.lastReceived)
	}
	return pi
}

// Peers returns every peer, configured ones first in configuration order.
func (e *Engine) Peers(now time.Time) []PeerInfo {
	t := e.ns(now)
	out := make([]PeerInfo, 0, len(e.order))
	for _, p := range e.order {
		out = append(out, e.peerInfo(p, t))
	}
	return out
}

// Peer returns one peer.
func (e *Engine) Peer(now time.Time, addr netip.Addr) (PeerInfo, error) {
	p := e.byAddr[addr]
	if p == nil {
		return PeerInfo{}, fmt.Errorf("peer %v: %w", addr, ErrNoPeer)
	}
	return e.peerInfo(p, e.ns(now)), nil
}

// FormatUptime formats a duration as the platform does: 00:01:08,
// 5d 19:25:44, 1w2d 03:04:05.
func FormatUptime(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	w, s := s/(7*86400), s%(7*86400)
	dd, s := s/86400, s%86400
	hms := fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
	switch {
	case w > 0:
		return fmt.Sprintf("%dw%dd %s", w, dd, hms)
	case dd > 0:
		return fmt.Sprintf("%dd %s", dd, hms)
	}
	return hms
}

// RenderPeers formats `show msdp` (and `show msdp peer A`): one line per
// peer, SA Count = accepted/received.
func RenderPeers(w io.Writer, peers []PeerInfo) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("Peer address    Local address   State       Last up/down Peer-Group     SA Count\n")
	for _, p := range peers {
		group := p.Group
		if group == "" && p.Internal {
			group = "(internal)"
		}
		fmt.Fprintf(bw, "%-16s%-16s%-12s%12s %-15s%d/%d\n", p.Address, p.Local, p.State,
			FormatUptime(p.LastUpDown), group, p.SAAccepted, p.SAReceived)
	}
	return bw.Flush()
}

// RenderPeersDetail formats `show msdp detail` and `show msdp peer A
// detail`.
func RenderPeersDetail(w io.Writer, peers []PeerInfo) error {
	bw := bufio.NewWriter(w)
	for i, p := range peers {
		if i > 0 {
			bw.WriteString("\n")
		}
		fmt.Fprintf(bw, "Peer: %s\n", p.Address)
		fmt.Fprintf(bw, "    Local address: %s\n", p.Local)
		fmt.Fprintf(bw, "    State: %s\n", p.State)
		if p.Group != "" {
			kind := "standard"
			if p.MeshGroup {
				kind = "mesh-group"
			}
			fmt.Fprintf(bw, "    Peer-Group: %s (%s)\n", p.Group, kind)
		}
		if p.Internal {
			bw.WriteString("    Group-specific internal peering\n")
		}
		fmt.Fprintf(bw, "    Peer Connect Retries: %d\n", p.ConnectRetries)
		if p.StateTimerExpires >= 0 {
			fmt.Fprintf(bw, "    State timer expires: %d\n", p.StateTimerExpires)
		}
		if p.PeerTimesOut >= 0 {
			fmt.Fprintf(bw, "    Peer Times out: %d\n", p.PeerTimesOut)
		}
		fmt.Fprintf(bw, "    SA accepted: %d\n", p.SAAccepted)
		fmt.Fprintf(bw, "    SA received: %d\n", p.SAReceived)
	}
	return bw.Flush()
}

// LimitInfo is an active-source limit with its exceeded counter.
type LimitInfo struct {
	Exceeded uint64 `json:"exceeded"`
	Limit
}

func renderLimit(bw *bufio.Writer, prefix string, l LimitInfo) {
	fmt.Fprintf(bw, "%s limit exceeded: %d\n", prefix, l.Exceeded)
	fmt.Fprintf(bw, "%s limit maximum: %d\n", prefix, l.Maximum)
	fmt.Fprintf(bw, "%s limit threshold: %d\n", prefix, l.Threshold)
	fmt.Fprintf(bw, "%s limit log-warning: %d\n", prefix, l.LogWarning)
	fmt.Fprintf(bw, "%s limit log interval: %d\n", prefix, int64(l.LogInterval/time.Second))
}

// SAInfo is one SA of `show msdp source-active`.
type SAInfo struct {
	Group      netip.Addr    `json:"group-address"`
	Source     netip.Addr    `json:"source-address"`
	Peer       netip.Addr    `json:"peer-address,omitzero"` // zero for a local source
	Local      bool          `json:"local,omitempty"`
	Originator netip.Addr    `json:"originator"`
	Flags      string        `json:"flags"` // Accept or Reject
	Uptime     time.Duration `json:"uptime"`
	// Expires is the SA-State timer left (0 for local sources).
	Expires time.Duration `json:"expires,omitempty"`
}

// SAFilter selects SAs; zero fields match all.
type SAFilter struct {
	Group      netip.Addr
	Source     netip.Addr
	Originator netip.Addr
	Peer       netip.Addr
	// Local keeps only locally originated sources.
	Local bool
}

// SourceActiveInfo is `show msdp source-active`.
type SourceActiveInfo struct {
	Global LimitInfo `json:"global-active-source-limit"`
	SAs    []SAInfo  `json:"source-active"`
}

// SourceActive returns the SAs matching f, sorted by group then source
// then peer. With a group the cache's group index is used; otherwise it
// walks the whole cache.
func (e *Engine) SourceActive(now time.Time, f SAFilter) SourceActiveInfo {
	t := e.ns(now)
	out := SourceActiveInfo{Global: LimitInfo{Exceeded: e.stats.ActiveSourceExceeded, Limit: e.limit}}
	match := func(s SAInfo) bool {
		return (!f.Group.IsValid() || s.Group == f.Group) && (!f.Source.IsValid() || s.Source == f.Source) &&
			(!f.Originator.IsValid() || s.Originator == f.Originator) && (!f.Peer.IsValid() || s.Peer == f.Peer) &&
			(!f.Local || s.Local)
	}
	for _, l := range e.locals {
		s := SAInfo{Group: l.group, Source: l.source, Local: true, Originator: e.originator(l), Flags: "Accept", Uptime: time.Duration(t - l.created)}
		if match(s) {
			out.SAs = append(out.SAs, s)
		}
	}
	if !f.Local {
		visit := func(i int32) {
			c := e.cache.at(i)
			s := SAInfo{Group: addrOf(c.key.group()), Source: addrOf(c.key.source()), Originator: addrOf(c.rp),
				Flags: "Accept", Uptime: time.Duration(t - c.created), Expires: time.Duration(c.refreshed + int64(e.cfg.SAHoldTime) - t)}
			if c.flags&flagRejected != 0 {
				s.Flags = "Reject"
			}
			if c.peer >= 0 && e.peers[c.peer] != nil {
				s.Peer = e.peers[c.peer].addr
			}
			if match(s) {
				out.SAs = append(out.SAs, s)
			}
		}
		if f.Group.IsValid() {
			if f.Group.Is4() {
				e.cache.group(u32(f.Group), visit)
			}
		} else {
			for i := int32(0); i < e.cache.slots; i++ {
				if e.cache.at(i).flags&flagLive != 0 {
					visit(int32(i))
				}
			}
		}
	}
	slices.SortFunc(out.SAs, func(a, b SAInfo) int {
		return cmp.Or(a.Group.Compare(b.Group), a.Source.Compare(b.Source), a.Peer.Compare(b.Peer))
	})
	return out
}

// RenderSourceActive formats `show msdp source-active`: the global limit,
// then 16-character columns, `local` in the peer column for local
// sources.
func RenderSourceActive(w io.Writer, sa SourceActiveInfo) error {
	bw := bufio.NewWriter(w)
	renderLimit(bw, "Global active source", sa.Global)
	bw.WriteString("\nGroup address   Source address  Peer address    Originator      Flags\n")
	for _, s := range sa.SAs {
		peer := "local"
		if !s.Local {
			peer = s.Peer.String()
		}
		fmt.Fprintf(bw, "%-16s%-16s%-16s%-16s%s\n", s.Group, s.Source, peer, s.Originator, s.Flags)
	}
	return bw.Flush()
}

// StatisticsInfo is `show msdp statistics`.
type StatisticsInfo struct {
	Global LimitInfo      `json:"global-active-source-limit"`
	Totals GlobalStats    `json:"totals"`
	Peers  []PeerStatInfo `json:"peers"`
}

// PeerStatInfo is one peer of `show msdp statistics`.
type PeerStatInfo struct {
	Peer            netip.Addr    `json:"peer"`
	LastStateChange time.Time     `json:"last-state-change"`
	SinceChange     time.Duration `json:"since-last-state-change"`
	LastReceived    time.Time     `json:"last-message-received,omitzero"`
	SinceReceived   time.Duration `json:"since-last-message-received,omitempty"`
	Limit           *LimitInfo    `json:"active-source-limit,omitempty"`
	PeerStats
}

// Statistics returns the counters.
func (e *Engine) Statistics(now time.Time) StatisticsInfo {
	t := e.ns(now)
	out := StatisticsInfo{Global: LimitInfo{Exceeded: e.stats.ActiveSourceExceeded, Limit: e.limit}, Totals: e.stats}
	for _, p := range e.order {
		ps := PeerStatInfo{Peer: p.addr, LastStateChange: e.timeOf(p.since), SinceChange: time.Duration(t - p.since), PeerStats: p.stats}
		if p.lastReceived != 0 {
			ps.LastReceived = e.timeOf(p.lastReceived)
			ps.SinceReceived = time.Duration(t - p.lastReceived)
		}
		if p.limit != nil {
			ps.Limit = &LimitInfo{Exceeded: p.stats.ActiveSourceExceeded, Limit: *p.limit}
		}
		out.Peers = append(out.Peers, ps)
	}
	return out
}

func clock(t time.Time) string { return fmt.Sprintf("%d:%02d:%02d", t.Hour(), t.Minute(), t.Second()) }

// RenderStatistics formats `show msdp statistics`.
func RenderStatistics(w io.Writer, st StatisticsInfo) error {
	bw := bufio.NewWriter(w)
	renderLimit(bw, "Global active source", st.Global)
	for _, p := range st.Peers {
		fmt.Fprintf(bw, "\nPeer: %s\n", p.Peer)
		fmt.Fprintf(bw, "    Last State Change: %s (%s)\n", clock(p.LastStateChange), FormatUptime(p.SinceChange))
		if p.LastReceived.IsZero() {
			bw.WriteString("    Last message received from the peer: never\n")
		} else {
			fmt.Fprintf(bw, "    Last message received from the peer: %s (%s)\n", clock(p.LastReceived), FormatUptime(p.SinceReceived))
		}
		for _, l := range []struct {
			name string
			v    uint64
		}{
			{"RPF Failures", p.RPFFailures}, {"Remote Closes", p.RemoteCloses}, {"Peer Timeouts", p.PeerTimeouts},
			{"SA messages sent", p.SASent}, {"SA messages received", p.SAReceived},
			{"SA request messages sent", p.SARequestSent}, {"SA request messages received", p.SARequestReceived},
			{"SA response messages sent", p.SAResponseSent}, {"SA response messages received", p.SAResponseReceived},
		} {
			fmt.Fprintf(bw, "    %s: %d\n", l.name, l.v)
		}
		fmt.Fprintf(bw, "    Active source exceeded: %d\n", p.ActiveSourceExceeded)
		if p.Limit != nil {
			fmt.Fprintf(bw, "    Active source Maximum: %d\n", p.Limit.Maximum)
			fmt.Fprintf(bw, "    Active source threshold: %d\n", p.Limit.Threshold)
			fmt.Fprintf(bw, "    Active source log-warning: %d\n", p.Limit.LogWarning)
			fmt.Fprintf(bw, "    Active source log interval %d\n", int64(p.Limit.LogInterval/time.Second))
		}
		fmt.Fprintf(bw, "    Keepalive messages sent: %d\n", p.KeepAliveSent)
		fmt.Fprintf(bw, "    Keepalive messages received: %d\n", p.KeepAliveReceived)
		fmt.Fprintf(bw, "    Unknown messages received: %d\n", p.UnknownReceived)
		fmt.Fprintf(bw, "    Error messages received: %d\n", p.ErrorsReceived)
	}
	return bw.Flush()
}

// RouteInfo is one route of table inet.4: an SA as the platform keeps it.
type RouteInfo struct {
	Group      netip.Addr    `json:"group"`
	Source     netip.Addr    `json:"source"`
	Originator netip.Addr    `json:"originator"`
	Peer       netip.Addr    `json:"from,omitzero"` // zero: local
	Local      bool          `json:"local,omitempty"`
	Hidden     bool          `json:"hidden,omitempty"` // rejected by import policy
	Age        time.Duration `json:"age"`
}

// RouteTableInfo is `show route table inet.4`.
type RouteTableInfo struct {
	Destinations int         `json:"destinations"`
	Active       int         `json:"active"`
	Hidden       int         `json:"hidden"`
	Routes       []RouteInfo `json:"routes"`
}

// RouteTable returns table inet.4: every cached SA and local source.
// `show msdp source-active` and this table show the same SAs
// (reference-junos.md §2.6).
func (e *Engine) RouteTable(now time.Time) RouteTableInfo {
	sa := e.SourceActive(now, SAFilter{})
	out := RouteTableInfo{}
	for _, s := range sa.SAs {
		r := RouteInfo{Group: s.Group, Source: s.Source, Originator: s.Originator, Peer: s.Peer, Local: s.Local, Age: s.Uptime, Hidden: s.Flags == "Reject"}
		if r.Hidden {
			out.Hidden++
		} else {
			out.Active++
		}
		out.Routes = append(out.Routes, r)
	}
	out.Destinations = len(out.Routes)
	return out
}

// RenderRouteTable formats `show route table inet.4` in the layout of
// table inet.1 (reference-junos.md §2.7): routes are `G, S/32` with
// protocol MSDP and preference 175, the peer they came from or Local.
// Hidden (policy-rejected) routes are counted, not listed. The exact
// inet.4 layout is not in the public sources: this is [INFERENCE].
func RenderRouteTable(w io.Writer, rt RouteTableInfo) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "inet.4: %d destinations, %d routes (%d active, 0 holddown, %d hidden)\n",
		rt.Destinations, rt.Destinations, rt.Active, rt.Hidden)
	bw.WriteString("+ = Active Route, - = Last Active, * = Both\n\n")
	for _, r := range rt.Routes {
		if r.Hidden {
			continue
		}
		fmt.Fprintf(bw, "%-19s*[MSDP/175/1] %s\n", fmt.Sprintf("%s, %s/32", r.Group, r.Source), FormatUptime(r.Age))
		if r.Local {
			fmt.Fprintf(bw, "                      Local, Originator %s\n", r.Originator)
		} else {
			fmt.Fprintf(bw, "                      from %s, Originator %s\n", r.Peer, r.Originator)
		}
	}
	return bw.Flush()
}
