// Package config parses the RE's configuration: a file of Junos-style `set`
// statements (a subset, listed in Statements). Parsing is all-or-nothing:
// any unknown or invalid statement fails the whole file with the file name,
// line number and reason, so that nothing half-applies.
//
// Config is what the operator asked for; it holds no runtime state. It is a
// plain value, safe to share read-only between goroutines.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults from seed 003 and REFERENCE.md.
const (
	DefaultCacheTimeout = 360 * time.Second
	DefaultResolveRate  = 66
	DefaultAS           = 65000
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid configuration")

// Config is a parsed configuration.
type Config struct {
	// Source names where the configuration was read from (the file), for
	// error messages; it is not configuration.
	Source string `json:"-"`
	// Text is the configuration as read (what a master sends its backup
	// routing engine, which parses the same statements).
	Text     string `json:"-"`
	HostName string
	// Interfaces by device name ("xe-3/1/0", "ae91").
	Interfaces map[string]*Interface
	PIM        PIM
	IGMP       IGMP
	MSDP       MSDP
	// CacheTimeout is the multicast forwarding-cache timeout (360 s default).
	CacheTimeout time.Duration
	// ResolveRate is the per-card resolve rate (66/s default; 100..1000 when set).
	ResolveRate      int
	NonstopRouting   bool
	AutonomousSystem uint32
	Chassis          Chassis
	Policies         map[string]*PolicyStatement
	// Replication is forwarding-options multicast-replication: "" (default),
	// "ingress" or "local-latency-fairness".
	Replication string
	// StaticRoutes are the unicast static routes, in the order their
	// prefixes were first configured.
	StaticRoutes []StaticRoute
	// RIBImport is `set routing-options rib-import kernel [table N]`.
	RIBImport RIBImport
}

// StaticRoute is `set routing-options static route PREFIX next-hop ADDR
// [preference N] [metric N]`. Statements for the same prefix accumulate
// next hops (equal-cost); a preference or metric given again replaces the
// previous value.
type StaticRoute struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr
	// Preference 0 means the default (Static/5).
	Preference uint32
	Metric     uint32
	// Line is the first line that configured the prefix (for errors).
	Line int
}

// RIBImport asks the RE to import the routes of a Linux routing table into
// inet.0 (for a routing daemon such as FRR running beside the RE).
type RIBImport struct {
	Kernel bool
	// Table is the Linux routing table (DefaultKernelTable, main, unless given).
	Table uint32
}

// DefaultKernelTable is Linux's main routing table.
const DefaultKernelTable = 254

// Interface is a device (physical port or aggregate).
type Interface struct {
	Name string
	// LAG is the aggregate this port is a member of (gigether-options 802.3ad aeN).
	LAG   string
	MTU   int
	Units map[int]*Unit
	// Line is the first line that mentioned the interface (for errors).
	Line int
}

// Unit is a logical unit.
type Unit struct {
	Number  int
	Address netip.Prefix
	// Index pins the kernel IFL index (hidden knob, used to reproduce the
	// seed's numbers); 0 lets the RE allocate.
	Index uint32
	// NHIndex pins the unicast/aggregate NH id (hidden knob); 0 allocates.
	NHIndex uint32
}

// Chassis configuration.
type Chassis struct {
	// NetworkServices is "enhanced-ip" or "".
	NetworkServices string
	FPCs            map[int]*FPC
	// GracefulSwitchover is `set chassis redundancy graceful-switchover`
	// (GRES: the backup RE keeps the kernel's state; with
	// routing-options nonstop-routing, the protocols' too).
	GracefulSwitchover bool
}

// FPC is per-slot chassis configuration.
type FPC struct {
	// Type is the card type (MPC1, MPC2, MPC3, MPC4, 16x10GE); "" default.
	Type string
	// NoMcastReplication lists PICs with `no-mcast-replication`.
	NoMcastReplication map[int]bool
}

