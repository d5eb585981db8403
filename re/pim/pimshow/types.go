package pimshow

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// JoinEntry is one entry of `show pim join [extensive]`.
type JoinEntry struct {
	Group  netip.Addr `json:"group"`
	Source netip.Addr `json:"source,omitzero"` // invalid: (*,G), shown "*"
	RP     netip.Addr `json:"rp,omitzero"`
	// Flags: sparse, spt, rptree, wildcard.
	Flags             []string `json:"flags"`
	UpstreamInterface string   `json:"upstream_interface"`
	UpstreamNeighbor  string   `json:"upstream_neighbor"`
	UpstreamState     string   `json:"upstream_state"`
	// KeepaliveTimeout: seconds left on the Keepalive Timer; nil when not
	// running (printed empty).
	KeepaliveTimeout *int64         `json:"keepalive_timeout,omitempty"`
	Uptime           int64          `json:"uptime"`
	Graceful         *GracefulInfo  `json:"graceful,omitempty"`
	Downstream       []JoinDownIf   `json:"downstream,omitempty"`
	Register         string         `json:"register_state,omitempty"`
	Assert           []JoinAssertIf `json:"asserts,omitempty"`
}

// GracefulInfo shows a pending graceful RPF change.
type GracefulInfo struct {
	OldInterface string `json:"old_interface"`
	OldNeighbor  string `json:"old_neighbor"`
	NewInterface string `json:"new_interface"`
	Since        int64  `json:"since"`
}

// JoinDownIf is a downstream interface of a join entry.
type JoinDownIf struct {
	Interface string        `json:"interface"`
	Neighbors []JoinDownNbr `json:"neighbors"`
}

// JoinDownNbr is one downstream neighbour line: address (ours for local
// members), State Join/Prune, Flags (S sparse, R RP tree, W wildcard),
// Timeout (seconds, -1 Infinity), Uptime, Time since last Join.
type JoinDownNbr struct {
	Addr              netip.Addr `json:"addr"`
	State             string     `json:"state"`
	Flags             string     `json:"flags"`
	Timeout           int64      `json:"timeout"`
	Uptime            int64      `json:"uptime"`
	TimeSinceLastJoin int64      `json:"time_since_last_join"`
}

// JoinAssertIf is the assert state on one interface.
type JoinAssertIf struct {
	Interface string     `json:"interface"`
	State     string     `json:"state"`
	Winner    netip.Addr `json:"winner,omitzero"`
	Timeout   int64      `json:"timeout"`
}

// NeighborInfo is one line of `show pim neighbors` (with the detail).
type NeighborInfo struct {
	Interface string     `json:"interface"`
	Addr      netip.Addr `json:"addr"`
	Local     bool       `json:"local,omitempty"`
	// Options: H holdtime, P DR priority, L LAN prune delay, G generation
	// id, T tracking bit.
	Options          string       `json:"options"`
	Uptime           int64        `json:"uptime"`
	Holdtime         uint16       `json:"holdtime"`
	HoldRemaining    int64        `json:"hold_remaining"`
	DRPriority       uint32       `json:"dr_priority,omitempty"`
	HasDRPriority    bool         `json:"has_dr_priority,omitempty"`
	GenID            uint32       `json:"gen_id,omitempty"`
	HasGenID         bool         `json:"has_gen_id,omitempty"`
	LANPruneDelay    bool         `json:"lan_prune_delay,omitempty"`
	PropagationDelay uint16       `json:"propagation_delay_ms,omitempty"`
	OverrideInterval uint16       `json:"override_interval_ms,omitempty"`
	TBit             bool         `json:"t_bit,omitempty"`
	Secondary        []netip.Addr `json:"secondary,omitempty"`
	SGJoins          int          `json:"sg_join_count"`
	StarGJoins       int          `json:"tsg_join_count"`
	RxJoins          []RxJoin     `json:"rx_joins,omitempty"`
}

