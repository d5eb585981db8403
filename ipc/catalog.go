package ipc

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrMalformed is wrapped by every error about bytes read from outside:
	// frames, message bodies, hex dumps.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownType is wrapped when a type/subtype pair is not in the
	// catalog (by New, and together with ErrMalformed by the decoders).
	ErrUnknownType = errors.New("unknown message type")
	// ErrInvalidMessage is wrapped by encode errors: a message whose fields
	// cannot be represented on the wire (a 300-byte name, an IPv6 group, a
	// body over 65535 bytes).
	ErrInvalidMessage = errors.New("invalid message")
)

// Type is the message type (the first u16 of a message header).
type Type uint16

// Message types.
const (
	TypeTNP     Type = 1  // control: register, keepalive, resync
	TypeIFL     Type = 2  // logical interfaces
	TypeConfig  Type = 3  // settings pushed by the RE
	TypeNextHop Type = 6  // next hops and the resolve-addr-request
	TypeRoute   Type = 7  // routes
	TypeStats   Type = 8  // counters from the FPC
	TypePacket  Type = 9  // punted and injected control packets
	TypeTrap    Type = 10 // host-path traps
)

// String returns the name printed in captures, e.g. "next-hop".
func (t Type) String() string {
	switch t {
	case TypeTNP:
		return "tnp"
	case TypeIFL:
		return "ifl"
	case TypeConfig:
		return "config"
	case TypeNextHop:
		return "next-hop"
	case TypeRoute:
		return "route"
	case TypeStats:
		return "stats"
	case TypePacket:
		return "packet"
	case TypeTrap:
		return "trap"
	}
	return fmt.Sprintf("type-%d", uint16(t))
}

// Subtype is the message subtype; its meaning depends on the Type.
type Subtype uint16

// Subtypes of TypeTNP.
const (
	SubRegister    Subtype = 1
	SubRegisterAck Subtype = 2
	SubKeepalive   Subtype = 3
	SubResyncBegin Subtype = 4
	SubResyncEnd   Subtype = 5
	// Authentication of the registration (auth.go).
	SubAuthChallenge Subtype = 6
	SubAuthResponse  Subtype = 7
	SubAuthConfirm   Subtype = 8
)

// Subtypes of the download types TypeIFL, TypeNextHop and TypeRoute, and of
// TypeConfig.
const (
	SubAdd    Subtype = 1
	SubChange Subtype = 2
	SubDelete Subtype = 3
	SubSet    Subtype = 1 // config/set

	// SubResolveAddrRequest is next-hop/resolve addr request (seed 003).
	SubResolveAddrRequest Subtype = 14
)

// Subtypes of TypeStats.
const (
	SubRouteHits   Subtype = 1
	SubWrongIIF    Subtype = 2
	SubIFLCounters Subtype = 3
	SubLinkState   Subtype = 4
	SubApplyError  Subtype = 5
)

// Subtypes of TypePacket.
const (
	SubPunt   Subtype = 1
	SubInject Subtype = 2
)

// String returns the name of a subtype without knowing its type: the
// download names ("add", "change", "delete") for 1..3 and "resolve addr
// request" for 14. Use SubtypeName for the exact name of a (type, subtype)
// pair, e.g. "register" for tnp/1.
func (s Subtype) String() string {
	switch s {
	case SubAdd:
		return "add"
	case SubChange:
		return "change"
	case SubDelete:
		return "delete"
	case SubResolveAddrRequest:
		return "resolve addr request"
	}
	return fmt.Sprintf("subtype-%d", uint16(s))
}

// SubtypeName returns the name of subtype s of type t as printed in
// captures ("resolve addr request", "register ack", "route hits"), or
// "subtype-N" if the pair is not in the catalog.
func SubtypeName(t Type, s Subtype) string {
	if e := lookup(t, s); e != nil {
		return e.name
	}
	return fmt.Sprintf("subtype-%d", uint16(s))
}

// Opcodes.
const (
	OpcodeRequest uint16 = 1 // request or notification (the default)
	OpcodeReply   uint16 = 2 // reply (register ack, keepalive reply)
)

// Header is the fixed 8-byte message header.
type Header struct {
	Type    Type
	Subtype Subtype
	Length  uint16 // body bytes; filled in by the encoder
	Opcode  uint16
}

// String prints the header as the capture in seed 003 does:
// "type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1".
func (h Header) String() string {
	return fmt.Sprintf("type: %s(%d), subtype: %s(%d), length: %d, opcode: %d",
		h.Type, uint16(h.Type), SubtypeName(h.Type, h.Subtype), uint16(h.Subtype), h.Length, h.Opcode)
}

// Message is one IPC message. The concrete types in this package use
// pointer receivers.
type Message interface {
	// Header returns type, subtype and opcode; Length is left zero (the
	// encoder fills it in).
	Header() Header
	// AppendBody appends the body in wire format to b. On error the
	// returned slice must be ignored; the error wraps ErrInvalidMessage.
	AppendBody(b []byte) ([]byte, error)
	// DecodeBody overwrites the message with the body b, which must be
	// consumed exactly. The message keeps no reference to b. Errors wrap
	// ErrMalformed and name the field.
	DecodeBody(b []byte) error
}