// New returns an empty configuration with defaults.
func New() *Config {
	return &Config{
		HostName:         "mxfwd",
		Interfaces:       map[string]*Interface{},
		CacheTimeout:     DefaultCacheTimeout,
		ResolveRate:      DefaultResolveRate,
		AutonomousSystem: DefaultAS,
		Chassis:          Chassis{FPCs: map[int]*FPC{}},
	}
}

// Load reads and parses a configuration file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// maxLine bounds one statement's length.
const maxLine = 4096

// Parse parses statements from r; name is used in error messages.
func Parse(name string, r io.Reader) (*Config, error) {
	c := New()
	c.Source = name
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	var text strings.Builder
	for sc.Scan() {
		n++
		text.WriteString(sc.Text())
		text.WriteByte('\n')
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := c.Apply(line, n); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w: %v", name, n+1, ErrInvalid, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Text = text.String()
	return c, nil
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

var (
	rePhys = regexp.MustCompile(`^(xe|ge|et)-(\d+)/(\d+)/(\d+)$`)
	reAE   = regexp.MustCompile(`^ae(\d+)$`)
	reIFL  = regexp.MustCompile(`^((?:xe|ge|et)-\d+/\d+/\d+|ae\d+|lo0)\.(\d+)$`)
)

// ParsePort splits a physical port name "xe-3/1/0" into FPC, PIC, port.
func ParsePort(name string) (fpc, pic, port int, ok bool) {
	m := rePhys.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, 0, false
	}
	fpc, _ = strconv.Atoi(m[2])
	pic, _ = strconv.Atoi(m[3])
	port, _ = strconv.Atoi(m[4])
	return fpc, pic, port, true
}

// Apply parses and applies one statement. It is exported so that the CLI
// can offer `set` at run time through the same code path.
func (c *Config) Apply(line string, lineNo int) error {
	w := strings.Fields(line)
	if len(w) == 0 {
		return nil
	}
	if w[0] != "set" {
		return bad("unknown statement %q: only 'set' statements are accepted", w[0])
	}
	w = w[1:]
	if len(w) == 0 {
		return bad("missing statement after 'set'")
	}
	switch w[0] {
	case "system":
		return c.applySystem(w[1:])
	case "interfaces":
		return c.applyInterfaces(w[1:], lineNo)
	case "protocols":
		return c.applyProtocols(w[1:], lineNo)
	case "routing-options":
		return c.applyRoutingOptions(w[1:], lineNo)
	case "forwarding-options":
		return c.applyForwardingOptions(w[1:])
	case "chassis":
		return c.applyChassis(w[1:])
	case "policy-options":
		return c.applyPolicy(w[1:])
	}
	return bad("unknown statement 'set %s' (expected one of: chassis, forwarding-options, interfaces, policy-options, protocols, routing-options, system)", w[0])
}

func expect(w []string, n int, what string) error {
	if len(w) < n {
		return bad("incomplete statement, expecting %s", what)
	}
	if len(w) > n {
		return bad("unexpected %q after %s", strings.Join(w[n:], " "), what)
	}
	return nil
}

func (c *Config) applySystem(w []string) error {
	if len(w) >= 1 && w[0] == "host-name" {
		if err := expect(w, 2, "host-name <name>"); err != nil {
			return err
		}
		c.HostName = w[1]
		return nil
	}
	return bad("unknown statement 'system %s' (expected host-name)", strings.Join(w, " "))
}

func (c *Config) iface(name string, line int) (*Interface, error) {
	if !rePhys.MatchString(name) && !reAE.MatchString(name) && name != "lo0" {
		return nil, bad("invalid interface name %q (expected xe-FPC/PIC/PORT, ge-…, et-…, aeN or lo0)", name)
	}
	i := c.Interfaces[name]
	if i == nil {
		i = &Interface{Name: name, Units: map[int]*Unit{}, Line: line}
		c.Interfaces[name] = i
	}
	return i, nil
}

func parseUint(s, what string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, bad("invalid %s %q (range %d..%d)", what, s, lo, hi)
	}
	return v, nil
}

