package pim

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// The message types below mirror what the wire codec (re/pim/pimmsg)
// decodes, without its encodings: plain values the state machines consume
// and produce. The lead maps them to and from the codec.

// Hello is a PIM Hello (RFC 7761 §4.9.2) with the options the state machines
// use.
type Hello struct {
	// Holdtime in seconds (option 1): 0 is a goodbye, 0xffff never expires.
	Holdtime uint16 `json:"holdtime"`
	// DRPriority (option 19), present when HasDRPriority.
	HasDRPriority bool   `json:"has_dr_priority,omitempty"`
	DRPriority    uint32 `json:"dr_priority,omitempty"`
	// GenID (option 20), present when HasGenID.
	HasGenID bool   `json:"has_gen_id,omitempty"`
	GenID    uint32 `json:"gen_id,omitempty"`
	// LAN Prune Delay (option 2), present when HasLANPruneDelay: the T
	// (join suppression disabled / tracking) bit, propagation delay and
	// override interval in milliseconds.
	HasLANPruneDelay bool   `json:"has_lan_prune_delay,omitempty"`
	TBit             bool   `json:"t_bit,omitempty"`
	PropagationDelay uint16 `json:"propagation_delay_ms,omitempty"`
	OverrideInterval uint16 `json:"override_interval_ms,omitempty"`
	// Addresses: the secondary address list (option 24).
	Addresses []netip.Addr `json:"addresses,omitempty"`
}

// JPSource is one joined or pruned source of a Join/Prune group set with the
// Encoded-Source flags (RFC 7761 §4.9.5): a (*,G) entry is the RP address
// with WC and RPT set, an (S,G,rpt) entry has RPT only, an (S,G) neither.
type JPSource struct {
	Addr netip.Addr `json:"addr"`
	WC   bool       `json:"wc,omitempty"`
	RPT  bool       `json:"rpt,omitempty"`
}

// JPGroup is one group set of a Join/Prune message.
type JPGroup struct {
	Group  netip.Addr `json:"group"`
	Joins  []JPSource `json:"joins,omitempty"`
	Prunes []JPSource `json:"prunes,omitempty"`
}

// JoinPrune is a Join/Prune message (RFC 7761 §4.9.5).
type JoinPrune struct {
	UpstreamNeighbor netip.Addr `json:"upstream_neighbor"`
	Holdtime         uint16     `json:"holdtime"`
	Groups           []JPGroup  `json:"groups,omitempty"`
}

// Assert is an Assert message (§4.9.6). Source is the unspecified address
// for an Assert(*,G) (AssertCancel(*,G)); Metric.Addr is ignored on receipt
// (the sender's address is the message's source).
type Assert struct {
	Group  netip.Addr   `json:"group"`
	Source netip.Addr   `json:"source"`
	Metric AssertMetric `json:"metric"`
}

// Register is what matters of a Register (§4.9.3) to the state machines:
// the inner packet's (S,G) and the Null-Register and Border bits. Data
// registers are encapsulated and decapsulated by the data plane; the engine
// decides, the packets never pass through it.
type Register struct {
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
	Null   bool       `json:"null,omitempty"`
	Border bool       `json:"border,omitempty"`
}

// RegisterStop is a Register-Stop (§4.9.4); an unspecified Source means all
// sources of the group (Register-Stop(*,G), §4.4.1).
type RegisterStop struct {
	Group  netip.Addr `json:"group"`
	Source netip.Addr `json:"source"`
}

// Bootstrap is a Bootstrap message (RFC 5059 §4.1 with seed 001's S-bit).
type Bootstrap = rpset.Bootstrap

// BSMGroup is a group range of a Bootstrap message.
type BSMGroup = rpset.BSMGroup

// BSMRP is an RP of a Bootstrap group range.
type BSMRP = rpset.BSMRP

// CRPAdv is a Candidate-RP-Advertisement (RFC 5059 §4.2 with seed 001's
// S-bit).
type CRPAdv = rpset.CRPAdv

// Event is an input to the engine: a decoded packet, a kernel or RIB
// notification, a membership change. Every event type below implements it;
// Engine.Handle dispatches on the concrete type.
type Event interface{ isEvent() }

// InterfaceUp: the interface is operational with address Addr (the one used
// in Hellos and as "my_ip_address(I)") and the directly connected subnets
// Prefixes (DirectlyConnected(S), §4.1.6). Sending it again with other
// addresses updates them.
type InterfaceUp struct {
	If       IfIndex        `json:"if"`
	Addr     netip.Addr     `json:"addr"`
	Prefixes []netip.Prefix `json:"prefixes,omitempty"`
}

// HelloLost: the Hellos sent on an up interface went nowhere (its line
// card was not connected yet); the engine schedules a triggered Hello,
// within rand(0, Triggered_Hello_Delay) as when PIM starts on an interface
// (§4.3.1), instead of leaving the neighbours to wait a Hello_Period.
type HelloLost struct {
	If IfIndex `json:"if"`
}

// InterfaceDown: the interface went down.
type InterfaceDown struct {
	If IfIndex `json:"if"`
}

// RPFChange: the RIB's answer for Addr changed (a route to a source, an RP
// or the BSR). The engine ignores addresses it does not track.
type RPFChange struct {
	Addr netip.Addr `json:"addr"`
	RPF  RPF        `json:"rpf"`
}

