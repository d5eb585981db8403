// Package hal is the contract between the line-card runtime (package fpc)
// and a packet forwarding engine driver.
//
// The object model follows seed 003: logical interfaces (IFLs, physical or
// aggregate), next hops (Unicast, Aggregate, Composite multicast, Indirect,
// Resolve, mdiscard, discard) whose ids are chosen by the routing engine, and
// routes in table inet.1 keyed by G.S/64 for (S,G) entries or by a group
// prefix such as 224/4 for defaults.
//
// Programming is batch-shaped: Apply takes a list of operations, applies them
// in order, keeps going past a failed operation and reports how many were
// applied together with every failure, each wrapped around one of the
// sentinel errors below so that callers can branch with errors.Is.
//
// Packets cross the seam in batches of Ethernet frames. Buffers passed into a
// driver (Input, Transmit) are owned by the caller and may be reused as soon
// as the call returns; a driver copies what it keeps. Buffers a driver hands
// out (Egress.Output, Upcalls.OnPunt) are owned by the driver and valid only
// for the duration of the call.
//
// Which member of an aggregate carries a flow is not left to drivers: every
// driver delivers to the member that the LAG rule of flow.go (FlowHash,
// SublistCount, SublistIndex, MemberIndex, EgressMember) designates.
//
// Concurrency: Apply, Close and the read-back methods may be called from any
// goroutine, but Apply calls are serialised by the caller (one programming
// goroutine per FPC). Input may be called concurrently with Apply and with
// other Input calls on different ingress IFLs; drivers keep their lookup path
// free of writer locks. Upcalls and Egress are invoked on the goroutine that
// runs the packet path (OnLinkState: the goroutine that saw the change) and
// must not block: implementations queue into bounded queues and count what
// they drop.
//
// Host path: the RE programs traps (trap.go) that every driver classifies
// with the shared TrapTable before the lookup; what a trap matches is
// punted (Upcalls.OnPunt with the trap's id) instead of being forwarded.
package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Sentinel errors. Drivers wrap them with the key that failed, e.g.
// fmt.Errorf("nh %d: %w", id, hal.ErrNotFound).
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrTableFull    = errors.New("table full")
	ErrNotSupported = errors.New("not supported")
	ErrInvalid      = errors.New("invalid argument")
	ErrClosed       = errors.New("driver closed")
)

// IFLIndex is the kernel index of a logical interface (ifl:331 in seed 003).
type IFLIndex uint32

// NHID is a next-hop id chosen by the routing engine.
type NHID uint32

// PFEID is the global id of a packet forwarding engine: FPC*4 + PIC.
type PFEID uint16

// Slot is an FPC slot number. The modelled chassis is an MX960: twelve
// line-card slots, 0..MaxSlot (the configuration's `set chassis fpc`
// range, TNP addresses 0x10..0x1b, PFEs 0..47).
type Slot uint8

// MaxSlot is the highest FPC slot.
const MaxSlot Slot = 11

// Valid reports whether s is within 0..MaxSlot.
func (s Slot) Valid() bool { return s <= MaxSlot }

// TableID is a routing table id; inet.1 (multicast) is the only one used.
type TableID uint16

// Well-known next-hop ids from seed 003.
const (
	// NHResolveID is the kernel Resolve NH of the 224/4 default route.
	NHResolveID NHID = 983
	// NHMDiscardID is the multicast discard NH installed for unwanted (S,G).
	NHMDiscardID NHID = 35
	// IndirectBase is the first id of the indirect/multicast NH range.
	IndirectBase NHID = 1048576
)

// TableInet1 is the multicast routing table.
const TableInet1 TableID = 1

// PFEOf returns the global PFE id hosting a port of FPC fpc, PIC pic.
func PFEOf(fpc, pic int) PFEID { return PFEID(fpc*4 + pic) }

// IFLKind says whether an IFL is a physical port unit or an aggregate.
type IFLKind uint8