// uintStmt parses a statement's single numeric value: rest must hold
// exactly one word, a whole number in lo..hi.
func uintStmt(rest []string, what, syntax string, lo, hi int) (int, error) {
	if err := expect(rest, 1, syntax); err != nil {
		return 0, err
	}
	return parseUint(rest[0], what, lo, hi)
}

func (c *Config) applyInterfaces(w []string, line int) error {
	if len(w) < 2 {
		return bad("incomplete statement, expecting interfaces <name> ...")
	}
	i, err := c.iface(w[0], line)
	if err != nil {
		return err
	}
	if i.Name == "lo0" && w[1] != "unit" {
		return bad("lo0 takes only 'unit <n> family inet address <address/32>'")
	}
	switch w[1] {
	case "gigether-options":
		if err := expect(w[2:], 2, "gigether-options 802.3ad <aeN>"); err != nil {
			return err
		}
		if w[2] != "802.3ad" {
			return bad("unknown gigether-options %q (expected 802.3ad)", w[2])
		}
		if !reAE.MatchString(w[3]) {
			return bad("invalid aggregate %q (expected aeN)", w[3])
		}
		if reAE.MatchString(i.Name) {
			return bad("%s is an aggregate and cannot join %s", i.Name, w[3])
		}
		i.LAG = w[3]
		if _, err := c.iface(w[3], line); err != nil {
			return err
		}
		return nil
	case "mtu":
		v, err := uintStmt(w[2:], "mtu", "mtu <bytes>", 256, 9216)
		if err != nil {
			return err
		}
		i.MTU = v
		return nil
	case "unit":
		if len(w) < 3 {
			return bad("incomplete statement, expecting unit <number>")
		}
		n, err := parseUint(w[2], "unit", 0, 16384)
		if err != nil {
			return err
		}
		u := i.Units[n]
		if u == nil {
			u = &Unit{Number: n}
			i.Units[n] = u
		}
		rest := w[3:]
		if len(rest) == 0 {
			return nil
		}
		switch rest[0] {
		case "family":
			if len(rest) == 2 && rest[1] == "inet" {
				return nil
			}
			if len(rest) != 4 || rest[1] != "inet" || rest[2] != "address" {
				return bad("expecting 'family inet address <prefix>'")
			}
			p, err := netip.ParsePrefix(rest[3])
			if err != nil || !p.Addr().Is4() {
				return bad("invalid IPv4 address %q", rest[3])
			}
			if i.Name == "lo0" && p.Bits() != 32 {
				return bad("lo0 address %s: a loopback address is a /32", p)
			}
			u.Address = p
			return nil
		case "ifl-index", "nh-index":
			limit := 1 << 20
			if rest[0] == "nh-index" {
				limit = 1 << 30
			}
			v, err := uintStmt(rest[1:], rest[0], rest[0]+" <n>", 1, limit)
			if err != nil {
				return err
			}
			if rest[0] == "ifl-index" {
				u.Index = uint32(v)
			} else {
				u.NHIndex = uint32(v)
			}
			return nil
		}
		return bad("unknown unit statement %q (expected family, ifl-index, nh-index)", rest[0])
	}
	return bad("unknown interface statement %q (expected gigether-options, mtu, unit)", w[1])
}

// SplitIFL splits "ae91.0" into device and unit.
func SplitIFL(name string) (dev string, unit int, ok bool) {
	m := reIFL.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	unit, _ = strconv.Atoi(m[2])
	return m[1], unit, true
}

func (c *Config) ifl(name string) error {
	if _, _, ok := SplitIFL(name); !ok {
		return bad("invalid logical interface %q (expected NAME.UNIT, e.g. ae91.0)", name)
	}
	return nil
}

func addr(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, bad("invalid %s %q", what, s)
	}
	return a, nil
}