// RIBChange: routes inside Prefix changed; the engine looks the tracked
// addresses in it up again through Options.RPF.
type RIBChange struct {
	Prefix netip.Prefix `json:"prefix"`
}

// NewSource: the first packet of a source (S,G) arrived on If with no
// forwarding entry (the kernel's new-source / resolve event at a DR).
// Equivalent to DataArrival for an (S,G) without state.
type NewSource struct {
	If     IfIndex    `json:"if"`
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
}

// WrongInterface: a packet of (S,G) arrived on If, which is not the
// incoming interface of its forwarding entry (the kernel's WRONGVIF event).
// It drives the SPT switch (Update_SPTbit, §4.2.2), asserts (§4.6: data on
// an outgoing interface) and graceful RPF changes (issue #16).
type WrongInterface struct {
	If     IfIndex    `json:"if"`
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
}

// DataActivity: the kernel saw traffic for (S,G) since the last report (the
// forwarding entry's counters moved). If is the interface it arrived on, or
// 0 for "the entry's incoming interface". Restarts the Keepalive Timer by
// the rules of §4.2.
type DataActivity struct {
	If     IfIndex    `json:"if,omitempty"`
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
}

// MembershipMode says what IGMP/MLD wants on an interface.
type MembershipMode uint8

// Membership modes.
const (
	// MemberNone: no interest (removes the state).
	MemberNone MembershipMode = iota
	// MemberInclude: local_receiver_include(*,G,I) when Source is invalid,
	// local_receiver_include(S,G,I) otherwise (§4.1.6).
	MemberInclude
	// MemberExclude: local_receiver_exclude(S,G,I) (Source must be set).
	MemberExclude
)

// Membership: local membership from IGMP (or a static group) on interface
// If. Each (If, Group, Source) is independent; MemberNone clears it.
type Membership struct {
	If     IfIndex        `json:"if"`
	Group  netip.Addr     `json:"group"`
	Source netip.Addr     `json:"source,omitzero"`
	Mode   MembershipMode `json:"mode"`
}

// RecvHello: a Hello from Src on If.
type RecvHello struct {
	If  IfIndex    `json:"if"`
	Src netip.Addr `json:"src"`
	Msg Hello      `json:"msg"`
}

// RecvJoinPrune: a Join/Prune from Src on If.
type RecvJoinPrune struct {
	If  IfIndex    `json:"if"`
	Src netip.Addr `json:"src"`
	Msg JoinPrune  `json:"msg"`
}

// RecvAssert: an Assert from Src on If.
type RecvAssert struct {
	If  IfIndex    `json:"if"`
	Src netip.Addr `json:"src"`
	Msg Assert     `json:"msg"`
}

// RecvRegister: a Register from Src (the DR) to Dst.
type RecvRegister struct {
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Msg Register   `json:"msg"`
}

// RecvRegisterStop: a Register-Stop from Src (the RP) to Dst.
type RecvRegisterStop struct {
	Src netip.Addr   `json:"src"`
	Dst netip.Addr   `json:"dst"`
	Msg RegisterStop `json:"msg"`
}

// RecvBootstrap: a Bootstrap message from Src on If to Dst (ALL-PIM-ROUTERS
// or, for a unicast BSM, one of our addresses).
type RecvBootstrap struct {
	If  IfIndex    `json:"if"`
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Msg Bootstrap  `json:"msg"`
}

// RecvCRPAdv: a Candidate-RP-Advertisement from Src to Dst.
type RecvCRPAdv struct {
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Msg CRPAdv     `json:"msg"`
}

// GracefulWindow opens or closes the graceful-RPF-change window (issue #16,
// seed 002 §4): while it is open, RPF changes of forwarding entries are
// graceful; closing it completes the pending ones.
type GracefulWindow struct {
	Active bool `json:"active"`
}

// RemoteSource: MSDP learned that Source is active for Group in another
// domain (an SA, RFC 3618 §3). At the RP for Group it starts (or restarts)
// the (S,G) Keepalive Timer, so that JoinDesired(S,G) holds while the
// (*,G) state has receivers and this RP joins the source tree; each SA
// refresh restarts it, and without refreshes it runs out. Elsewhere it is
// ignored.
type RemoteSource struct {
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
}

// ClearJoin is `clear pim join [G]`: drops the downstream join state of the
// matching entries (an invalid Group clears all).
type ClearJoin struct {
	Group netip.Addr `json:"group,omitzero"`
}

func (InterfaceUp) isEvent()      {}
func (InterfaceDown) isEvent()    {}
func (HelloLost) isEvent()        {}
func (RPFChange) isEvent()        {}
func (RIBChange) isEvent()        {}
func (NewSource) isEvent()        {}
func (WrongInterface) isEvent()   {}
func (DataActivity) isEvent()     {}
func (Membership) isEvent()       {}
func (RecvHello) isEvent()        {}
func (RecvJoinPrune) isEvent()    {}
func (RecvAssert) isEvent()       {}
func (RecvRegister) isEvent()     {}
func (RecvRegisterStop) isEvent() {}
func (RecvBootstrap) isEvent()    {}
func (RecvCRPAdv) isEvent()       {}
func (GracefulWindow) isEvent()   {}
func (RemoteSource) isEvent()     {}
func (ClearJoin) isEvent()        {}
