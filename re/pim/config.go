package pim

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// Config is what the operator asked for (`set protocols pim …`). It is
// applied with SetConfig as a whole; the engine diffs it against the
// previous one.
type Config struct {
	// Interfaces are the PIM-enabled interfaces (`set protocols pim
	// interface IFL [priority N] [hello-interval N]`). Whether an interface
	// is up, and its addresses, come from InterfaceUp events.
	Interfaces []InterfaceConfig `json:"interfaces,omitempty"`
	// RouterAddresses are this router's addresses that are not on a PIM
	// interface (loopbacks): a local RP address, the BSR and C-RP
	// addresses, the destination of Registers.
	RouterAddresses []netip.Addr `json:"router_addresses,omitempty"`
	// StaticRPs: `set protocols pim rp static address A [group-ranges P]`.
	StaticRPs []StaticRP `json:"static_rps,omitempty"`
	// LocalRP: `set protocols pim rp local address A [group-ranges P]`;
	// this router is the RP for those groups. Its address must be one of
	// RouterAddresses or an interface address.
	LocalRP *StaticRP `json:"local_rp,omitempty"`
	// BSR: `set protocols pim rp bootstrap family inet priority N`.
	BSR *BSRCandidate `json:"bsr,omitempty"`
	// CandidateRP: a C-RP advertised to the BSR (RFC 5059 §3.2), with the
	// S-bit of seed 001 when it has external MSDP peerings.
	CandidateRP *CandidateRP `json:"candidate_rp,omitempty"`
	// SPTThresholdInfinity: `set protocols pim spt-threshold infinity`;
	// last-hop routers stay on the RP tree (SwitchToSptDesired is false,
	// RFC 7761 §4.2.1).
	SPTThresholdInfinity bool `json:"spt_threshold_infinity,omitempty"`
	// SSMRanges are the source-specific ranges: (S,G) only, no RP, no
	// Register (RFC 7761 §4.8). Empty: 232.0.0.0/8.
	SSMRanges []netip.Prefix `json:"ssm_ranges,omitempty"`
	// Timers overrides protocol timers (zero fields keep the defaults).
	Timers Timers `json:"timers,omitzero"`
	// MaxJoinPruneBytes bounds the estimated size of a Join/Prune message
	// the engine emits (0: 1400, an Ethernet MTU minus IP and PIM headers
	// with room to spare); larger ones are split by group.
	MaxJoinPruneBytes int `json:"max_join_prune_bytes,omitempty"`
}

// InterfaceConfig is one PIM interface.
type InterfaceConfig struct {
	Index IfIndex `json:"index"`
	Name  string  `json:"name"`
	// DRPriority (Hello option 19); 0 selects 1, the RFC default.
	DRPriority uint32 `json:"dr_priority,omitempty"`
	// HelloInterval; 0 selects Timers.HelloPeriod. The Hello holdtime is
	// 3.5 times it (105 s by default).
	HelloInterval time.Duration `json:"hello_interval,omitempty"`
	// PropagationDelay and OverrideInterval are advertised in the LAN
	// Prune Delay option; 0 selects 500 ms and 2000 ms.
	PropagationDelay time.Duration `json:"propagation_delay,omitempty"`
	OverrideInterval time.Duration `json:"override_interval,omitempty"`
}

// StaticRP is a configured RP for group ranges (none: 224.0.0.0/4).
// Priority competes with bootstrap-learned RPs by RFC 7761 §4.7.1 (lower is
// preferred); 0 means configured RPs win ties of range length.
type StaticRP struct {
	Addr     netip.Addr     `json:"addr"`
	Groups   []netip.Prefix `json:"groups,omitempty"`
	Priority uint8          `json:"priority,omitempty"`
	// SBit marks the RP as MSDP-capable (seed 001), so that MSDPServer
	// can find it without bootstrap.
	SBit bool `json:"s_bit,omitempty"`
}

// BSRCandidate makes this router a candidate BSR (RFC 5059 §3.1).
type BSRCandidate struct {
	Addr        netip.Addr `json:"addr"`
	Priority    uint8      `json:"priority"`
	HashMaskLen uint8      `json:"hash_mask_len,omitempty"`
	// BSPeriod/BSTimeout: 0 selects 60 s / 130 s.
	BSPeriod  time.Duration `json:"bs_period,omitempty"`
	BSTimeout time.Duration `json:"bs_timeout,omitempty"`
}