const (
	IFLPhysical  IFLKind = 1
	IFLAggregate IFLKind = 2
	// IFLEncap is the PIM register encapsulation interface (pe-0/0/0.32769
	// on the modelled platform): a packet replicated to it is punted to
	// the host with trap TrapEncap, for the DR to encapsulate it in a PIM
	// Register. Every card has it; it has no port. It enters an OIL as a
	// Unicast NH on it (a composite member like any port); the copy is
	// not rewritten, not transmitted and counted in the IFL's Tx
	// counters; an encapsulation IFL that is not Up counts PortDown.
	// Transmit on it is ErrInvalid.
	IFLEncap IFLKind = 3
	// IFLDecap is the PIM register decapsulation interface
	// (pd-0/0/0.32768): the RP injects decapsulated packets as if they
	// arrived on it (Inject with Forward), so that they follow the (S,G)
	// or (*,G) route down the tree. Every card has it; it has no port.
	// Input on it works as on any ingress IFL (traps, lookup, RPF against
	// the route's RPF IFL, which is then this IFL's index). No next hop
	// may use it; Transmit on it is ErrInvalid.
	IFLDecap IFLKind = 4
)

func (k IFLKind) String() string {
	switch k {
	case IFLPhysical:
		return "physical"
	case IFLAggregate:
		return "aggregate"
	case IFLEncap:
		return "encapsulation"
	case IFLDecap:
		return "decapsulation"
	}
	return fmt.Sprintf("IFLKind(%d)", uint8(k))
}

// IFL is a logical interface, e.g. xe-3/1/0.0 (physical, PFE 13) or ae91.0
// (aggregate whose members are physical IFLs, possibly on other FPCs).
type IFL struct {
	Index   IFLIndex
	Name    string // "xe-3/1/0.0", "ae91.0"
	Kind    IFLKind
	PFE     PFEID      // hosting PFE of a physical IFL; 0 for aggregates
	Members []IFLIndex // member IFLs of an aggregate, in member order
	MAC     net.HardwareAddr
	MTU     uint16
	Addr    netip.Prefix // primary address, if any
	Up      bool
}

// NHType is the type of a next hop.
type NHType uint8

const (
	NHUnicast   NHType = 1 // one IFL with L2 rewrite
	NHAggregate NHType = 2 // LAG: member unicast NHs
	NHComposite NHType = 3 // multicast composite: list of aggregate/unicast NHs
	NHIndirect  NHType = 4 // points at a composite; a route's entry point
	NHResolve   NHType = 5 // punt first packet as resolve request (983)
	NHMDiscard  NHType = 6 // multicast discard (35)
	NHDiscard   NHType = 7 // plain discard
)

// String returns the name used by the PFE vty ("Unicast", "Aggreg.", ...).
func (t NHType) String() string {
	switch t {
	case NHUnicast:
		return "Unicast"
	case NHAggregate:
		return "Aggreg."
	case NHComposite:
		return "Compst"
	case NHIndirect:
		return "Indirect"
	case NHResolve:
		return "Resolve"
	case NHMDiscard:
		return "mdiscard"
	case NHDiscard:
		return "Discard"
	}
	return fmt.Sprintf("NHType(%d)", uint8(t))
}

// NextHop is one next hop. Which fields matter depends on Type:
//   - Unicast: IFL (a physical IFL, or the encapsulation IFL IFLEncap; an
//     aggregate never uses a member NH whose IFL is not physical).
//   - Aggregate: IFL (the aggregate IFL) and Members (unicast NH ids, one per
//     LAG member, in member order).
//   - Composite: Members (aggregate or unicast NH ids: the kernel nh-list).
//   - Indirect: Target (a composite NH id).
//   - Resolve, MDiscard, Discard: nothing.
type NextHop struct {
	ID      NHID
	Type    NHType
	IFL     IFLIndex
	Members []NHID
	Target  NHID
}

