package pim

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
}

// IfStats are per-interface counters.
type IfStats struct {
	RxJoins  uint64 `json:"rx_joins"`
	RxPrunes uint64 `json:"rx_prunes"`
}

// Stats returns a copy of the counters.
func (e *Engine) Stats() Stats { return e.stats }

// ClearStats is `clear pim statistics`.
func (e *Engine) ClearStats() { e.stats = Stats{} }