func (c *Config) applyProtocols(w []string, line int) error {
	if len(w) < 1 {
		return bad("incomplete statement, expecting protocols pim|igmp|msdp")
	}
	switch w[0] {
	case "pim":
		return c.applyPIM(w[1:], line)
	case "igmp":
		return c.applyIGMP(w[1:], line)
	case "msdp":
		return c.applyMSDP(w[1:], line)
	}
	return bad("unknown protocol %q (expected igmp, msdp, pim)", w[0])
}

func appendUniq(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

func (c *Config) applyRoutingOptions(w []string, line int) error {
	switch {
	case len(w) >= 1 && w[0] == "static":
		return c.applyStatic(w[1:], line)
	case len(w) >= 1 && w[0] == "rib-import":
		return c.applyRIBImport(w[1:])
	case len(w) == 1 && w[0] == "nonstop-routing":
		c.NonstopRouting = true
		return nil
	case len(w) >= 1 && w[0] == "autonomous-system":
		if err := expect(w[1:], 1, "autonomous-system <number>"); err != nil {
			return err
		}
		v, err := strconv.ParseUint(w[1], 10, 32)
		if err != nil || v == 0 {
			return bad("invalid autonomous-system %q", w[1])
		}
		c.AutonomousSystem = uint32(v)
		return nil
	case len(w) >= 3 && w[0] == "multicast" && w[1] == "forwarding-cache" && w[2] == "timeout":
		v, err := uintStmt(w[3:], "forwarding-cache timeout (minutes)", "forwarding-cache timeout <minutes>", 1, 720)
		if err != nil {
			return err
		}
		c.CacheTimeout = time.Duration(v) * time.Minute
		return nil
	}
	return bad("unknown routing-options statement %q (expected autonomous-system, multicast forwarding-cache timeout, nonstop-routing, rib-import kernel, static route)", strings.Join(w, " "))
}

const staticSyntax = "static route <prefix> next-hop <address> [preference <n>] [metric <n>]"

func (c *Config) applyStatic(w []string, line int) error {
	if len(w) < 2 || w[0] != "route" {
		return bad("expecting '%s'", staticSyntax)
	}
	p, err := netip.ParsePrefix(w[1])
	if err != nil || !p.Addr().Is4() {
		return bad("invalid IPv4 prefix %q", w[1])
	}
	if p != p.Masked() {
		return bad("prefix %s has host bits set (did you mean %s?)", p, p.Masked())
	}
	rest := w[2:]
	if len(rest) == 0 {
		return bad("incomplete statement, expecting %s", staticSyntax)
	}
	var (
		nh           netip.Addr
		pref, metric uint32
		seen         = map[string]bool{}
	)
	for len(rest) > 0 {
		kw := rest[0]
		if kw != "next-hop" && kw != "preference" && kw != "metric" {
			return bad("unknown static route option %q (expected next-hop, preference, metric)", kw)
		}
		if seen[kw] {
			return bad("%s given twice", kw)
		}
		seen[kw] = true
		if len(rest) < 2 {
			return bad("incomplete statement, expecting %s <value>", kw)
		}
		switch kw {
		case "next-hop":
			if nh, err = addr(rest[1], "next-hop"); err != nil {
				return err
			}
			if nh.IsUnspecified() || nh.IsMulticast() || nh == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				return bad("next-hop %s is not a unicast address", nh)
			}
		case "preference", "metric":
			v, err := strconv.ParseUint(rest[1], 10, 32)
			if err != nil || (kw == "preference" && v == 0) {
				lo := 0
				if kw == "preference" {
					lo = 1
				}
				return bad("invalid %s %q (range %d..4294967295)", kw, rest[1], lo)
			}
			if kw == "preference" {
				pref = uint32(v)
			} else {
				metric = uint32(v)
			}
		}
		rest = rest[2:]
	}
	var s *StaticRoute
	for i := range c.StaticRoutes {
		if c.StaticRoutes[i].Prefix == p {
			s = &c.StaticRoutes[i]
		}
	}
	if s == nil {
		c.StaticRoutes = append(c.StaticRoutes, StaticRoute{Prefix: p, Line: line})
		s = &c.StaticRoutes[len(c.StaticRoutes)-1]
	}
	if nh.IsValid() && !slices.Contains(s.NextHops, nh) {
		s.NextHops = append(s.NextHops, nh)
	}
	if seen["preference"] {
		s.Preference = pref
	}
	if seen["metric"] {
		s.Metric = metric
	}
	return nil
}

