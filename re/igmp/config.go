package igmp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Default protocol values (RFC 3376 §8, RFC 2236 §8).
const (
	DefaultVersion                 = 3
	DefaultRobustness              = 2
	DefaultQueryInterval           = 125 * time.Second
	DefaultQueryResponseInterval   = 10 * time.Second
	DefaultLastMemberQueryInterval = 1 * time.Second
)

// Config is what the operator asked for on one interface. Zero fields take
// the RFC defaults (see WithDefaults).
type Config struct {
	Iface   hal.IFLIndex
	Address netip.Addr // the router's address on the interface; the querier election compares it
	Version uint8      // 2 or 3 (`set protocols igmp interface IFL version N`)

	Robustness              int           // [Robustness Variable], 2
	QueryInterval           time.Duration // [Query Interval], 125 s
	QueryResponseInterval   time.Duration // [Query Response Interval], 10 s
	LastMemberQueryInterval time.Duration // [Last Member Query Interval], 1 s
	LastMemberQueryCount    int           // [Last Member Query Count], the robustness variable
	StartupQueryInterval    time.Duration // [Startup Query Interval], a quarter of the query interval
	StartupQueryCount       int           // [Startup Query Count], the robustness variable

	// SSM lists the source-specific multicast ranges (RFC 4607, 232/8 by
	// default in DefaultSSM): requests to receive from any source of such
	// a group (IGMPv1/v2 reports, EXCLUDE-mode records) are ignored, as
	// RFC 4604 §2.2.4 asks.
	SSM []netip.Prefix

	// Static are the groups joined by configuration (`static group G
	// [source S]`); they never time out.
	Static []Static
}

// DefaultSSM is the IPv4 SSM range (RFC 4607 §1).
var DefaultSSM = []netip.Prefix{netip.MustParsePrefix("232.0.0.0/8")}

// Static is a statically joined group: (*,G) without sources, (S,G) for
// each source otherwise.
type Static struct {
	Group   netip.Addr
	Sources []netip.Addr
}

// WithDefaults fills the zero fields with the RFC defaults.
func (c Config) WithDefaults() Config {
	if c.Version == 0 {
		c.Version = DefaultVersion
	}
	if c.Robustness == 0 {
		c.Robustness = DefaultRobustness
	}
	if c.QueryInterval == 0 {
		c.QueryInterval = DefaultQueryInterval
	}
	if c.QueryResponseInterval == 0 {
		c.QueryResponseInterval = DefaultQueryResponseInterval
	}
	if c.LastMemberQueryInterval == 0 {
		c.LastMemberQueryInterval = DefaultLastMemberQueryInterval
	}
	if c.StartupQueryInterval == 0 {
		c.StartupQueryInterval = c.QueryInterval / 4
	}
	if c.StartupQueryCount == 0 {
		c.StartupQueryCount = c.Robustness
	}
	return c
}

// Validate checks a configuration after WithDefaults.
func (c Config) Validate() error {
	switch {
	case !c.Address.Is4():
		return fmt.Errorf("igmp: interface %d: address %v is not IPv4: %w", c.Iface, c.Address, ErrInvalid)
	case c.Version != 2 && c.Version != 3:
		return fmt.Errorf("igmp: interface %d: version %d, want 2 or 3: %w", c.Iface, c.Version, ErrInvalid)
	case c.Robustness < 1 || c.Robustness > 255:
		return fmt.Errorf("igmp: interface %d: robustness %d outside 1..255: %w", c.Iface, c.Robustness, ErrInvalid)
	case c.QueryResponseInterval >= c.QueryInterval:
		// RFC 3376 §8.3: the response interval must be less than the query interval.
		return fmt.Errorf("igmp: interface %d: query response interval %v not below query interval %v: %w", c.Iface, c.QueryResponseInterval, c.QueryInterval, ErrInvalid)
	case c.QueryResponseInterval > 25500*time.Millisecond && c.Version == 2:
		return fmt.Errorf("igmp: interface %d: query response interval %v exceeds IGMPv2's 25.5 s: %w", c.Iface, c.QueryResponseInterval, ErrInvalid)
	case c.LastMemberQueryCount < 0 || c.StartupQueryCount < 1:
		return fmt.Errorf("igmp: interface %d: negative query count: %w", c.Iface, ErrInvalid)
	case c.LastMemberQueryInterval < 100*time.Millisecond:
		return fmt.Errorf("igmp: interface %d: last member query interval %v below 0.1 s: %w", c.Iface, c.LastMemberQueryInterval, ErrInvalid)
	}
	for _, s := range c.Static {
		if err := checkGroup(s.Group); err != nil {
			return fmt.Errorf("igmp: interface %d: static group: %w", c.Iface, err)
		}
		for _, src := range s.Sources {
			if !src.Is4() || src.IsMulticast() || src.IsUnspecified() {
				return fmt.Errorf("igmp: interface %d: static group %v: source %v is not an IPv4 unicast address: %w", c.Iface, s.Group, src, ErrInvalid)
			}
		}
	}
	return nil
}

// checkGroup accepts a routable IPv4 multicast group: not 224.0.0.0/24,
// whose link-local groups are never reported or routed (RFC 2236 §6,
// RFC 3376 §5.1 "224.0.0.1 is never reported").
func checkGroup(g netip.Addr) error {
	if !g.Is4() || !g.IsMulticast() {
		return fmt.Errorf("group %v is not an IPv4 multicast address: %w", g, ErrInvalid)
	}
	if g.IsLinkLocalMulticast() {
		return fmt.Errorf("group %v is link-local (224.0.0.0/24): %w", g, ErrInvalid)
	}
	return nil
}

func (c Config) isSSM(g netip.Addr) bool {
	return slices.ContainsFunc(c.SSM, func(p netip.Prefix) bool { return p.Contains(g) })
}

// Timer values derived from the robustness variable and query interval in
// use (RFC 3376 §8.4, §8.5, §8.9, §8.13).
func (s *Interface) groupMembershipInterval() time.Duration {
	return time.Duration(s.rv)*s.qi + s.cfg.QueryResponseInterval
}

func (s *Interface) otherQuerierPresentInterval() time.Duration {
	return time.Duration(s.rv)*s.qi + s.cfg.QueryResponseInterval/2
}

func (s *Interface) olderHostPresentInterval() time.Duration {
	return time.Duration(s.rv)*s.qi + s.cfg.QueryResponseInterval
}

func (s *Interface) lastMemberQueryCount() int {
	if s.cfg.LastMemberQueryCount > 0 {
		return s.cfg.LastMemberQueryCount
	}
	return s.rv
}

func (s *Interface) lastMemberQueryTime() time.Duration {
	return time.Duration(s.lastMemberQueryCount()) * s.cfg.LastMemberQueryInterval
}