// RouteKey identifies a route. An (S,G) route has PrefixLen 64 and both
// Group and Source set ("232.0.7.1.10.128.1.10/64"); a group prefix route
// has PrefixLen <= 32 and an invalid Source ("224/4").
type RouteKey struct {
	Table     TableID
	Group     netip.Addr
	Source    netip.Addr
	PrefixLen uint8
}

// SG returns the (S,G) key in table inet.1.
func SG(source, group netip.Addr) RouteKey {
	return RouteKey{Table: TableInet1, Group: group, Source: source, PrefixLen: 64}
}

// GroupPrefix returns the key of a group prefix route such as 224/4.
func GroupPrefix(p netip.Prefix) RouteKey {
	return RouteKey{Table: TableInet1, Group: p.Masked().Addr(), PrefixLen: uint8(p.Bits())}
}

// IsSG reports whether k is an (S,G) route.
func (k RouteKey) IsSG() bool { return k.PrefixLen == 64 }

// String prints the key as the PFE vty does: "232.0.7.1.10.128.1.10/64" or
// "224/4" (trailing zero octets of a prefix are dropped).
func (k RouteKey) String() string {
	if k.IsSG() {
		return k.Group.String() + "." + k.Source.String() + "/64"
	}
	b := k.Group.As4()
	n := (int(k.PrefixLen) + 7) / 8
	if n == 0 {
		n = 1
	}
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += "."
		}
		s += fmt.Sprint(b[i])
	}
	return fmt.Sprintf("%s/%d", s, k.PrefixLen)
}

// RouteFlags are the RT flags printed by the vty (0x800e for a PIM (S,G)
// route, 0x000a for the 224/4 resolve default, 0x000e for mdiscard).
type RouteFlags uint32

// Seed 003 flag values.
const (
	RouteFlagsSG       RouteFlags = 0x800e
	RouteFlagsResolve  RouteFlags = 0x000a
	RouteFlagsMDiscard RouteFlags = 0x000e
)

// Route is a multicast route: key, entry NH (Indirect for (S,G) forwarding
// routes, Resolve 983 for 224/4, mdiscard 35 for unwanted flows) and the
// upstream (RPF) IFL packets must arrive on (0: no RPF check).
type Route struct {
	Key   RouteKey
	NH    NHID
	RPF   IFLIndex
	Flags RouteFlags
}

// OpKind is the kind of one programming operation.
type OpKind uint8

const (
	OpSetIFL   OpKind = 1 // create or replace IFL
	OpDelIFL   OpKind = 2
	OpSetNH    OpKind = 3 // create or replace next hop
	OpDelNH    OpKind = 4
	OpSetRoute OpKind = 5 // create or replace route
	OpDelRoute OpKind = 6
	OpSetTrap  OpKind = 7 // create or replace a host-path trap
	OpDelTrap  OpKind = 8
)

