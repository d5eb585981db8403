package pim

import (
	"net/netip"
)

// AllPIMRouters is 224.0.0.13, the destination of Hello, Join/Prune, Assert
// and Bootstrap messages (RFC 7761 §4.9).
var AllPIMRouters = netip.AddrFrom4([4]byte{224, 0, 0, 13})

// Action is an output of the engine: a message to send or a contribution to
// the kernel's forwarding state. The engine never performs I/O; the lead
// executes actions in the order they are returned.
type Action interface{ isAction() }

// SendHello: send a Hello on If (to ALL-PIM-ROUTERS, from the interface's
// address).
type SendHello struct {
	If  IfIndex `json:"if"`
	Msg Hello   `json:"msg"`
}

// SendJoinPrune: send a Join/Prune on If to ALL-PIM-ROUTERS; the upstream
// neighbour is in the message.
type SendJoinPrune struct {
	If  IfIndex   `json:"if"`
	Msg JoinPrune `json:"msg"`
}

// SendAssert: send an Assert on If to ALL-PIM-ROUTERS. Metric.Addr is our
// address on If.
type SendAssert struct {
	If  IfIndex `json:"if"`
	Msg Assert  `json:"msg"`
}

// SendRegister: unicast a Null-Register (§4.4.1 probe) from Src to the RP
// Dst. Data Registers are sent by the data plane (Route.Register).
type SendRegister struct {
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Msg Register   `json:"msg"`
}

// SendRegisterStop: unicast a Register-Stop from Src (the RP address the
// Register was sent to) to Dst (the DR).
type SendRegisterStop struct {
	Src netip.Addr   `json:"src"`
	Dst netip.Addr   `json:"dst"`
	Msg RegisterStop `json:"msg"`
}

// SendBootstrap: send a Bootstrap message on If to Dst (ALL-PIM-ROUTERS, or
// a new neighbour for a unicast BSM with the No-Forward bit).
type SendBootstrap struct {
	If  IfIndex    `json:"if"`
	Dst netip.Addr `json:"dst"`
	Msg Bootstrap  `json:"msg"`
}

// SendCRPAdv: unicast a Candidate-RP-Advertisement from Src to the BSR Dst.
type SendCRPAdv struct {
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Msg CRPAdv     `json:"msg"`
}

// Route is PIM's contribution to the kernel's forwarding entry for an (S,G)
// or, with an invalid Source, for (*,G). It REPLACES PIM's previous
// contribution for the same key; the kernel merges the contributions of its
// owners (PIM, IGMP, static).
//
// Accepting: the kernel accepts packets arriving on IIF. During a graceful
// RPF change (issue #16) IIF stays the previous RPF interface and
// GracefulNew names the new one: packets on GracefulNew must NOT be
// forwarded but must raise WrongInterface events (rate-limited per (S,G)),
// which is how the engine learns that traffic arrives on the new path and
// switches IIF. The same WrongInterface events on the RPF interface towards
// the source drive the SPT switchover at a last-hop router (IIF is
// RPF_interface(RP(G)) until the SPT bit is set), so the kernel must raise
// them for every (S,G) entry.
//
// Forwarding: OIL are the outgoing interfaces (never IIF). Register: the
// DR's register tunnel (the `pe-` interface) is in the OIL; data packets
// are encapsulated to RegisterRP. Decap: this is the RP and Registers for
// (S,G) are decapsulated (the `pd-` interface) and forwarded to OIL as if
// they had arrived on IIF.
//
// An (S,G) Route with an empty OIL and no Register is a prune: the kernel
// installs a discard entry. A (*,G) Route is the template for every source of
// G without its own (S,G) Route: IIF = RPF_interface(RP(G)), OIL =
// inherited_olist for a source with no (S,G) state.
type Route struct {
	Source      netip.Addr `json:"source,omitzero"`
	Group       netip.Addr `json:"group"`
	IIF         IfIndex    `json:"iif,omitempty"`
	GracefulNew IfIndex    `json:"graceful_new,omitempty"`
	OIL         []IfIndex  `json:"oil,omitempty"`
	Register    bool       `json:"register,omitempty"`
	RegisterRP  netip.Addr `json:"register_rp,omitzero"`
	Decap       bool       `json:"decap,omitempty"`
}

// RouteDelete: PIM has no contribution for (Source, Group) any more.
type RouteDelete struct {
	Source netip.Addr `json:"source,omitzero"`
	Group  netip.Addr `json:"group"`
}

// RPSetChanged: the RP-set changed (RP(G) may have changed for some groups,
// or the MSDP server, seed 001). Informational, for MSDP and the CLI.
type RPSetChanged struct{}

func (SendHello) isAction()        {}
func (SendJoinPrune) isAction()    {}
func (SendAssert) isAction()       {}
func (SendRegister) isAction()     {}
func (SendRegisterStop) isAction() {}
func (SendBootstrap) isAction()    {}
func (SendCRPAdv) isAction()       {}
func (Route) isAction()            {}
func (RouteDelete) isAction()      {}
func (RPSetChanged) isAction()     {}
