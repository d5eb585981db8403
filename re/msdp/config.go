package msdp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Timer defaults and bounds. The defaults are the modelled platform's
// (reference-junos.md §2.6, REFERENCE.md "Timers"); the bounds Validate
// enforces are RFC 3618's, so that tests and interop labs may use short
// timers; the configuration layer applies the platform's narrower ranges
// (keep-alive 10..60, hold-time 15..150, sa-hold-time 75..300).
const (
	DefaultKeepAlive    = 60 * time.Second // RFC 3618 §5.5 recommended
	DefaultHoldTime     = 75 * time.Second // §5.4 recommended
	DefaultConnectRetry = 30 * time.Second // §5.6 SHOULD
	DefaultSAHoldTime   = 75 * time.Second // Junos sa-hold-time default
	// SAAdvertisementPeriod is [SA-Advertisement-Period]: RFC 3618 §5.1
	// says it MUST be 60 seconds, so it is not configurable.
	SAAdvertisementPeriod = 60 * time.Second
	// Port is MSDP's TCP port (RFC 3618 §11).
	Port = 639
)

// DefaultActiveSourceLimit is the global active-source limit when none is
// configured, as the modelled platform shows it (reference-junos.md §2.6).
func DefaultActiveSourceLimit() Limit {
	return Limit{Maximum: 25000, Threshold: 24000, LogWarning: 100}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid MSDP configuration")

// GroupMode is a peer group's mode (Junos `group NAME mode`).
type GroupMode uint8

// Group modes.
const (
	// ModeStandard is an ordinary group: a way to share settings.
	ModeStandard GroupMode = iota
	// ModeMeshGroup makes the group a mesh group (RFC 3618 §10.2): SAs
	// from a member are accepted without peer-RPF and never re-flooded to
	// the other members.
	ModeMeshGroup
)

func (m GroupMode) String() string {
	if m == ModeMeshGroup {
		return "mesh-group"
	}
	return "standard"
}

// Limit is an active-source limit (Junos `active-source-limit`): at
// Maximum cached SAs new ones are refused; between Threshold and Maximum
// new SAs are dropped at random with a probability rising linearly from 0
// to 1 (random early detection, Junos `threshold`); when the count reaches
// LogWarning percent of Maximum a warning is logged, at most once per
// LogInterval. A zero Maximum means no limit.
type Limit struct {
	Maximum     int           `json:"maximum"`
	Threshold   int           `json:"threshold"`
	LogWarning  int           `json:"log-warning"`
	LogInterval time.Duration `json:"log-interval"`
}

func (l Limit) validate(what string) error {
	switch {
	case l.Maximum < 0 || l.Threshold < 0:
		return fmt.Errorf("%w: %s active-source-limit: negative values", ErrConfig, what)
	case l.Maximum > 0 && l.Threshold > l.Maximum:
		return fmt.Errorf("%w: %s active-source-limit: threshold %d above maximum %d", ErrConfig, what, l.Threshold, l.Maximum)
	case l.LogWarning < 0 || l.LogWarning > 100:
		return fmt.Errorf("%w: %s active-source-limit: log-warning %d%% outside 0..100", ErrConfig, what, l.LogWarning)
	}
	return nil
}

// GroupConfig is a named peer group (Junos `group NAME`): its mode and the
// settings its peers inherit when they do not set their own.
type GroupConfig struct {
	Mode              GroupMode  `json:"mode"`
	LocalAddress      netip.Addr `json:"local-address,omitzero"`
	Import            []string   `json:"import,omitempty"`
	Export            []string   `json:"export,omitempty"`
	AuthenticationKey string     `json:"-"`
}

// PeerConfig is one configured peer (Junos `peer ADDRESS`).
type PeerConfig struct {
	Address      netip.Addr `json:"address"`
	LocalAddress netip.Addr `json:"local-address,omitzero"`
	// Group names the peer's group in Config.Groups ("" for none).
	Group string `json:"group,omitempty"`
	// DefaultPeer makes the peer a static RPF peer (Junos `default-peer`,
	// RFC 3618 §10.1.3 rule (v)): its SAs pass peer-RPF when no earlier
	// rule names another peer, for the RPs in DefaultPeerRPs (all RPs
	// when empty).
	DefaultPeer    bool           `json:"default-peer,omitempty"`
	DefaultPeerRPs []netip.Prefix `json:"default-peer-rps,omitempty"`
	// Import and Export name policies in Config.Policies, evaluated in
	// order; nil inherits the group's, then the global ones.
	Import []string `json:"import,omitempty"`
	Export []string `json:"export,omitempty"`
	// AuthenticationKey is the TCP MD5 key (RFC 2385, RFC 3618 §18).
	AuthenticationKey string `json:"-"`
	// ActiveSourceLimit limits the SAs cached from this peer (nil: none).
	ActiveSourceLimit *Limit `json:"active-source-limit,omitempty"`
	// AS is the peer's autonomous system, for peer-RPF rule (iv); 0 if
	// unknown.
	AS uint32 `json:"as,omitempty"`
	// Disable keeps the peer in state Disabled (Junos `disable`).
	Disable bool `json:"disable,omitempty"`
}

// LocalSource is a configured local source: originated as if it had
// registered to this RP.
type LocalSource struct {
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
}

// ServerConfig enables seed 001's MSDP server role: this router is the
// domain's default C-RP for 224.0.0.0/4 with the lowest priority and the
// S-bit, and accepts an internal, group-specific peering from every
// elected RP of its domain.
type ServerConfig struct {
	// Address is the server's C-RP address, the local address of its
	// internal peerings.
	Address netip.Addr `json:"address"`
	// AcceptRPs limits which RPs may peer internally (seed 001 §5 "if
	// the policy allow"); empty accepts every elected RP.
	AcceptRPs []netip.Prefix `json:"accept-rps,omitempty"`
	// AuthenticationKey is the MD5 key of the internal peerings.
	AuthenticationKey string `json:"-"`
}

// RPConfig enables seed 001's RP role: when this router is an elected RP
// it opens an internal peering to the MSDP server learnt from the
// Bootstrap messages (the S-bit) and asks it for sources with SA-Request.
type RPConfig struct {
	// Address is this router's C-RP address: the address the BSR RP-set
	// names, and the local address of the internal peering.
	Address           netip.Addr `json:"address"`
	AuthenticationKey string     `json:"-"`
}

// Config is what the operator asked for (`set protocols msdp …`). It is
// data: Validate checks it, Engine.Reconfigure applies a new one as a diff.
type Config struct {
	// LocalAddress is the default local address of peerings; RFC 3618
	// §11 compares it with the peer's to choose who listens.
	LocalAddress netip.Addr `json:"local-address,omitzero"`
	// OriginatorID is the RP address put in the SAs this router
	// originates; unset, the RP address PIM reports for the source.
	OriginatorID netip.Addr `json:"originator-id,omitzero"`

	KeepAlive    time.Duration `json:"keep-alive"`
	HoldTime     time.Duration `json:"hold-time"`
	ConnectRetry time.Duration `json:"connect-retry"`
	SAHoldTime   time.Duration `json:"sa-hold-time"`

	// ActiveSourceLimit is the global limit; nil means the platform's
	// default (DefaultActiveSourceLimit()), a zero Maximum no limit.
	ActiveSourceLimit *Limit `json:"active-source-limit,omitempty"`

	Import   []string               `json:"import,omitempty"`
	Export   []string               `json:"export,omitempty"`
	Policies map[string]*Policy     `json:"policies,omitempty"`
	Groups   map[string]GroupConfig `json:"groups,omitempty"`
	Peers    []PeerConfig           `json:"peers,omitempty"`

	LocalSources []LocalSource `json:"local-sources,omitempty"`

	Server *ServerConfig `json:"server,omitempty"`
	RP     *RPConfig     `json:"rp,omitempty"`
}

// withDefaults fills the zero timers.
func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.HoldTime == 0 {
		c.HoldTime = DefaultHoldTime
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = DefaultConnectRetry
	}
	if c.SAHoldTime == 0 {
		c.SAHoldTime = DefaultSAHoldTime
	}
	if c.ActiveSourceLimit == nil {
		l := DefaultActiveSourceLimit()
		c.ActiveSourceLimit = &l
	}
	return c
}