func (c *Config) applyRIBImport(w []string) error {
	if len(w) < 1 || w[0] != "kernel" {
		return bad("expecting 'rib-import kernel [table <n>]'")
	}
	table := uint64(DefaultKernelTable)
	switch {
	case len(w) == 1:
	case len(w) == 3 && w[1] == "table":
		v, err := strconv.ParseUint(w[2], 10, 32)
		if err != nil || v == 0 || v == 255 {
			return bad("invalid kernel table %q (range 1..4294967295, not 255: the local table)", w[2])
		}
		table = v
	default:
		return bad("unexpected %q after rib-import kernel (expected table <n>)", strings.Join(w[1:], " "))
	}
	c.RIBImport = RIBImport{Kernel: true, Table: uint32(table)}
	return nil
}

func (c *Config) applyForwardingOptions(w []string) error {
	switch {
	case len(w) >= 2 && w[0] == "multicast" && w[1] == "resolve-rate":
		v, err := uintStmt(w[2:], "resolve-rate", "resolve-rate <per second>", 100, 1000)
		if err != nil {
			return err
		}
		c.ResolveRate = v
		return nil
	case len(w) >= 1 && w[0] == "multicast-replication":
		if err := expect(w[1:], 1, "multicast-replication ingress|local-latency-fairness"); err != nil {
			return err
		}
		if w[1] != "ingress" && w[1] != "local-latency-fairness" {
			return bad("invalid multicast-replication mode %q (expected ingress, local-latency-fairness)", w[1])
		}
		c.Replication = w[1]
		return nil
	}
	return bad("unknown forwarding-options statement %q (expected multicast resolve-rate, multicast-replication)", strings.Join(w, " "))
}

var cardTypes = map[string]bool{"MPC1": true, "MPC2": true, "MPC3": true, "MPC4": true, "16x10GE": true, "DPCE": true}

func (c *Config) applyChassis(w []string) error {
	switch {
	case len(w) >= 1 && w[0] == "redundancy":
		if len(w) != 2 || w[1] != "graceful-switchover" {
			return bad("unknown redundancy statement %q (expected redundancy graceful-switchover)", strings.Join(w, " "))
		}
		c.Chassis.GracefulSwitchover = true
		return nil
	case len(w) >= 1 && w[0] == "network-services":
		if err := expect(w[1:], 1, "network-services enhanced-ip"); err != nil {
			return err
		}
		if w[1] != "enhanced-ip" && w[1] != "ip" {
			return bad("invalid network-services %q (expected enhanced-ip, ip)", w[1])
		}
		c.Chassis.NetworkServices = w[1]
		return nil
	case len(w) >= 3 && w[0] == "fpc":
		slot, err := parseUint(w[1], "fpc slot", 0, 11)
		if err != nil {
			return err
		}
		f := c.Chassis.FPCs[slot]
		if f == nil {
			f = &FPC{NoMcastReplication: map[int]bool{}}
			c.Chassis.FPCs[slot] = f
		}
		switch w[2] {
		case "type":
			if err := expect(w[3:], 1, "type <card>"); err != nil {
				return err
			}
			if !cardTypes[w[3]] {
				return bad("unknown card type %q (expected DPCE, MPC1, MPC2, MPC3, MPC4, 16x10GE)", w[3])
			}
			f.Type = w[3]
			return nil
		case "pic":
			if err := expect(w[3:], 2, "pic <n> no-mcast-replication"); err != nil {
				return err
			}
			pic, err := parseUint(w[3], "pic", 0, 3)
			if err != nil {
				return err
			}
			if w[4] != "no-mcast-replication" {
				return bad("unknown pic statement %q (expected no-mcast-replication)", w[4])
			}
			f.NoMcastReplication[pic] = true
			return nil
		}
		return bad("unknown fpc statement %q (expected type, pic)", w[2])
	}
	return bad("unknown chassis statement %q (expected fpc, network-services, redundancy graceful-switchover)", strings.Join(w, " "))
}

