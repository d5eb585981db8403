package msdp

import (
	"net/netip"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// ConnID names one TCP connection of a peer. The transport assigns it
// (never 0) and every event about the connection carries it, so that the
// engine ignores news about a connection it has already closed.
type ConnID uint64

// Event is one input of the Engine (Engine.Handle). The transport
// produces ConnUp, ConnDown, DialFailed, Received, Alive and Drained;
// PIM produces LocalSourceEvent, StarGEvent and RPSetEvent; the RIB
// RIBChanged.
type Event interface{ isEvent() }

// ConnUp: a TCP connection with Peer is established (RFC 3618 §11 E4
// when Active, E5 when passive). Adopted marks a connection taken over
// from another routing engine mid-stream (non-stop routing): the session
// continues, no new KeepAlive is owed.
type ConnUp struct {
	Peer    netip.Addr
	Local   netip.Addr
	Conn    ConnID
	Active  bool
	Adopted bool
}

// ConnDown: the connection is gone (E10): closed by the peer (Remote),
// reset, or failed in the transport (for instance a peer that did not
// read for a hold time).
type ConnDown struct {
	Peer   netip.Addr
	Conn   ConnID
	Remote bool
	Reason string
}

// DialFailed: an active open attempt failed; the engine retries when the
// ConnectRetry timer expires.
type DialFailed struct {
	Peer netip.Addr
	Err  error
}

// Received carries the TLVs decoded from one read of the peer's stream,
// read at At. Err, if set, is the decoder's TLV format error that stopped
// the stream after Msgs (RFC 3618 §13: reset the session).
type Received struct {
	Peer netip.Addr
	Conn ConnID
	At   time.Time
	Msgs []msdpmsg.Message
	Err  error
}

// Alive says that at At whole TLVs arrived from the peer that are still
// queued behind other work. It travels on the transport's priority path
// so that a long queue of SAs cannot make the hold timer expire
// (RFC 3618 §5.4: the timer restarts on receipt of any message).
type Alive struct {
	Peer netip.Addr
	Conn ConnID
	At   time.Time
}

// Drained: every Send with WantDrained of the connection has been
// written to the socket; the engine continues a paced cache dump.
type Drained struct {
	Peer netip.Addr
	Conn ConnID
}

// LocalSourceEvent comes from PIM: source Source of group Group became
// active at this router as RP RP (it registered here, or is directly
// connected and this router is both DR and RP), or (Active false) it is
// no longer. RFC 3618 §3, §6: only such sources are originated.
type LocalSourceEvent struct {
	Source, Group, RP netip.Addr
	Active            bool
}

// StarGEvent comes from PIM: (*,G) state with a non-empty outgoing list
// was created (Joined) or removed at this RP.
type StarGEvent struct {
	Group  netip.Addr
	Joined bool
}

// RPSetEntry is one RP of the Bootstrap RP-set for a group range, with
// seed 001's S-bit (the C-RP has external MSDP peerings: an MSDP server).
type RPSetEntry struct {
	Group    netip.Prefix
	RP       netip.Addr
	Priority uint8
	SBit     bool
}

// RPSetEvent is the current Bootstrap RP-set (RFC 7761 §4.7, seed 001
// §3.2), from PIM's BSR state. It replaces the previous one.
type RPSetEvent struct {
	HashMaskLen int
	Entries     []RPSetEntry
}

// RIBChanged: unicast routes changed; peer-RPF results are recomputed.
type RIBChanged struct{}

func (ConnUp) isEvent()           {}
func (ConnDown) isEvent()         {}
func (DialFailed) isEvent()       {}
func (Received) isEvent()         {}
func (Alive) isEvent()            {}
func (Drained) isEvent()          {}
func (LocalSourceEvent) isEvent() {}
func (StarGEvent) isEvent()       {}
func (RPSetEvent) isEvent()       {}
func (RIBChanged) isEvent()       {}

// Action is one output of the Engine. The transport carries out Listen,
// StopListen, Connect, StopConnect, Close and Send; PIM JoinSource,
// SourceGone and DeliverData.
type Action interface{ isAction() }

// Listen: accept connections from Peer on Local:639 (RFC 3618 §11 A3),
// with TCP MD5 key Key if set; refuse them again after StopListen.
type Listen struct {
	Peer, Local netip.Addr
	Key         string
}

// StopListen: refuse connections from Peer again (A7).
type StopListen struct{ Peer netip.Addr }

// Connect: open a connection to Peer:639 from Local (A2, A9); a pending
// attempt to the same peer is abandoned first.
type Connect struct {
	Peer, Local netip.Addr
	Key         string
}

// StopConnect: abandon an active open attempt (A6).
type StopConnect struct{ Peer netip.Addr }

// Close: close connection Conn of Peer (A8).
type Close struct {
	Peer   netip.Addr
	Conn   ConnID
	Reason string
}

// Send: write encoded TLVs to connection Conn. Data is shared between
// the Sends of one flood and must not be modified. KeepAlive marks a
// KeepAlive, which the transport never drops and may send ahead of queued
// data at a TLV boundary. WantDrained asks for a Drained event once Data
// is on the socket (paced cache dumps).
type Send struct {
	Peer        netip.Addr
	Conn        ConnID
	Data        []byte
	KeepAlive   bool
	WantDrained bool
}

// JoinSource asks PIM to join (Source,Group) towards the source: an SA
// arrived for a group with (*,G) state here, or (*,G) was created for a
// group with cached SAs (RFC 3618 §3). PIM decides whether this router is
// the RP for the group.
type JoinSource struct {
	Source, Group, RP netip.Addr
}

// SourceGone tells PIM that the SA behind an earlier JoinSource expired
// or was cleared.
type SourceGone struct {
	Source, Group netip.Addr
}

// DeliverData hands PIM a data packet decapsulated from an SA for a
// group with (*,G) state, to forward as if it came in a Register
// (RFC 3618 §8). Packet is an IPv4 packet from Source to Group.
type DeliverData struct {
	Source, Group netip.Addr
	Packet        []byte
}

func (Listen) isAction()      {}
func (StopListen) isAction()  {}
func (Connect) isAction()     {}
func (StopConnect) isAction() {}
func (Close) isAction()       {}
func (Send) isAction()        {}
func (JoinSource) isAction()  {}
func (SourceGone) isAction()  {}
func (DeliverData) isAction() {}