// entry is one row of the catalog.
type entry struct {
	t    Type
	s    Subtype
	name string // printed subtype name, "resolve addr request"
	key  string // "next-hop/resolve-addr-request", used in errors
	new  func() Message
	// slab appends pointers to n fresh messages, allocated together.
	slab func(n int, dst []Message) []Message
	// opcode is the opcode the message type always has.
	opcode uint16
	// reply: opcodes 1 and 2 are both allowed (keepalive requests and
	// replies); the message type implements opcodeSetter.
	reply bool
}

func newOf[T any, P interface {
	*T
	Message
}]() Message {
	return P(new(T))
}

func slabOf[T any, P interface {
	*T
	Message
}](n int, dst []Message) []Message {
	s := make([]T, n)
	for i := range s {
		dst = append(dst, P(&s[i]))
	}
	return dst
}

func row[T any, P interface {
	*T
	Message
}](t Type, s Subtype, name string) entry {
	return entry{
		t: t, s: s, name: name,
		key:    t.String() + "/" + strings.ReplaceAll(name, " ", "-"),
		new:    newOf[T, P],
		slab:   slabOf[T, P],
		opcode: P(new(T)).Header().Opcode,
	}
}

// catalog lists every message type. It is immutable after package
// initialisation.
var catalog = [...]entry{
	row[Register](TypeTNP, SubRegister, "register"),
	row[RegisterAck](TypeTNP, SubRegisterAck, "register ack"),
	func() entry {
		e := row[Keepalive](TypeTNP, SubKeepalive, "keepalive")
		e.reply = true
		return e
	}(),
	row[ResyncBegin](TypeTNP, SubResyncBegin, "resync begin"),
	row[ResyncEnd](TypeTNP, SubResyncEnd, "resync end"),
	row[AuthChallenge](TypeTNP, SubAuthChallenge, "auth challenge"),
	row[AuthResponse](TypeTNP, SubAuthResponse, "auth response"),
	row[AuthConfirm](TypeTNP, SubAuthConfirm, "auth confirm"),
	row[IFLAdd](TypeIFL, SubAdd, "add"),
	row[IFLChange](TypeIFL, SubChange, "change"),
	row[IFLDelete](TypeIFL, SubDelete, "delete"),
	row[ConfigSet](TypeConfig, SubSet, "set"),
	row[NHAdd](TypeNextHop, SubAdd, "add"),
	row[NHChange](TypeNextHop, SubChange, "change"),
	row[NHDelete](TypeNextHop, SubDelete, "delete"),
	row[ResolveRequest](TypeNextHop, SubResolveAddrRequest, "resolve addr request"),
	row[RouteAdd](TypeRoute, SubAdd, "add"),
	row[RouteChange](TypeRoute, SubChange, "change"),
	row[RouteDelete](TypeRoute, SubDelete, "delete"),
	row[RouteHits](TypeStats, SubRouteHits, "route hits"),
	row[WrongIIF](TypeStats, SubWrongIIF, "wrong iif"),
	row[IFLCounters](TypeStats, SubIFLCounters, "ifl counters"),
	row[Punt](TypePacket, SubPunt, "punt"),
	row[Inject](TypePacket, SubInject, "inject"),
	row[LinkState](TypeStats, SubLinkState, "link state"),
	row[ApplyError](TypeStats, SubApplyError, "apply error"),
	row[TrapAdd](TypeTrap, SubAdd, "add"),
	row[TrapDelete](TypeTrap, SubDelete, "delete"),
}

const (
	maxCatalogType    = 10
	maxCatalogSubtype = 14
)

// catalogIndex maps (type, subtype) to 1 + the catalog row; 0 is absent.
var catalogIndex = func() (x [maxCatalogType + 1][maxCatalogSubtype + 1]uint8) {
	for i, e := range catalog {
		x[e.t][e.s] = uint8(i + 1)
	}
	return x
}()

// lookupIndex returns the catalog row of (t, s), or -1.
func lookupIndex(t Type, s Subtype) int {
	if t > maxCatalogType || s > maxCatalogSubtype {
		return -1
	}
	return int(catalogIndex[t][s]) - 1
}

func lookup(t Type, s Subtype) *entry {
	if i := lookupIndex(t, s); i >= 0 {
		return &catalog[i]
	}
	return nil
}

// keyOf names a message kind in errors: "next-hop/resolve-addr-request".
func keyOf(t Type, s Subtype) string {
	if e := lookup(t, s); e != nil {
		return e.key
	}
	return fmt.Sprintf("type %d subtype %d", uint16(t), uint16(s))
}

// New returns a zero message of type t and subtype s, ready for
// DecodeBody, or an error wrapping ErrUnknownType.
func New(t Type, s Subtype) (Message, error) {
	e := lookup(t, s)
	if e == nil {
		return nil, fmt.Errorf("ipc: type %d subtype %d: %w", uint16(t), uint16(s), ErrUnknownType)
	}
	return e.new(), nil
}

// opcodeSetter is implemented by messages whose opcode is part of their
// value (Keepalive: request or reply).
type opcodeSetter interface {
	setOpcode(op uint16)
}