// RxJoin is a join received from a neighbour (`show pim neighbors detail`).
type RxJoin struct {
	Group   netip.Addr `json:"group"`
	Source  netip.Addr `json:"source,omitzero"`
	Timeout int64      `json:"timeout"`
}

// InterfaceInfo is one line of `show pim interfaces`.
type InterfaceInfo struct {
	Name              string     `json:"name"`
	Index             uint32     `json:"index"`
	Up                bool       `json:"up"`
	Mode              string     `json:"mode"`
	Version           int        `json:"version"`
	State             string     `json:"state"`
	Neighbors         int        `json:"neighbor_count"`
	SGJoins           int        `json:"sg_join_count"`
	StarJoins         int        `json:"star_g_join_count"`
	DR                netip.Addr `json:"dr_address,omitzero"`
	Addr              netip.Addr `json:"address,omitzero"`
	DRPriority        uint32     `json:"dr_priority"`
	GenID             uint32     `json:"gen_id"`
	HelloInterval     int64      `json:"hello_interval"`
	JoinPruneOverride int64      `json:"jp_override_ms"`
}

// RPInfo is one RP of `show pim rps [extensive]`.
type RPInfo struct {
	Addr         netip.Addr     `json:"address"`
	Type         string         `json:"type"`
	Mode         string         `json:"mode"`
	Holdtime     uint16         `json:"holdtime"`
	Timeout      int64          `json:"timeout"` // -1: None
	Groups       int            `json:"active_groups"`
	Prefixes     []netip.Prefix `json:"group_prefixes"`
	Priority     uint8          `json:"priority"`
	SBit         bool           `json:"msdp_capable,omitempty"`
	Local        bool           `json:"local,omitempty"`
	TimeActive   int64          `json:"time_active"`
	ActiveGroups []netip.Addr   `json:"active_group_list,omitempty"`
	Registers    []RegisterInfo `json:"registers,omitempty"`
}

// RegisterInfo is a register seen at the RP.
type RegisterInfo struct {
	Group    netip.Addr `json:"group"`
	Source   netip.Addr `json:"source"`
	FirstHop netip.Addr `json:"first_hop"`
	State    string     `json:"state"`
	Timeout  int64      `json:"timeout"`
}

// BootstrapInfo is `show pim bootstrap`.
type BootstrapInfo struct {
	BSR           netip.Addr        `json:"bsr,omitzero"`
	BSRPriority   uint8             `json:"bsr_priority"`
	LocalAddress  netip.Addr        `json:"local_address,omitzero"`
	LocalPriority uint8             `json:"local_priority"`
	State         string            `json:"state"`
	Timeout       int64             `json:"timeout"`
	FragmentTag   uint16            `json:"fragment_tag"`
	HashMaskLen   uint8             `json:"hash_mask_len"`
	CRPs          []rpset.Candidate `json:"candidate_rps,omitempty"`
}

// MsgCounters counts PIM messages per type (the rows of `show pim
// statistics`).
type MsgCounters struct {
	Hello        uint64 `json:"hello"`
	Register     uint64 `json:"register"`
	RegisterStop uint64 `json:"register_stop"`
	JoinPrune    uint64 `json:"join_prune"`
	Bootstrap    uint64 `json:"bootstrap"`
	Assert       uint64 `json:"assert"`
	CandidateRP  uint64 `json:"candidate_rp"`
	NullRegister uint64 `json:"null_register"`
}

