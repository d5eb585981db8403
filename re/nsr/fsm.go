package nsr

import (
	"fmt"
	"time"
)

// Role is a routing engine's mastership role.
type Role uint8

// Roles.
const (
	RoleStarting Role = iota // deciding: no master found yet
	RoleMaster
	RoleBackup
)

func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "Master"
	case RoleBackup:
		return "Backup"
	}
	return "Starting"
}

// PeerState is where the pairing with the other routing engine stands.
type PeerState uint8

// Peer states.
const (
	PeerNone    PeerState = iota // no other routing engine connected
	PeerSyncing                  // connected, initial replication running
	PeerReady                    // initial replication done: updates follow as they occur
)

func (p PeerState) String() string {
	switch p {
	case PeerSyncing:
		return "Synchronizing"
	case PeerReady:
		return "Steady State"
	}
	return "Not connected"
}

// The switchover rules (reference-junos §4, seed 000 §4 I).
const (
	// DefaultKeepalive is how often the routing engines exchange
	// keepalives.
	DefaultKeepalive = 200 * time.Millisecond
	// DefaultTakeoverAfter: "If the backup Routing Engine does not
	// receive a keepalive from the master Routing Engine after 2 seconds
	// ... it takes mastership."
	DefaultTakeoverAfter = 2 * time.Second
	// SocketSettle: no planned switchover for 60 s after the initial
	// replication of the sockets, so that the backup has seen one SA
	// refresh (seed 000 §4 I).
	SocketSettle = 60 * time.Second
	// SwitchSpacing: "Successive Routing Engine switchover events must be
	// a minimum of 240 seconds apart."
	SwitchSpacing = 240 * time.Second
	// MinTakeoverAfter is the shortest takeover timeout accepted: ten
	// keepalives, so that one delayed keepalive (a GC pause, a busy
	// machine) never makes a backup seize mastership from a live master.
	MinTakeoverAfter = 10 * DefaultKeepalive / 2
)

// fsm is the pairing state of one routing engine: a pure function of
// (state, event, now) stepped by the Node's goroutine (STYLE: protocol
// code as state machines tested with a fake clock).
type fsm struct {
	role          Role
	peer          PeerState
	takeoverAfter time.Duration
	settle        time.Duration // SocketSettle unless set
	spacing       time.Duration // SwitchSpacing unless set

	peerSeen    time.Time // last keepalive (or any record) from the peer
	syncedAt    time.Time // initial replication (with the sockets) completed
	lastSwitch  time.Time // last switchover of this pair (either direction)
	switchovers int
	syncs       int // initial replications completed
	downReason  string
}

// event is an input of the pairing state machine.
type event interface{ isEvent() }

type (
	evBecameMaster struct{ reason string } // took the mastership lock
	evBecameBackup struct{}                // joined a master as its backup
	evPeerUp       struct{}                // the other RE connected (master: a backup; backup: the master)
	evPeerSeen     struct{}                // a keepalive or any record from the peer
	evPeerDown     struct{ reason string } // the connection ended
	evSyncDone     struct{ lastSwitch time.Time }
	evTick         struct{}
	evSwitch       struct{} // request chassis routing-engine master switch (master)
)

func (evBecameMaster) isEvent() {}
func (evBecameBackup) isEvent() {}
func (evPeerUp) isEvent()       {}
func (evPeerSeen) isEvent()     {}
func (evPeerDown) isEvent()     {}
func (evSyncDone) isEvent()     {}
func (evTick) isEvent()         {}
func (evSwitch) isEvent()       {}

// action is an output of the pairing state machine.
type action interface{ isAction() }

type (
	// actTakeover: a backup whose master is gone or silent takes over.
	actTakeover struct{ reason string }
	// actDropPeer: the peer is silent; end its connection.
	actDropPeer struct{ reason string }
	// actHandOver: a planned switchover may proceed.
	actHandOver struct{}
	// actRefuse: a planned switchover is refused, for reason.
	actRefuse struct{ reason string }
)

func (actTakeover) isAction() {}
func (actDropPeer) isAction() {}
func (actHandOver) isAction() {}
func (actRefuse) isAction()   {}

// step applies ev at now.
func (s fsm) step(ev event, now time.Time) (fsm, []action) {
	switch ev := ev.(type) {
	case evBecameMaster:
		if s.role == RoleBackup {
			s.switchovers++
			s.lastSwitch = now
		}
		s.role, s.peer, s.syncedAt = RoleMaster, PeerNone, time.Time{}
		s.downReason = ev.reason
	case evBecameBackup:
		s.role, s.peer, s.peerSeen = RoleBackup, PeerSyncing, now
		s.syncedAt = time.Time{}
	case evPeerUp:
		s.peer, s.peerSeen, s.syncedAt = PeerSyncing, now, time.Time{}
	case evPeerSeen:
		if s.peer != PeerNone {
			s.peerSeen = now
		}
	case evSyncDone:
		if s.peer == PeerSyncing {
			s.peer, s.syncedAt = PeerReady, now
			s.syncs++
		}
		if ev.lastSwitch.After(s.lastSwitch) {
			s.lastSwitch = ev.lastSwitch
		}
	case evPeerDown:
		wasBackup := s.role == RoleBackup
		s.peer, s.syncedAt, s.downReason = PeerNone, time.Time{}, ev.reason
		if wasBackup {
			return s, []action{actTakeover{reason: "master connection lost: " + ev.reason}}
		}
	case evTick:
		if s.peer == PeerNone || now.Sub(s.peerSeen) < s.takeoverAfter {
			return s, nil
		}
		silent := fmt.Sprintf("no keepalive for %v", now.Sub(s.peerSeen).Round(time.Millisecond))
		if s.role == RoleBackup {
			s.peer = PeerNone
			return s, []action{actTakeover{reason: silent}}
		}
		s.peer, s.syncedAt = PeerNone, time.Time{}
		return s, []action{actDropPeer{reason: "backup " + silent}}
	case evSwitch:
		if r := s.switchRefusal(now); r != "" {
			return s, []action{actRefuse{reason: r}}
		}
		return s, []action{actHandOver{}}
	}
	return s, nil
}

// switchRefusal says why a planned switchover may not happen now ("" when
// it may).
func (s fsm) switchRefusal(now time.Time) string {
	settle, spacing := SocketSettle, SwitchSpacing
	if s.settle > 0 {
		settle = s.settle
	}
	if s.spacing > 0 {
		spacing = s.spacing
	}
	switch {
	case s.role != RoleMaster:
		return "this routing engine is not the master"
	case s.peer == PeerNone:
		return "no backup routing engine is connected"
	case s.peer != PeerReady:
		return "the backup routing engine is not synchronized"
	case now.Sub(s.syncedAt) < settle:
		return fmt.Sprintf("not allowed for %v after the initial replication of the sockets (%v left)",
			settle, (settle - now.Sub(s.syncedAt)).Round(time.Second))
	case !s.lastSwitch.IsZero() && now.Sub(s.lastSwitch) < spacing:
		return fmt.Sprintf("switchovers must be %v apart (%v left)",
			spacing, (spacing - now.Sub(s.lastSwitch)).Round(time.Second))
	}
	return ""
}