// CandidateRP makes this router a candidate RP (RFC 5059 §3.2).
type CandidateRP struct {
	Addr   netip.Addr     `json:"addr"`
	Groups []netip.Prefix `json:"groups,omitempty"`
	// Priority: 0 selects 192.
	Priority uint8 `json:"priority,omitempty"`
	// Holdtime: 0 selects 150 s.
	Holdtime uint16 `json:"holdtime,omitempty"`
	// Interval between advertisements: 0 selects 60 s.
	Interval time.Duration `json:"interval,omitempty"`
	// SBit: this C-RP has external MSDP peerings (seed 001 §3.1).
	SBit bool `json:"s_bit,omitempty"`
}

// DefaultSSMRange is 232.0.0.0/8 (RFC 4607).
var DefaultSSMRange = netip.MustParsePrefix("232.0.0.0/8")

// Validate checks c and returns the first problem, wrapping ErrConfig.
func (c *Config) Validate() error {
	seen := map[IfIndex]bool{}
	names := map[string]bool{}
	for _, ic := range c.Interfaces {
		if ic.Index == 0 {
			return fmt.Errorf("%w: interface %q: index 0", ErrConfig, ic.Name)
		}
		if seen[ic.Index] || (ic.Name != "" && names[ic.Name]) {
			return fmt.Errorf("%w: interface %q (index %d) configured twice", ErrConfig, ic.Name, ic.Index)
		}
		seen[ic.Index], names[ic.Name] = true, true
		if ic.HelloInterval < 0 || ic.HelloInterval > 18724*time.Second {
			return fmt.Errorf("%w: interface %q: hello-interval %v out of range", ErrConfig, ic.Name, ic.HelloInterval)
		}
	}
	checkRP := func(what string, r StaticRP) error {
		if !r.Addr.IsValid() || r.Addr.IsMulticast() || r.Addr.IsUnspecified() {
			return fmt.Errorf("%w: %s address %v is not a unicast address", ErrConfig, what, r.Addr)
		}
		for _, p := range r.Groups {
			if !p.IsValid() || !p.Addr().IsMulticast() || p.Addr().Is4() != r.Addr.Is4() {
				return fmt.Errorf("%w: %s %v: group range %v is not multicast", ErrConfig, what, r.Addr, p)
			}
		}
		return nil
	}
	for _, r := range c.StaticRPs {
		if err := checkRP("rp static", r); err != nil {
			return err
		}
	}
	if c.LocalRP != nil {
		if err := checkRP("rp local", *c.LocalRP); err != nil {
			return err
		}
	}
	if c.BSR != nil && (!c.BSR.Addr.IsValid() || c.BSR.Addr.IsMulticast()) {
		return fmt.Errorf("%w: bootstrap address %v is not a unicast address", ErrConfig, c.BSR.Addr)
	}
	if c.CandidateRP != nil {
		if err := checkRP("candidate rp", StaticRP{Addr: c.CandidateRP.Addr, Groups: c.CandidateRP.Groups}); err != nil {
			return err
		}
	}
	for _, p := range c.SSMRanges {
		if !p.IsValid() || !p.Addr().IsMulticast() {
			return fmt.Errorf("%w: ssm range %v is not multicast", ErrConfig, p)
		}
	}
	return nil
}

func (c *Config) ssm() []netip.Prefix {
	if len(c.SSMRanges) == 0 {
		return []netip.Prefix{DefaultSSMRange}
	}
	return c.SSMRanges
}

// configuredRPs turns static and local RPs into RP-set candidates.
func (c *Config) configuredRPs(now int64) []rpset.Candidate {
	var out []rpset.Candidate
	add := func(r StaticRP, o rpset.Origin) {
		groups := r.Groups
		if len(groups) == 0 {
			groups = []netip.Prefix{rpset.AllGroups}
			if r.Addr.Is6() {
				groups = []netip.Prefix{netip.MustParsePrefix("ff00::/8")}
			}
		}
		for _, g := range groups {
			out = append(out, rpset.Candidate{RP: r.Addr, Groups: g.Masked(), Priority: r.Priority,
				Origin: o, SBit: r.SBit, Expires: rpset.Forever, Learned: now})
		}
	}
	for _, r := range c.StaticRPs {
		add(r, rpset.OriginStatic)
	}
	if c.LocalRP != nil {
		add(*c.LocalRP, rpset.OriginLocal)
	}
	return out
}

func (c *Config) iface(idx IfIndex) *InterfaceConfig {
	i := slices.IndexFunc(c.Interfaces, func(ic InterfaceConfig) bool { return ic.Index == idx })
	if i < 0 {
		return nil
	}
	return &c.Interfaces[i]
}
