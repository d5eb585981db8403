package msdp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// State is a peer's connection state (RFC 3618 §11).
type State uint8

// Peer states.
const (
	StateDisabled State = iota
	StateInactive
	StateListen
	StateConnecting
	StateEstablished
)

func (s State) String() string {
	switch s {
	case StateDisabled:
		return "Disabled"
	case StateInactive:
		return "Inactive"
	case StateListen:
		return "Listen"
	case StateConnecting:
		return "Connecting"
	case StateEstablished:
		return "Established"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText renders the state by name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PeerStats are one peer's counters (`show msdp statistics`).
type PeerStats struct {
	RPFFailures          uint64 `json:"rpf-failures"`
	RemoteCloses         uint64 `json:"remote-closes"`
	PeerTimeouts         uint64 `json:"peer-timeouts"`
	SASent               uint64 `json:"sa-messages-sent"`
	SAReceived           uint64 `json:"sa-messages-received"`
	SARequestSent        uint64 `json:"sa-request-messages-sent"`
	SARequestReceived    uint64 `json:"sa-request-messages-received"`
	SAResponseSent       uint64 `json:"sa-response-messages-sent"`
	SAResponseReceived   uint64 `json:"sa-response-messages-received"`
	ActiveSourceExceeded uint64 `json:"active-source-exceeded"`
	KeepAliveSent        uint64 `json:"keepalive-messages-sent"`
	KeepAliveReceived    uint64 `json:"keepalive-messages-received"`
	UnknownReceived      uint64 `json:"unknown-messages-received"`
	// ErrorsReceived counts TLV format errors (each reset the session).
	ErrorsReceived    uint64 `json:"error-messages-received"`
	SAEntriesReceived uint64 `json:"sa-entries-received"`
	SAEntriesSent     uint64 `json:"sa-entries-sent"`
	PolicyRejected    uint64 `json:"sa-entries-rejected-by-policy"`
	// BadEntries counts entries with a non-multicast group or a
	// non-unicast source: ignored, the session kept.
	BadEntries uint64 `json:"sa-entries-invalid"`
	// OwnSAs counts SAs whose RP is this router's (looped back).
	OwnSAs uint64 `json:"sa-messages-own"`
	// DataPackets counts encapsulated data packets received.
	DataPackets uint64 `json:"data-packets-received"`
}

// inputKind is what happens to a peer's connection state machine.
type inputKind uint8

const (
	inStart        inputKind = iota // E1, with E2/E3 (address comparison)
	inStop                          // E7
	inConnUp                        // E4 (active) / E5 (passive)
	inConnDown                      // E10
	inDialFailed                    // active open failed
	inConnectRetry                  // E6
	inHoldExpired                   // E8
	inFormatError                   // E9
)

func (k inputKind) String() string {
	return [...]string{"start", "stop", "connection up", "connection down", "connect failed",
		"connect-retry timer expired", "hold timer expired", "TLV format error"}[k]
}

// input is one input of a peer's state machine.
type input struct {
	kind    inputKind
	conn    ConnID
	active  bool
	adopted bool
	remote  bool
	reason  string
}

// peer is one MSDP peer: configured, or a dynamic internal peering of
// seed 001's group-specific peering.
type peer struct {
	idx   int32
	addr  netip.Addr
	local netip.Addr
	cfg   PeerConfig
	key   string
	group string // group name ("" none)
	mesh  string // mesh-group name ("" none)

	importChain, exportChain []*Policy
	limit                    *Limit

	// internal marks a seed 001 internal peering (dynamic, not from the
	// peer list): at a server the peer is an elected RP, at an RP it is
	// the server.
	internal bool
	// active: this side opens the connection (RFC 3618 §11: the lower
	// address; for internal peerings the RP).
	active bool

	state State
	conn  ConnID
	since int64 // last state change

	connectRetryAt int64 // 0 when not running
	lastHeard      int64
	lastSent       int64
	lastReceived   int64 // for `Last message received from the peer`
	retries        int
	everUp         bool

	dump dumpState

	stats      PeerStats
	saCount    int // SAs cached from this peer
	saAccepted int // of which accepted by the import policy
	limitLogAt int64
	logs       logLimiter // state changes
	errLogs    logLimiter // errors the peer causes
}

// dumpState paces the whole-cache advertisement to a peer that has just
// come up (RFC 3618 §5.2 SHOULD): one chunk per Drained event.
type dumpState struct {
	active     bool
	response   bool // answering an all-groups SA-Request
	localsDone bool
	cursor     int32
}

func (e *Engine) ns(t time.Time) int64      { return int64(t.Sub(e.t0)) }
func (e *Engine) timeOf(ns int64) time.Time { return e.t0.Add(time.Duration(ns)) }

// setState moves p to s and says why.
func (e *Engine) setState(p *peer, s State, now int64, reason string) {
	if p.state == s {
		return
	}
	if p.state == StateEstablished || s == StateEstablished {
		e.clearRPF() // R13: only established peers are eligible
	}
	if p.logs.allow(now) {
		e.log.Info("msdp peer state change", "peer", p.addr, "from", p.state, "to", s, "reason", reason)
	}
	p.state = s
	p.since = now
}

// peerInput runs p's state machine: one function per state.
func (e *Engine) peerInput(p *peer, in input, now int64, out []Action) []Action {
	switch p.state {
	case StateDisabled:
		return e.inDisabled(p, in, now, out)
	case StateInactive:
		return e.inInactive(p, in, now, out)
	case StateListen:
		return e.inListen(p, in, now, out)
	case StateConnecting:
		return e.inConnecting(p, in, now, out)
	case StateEstablished:
		return e.inEstablished(p, in, now, out)
	}
	return out
}

func (e *Engine) inDisabled(p *peer, in input, now int64, out []Action) []Action {
	switch in.kind {
	case inStart:
		// A1: allocate resources, compare addresses (E2/E3).
		e.setState(p, StateInactive, now, "peering enabled")
		return e.inInactive(p, in, now, out)
	case inConnUp:
		if in.adopted && !p.cfg.Disable {
			// Non-stop routing: a standby engine (not started) adopts a
			// session that is already up.
			return e.establish(p, in, now, "adopted session", out)
		}
		return append(out, Close{Peer: p.addr, Conn: in.conn, Reason: "peer disabled"})
	}
	return out
}

func (e *Engine) inInactive(p *peer, in input, now int64, out []Action) []Action {
	switch in.kind {
	case inStart:
		if p.active {
			// E2 / A2: TCP active open, start ConnectRetry.
			e.setState(p, StateConnecting, now, fmt.Sprintf("local %v is the lower address: connect", p.local))
			p.connectRetryAt = now + int64(e.cfg.ConnectRetry)
			return append(out, Connect{Peer: p.addr, Local: p.local, Key: p.key})
		}
		// E3 / A3: TCP passive open.
		e.setState(p, StateListen, now, fmt.Sprintf("local %v is the higher address: listen", p.local))
		return append(out, Listen{Peer: p.addr, Local: p.local, Key: p.key})
	case inStop:
		e.setState(p, StateDisabled, now, in.reason)
	case inConnUp:
		return append(out, Close{Peer: p.addr, Conn: in.conn, Reason: "peer inactive"})
	}
	return out
}

func (e *Engine) inListen(p *peer, in input, now int64, out []Action) []Action {
	switch in.kind {
	case inConnUp:
		if in.active {
			return append(out, Close{Peer: p.addr, Conn: in.conn, Reason: "active connection while listening"})
		}
		// E5 / A5.
		return e.establish(p, in, now, "passive open", out)
	case inStop:
		// E7 / A7.
		out = append(out, StopListen{Peer: p.addr})
		e.setState(p, StateDisabled, now, in.reason)
	}
	return out
}

func (e *Engine) inConnecting(p *peer, in input, now int64, out []Action) []Action {
	switch in.kind {
	case inConnUp:
		if !in.active {
			return append(out, Close{Peer: p.addr, Conn: in.conn, Reason: "passive connection while connecting"})
		}
		// E4 / A4.
		p.connectRetryAt = 0
		return e.establish(p, in, now, "active open", out)
	case inConnectRetry:
		// E6 / A9: abort the attempt, try again, restart the timer.
		p.retries++
		p.connectRetryAt = now + int64(e.cfg.ConnectRetry)
		return append(out, Connect{Peer: p.addr, Local: p.local, Key: p.key})
	case inDialFailed:
		// Wait for the ConnectRetry timer (A2 already set it).
		if p.errLogs.allow(now) {
			e.log.Debug("msdp connect failed", "peer", p.addr, "reason", in.reason, "retry-in", time.Duration(p.connectRetryAt-now))
		}
	case inStop:
		// E7 / A6.
		p.connectRetryAt = 0
		out = append(out, StopConnect{Peer: p.addr})
		e.setState(p, StateDisabled, now, in.reason)
	}
	return out
}

func (e *Engine) inEstablished(p *peer, in input, now int64, out []Action) []Action {
	switch in.kind {
	case inConnUp:
		if in.conn != p.conn {
			return append(out, Close{Peer: p.addr, Conn: in.conn, Reason: "session already established"})
		}
	case inStop:
		// E7 / A8.
		out = e.leaveEstablished(p, now, in.reason, out)
		if !p.active {
			out = append(out, StopListen{Peer: p.addr})
		}
		e.setState(p, StateDisabled, now, in.reason)
	case inHoldExpired, inFormatError, inConnDown:
		// E8, E9, E10 / A8: close, back to StateInactive, and (the peering
		// still being enabled) start again at once.
		if in.conn != 0 && in.conn != p.conn {
			return out
		}
		switch in.kind {
		case inHoldExpired:
			p.stats.PeerTimeouts++
		case inFormatError:
			p.stats.ErrorsReceived++
		case inConnDown:
			if in.remote {
				p.stats.RemoteCloses++
			}
		}
		out = e.leaveEstablished(p, now, in.reason, out)
		e.setState(p, StateInactive, now, in.reason)
		if p.active {
			return e.inInactive(p, input{kind: inStart}, now, out)
		}
		// Still registered with the transport as listening.
		e.setState(p, StateListen, now, "wait for the peer to connect again")
	}
	return out
}

// establish is A4/A5: send a KeepAlive, start the KeepAlive and Hold
// timers, and advertise the cache to the new peer.
func (e *Engine) establish(p *peer, in input, now int64, how string, out []Action) []Action {
	p.conn = in.conn
	p.lastHeard, p.lastReceived = now, 0
	e.setState(p, StateEstablished, now, how)
	p.everUp = true
	if in.adopted {
		// Non-stop routing: the session goes on; the KeepAlive timer
		// starts as if one had just been sent.
		p.lastSent = now
		return out
	}
	out = e.sendKeepAlive(p, now, out)
	p.dump = dumpState{active: true}
	out = e.dumpStep(p, now, out)
	out = e.gspPeerUp(p, now, out)
	return out
}

// leaveEstablished is A8: close the connection and stop the timers. The
// SAs learnt from the peer stay until their state timers expire (soft
// state; `clear msdp peer` removes them).
func (e *Engine) leaveEstablished(p *peer, now int64, reason string, out []Action) []Action {
	out = append(out, Close{Peer: p.addr, Conn: p.conn, Reason: reason})
	p.conn = 0
	p.dump = dumpState{}
	return out
}

func (e *Engine) sendKeepAlive(p *peer, now int64, out []Action) []Action {
	p.lastSent = now
	p.stats.KeepAliveSent++
	return append(out, Send{Peer: p.addr, Conn: p.conn, Data: msdpmsg.KeepAliveBytes, KeepAlive: true})
}

// send queues data on an established peer; any message restarts the
// KeepAlive timer (RFC 3618 §5.5).
func (e *Engine) send(p *peer, data []byte, now int64, out []Action) []Action {
	p.lastSent = now
	return append(out, Send{Peer: p.addr, Conn: p.conn, Data: data})
}

// peerTimers runs p's due timers.
func (e *Engine) peerTimers(p *peer, now int64, out []Action) []Action {
	switch p.state {
	case StateConnecting:
		if p.connectRetryAt != 0 && now >= p.connectRetryAt {
			out = e.peerInput(p, input{kind: inConnectRetry}, now, out)
		}
	case StateEstablished:
		if now >= p.lastHeard+int64(e.cfg.HoldTime) {
			reason := fmt.Sprintf("hold timer expired: nothing received for %v", time.Duration(now-p.lastHeard).Round(time.Millisecond))
			return e.peerInput(p, input{kind: inHoldExpired, reason: reason}, now, out)
		}
		if now >= p.lastSent+int64(e.cfg.KeepAlive) {
			out = e.sendKeepAlive(p, now, out)
		}
	}
	return out
}

// peerDeadline is p's earliest timer, 0 if none.
func (e *Engine) peerDeadline(p *peer) int64 {
	switch p.state {
	case StateConnecting:
		return p.connectRetryAt
	case StateEstablished:
		return min(p.lastHeard+int64(e.cfg.HoldTime), p.lastSent+int64(e.cfg.KeepAlive))
	}
	return 0
}

// logLimiter lets a peer-controlled log line through 10 times in a burst
// and then once a second, so that a peer cannot flood the log.
type logLimiter struct {
	started bool
	tokens  float64
	last    int64
}

func (l *logLimiter) allow(now int64) bool {
	const burst, per = 10.0, float64(time.Second)
	if !l.started {
		l.started, l.tokens = true, burst
	} else {
		l.tokens = min(burst, l.tokens+float64(now-l.last)/per)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}