// Validate checks cross-statement consistency.
func (c *Config) Validate() error {
	names := make([]string, 0, len(c.Interfaces))
	for n := range c.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		i := c.Interfaces[n]
		if i.LAG != "" {
			for un, u := range i.Units {
				if un != 0 || u.Address.IsValid() {
					return fmt.Errorf("line %d: %w: %s is a member of %s: only unit 0 with ifl-index/nh-index is allowed", i.Line, ErrInvalid, n, i.LAG)
				}
			}
		}
	}
	for _, s := range c.IGMP.Static {
		if c.UnitOf(s.Interface) == nil {
			return fmt.Errorf("line %d: %w: static join on %s: interface not configured", s.Line, ErrInvalid, s.Interface)
		}
	}
	if err := c.validateMulticast(); err != nil {
		return err
	}
	if err := c.validateMSDP(); err != nil {
		return err
	}
	return c.validateStatic(names)
}

// validateStatic checks that every static route has a next hop and that
// no next hop is one of the router's own interface addresses.
func (c *Config) validateStatic(names []string) error {
	for _, s := range c.StaticRoutes {
		if len(s.NextHops) == 0 {
			return fmt.Errorf("line %d: %w: static route %s has no next-hop", s.Line, ErrInvalid, s.Prefix)
		}
		for _, nh := range s.NextHops {
			for _, n := range names {
				for un, u := range c.Interfaces[n].Units {
					if u.Address.IsValid() && u.Address.Addr() == nh {
						return fmt.Errorf("line %d: %w: static route %s: next-hop %s is the address of %s.%d", s.Line, ErrInvalid, s.Prefix, nh, n, un)
					}
				}
			}
		}
	}
	return nil
}

// UnitOf returns the unit of a logical interface name, or nil.
func (c *Config) UnitOf(ifl string) *Unit {
	dev, unit, ok := SplitIFL(ifl)
	if !ok {
		return nil
	}
	i := c.Interfaces[dev]
	if i == nil {
		return nil
	}
	return i.Units[unit]
}

// UpstreamFor returns the logical interface whose subnet contains src (the
// RPF interface of a directly connected source), or "".
func (c *Config) UpstreamFor(src netip.Addr) string {
	best, bestBits := "", -1
	names := make([]string, 0, len(c.Interfaces))
	for n := range c.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		i := c.Interfaces[n]
		for _, u := range i.Units {
			if u.Address.IsValid() && u.Address.Masked().Contains(src) && u.Address.Bits() > bestBits {
				best, bestBits = fmt.Sprintf("%s.%d", n, u.Number), u.Address.Bits()
			}
		}
	}
	return best
}

// Members returns the member ports of an aggregate, sorted by name.
func (c *Config) Members(ae string) []string {
	var m []string
	for n, i := range c.Interfaces {
		if i.LAG == ae {
			m = append(m, n)
		}
	}
	sort.Strings(m)
	return m
}