// Validate checks the configuration; zero timers take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.KeepAlive < time.Second:
		return fmt.Errorf("%w: keep-alive %v below 1 s (RFC 3618 §5.5)", ErrConfig, c.KeepAlive)
	case c.HoldTime < 3*time.Second:
		return fmt.Errorf("%w: hold-time %v below 3 s (RFC 3618 §5.4)", ErrConfig, c.HoldTime)
	case c.KeepAlive >= c.HoldTime:
		return fmt.Errorf("%w: keep-alive %v must be less than hold-time %v (RFC 3618 §5.5)", ErrConfig, c.KeepAlive, c.HoldTime)
	case c.ConnectRetry < time.Second:
		return fmt.Errorf("%w: connect-retry %v below 1 s", ErrConfig, c.ConnectRetry)
	case c.SAHoldTime < SAAdvertisementPeriod:
		return fmt.Errorf("%w: sa-hold-time %v below the %v SA-Advertisement-Period (RFC 3618 §5.3)", ErrConfig, c.SAHoldTime, SAAdvertisementPeriod)
	}
	if err := c.ActiveSourceLimit.validate("global"); err != nil {
		return err
	}
	for _, a := range []netip.Addr{c.LocalAddress, c.OriginatorID} {
		if a.IsValid() && !a.Is4() {
			return fmt.Errorf("%w: %v is not an IPv4 address", ErrConfig, a)
		}
	}
	for name, p := range c.Policies {
		if p == nil {
			return fmt.Errorf("%w: policy %q is nil", ErrConfig, name)
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("%w: policy %q: %w", ErrConfig, name, err)
		}
	}
	checkPolicies := func(what string, names []string) error {
		for _, n := range names {
			if _, ok := c.Policies[n]; !ok {
				return fmt.Errorf("%w: %s: no policy %q", ErrConfig, what, n)
			}
		}
		return nil
	}
	if err := checkPolicies("import", c.Import); err != nil {
		return err
	}
	if err := checkPolicies("export", c.Export); err != nil {
		return err
	}
	for name, g := range c.Groups {
		if err := checkPolicies("group "+name+" import", g.Import); err != nil {
			return err
		}
		if err := checkPolicies("group "+name+" export", g.Export); err != nil {
			return err
		}
		if g.LocalAddress.IsValid() && !g.LocalAddress.Is4() {
			return fmt.Errorf("%w: group %s local-address %v is not IPv4", ErrConfig, name, g.LocalAddress)
		}
	}
	seen := map[netip.Addr]bool{}
	for _, p := range c.Peers {
		what := "peer " + p.Address.String()
		if !p.Address.Is4() || p.Address.IsUnspecified() || p.Address.IsMulticast() {
			return fmt.Errorf("%w: %s: not a unicast IPv4 address", ErrConfig, what)
		}
		if seen[p.Address] {
			return fmt.Errorf("%w: %s configured twice", ErrConfig, what)
		}
		seen[p.Address] = true
		if p.Group != "" {
			if _, ok := c.Groups[p.Group]; !ok {
				return fmt.Errorf("%w: %s: no group %q", ErrConfig, what, p.Group)
			}
		}
		local := c.localAddress(p)
		if !local.Is4() {
			return fmt.Errorf("%w: %s: no IPv4 local-address (needed to choose who listens, RFC 3618 §11)", ErrConfig, what)
		}
		if local == p.Address {
			return fmt.Errorf("%w: %s: local-address equals the peer address", ErrConfig, what)
		}
		if err := checkPolicies(what+" import", p.Import); err != nil {
			return err
		}
		if err := checkPolicies(what+" export", p.Export); err != nil {
			return err
		}
		if p.ActiveSourceLimit != nil {
			if err := p.ActiveSourceLimit.validate(what); err != nil {
				return err
			}
		}
		if len(p.DefaultPeerRPs) > 0 && !p.DefaultPeer {
			return fmt.Errorf("%w: %s: default-peer RP prefixes without default-peer", ErrConfig, what)
		}
	}
	for _, s := range c.LocalSources {
		if !s.Source.Is4() || !s.Group.Is4() || !s.Group.IsMulticast() || s.Source.IsMulticast() {
			return fmt.Errorf("%w: local source (%v,%v): want a unicast source and a multicast group", ErrConfig, s.Source, s.Group)
		}
	}
	if len(c.LocalSources) > 0 && !c.OriginatorID.IsValid() {
		return fmt.Errorf("%w: configured local sources need an originator-id (the RP address of their SAs)", ErrConfig)
	}
	if c.Server != nil && !c.Server.Address.Is4() {
		return fmt.Errorf("%w: server: address must be IPv4", ErrConfig)
	}
	if c.RP != nil && !c.RP.Address.Is4() {
		return fmt.Errorf("%w: rp: address must be IPv4", ErrConfig)
	}
	return nil
}

