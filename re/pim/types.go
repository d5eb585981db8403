package pim

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

// IfIndex identifies a PIM interface (an IFL). The engine does not allocate
// them: the caller gives each configured interface its index (the kernel's
// IFL index is a natural choice). 0 means "no interface".
type IfIndex uint32

// SG names a multicast route: Source is the invalid netip.Addr for (*,G).
type SG struct {
	Source netip.Addr `json:"source,omitzero"`
	Group  netip.Addr `json:"group"`
}

// IsStarG reports whether k names a (*,G) entry.
func (k SG) IsStarG() bool { return !k.Source.IsValid() }

// String renders "(S,G)" or "(*,G)".
func (k SG) String() string {
	if k.IsStarG() {
		return "(*," + k.Group.String() + ")"
	}
	return "(" + k.Source.String() + "," + k.Group.String() + ")"
}

// RPF is what the unicast RIB says about an address (RFC 7761 §4.1.6 MRIB):
// the RPF interface, the next hop towards it (invalid when the address is
// on a directly connected subnet) and the route's preference and metric,
// used in asserts (§4.6.1).
type RPF struct {
	Iface      IfIndex    `json:"iface,omitempty"`
	NextHop    netip.Addr `json:"next_hop,omitzero"`
	Preference uint32     `json:"preference,omitempty"`
	Metric     uint32     `json:"metric,omitempty"`
}

// Valid reports whether there is a route.
func (r RPF) Valid() bool { return r.Iface != 0 }

// RPFLookup is the unicast RIB as the engine sees it: a synchronous,
// side-effect-free lookup, called from the engine's owner goroutine. It is
// how the engine learns RPF(addr) for a newly tracked address; later changes
// arrive as RPFChange or RIBChange events.
type RPFLookup interface {
	LookupRPF(addr netip.Addr) RPF
}

// RPFLookupFunc adapts a function to RPFLookup.
type RPFLookupFunc func(netip.Addr) RPF

// LookupRPF implements RPFLookup.
func (f RPFLookupFunc) LookupRPF(a netip.Addr) RPF { return f(a) }

// AssertMetric is the assert_metric of RFC 7761 §4.6.1: compared
// lexicographically, a clear RPT bit beats a set one, then lower preference,
// lower metric, and finally the higher address wins.
type AssertMetric struct {
	RPT        bool       `json:"rpt,omitempty"`
	Preference uint32     `json:"preference"`
	Metric     uint32     `json:"metric"`
	Addr       netip.Addr `json:"addr,omitzero"`
}

// InfiniteAssertMetric is infinite_assert_metric() of §4.6.1; an Assert
// carrying it (with the RPT bit) is an AssertCancel.
var InfiniteAssertMetric = AssertMetric{RPT: true, Preference: math.MaxUint32 >> 1, Metric: math.MaxUint32}

// IsInfinite reports whether m is the infinite metric (an AssertCancel).
func (m AssertMetric) IsInfinite() bool {
	return m.RPT && m.Preference >= InfiniteAssertMetric.Preference && m.Metric == math.MaxUint32
}

// Better reports whether m is preferred over o (§4.6.1).
func (m AssertMetric) Better(o AssertMetric) bool {
	if m.RPT != o.RPT {
		return !m.RPT
	}
	if m.Preference != o.Preference {
		return m.Preference < o.Preference
	}
	if m.Metric != o.Metric {
		return m.Metric < o.Metric
	}
	return m.Addr.Compare(o.Addr) > 0
}

