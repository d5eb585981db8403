package nsr

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

type fsmStep struct {
	at   time.Duration
	ev   event
	want []action
	role Role
	peer PeerState
}

func runFSM(t *testing.T, s fsm, steps []fsmStep) fsm {
	t.Helper()
	for i, st := range steps {
		var acts []action
		s, acts = s.step(st.ev, at(st.at))
		require.Equal(t, st.want, acts, "step %d (%T at %v)", i, st.ev, st.at)
		require.Equal(t, st.role, s.role, "step %d role", i)
		require.Equal(t, st.peer, s.peer, "step %d peer", i)
	}
	return s
}

func TestBackupTakesOverAfterSilence(t *testing.T) {
	s := fsm{takeoverAfter: 2 * time.Second}
	runFSM(t, s, []fsmStep{
		{0, evBecameBackup{}, nil, RoleBackup, PeerSyncing},
		{time.Second, evSyncDone{}, nil, RoleBackup, PeerReady},
		{1500 * time.Millisecond, evPeerSeen{}, nil, RoleBackup, PeerReady},
		{3400 * time.Millisecond, evTick{}, nil, RoleBackup, PeerReady}, // 1.9 s of silence: not yet
		{3500 * time.Millisecond, evTick{}, []action{actTakeover{reason: "no keepalive for 2s"}}, RoleBackup, PeerNone},
		{3600 * time.Millisecond, evTick{}, nil, RoleBackup, PeerNone}, // once
		{3700 * time.Millisecond, evBecameMaster{reason: "takeover"}, nil, RoleMaster, PeerNone},
	})
}

func TestBackupTakesOverWhenTheConnectionEnds(t *testing.T) {
	s := fsm{takeoverAfter: 2 * time.Second}
	s = runFSM(t, s, []fsmStep{
		{0, evBecameBackup{}, nil, RoleBackup, PeerSyncing},
		{time.Second, evPeerDown{reason: "EOF"}, []action{actTakeover{reason: "master connection lost: EOF"}}, RoleBackup, PeerNone},
		{time.Second, evBecameMaster{}, nil, RoleMaster, PeerNone},
	})
	require.Equal(t, 1, s.switchovers)
	require.Equal(t, at(time.Second), s.lastSwitch)
}

func TestMasterDropsASilentBackup(t *testing.T) {
	s := fsm{takeoverAfter: 2 * time.Second}
	runFSM(t, s, []fsmStep{
		{0, evBecameMaster{}, nil, RoleMaster, PeerNone},
		{time.Second, evPeerUp{}, nil, RoleMaster, PeerSyncing},
		{2 * time.Second, evSyncDone{}, nil, RoleMaster, PeerReady},
		{3 * time.Second, evTick{}, []action{actDropPeer{reason: "backup no keepalive for 2s"}}, RoleMaster, PeerNone},
		{4 * time.Second, evPeerDown{reason: "closed"}, nil, RoleMaster, PeerNone}, // a master never "takes over"
	})
}

// Seed 000 §4 I: no planned switchover for 60 s after the sockets were
// replicated; 240 s between switchovers.
func TestPlannedSwitchoverRules(t *testing.T) {
	s := fsm{takeoverAfter: 2 * time.Second}
	refuse := func(r string) []action { return []action{actRefuse{reason: r}} }
	s = runFSM(t, s, []fsmStep{
		{0, evSwitch{}, refuse("this routing engine is not the master"), RoleStarting, PeerNone},
		{0, evBecameMaster{}, nil, RoleMaster, PeerNone},
		{0, evSwitch{}, refuse("no backup routing engine is connected"), RoleMaster, PeerNone},
		{time.Second, evPeerUp{}, nil, RoleMaster, PeerSyncing},
		{time.Second, evSwitch{}, refuse("the backup routing engine is not synchronized"), RoleMaster, PeerSyncing},
		{2 * time.Second, evSyncDone{}, nil, RoleMaster, PeerReady},
		{30 * time.Second, evPeerSeen{}, nil, RoleMaster, PeerReady},
		{30 * time.Second, evSwitch{}, refuse("not allowed for 1m0s after the initial replication of the sockets (32s left)"), RoleMaster, PeerReady},
		{61 * time.Second, evPeerSeen{}, nil, RoleMaster, PeerReady},
		{62 * time.Second, evPeerSeen{}, nil, RoleMaster, PeerReady},
		{62 * time.Second, evSwitch{}, []action{actHandOver{}}, RoleMaster, PeerReady},
	})

	// The new master learns when the last switchover was (from the
	// hand-over) and, once its new backup is in sync, still refuses
	// until 240 s after it.
	n := fsm{takeoverAfter: 2 * time.Second}
	n = runFSM(t, n, []fsmStep{
		{62 * time.Second, evBecameBackup{}, nil, RoleBackup, PeerSyncing},
		{63 * time.Second, evPeerDown{reason: "switchover"}, []action{actTakeover{reason: "master connection lost: switchover"}}, RoleBackup, PeerNone},
		{63 * time.Second, evBecameMaster{}, nil, RoleMaster, PeerNone},
		{70 * time.Second, evPeerUp{}, nil, RoleMaster, PeerSyncing},
		{71 * time.Second, evSyncDone{}, nil, RoleMaster, PeerReady},
	})
	for _, d := range []time.Duration{140, 200, 250} {
		n, _ = n.step(evPeerSeen{}, at(d*time.Second))
	}
	n, acts := n.step(evSwitch{}, at(250*time.Second))
	require.Equal(t, refuse("switchovers must be 4m0s apart (53s left)"), acts)
	n, _ = n.step(evPeerSeen{}, at(303*time.Second))
	_, acts = n.step(evSwitch{}, at(303*time.Second))
	require.Equal(t, []action{actHandOver{}}, acts)
}