// Grammar lists the statements this package accepts (for the README and
// `re config statements`).
var Grammar = []string{
	"set system host-name <name>",
	"set interfaces <xe-F/P/N|aeN> unit <n> family inet address <prefix>",
	"set interfaces <xe-F/P/N|aeN> unit <n> ifl-index <n>        (hidden: pin the kernel IFL index)",
	"set interfaces <xe-F/P/N|aeN> unit <n> nh-index <n>         (hidden: pin the unicast/aggregate NH id)",
	"set interfaces <xe-F/P/N> gigether-options 802.3ad <aeN>",
	"set interfaces <name> mtu <bytes>",
	"set interfaces lo0 unit <n> family inet address <address/32>   (the router's loopback: RP, MSDP and router addresses)",
	"set protocols pim interface <ifl> [priority <n>] [hello-interval <s>] [mode sparse]",
	"set protocols pim rp static address <address> [group-ranges <prefix>]",
	"set protocols pim rp local address <address> [group-ranges <prefix>]",
	"set protocols pim rp bootstrap family inet priority <0..255>",
	"set protocols pim spt-threshold infinity",
	"set protocols pim ssm-groups <prefix>                     (232.0.0.0/8 by default)",
	"set protocols pim timers register-suppression <3..3600> | register-probe <1..60> | keepalive <1..3600> | bootstrap-period <1..60>   (hidden: short protocol timers for labs and tests)",
	"set protocols pim graceful-insertion-removal maintenance [start <0..86400 s>] [stop <1..86400 s>]   (in maintenance: announce a removal window, 10/300 s by default)",
	"set protocols pim graceful-insertion-removal insertion-window <0..86400 s>   (leaving maintenance: start 0, stop N; 300 by default)",
	"set protocols pim graceful-insertion-removal tlv-type <2..32767>             (the GIR TLV's PFM type; 32766 by default)",
	"set protocols pim graceful-insertion-removal announce-interval <10..3600 s>  (60 by default)",
	"set protocols pim graceful-insertion-removal announce-copies <1..10>         (copies of a new announcement, 1 s apart; 3 by default)",
	"set protocols pim graceful-insertion-removal advertise-sources               (list our sources in the TLV)",
	"set protocols pim graceful-insertion-removal originator-address <address>   (our PFMs' originator; lo0's or the first PIM interface's by default)",
	"set protocols pim graceful-insertion-removal boundary <ifl>                  (an administrative boundary for PFM, both ways)",
	"set protocols pim graceful-insertion-removal max-message-rate <1..60>        (PFMs we originate a minute; 6 by default, RFC 8364)",
	"set protocols pim graceful-insertion-removal min-message-gap <100..60000 ms> (between them; 1000 by default, RFC 8364)",
	"set protocols igmp interface <ifl> [version 2|3]",
	"set protocols igmp interface <ifl> static group <group> [source <source>]",
	"set protocols msdp [local-address <a>] [authentication-key <k>] [import|export <policy>]",
	"set protocols msdp peer <address> [local-address <a>] [authentication-key <k>] [default-peer] [import|export <policy>]",
	"set protocols msdp peer <address> active-source-limit maximum <n> [threshold <n>] [log-warning <%>] [log-interval <s>]",
	"set protocols msdp group <name> mode mesh-group|standard",
	"set protocols msdp group <name> peer <address> [local-address <a>] ...",
	"set protocols msdp keep-alive <10..60> | hold-time <15..150> | sa-hold-time <75..300>",
	"set protocols msdp active-source-limit maximum <n> [threshold <n>] [log-warning <%>] [log-interval <s>]",
	"set protocols msdp local-source <source> group <group>",
	"set protocols msdp traceoptions flag source-active|keepalive|packets|normal|state|nsr-synchronization|all",
	"set protocols msdp nonstop-routing-disable                (hidden: no MSDP socket replication)",
	"set protocols msdp server [address <a>] [accept-rps <prefix>]   (seed 001: the MSDP server)",
	"set protocols msdp group-specific-peering [local-address <a>]  (seed 001: an RP peering with the MSDP server)",
	"set policy-options policy-statement <name> term <t> from route-filter|source-address-filter|rp-address-filter <prefix> exact|orlonger|longer|upto /n|prefix-length-range /a-/b",
	"set policy-options policy-statement <name> term <t> then accept|reject|next term",
	"set routing-options multicast forwarding-cache timeout <1..720 minutes>",
	"set routing-options nonstop-routing",
	"set routing-options autonomous-system <as>",
	"set routing-options static route <prefix> next-hop <address> [preference <n>] [metric <n>]",
	"set routing-options rib-import kernel [table <n>]          (import a Linux routing table; 254, main, by default)",
	"set forwarding-options multicast resolve-rate <100..1000>",
	"set forwarding-options multicast-replication ingress|local-latency-fairness",
	"set chassis network-services enhanced-ip",
	"set chassis redundancy graceful-switchover",
	"set chassis fpc <slot> type MPC1|MPC2|MPC3|MPC4|16x10GE|DPCE",
	"set chassis fpc <slot> pic <pic> no-mcast-replication",
}

