package igmp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

// FilterMode is a group's filter mode (RFC 3376 §3.2, §6.2.1).
type FilterMode uint8

// The filter modes. Include with no sources is "no membership".
const (
	Include FilterMode = 1
	Exclude FilterMode = 2
)

func (m FilterMode) String() string {
	switch m {
	case Include:
		return "include"
	case Exclude:
		return "exclude"
	}
	return fmt.Sprintf("FilterMode(%d)", uint8(m))
}

// Membership is what an interface wants for one group: (*,G) is Exclude
// with no sources; (*,G) except some sources is Exclude with those; (S,G)
// for each source is Include; Include with no sources is nothing.
type Membership struct {
	Group   netip.Addr
	Mode    FilterMode
	Sources []netip.Addr // sorted, no duplicates
}

// Wants reports whether the membership asks for any traffic.
func (m Membership) Wants() bool { return m.Mode == Exclude || len(m.Sources) > 0 }

func (m Membership) equal(o Membership) bool {
	return m.Group == o.Group && m.Mode == o.Mode && slices.Equal(m.Sources, o.Sources)
}

func (m Membership) String() string {
	return fmt.Sprintf("%v %v %v", m.Group, m.Mode, m.Sources)
}

// Action is an output of Step: *SendQuery, *MembershipChanged or
// *QuerierChanged.
type Action interface {
	isAction()
	String() string
}

// SendQuery asks the owner to send Query to Dst on interface Iface (with
// igmpmsg.Packet: TTL 1, Router Alert, from the interface address).
type SendQuery struct {
	Iface hal.IFLIndex
	Dst   netip.Addr
	Query igmpmsg.Query
}

// MembershipChanged says interface Iface now wants Membership for its
// group (the group's previous membership is replaced).
type MembershipChanged struct {
	Iface hal.IFLIndex
	Membership
}

// QuerierChanged says who is the querier on Iface now: this router (Self)
// or another one at Querier.
type QuerierChanged struct {
	Iface   hal.IFLIndex
	Querier netip.Addr
	Self    bool
}

func (*SendQuery) isAction()         {}
func (*MembershipChanged) isAction() {}
func (*QuerierChanged) isAction()    {}

func (a *SendQuery) String() string {
	q := &a.Query
	kind := "general"
	if !q.General() {
		kind = "group " + q.Group.String()
		if len(q.Sources) > 0 {
			kind += fmt.Sprintf(" sources %v", q.Sources)
		}
	}
	s := ""
	if q.SuppressRouterSide {
		s = " S"
	}
	return fmt.Sprintf("ifl %d: send v%d %s query to %v, max resp %v%s", a.Iface, q.Version, kind, a.Dst, q.MaxResp(), s)
}

func (a *MembershipChanged) String() string {
	return fmt.Sprintf("ifl %d: membership %v", a.Iface, a.Membership)
}

func (a *QuerierChanged) String() string {
	if a.Self {
		return fmt.Sprintf("ifl %d: this router (%v) is querier", a.Iface, a.Querier)
	}
	return fmt.Sprintf("ifl %d: querier is %v", a.Iface, a.Querier)
}

// Event is an input of Step: Start, Stop, Received, Tick or SetStatic.
type Event interface {
	isEvent()
	String() string
}

// Start: the interface came up with IGMP enabled. The router starts as
// querier and sends its startup queries (RFC 3376 §6.6.2, §8.6-8.7).
type Start struct{}

// Stop: the interface went down or IGMP was disabled on it; all its
// memberships go away.
type Stop struct{}

// Received: an IGMP message arrived from Src on the interface.
type Received struct {
	Src netip.Addr
	Msg igmpmsg.Message
}

// Tick: time passed; fire the timers due at now.
type Tick struct{}

// SetStatic replaces the static groups of the interface.
type SetStatic struct{ Static []Static }

func (Start) isEvent()     {}
func (Stop) isEvent()      {}
func (Received) isEvent()  {}
func (Tick) isEvent()      {}
func (SetStatic) isEvent() {}

func (Start) String() string       { return "start" }
func (Stop) String() string        { return "stop" }
func (Tick) String() string        { return "tick" }
func (e SetStatic) String() string { return fmt.Sprintf("set static %v", e.Static) }
func (e Received) String() string {
	if e.Msg == nil {
		return fmt.Sprintf("received nothing from %v", e.Src)
	}
	return fmt.Sprintf("received %v from %v", e.Msg.Type(), e.Src)
}

// Stats counts what an interface received and sent, and what it ignored,
// per reason (`show igmp statistics`, `show pim statistics` style).
type Stats struct {
	QueriesSent        uint64
	QueriesReceived    uint64
	OlderQueries       uint64 // queries of an older version than configured (RFC 3376 §7.3.1 asks to log them)
	V1Reports          uint64
	V2Reports          uint64
	V3Reports          uint64
	Leaves             uint64
	IgnoredDown        uint64 // messages while the interface is not started
	IgnoredNotGroup    uint64 // a group that is not routable multicast (non-multicast or 224.0.0.0/24)
	IgnoredSSM         uint64 // any-source requests for an SSM group (RFC 4604 §2.2.4)
	IgnoredV3OnV2      uint64 // IGMPv3 reports on an interface configured for version 2
	IgnoredRecordTypes uint64 // group records of unknown types (RFC 3376 §4.2.12)
	IgnoredCompat      uint64 // BLOCK records and TO_EX sources ignored in v1/v2 compatibility, leaves in v1
}

// GroupState is one group of State, for `show igmp group`.
type GroupState struct {
	Group        netip.Addr
	Mode         FilterMode // dynamic filter mode (Include when only static)
	Expires      time.Time  // group timer, EXCLUDE mode; zero otherwise
	Sources      []SourceState
	Compat       uint8 // host compatibility mode: 1, 2 or 3
	LastReporter netip.Addr
	Static       bool
	Membership   Membership // the merged output
}

// SourceState is one source of a group.
type SourceState struct {
	Addr    netip.Addr
	Expires time.Time // zero: excluded (EXCLUDE mode, timer 0)
}

// InterfaceState is a snapshot of an Interface, for `show igmp interface`.
type InterfaceState struct {
	Iface             hal.IFLIndex
	Address           netip.Addr
	Version           uint8
	Up                bool
	Querier           netip.Addr
	Self              bool      // this router is the querier
	OtherQuerierUntil time.Time // other-querier-present timer (non-querier)
	NextGeneralQuery  time.Time // querier
	StartupLeft       int
	Robustness        int
	QueryInterval     time.Duration
	Groups            []GroupState
	Stats             Stats
}