// Timer values (RFC 7761 §4.11; the platform's defaults in
// ../../shared/design/REFERENCE.md "Timers"). Zero fields of a Timers value
// select these.
const (
	DefaultHelloPeriod         = 30 * time.Second
	DefaultTriggeredHelloDelay = 5 * time.Second
	DefaultJoinPrunePeriod     = 60 * time.Second
	DefaultJoinPruneHoldtime   = 210 * time.Second
	DefaultAssertTime          = 180 * time.Second
	DefaultAssertOverride      = 3 * time.Second
	DefaultKeepalive           = 210 * time.Second
	DefaultRegisterSuppression = 60 * time.Second
	DefaultRegisterProbe       = 5 * time.Second
	// DefaultPropagationDelay and DefaultOverrideInterval are what we
	// advertise in the LAN Prune Delay option: the platform sends "delay
	// 500 ms override 2000 ms" (reference-junos.md §2.5); RFC 7761's
	// t_override_default is 2.5 s and is used for neighbours that do not
	// send the option.
	DefaultPropagationDelay    = 500 * time.Millisecond
	DefaultOverrideInterval    = 2000 * time.Millisecond
	rfcDefaultPropagationDelay = 500 * time.Millisecond
	rfcDefaultOverrideInterval = 2500 * time.Millisecond
	// DefaultGracefulSameIfDelay: a graceful RPF change whose new upstream
	// is on the same interface as the old one cannot be switched on a
	// wrong-interface signal; both upstreams are joined for this long and
	// then the old one is pruned (project choice, see gir.go).
	DefaultGracefulSameIfDelay = 10 * time.Second
)

// Timers holds the protocol timers. Zero values select the defaults.
type Timers struct {
	HelloPeriod         time.Duration `json:"hello_period,omitempty"`
	TriggeredHelloDelay time.Duration `json:"triggered_hello_delay,omitempty"`
	JoinPrunePeriod     time.Duration `json:"join_prune_period,omitempty"`
	JoinPruneHoldtime   time.Duration `json:"join_prune_holdtime,omitempty"`
	AssertTime          time.Duration `json:"assert_time,omitempty"`
	AssertOverride      time.Duration `json:"assert_override,omitempty"`
	Keepalive           time.Duration `json:"keepalive,omitempty"`
	RegisterSuppression time.Duration `json:"register_suppression,omitempty"`
	RegisterProbe       time.Duration `json:"register_probe,omitempty"`
	GracefulSameIfDelay time.Duration `json:"graceful_same_if_delay,omitempty"`
}

func orDefault(d, def time.Duration) int64 {
	if d > 0 {
		return int64(d)
	}
	return int64(def)
}

// timers is Timers resolved to nanoseconds.
type timers struct {
	hello, trigHello, jp, jpHold, assert, assertOvr, ka, regSupp, regProbe, girSameIf int64
}

func (t Timers) resolve() timers {
	return timers{
		hello:     orDefault(t.HelloPeriod, DefaultHelloPeriod),
		trigHello: orDefault(t.TriggeredHelloDelay, DefaultTriggeredHelloDelay),
		jp:        orDefault(t.JoinPrunePeriod, DefaultJoinPrunePeriod),
		jpHold:    orDefault(t.JoinPruneHoldtime, DefaultJoinPruneHoldtime),
		assert:    orDefault(t.AssertTime, DefaultAssertTime),
		assertOvr: orDefault(t.AssertOverride, DefaultAssertOverride),
		ka:        orDefault(t.Keepalive, DefaultKeepalive),
		regSupp:   orDefault(t.RegisterSuppression, DefaultRegisterSuppression),
		regProbe:  orDefault(t.RegisterProbe, DefaultRegisterProbe),
		girSameIf: orDefault(t.GracefulSameIfDelay, DefaultGracefulSameIfDelay),
	}
}

// forever is the deadline of a timer that never expires (holdtime 0xffff).
const forever int64 = math.MaxInt64

const second = int64(time.Second)

// holdDeadline turns a holdtime in seconds into a deadline; 0xffff is
// infinity (RFC 7761 §4.9.1 Hello Holdtime, §4.9.5 J/P Holdtime).
func holdDeadline(now int64, hold uint16) int64 {
	if hold == 0xffff {
		return forever
	}
	return now + int64(hold)*second
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func toTime(ns int64) time.Time {
	if ns == 0 || ns == forever {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func secs(d time.Duration) uint16 {
	s := d / time.Second
	if s > 0xfffe {
		return 0xfffe
	}
	return uint16(s)
}

// ErrConfig is returned (wrapped with the offending item) for an invalid
// configuration.
var ErrConfig = fmt.Errorf("pim: invalid configuration")

// ErrSnapshot is returned (wrapped) when a snapshot cannot be imported.
var ErrSnapshot = fmt.Errorf("pim: invalid snapshot")

func durationOf(ns int64) time.Duration { return time.Duration(ns) }