func (k OpKind) String() string {
	switch k {
	case OpSetIFL:
		return "set-ifl"
	case OpDelIFL:
		return "del-ifl"
	case OpSetNH:
		return "set-nh"
	case OpDelNH:
		return "del-nh"
	case OpSetRoute:
		return "set-route"
	case OpDelRoute:
		return "del-route"
	case OpSetTrap:
		return "set-trap"
	case OpDelTrap:
		return "del-trap"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one programming operation. Only the field matching Kind is read:
// IFL for OpSetIFL/OpDelIFL (Index only for delete), NH for OpSetNH/OpDelNH
// (ID only for delete), Route for OpSetRoute/OpDelRoute (Key only for
// delete), Trap for OpSetTrap/OpDelTrap (ID only for delete).
//
// Set operations are idempotent: setting an object to the value it already
// has succeeds. Deleting an absent object fails with ErrNotFound. A set that
// references an absent object (a route whose NH is unknown, an indirect whose
// target is unknown) fails with ErrNotFound; deleting an object still
// referenced by another fails with ErrInvalid. The RE orders its downloads so
// that dependencies are created first and deleted last.
type Op struct {
	Kind  OpKind
	IFL   IFL
	NH    NextHop
	Route Route
	Trap  Trap
}

// String describes the operation for logs and error messages.
func (o Op) String() string {
	switch o.Kind {
	case OpSetIFL, OpDelIFL:
		return fmt.Sprintf("%s %d(%s)", o.Kind, o.IFL.Index, o.IFL.Name)
	case OpSetNH, OpDelNH:
		return fmt.Sprintf("%s %d(%s)", o.Kind, o.NH.ID, o.NH.Type)
	case OpSetRoute, OpDelRoute:
		return fmt.Sprintf("%s %s", o.Kind, o.Route.Key)
	case OpSetTrap, OpDelTrap:
		return fmt.Sprintf("%s %d(%s)", o.Kind, o.Trap.ID, o.Trap.Kind)
	}
	return o.Kind.String()
}

// OpError builds the error for operation i of a batch; drivers use it so
// that every driver reports failures the same way. It is an *OpFailure.
func OpError(i int, op Op, err error) error {
	return &OpFailure{Index: i, Op: op, Err: err}
}

// OpFailure is the error of one failed operation of a batch: which one
// (its index in the ops passed to Apply) and why. It wraps Err, so
// errors.Is matches the sentinel; callers that must know which ops failed
// (the FPC keeps failed objects out of its state and retries them) take
// them from Apply's error with FailedOps.
type OpFailure struct {
	Index int
	Op    Op
	Err   error
}

func (e *OpFailure) Error() string { return fmt.Sprintf("op %d (%s): %v", e.Index, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *OpFailure) Unwrap() error { return e.Err }

// FailedOps returns the OpFailures of an error returned by Apply (one, or
// several joined), in order. Other errors in it (a stop on ctx
// cancellation) are not included.
func FailedOps(err error) []*OpFailure {
	var out []*OpFailure
	var walk func(error)
	walk = func(e error) {
		switch v := e.(type) {
		case nil:
		case *OpFailure:
			out = append(out, v)
		case interface{ Unwrap() []error }:
			for _, x := range v.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// Counters count packets and bytes.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// IFLCounters are per-interface counters kept by a driver.
type IFLCounters struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	// Drops by reason.
	RPFFail   uint64 // arrived on an interface other than the route's RPF IFL
	TTLExpiry uint64 // TTL <= 1 on arrival
	NoRoute   uint64 // no route at all (not even 224/4); unicast or ARP no trap matched
	Discard   uint64 // hit mdiscard/discard
	Resolve   uint64 // hit the Resolve NH and were punted or dropped
	Malformed uint64 // neither Ethernet+IPv4 nor Ethernet+ARP, or a bad header
	QueueFull uint64 // upcall or egress queue full
	PortDown  uint64 // egress port down (programmed down or operationally down)
}

// RouteStat is a route's key with its traffic counters and the last time a
// packet hit it (zero if never).
type RouteStat struct {
	Key      RouteKey
	Counters Counters
	LastUsed time.Time
}

// ResolveRequest is raised when a packet hits the Resolve NH: the FPC turns
// it into a resolve-addr-request to the RE (seed 003).
type ResolveRequest struct {
	NH      NHID     // the resolve NH hit (983)
	Ingress IFLIndex // IFL the packet arrived on
	Source  netip.Addr
	Group   netip.Addr
}

// WrongInterface is raised when an (S,G) packet fails the RPF check.
type WrongInterface struct {
	Ingress  IFLIndex // where it arrived
	Expected IFLIndex // the route's RPF IFL
	Source   netip.Addr
	Group    netip.Addr
}

// Upcalls is implemented by the FPC runtime. Drivers call OnResolve,
// OnWrongInterface and OnPunt on the goroutine that runs their packet path
// (the caller of Input, or a receive worker), OnLinkState on the goroutine
// that saw the change (a link monitor, or the caller of
// LinkSetter.SetLinkState). Implementations must not block: they queue
// into bounded queues and count what they drop. They may be called
// concurrently from several goroutines. Frames passed to OnPunt are owned
// by the driver and valid only during the call.
type Upcalls interface {
	OnResolve(ResolveRequest)
	OnWrongInterface(WrongInterface)
	// OnPunt hands over a packet that host-path trap trap sent to the
	// host instead of forwarding it (see TrapTable), received on ingress;
	// or, with trap TrapEncap, the copy of a multicast packet replicated
	// to the encapsulation interface (IFLEncap), unchanged as received,
	// for the DR to encapsulate in a PIM Register (RFC 7761 section
	// 4.4.1). A packet is punted at most once with TrapEncap, however
	// many OIL entries reach an encapsulation interface.
	OnPunt(ingress IFLIndex, trap TrapID, frame []byte)
	// OnLinkState reports a port's new operational state. Drivers report
	// changes only (and, for drivers with real ports, the state of a port
	// when it is bound to an IFL).
	OnLinkState(LinkState)
}

// LinkSetter is implemented by drivers whose ports are in memory (swpfe,
// trio, haltest.Fake): SetLinkState sets the operational state of the
// physical IFL ifl's port, as a cable pulled or plugged in would. A port
// that is down transmits nothing: its copies and transmitted frames are
// counted as PortDown; the aggregate member choice (flow.go) is unchanged
// until the RE reprograms the IFL. A change is reported through
// Upcalls.OnLinkState on the caller's goroutine; setting the current
// state again reports nothing. Unknown IFLs are ErrNotFound, IFLs that are
// not physical ErrInvalid. A new IFL's port is up.
type LinkSetter interface {
	SetLinkState(ifl IFLIndex, up bool) error
}

// Egress receives forwarded frames for drivers whose ports are not real
// interfaces (swpfe, trio): tests and benchmarks implement it as sinks.
// Called on the packet path; must not block; frames are owned by the
// driver and valid only during the call (copy to keep).
type Egress interface {
	Output(egress IFLIndex, frames [][]byte)
}

// Config is what every driver constructor receives.
type Config struct {
	Slot    Slot         // FPC slot number
	Logger  *slog.Logger // never nil
	Upcalls Upcalls      // never nil
	Egress  Egress       // may be nil for drivers with real ports
	Now     func() time.Time
	// Ports binds IFL names to driver resources, e.g. "xe-3/1/0" ->
	// "veth31" for afpacket. Other drivers ignore it.
	Ports map[string]string
	// Options are driver-specific key=value settings.
	Options map[string]string
}

// Driver is a packet forwarding engine.
type Driver interface {
	// Name returns the driver name ("swpfe", "trio", "afpacket").
	Name() string

	// Apply applies ops in order. It does not stop at a failed op: it
	// returns the number applied and, if any failed, an error joining one
	// OpError per failed op. ctx cancellation stops before the next op.
	Apply(ctx context.Context, ops []Op) (applied int, err error)

	// Input processes a batch of Ethernet frames received on ingress,
	// as the hardware would (lookup, RPF, replication, upcalls). Frames are
	// owned by the caller. Drivers with real ports also receive on their
	// own and may return ErrNotSupported here only if they cannot inject.
	Input(ingress IFLIndex, frames [][]byte) error

	// Transmit sends frames out of egress unchanged (control packets the
	// RE injects). Frames are owned by the caller.
	Transmit(egress IFLIndex, frames [][]byte) error

	// Route returns the route installed for key, or ErrNotFound.
	Route(key RouteKey) (Route, error)
	// Lookup returns the route a packet from source to group would hit
	// (exact (S,G), else the longest group prefix), or ErrNotFound.
	Lookup(source, group netip.Addr) (Route, error)
	// NextHop returns the next hop id, or ErrNotFound.
	NextHop(id NHID) (NextHop, error)
	// IFL returns the interface, or ErrNotFound.
	IFL(index IFLIndex) (IFL, error)

	// WalkRoutes calls fn for every installed route with its counters
	// until fn returns false.
	WalkRoutes(fn func(Route, RouteStat) bool)
	// IFLCounters returns the counters of one interface, or ErrNotFound.
	IFLCounters(index IFLIndex) (IFLCounters, error)
	// Summary counts installed objects.
	Summary() Summary

	// Close stops the driver, releasing rings, sockets and goroutines.
	// After Close every method returns ErrClosed.
	Close() error
}

// Summary counts installed objects (`show nhdb summary`).
type Summary struct {
	IFLs      int
	NHs       int
	Routes    int
	NHsByType map[NHType]int
}

// NHDetailer is implemented by drivers that expand next hops into
// hardware-specific structures (trio: sublists and replication trees). The
// FPC vty appends the text to `show nhdb id N`.
type NHDetailer interface {
	NHDetail(id NHID, w io.Writer) error
}

// VtyHandler is implemented by drivers with vty commands of their own
// (e.g. `show mcast replication stats`). Handle returns handled=false for
// commands it does not know.
type VtyHandler interface {
	HandleVty(args []string, w io.Writer) (handled bool, err error)
	// VtyCommands lists the commands (for completion and help).
	VtyCommands() []string
}

// Constructor builds a driver; cmd/fpc maps --driver names to constructors.
type Constructor func(ctx context.Context, cfg Config) (Driver, error)

// Tunable is implemented by drivers that take settings pushed by the RE at
// run time (from its configuration) in addition to Config.Options. Keys used
// by the platform:
//
//	resolve-rate                          "66".."1000" resolves/s per card
//	network-services                      "enhanced-ip" (trio: unary trees)
//	multicast-replication                 "ingress" | "local-latency-fairness" | "" (default)
//	fpc.N.type                            card type of FPC N, e.g. "MPC2", "MPC3"
//	fpc.N.pic.M.no-mcast-replication      "true": PFE N*4+M only at leaf positions
//
// Unknown keys are ignored (return nil); a bad value returns ErrInvalid.
type Tunable interface {
	SetOption(key, value string) error
}

// Metric is one driver counter or gauge for the FPC's Prometheus endpoint.
// Label names of one metric Name must always be the same, in the same
// order; label values are ports, PFEs or reasons, never flows.
type Metric struct {
	Name    string // e.g. "mxfwd_afpacket_port_packets_total"
	Help    string
	Labels  [][2]string // name, value
	Value   float64
	Counter bool // counter (monotonic) rather than gauge
}

// MetricsReporter is implemented by drivers with counters of their own
// (per port, per PFE). The FPC runtime exposes them at scrape time, so
// Metrics must be cheap and safe to call from any goroutine.
type MetricsReporter interface {
	Metrics() []Metric
}

// HitWalker is implemented by drivers that can visit just the routes that
// forwarded (or dropped) packets since a time, more cheaply than
// WalkRoutes over a large table. The FPC uses it to report route hits to
// the RE, which refresh the forwarding cache.
type HitWalker interface {
	WalkHits(since time.Time, fn func(Route, RouteStat) bool)
}

// ApplyEach runs fn on every op in order with the batch semantics of
// Driver.Apply, so that every driver reports the same way: it keeps going
// past a failed op, wraps each failure with OpError, stops before the next
// op once ctx is done, and returns the number applied with the joined
// errors. fn receives a pointer into ops (no copy) and its index.
func ApplyEach(ctx context.Context, ops []Op, fn func(i int, op *Op) error) (int, error) {
	applied := 0
	var errs []error
	for i := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("stopped before op %d: %w", i, err))
			break
		}
		if err := fn(i, &ops[i]); err != nil {
			errs = append(errs, OpError(i, ops[i], err))
			continue
		}
		applied++
	}
	return applied, errors.Join(errs...)
}