// Statements renders the configuration back as set statements, in a
// stable order (`show configuration`).
func (c *Config) Statements() []string {
	var out []string
	add := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	add("set system host-name %s", c.HostName)
	names := make([]string, 0, len(c.Interfaces))
	for n := range c.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		i := c.Interfaces[n]
		if i.LAG != "" {
			add("set interfaces %s gigether-options 802.3ad %s", n, i.LAG)
		}
		if i.MTU > 0 {
			add("set interfaces %s mtu %d", n, i.MTU)
		}
		units := make([]int, 0, len(i.Units))
		for u := range i.Units {
			units = append(units, u)
		}
		sort.Ints(units)
		for _, un := range units {
			u := i.Units[un]
			if u.Address.IsValid() {
				add("set interfaces %s unit %d family inet address %s", n, un, u.Address)
			} else {
				add("set interfaces %s unit %d", n, un)
			}
			if u.Index != 0 {
				add("set interfaces %s unit %d ifl-index %d", n, un, u.Index)
			}
			if u.NHIndex != 0 {
				add("set interfaces %s unit %d nh-index %d", n, un, u.NHIndex)
			}
		}
	}
	c.multicastStatements(add)
	c.msdpStatements(add)
	if c.CacheTimeout != DefaultCacheTimeout {
		add("set routing-options multicast forwarding-cache timeout %d", int(c.CacheTimeout/time.Minute))
	}
	if c.NonstopRouting {
		add("set routing-options nonstop-routing")
	}
	if c.AutonomousSystem != DefaultAS {
		add("set routing-options autonomous-system %d", c.AutonomousSystem)
	}
	for _, s := range c.StaticRoutes {
		var opts string
		if s.Preference != 0 {
			opts += fmt.Sprintf(" preference %d", s.Preference)
		}
		if s.Metric != 0 {
			opts += fmt.Sprintf(" metric %d", s.Metric)
		}
		for _, nh := range s.NextHops {
			add("set routing-options static route %s next-hop %s%s", s.Prefix, nh, opts)
		}
	}
	if c.RIBImport.Kernel {
		if c.RIBImport.Table != DefaultKernelTable {
			add("set routing-options rib-import kernel table %d", c.RIBImport.Table)
		} else {
			add("set routing-options rib-import kernel")
		}
	}
	if c.ResolveRate != DefaultResolveRate {
		add("set forwarding-options multicast resolve-rate %d", c.ResolveRate)
	}
	if c.Replication != "" {
		add("set forwarding-options multicast-replication %s", c.Replication)
	}
	if c.Chassis.NetworkServices != "" {
		add("set chassis network-services %s", c.Chassis.NetworkServices)
	}
	if c.Chassis.GracefulSwitchover {
		add("set chassis redundancy graceful-switchover")
	}
	slots := make([]int, 0, len(c.Chassis.FPCs))
	for s := range c.Chassis.FPCs {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		f := c.Chassis.FPCs[s]
		if f.Type != "" {
			add("set chassis fpc %d type %s", s, f.Type)
		}
		for pic := 0; pic < 4; pic++ {
			if f.NoMcastReplication[pic] {
				add("set chassis fpc %d pic %d no-mcast-replication", s, pic)
			}
		}
	}
	return out
}