// Stats are the engine's counters (`show pim statistics`). Names follow the
// modelled platform's "Global Statistics" where one exists.
type Stats struct {
	Rx MsgCounters `json:"rx"`
	Tx MsgCounters `json:"tx"`
	// RxErrors per message type (messages dropped by the state machines;
	// decoding errors are counted by the codec's caller).
	RxErrors MsgCounters `json:"rx_errors"`

	// Neighbour unknown: a Join/Prune or Assert from an address that sent
	// no Hello (RFC 7761 §4.5: SHOULD be discarded).
	NeighborUnknown uint64 `json:"neighbor_unknown"`
	// RxIntfDisabled: a message on an interface where PIM is not enabled
	// or not up.
	RxIntfDisabled uint64 `json:"rx_intf_disabled"`
	// RxBadData: a message whose contents make no sense (our own address
	// as source, a non-multicast group…).
	RxBadData uint64 `json:"rx_bad_data"`
	// RxRegisterNotRP: a Register for a group this router is not the RP
	// of (answered with a Register-Stop).
	RxRegisterNotRP uint64 `json:"rx_register_not_rp"`
	// RxUnknownRegStop: a Register-Stop for an (S,G) with no register state.
	RxUnknownRegStop uint64 `json:"rx_unknown_reg_stop"`
	// RxJPInvalidGroup: a Join/Prune group set for a non-multicast or
	// link-local group.
	RxJPInvalidGroup uint64 `json:"rx_jp_invalid_group"`
	// RxJPNoState: a Prune for state we do not have.
	RxJPNoState uint64 `json:"rx_jp_no_state"`
	// RxJPSparseForSSM: a (*,G) or (S,G,rpt) entry for an SSM group.
	RxJPSparseForSSM uint64 `json:"rx_jp_sparse_for_ssm"`
	// RPMismatch: a Join(*,G) naming another RP than RP(G) (§4.5.1: dropped).
	RPMismatch uint64 `json:"rp_mismatch"`
	// RxCRPNotBSR: a C-RP-Adv received while not the elected BSR.
	RxCRPNotBSR uint64 `json:"rx_crp_not_bsr"`
	// RxBSRNotRPFIf: a BSM that failed the RPF check (RFC 5059 §3.1.3).
	RxBSRNotRPFIf uint64 `json:"rx_bsr_not_rpf_if"`
	// RxBSRWhenBSR: a BSM from another BSR while this router is elected
	// and preferred.
	RxBSRWhenBSR uint64 `json:"rx_bsr_when_bsr"`
	// NoRP: a register or a (*,G) join needed RP(G) and there is none.
	NoRP uint64 `json:"no_rp"`
	// RxDataNoState: data (resolve) for an (S,G) with no PIM state.
	RxDataNoState uint64 `json:"rx_data_no_state"`
	// ResolvePrunes: (S,G) Prunes sent upstream for resolves with no state
	// (seed 003).
	ResolvePrunes uint64 `json:"resolve_prunes"`

	TxJoins  uint64 `json:"tx_joins"`
	TxPrunes uint64 `json:"tx_prunes"`
	RxJoins  uint64 `json:"rx_joins"`
	RxPrunes uint64 `json:"rx_prunes"`

	NeighborsUp       uint64 `json:"neighbors_up"`
	NeighborsDown     uint64 `json:"neighbors_down"`
	NeighborTimeouts  uint64 `json:"neighbor_timeouts"`
	GenIDChanges      uint64 `json:"gen_id_changes"`
	DRChanges         uint64 `json:"dr_changes"`
	JoinTimeouts      uint64 `json:"join_timeouts"`
	KeepaliveTimeouts uint64 `json:"keepalive_timeouts"`
	RPFChanges        uint64 `json:"rpf_changes"`
	SPTSwitches       uint64 `json:"spt_switches"`
	AssertsWon        uint64 `json:"asserts_won"`
	AssertsLost       uint64 `json:"asserts_lost"`
	UnknownEvents     uint64 `json:"unknown_events"`
	// TimerStalls counts calls that gave up firing timers that did not
	// advance (a bug guard; always 0).
	TimerStalls uint64 `json:"timer_stalls"`

	// Graceful RPF change (issue #16).
	GracefulStarted   uint64 `json:"graceful_started"`
	GracefulCompleted uint64 `json:"graceful_completed"`
	GracefulByTraffic uint64 `json:"graceful_by_traffic"`

	// RemoteSources counts MSDP-learned sources acted on at the RP.
	RemoteSources uint64 `json:"remote_sources"`
}

// IfStats are per-interface counters.
type IfStats struct {
	RxJoins  uint64 `json:"rx_joins"`
	RxPrunes uint64 `json:"rx_prunes"`
}