// localAddress resolves a peer's local address: its own, its group's,
// then the global one.
func (c *Config) localAddress(p PeerConfig) netip.Addr {
	if p.LocalAddress.IsValid() {
		return p.LocalAddress
	}
	if g, ok := c.Groups[p.Group]; ok && g.LocalAddress.IsValid() {
		return g.LocalAddress
	}
	return c.LocalAddress
}

// policies resolves a peer's import or export chain: its own, its
// group's, then the global one.
func (c *Config) policies(own, group, global []string) []*Policy {
	names := global
	if own != nil {
		names = own
	} else if group != nil {
		names = group
	}
	out := make([]*Policy, 0, len(names))
	for _, n := range names {
		out = append(out, c.Policies[n])
	}
	return out
}

func (c *Config) key(p PeerConfig) string {
	if p.AuthenticationKey != "" {
		return p.AuthenticationKey
	}
	return c.Groups[p.Group].AuthenticationKey
}

func (c *Config) meshGroup(p PeerConfig) string {
	if g, ok := c.Groups[p.Group]; ok && g.Mode == ModeMeshGroup {
		return p.Group
	}
	return ""
}

// samePeerSession reports whether two configurations of a peer can keep
// its session up across a reconfiguration: same addresses and key.
func (c *Config) samePeerSession(o *Config, a, b PeerConfig) bool {
	return c.localAddress(a) == o.localAddress(b) && c.key(a) == o.key(b) && a.Disable == b.Disable
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}
