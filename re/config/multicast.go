package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// PIM is `set protocols pim …`.
type PIM struct {
	Interfaces []PIMInterface
	// RPStatic: `rp static address A [group-ranges P]`.
	RPStatic []RP
	// RPLocal: `rp local address A [group-ranges P]` (this router is an RP).
	RPLocal *RP
	// Bootstrap: `rp bootstrap family inet priority N` (a candidate BSR;
	// with RPLocal, the local RP is a candidate RP too).
	Bootstrap *Bootstrap
	// SPTThresholdInfinity: `spt-threshold infinity`.
	SPTThresholdInfinity bool
	// SSMGroups: `ssm-groups P` (232.0.0.0/8 when empty).
	SSMGroups []netip.Prefix
	// Timers: hidden `timers register-suppression S | register-probe S |
	// keepalive S | bootstrap-period S`, shorter protocol timers for labs
	// and tests (0: the defaults of RFC 7761 §4.11 and RFC 5059 §5: 60 s,
	// 5 s, 210 s, 60 s).
	Timers PIMTimers
	// GIR: `graceful-insertion-removal …` (gir.go).
	GIR GIR
}

// PIMTimers are the protocol timers the hidden `timers` statement sets, in
// seconds.
type PIMTimers struct {
	RegisterSuppression int
	RegisterProbe       int
	Keepalive           int
	// BootstrapPeriod is BS_Period; BS_Timeout is 2 x BS_Period + 10 s.
	BootstrapPeriod int
	Line            int
}

// Enabled reports whether PIM is configured on some interface.
func (p *PIM) Enabled() bool { return len(p.Interfaces) > 0 }

// PIMInterface is `set protocols pim interface IFL [priority N]
// [hello-interval N] [mode sparse]`.
type PIMInterface struct {
	Name          string
	Priority      uint32 // DR priority; 0: the default (1)
	HelloInterval int    // seconds; 0: the default (30)
	Line          int
}

// RP is a rendezvous point and the groups it serves (none: 224.0.0.0/4).
type RP struct {
	Address     netip.Addr
	GroupRanges []netip.Prefix
	Line        int
}

// Bootstrap is the candidate BSR configuration.
type Bootstrap struct {
	Priority int
	Line     int
}

// IGMP is `set protocols igmp …`.
type IGMP struct {
	Interfaces []IGMPInterface
	// Static are the static groups, with or without a source.
	Static []StaticJoin
}

// IGMPInterface is `set protocols igmp interface IFL [version 2|3]`.
type IGMPInterface struct {
	Name    string
	Version int // 2 or 3 (0: 3)
	Line    int
}

// StaticJoin is `set protocols igmp interface IFL static group G [source
// S]`: a receiver on IFL for (S,G), or for (*,G) when Source is invalid.
type StaticJoin struct {
	Interface string
	Group     netip.Addr
	Source    netip.Addr
	Line      int
}

// Interface returns the IGMP interface named name, if configured.
func (g *IGMP) Interface(name string) (IGMPInterface, bool) {
	for _, i := range g.Interfaces {
		if i.Name == name {
			return i, true
		}
	}
	return IGMPInterface{}, false
}

// Interface returns the PIM interface named name, if configured.
func (p *PIM) Interface(name string) (PIMInterface, bool) {
	for _, i := range p.Interfaces {
		if i.Name == name {
			return i, true
		}
	}
	return PIMInterface{}, false
}

func (p *PIM) iface(name string, line int) *PIMInterface {
	for i := range p.Interfaces {
		if p.Interfaces[i].Name == name {
			return &p.Interfaces[i]
		}
	}
	p.Interfaces = append(p.Interfaces, PIMInterface{Name: name, Line: line})
	return &p.Interfaces[len(p.Interfaces)-1]
}

func (g *IGMP) iface(name string, line int) *IGMPInterface {
	for i := range g.Interfaces {
		if g.Interfaces[i].Name == name {
			return &g.Interfaces[i]
		}
	}
	g.Interfaces = append(g.Interfaces, IGMPInterface{Name: name, Line: line})
	return &g.Interfaces[len(g.Interfaces)-1]
}

func groupRange(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || !p.Addr().IsMulticast() || p.Bits() < 4 {
		return netip.Prefix{}, bad("invalid group range %q (expected a multicast prefix within 224.0.0.0/4)", s)
	}
	return p.Masked(), nil
}

// rpStatement parses `address A [group-ranges P]` and `group-ranges P`
// into r.
func rpStatement(r *RP, w []string, what string) error {
	switch {
	case len(w) >= 2 && w[0] == "address":
		a, err := addr(w[1], what+" address")
		if err != nil {
			return err
		}
		if a.IsMulticast() || a.IsUnspecified() {
			return bad("%s address %s is not a unicast address", what, a)
		}
		if r.Address.IsValid() && r.Address != a {
			return bad("%s address %s: already %s", what, a, r.Address)
		}
		r.Address = a
		w = w[2:]
	}
	if len(w) == 0 {
		return nil
	}
	if len(w) != 2 || w[0] != "group-ranges" {
		return bad("expecting '%s address <address> [group-ranges <prefix>]'", what)
	}
	p, err := groupRange(w[1])
	if err != nil {
		return err
	}
	if !slices.Contains(r.GroupRanges, p) {
		r.GroupRanges = append(r.GroupRanges, p)
	}
	return nil
}

func (c *Config) applyPIM(w []string, line int) error {
	if len(w) == 0 {
		return bad("incomplete statement, expecting pim interface|rp|spt-threshold|ssm-groups")
	}
	switch w[0] {
	case "interface":
		if len(w) < 2 {
			return bad("expecting 'pim interface <name> [priority <n>] [hello-interval <s>] [mode sparse]'")
		}
		if err := c.ifl(w[1]); err != nil {
			return err
		}
		pi := c.PIM.iface(w[1], line)
		for rest := w[2:]; len(rest) > 0; rest = rest[2:] {
			if len(rest) < 2 {
				return bad("pim interface %s: %q needs a value", w[1], rest[0])
			}
			switch rest[0] {
			case "priority":
				n, err := parseUint(rest[1], "priority", 0, 1<<31)
				if err != nil {
					return err
				}
				pi.Priority = uint32(n)
			case "hello-interval":
				n, err := parseUint(rest[1], "hello-interval", 0, 255)
				if err != nil {
					return err
				}
				pi.HelloInterval = n
			case "mode":
				if rest[1] != "sparse" {
					return bad("pim interface %s: mode %q not supported (sparse only: PIM-SM/SSM)", w[1], rest[1])
				}
			default:
				return bad("unknown pim interface statement %q (expected priority, hello-interval, mode)", rest[0])
			}
		}
		return nil
	case "rp":
		if len(w) < 2 {
			return bad("expecting 'pim rp static|local|bootstrap ...'")
		}
		switch w[1] {
		case "static":
			var r RP
			if err := rpStatement(&r, w[2:], "rp static"); err != nil {
				return err
			}
			if !r.Address.IsValid() {
				return bad("expecting 'rp static address <address> [group-ranges <prefix>]'")
			}
			for i := range c.PIM.RPStatic {
				if c.PIM.RPStatic[i].Address == r.Address {
					for _, p := range r.GroupRanges {
						if !slices.Contains(c.PIM.RPStatic[i].GroupRanges, p) {
							c.PIM.RPStatic[i].GroupRanges = append(c.PIM.RPStatic[i].GroupRanges, p)
						}
					}
					return nil
				}
			}
			r.Line = line
			c.PIM.RPStatic = append(c.PIM.RPStatic, r)
			return nil
		case "local":
			if c.PIM.RPLocal == nil {
				c.PIM.RPLocal = &RP{Line: line}
			}
			return rpStatement(c.PIM.RPLocal, w[2:], "rp local")
		case "bootstrap":
			rest := w[2:]
			if len(rest) >= 2 && rest[0] == "family" {
				if rest[1] != "inet" {
					return bad("rp bootstrap family %q: inet only", rest[1])
				}
				rest = rest[2:]
			}
			if len(rest) != 2 || rest[0] != "priority" {
				return bad("expecting 'rp bootstrap family inet priority <0..255>'")
			}
			n, err := parseUint(rest[1], "bootstrap priority", 0, 255)
			if err != nil {
				return err
			}
			c.PIM.Bootstrap = &Bootstrap{Priority: n, Line: line}
			return nil
		}
		return bad("unknown pim rp statement %q (expected static, local, bootstrap)", w[1])
	case "spt-threshold":
		if len(w) != 2 || w[1] != "infinity" {
			return bad("expecting 'pim spt-threshold infinity'")
		}
		c.PIM.SPTThresholdInfinity = true
		return nil
	case "timers":
		if len(w) < 3 || len(w)%2 != 1 {
			return bad("expecting 'pim timers register-suppression <s> | register-probe <s> | keepalive <s> | bootstrap-period <s>'")
		}
		t := &c.PIM.Timers
		for rest := w[1:]; len(rest) > 0; rest = rest[2:] {
			var dst *int
			lo, hi := 1, 3600
			switch rest[0] {
			case "register-suppression":
				dst, lo = &t.RegisterSuppression, 3
			case "register-probe":
				dst, hi = &t.RegisterProbe, 60
			case "keepalive":
				dst = &t.Keepalive
			case "bootstrap-period":
				dst, hi = &t.BootstrapPeriod, 60
			default:
				return bad("unknown pim timer %q (expected register-suppression, register-probe, keepalive, bootstrap-period)", rest[0])
			}
			n, err := parseUint(rest[1], "pim timers "+rest[0], lo, hi)
			if err != nil {
				return err
			}
			*dst = n
		}
		t.Line = line
		return nil
	case "ssm-groups":
		if len(w) != 2 {
			return bad("expecting 'pim ssm-groups <prefix>'")
		}
		p, err := groupRange(w[1])
		if err != nil {
			return err
		}
		if !slices.Contains(c.PIM.SSMGroups, p) {
			c.PIM.SSMGroups = append(c.PIM.SSMGroups, p)
		}
		return nil
	case "graceful-insertion-removal":
		return c.applyGIR(w[1:], line)
	}
	return bad("unknown pim statement %q (expected interface, rp, spt-threshold, ssm-groups, graceful-insertion-removal)", strings.Join(w, " "))
}

func (c *Config) applyIGMP(w []string, line int) error {
	if len(w) < 2 || w[0] != "interface" {
		return bad("expecting 'igmp interface <name> [version 2|3] [static group <group> [source <source>]]'")
	}
	name := w[1]
	if err := c.ifl(name); err != nil {
		return err
	}
	gi := c.IGMP.iface(name, line)
	rest := w[2:]
	switch {
	case len(rest) == 0:
		return nil
	case rest[0] == "version":
		if len(rest) != 2 || (rest[1] != "2" && rest[1] != "3") {
			return bad("expecting 'igmp interface %s version 2|3'", name)
		}
		gi.Version = int(rest[1][0] - '0')
		return nil
	case rest[0] == "static":
		if (len(rest) != 3 && len(rest) != 5) || rest[1] != "group" || (len(rest) == 5 && rest[3] != "source") {
			return bad("expecting 'igmp interface %s static group <group> [source <source>]'", name)
		}
		g, err := addr(rest[2], "group")
		if err != nil {
			return err
		}
		if !g.IsMulticast() || g.IsLinkLocalMulticast() {
			return bad("group %s is not a multicast address (or is link-local 224.0.0.0/24)", g)
		}
		j := StaticJoin{Interface: name, Group: g, Line: line}
		if len(rest) == 5 {
			s, err := addr(rest[4], "source")
			if err != nil {
				return err
			}
			if s.IsMulticast() || s.IsUnspecified() {
				return bad("source %s is not a unicast address", s)
			}
			j.Source = s
		}
		for _, x := range c.IGMP.Static {
			if x.Interface == j.Interface && x.Group == j.Group && x.Source == j.Source {
				return nil
			}
		}
		c.IGMP.Static = append(c.IGMP.Static, j)
		return nil
	}
	return bad("unknown igmp interface statement %q (expected version, static)", rest[0])
}

// multicastStatements renders the PIM and IGMP statements.
func (c *Config) multicastStatements(add func(string, ...any)) {
	for _, i := range c.PIM.Interfaces {
		s := fmt.Sprintf("set protocols pim interface %s", i.Name)
		if i.Priority != 0 {
			s += fmt.Sprintf(" priority %d", i.Priority)
		}
		if i.HelloInterval != 0 {
			s += fmt.Sprintf(" hello-interval %d", i.HelloInterval)
		}
		add("%s", s)
	}
	rp := func(kind string, r RP) {
		if len(r.GroupRanges) == 0 {
			add("set protocols pim rp %s address %s", kind, r.Address)
		}
		for _, p := range r.GroupRanges {
			add("set protocols pim rp %s address %s group-ranges %s", kind, r.Address, p)
		}
	}
	for _, r := range c.PIM.RPStatic {
		rp("static", r)
	}
	if c.PIM.RPLocal != nil {
		rp("local", *c.PIM.RPLocal)
	}
	if c.PIM.Bootstrap != nil {
		add("set protocols pim rp bootstrap family inet priority %d", c.PIM.Bootstrap.Priority)
	}
	if c.PIM.SPTThresholdInfinity {
		add("set protocols pim spt-threshold infinity")
	}
	for _, p := range c.PIM.SSMGroups {
		add("set protocols pim ssm-groups %s", p)
	}
	if t := c.PIM.Timers; t.RegisterSuppression != 0 {
		add("set protocols pim timers register-suppression %d", t.RegisterSuppression)
	}
	if t := c.PIM.Timers; t.RegisterProbe != 0 {
		add("set protocols pim timers register-probe %d", t.RegisterProbe)
	}
	if t := c.PIM.Timers; t.Keepalive != 0 {
		add("set protocols pim timers keepalive %d", t.Keepalive)
	}
	if t := c.PIM.Timers; t.BootstrapPeriod != 0 {
		add("set protocols pim timers bootstrap-period %d", t.BootstrapPeriod)
	}
	c.girStatements(add)
	for _, i := range c.IGMP.Interfaces {
		if i.Version != 0 {
			add("set protocols igmp interface %s version %d", i.Name, i.Version)
		} else {
			add("set protocols igmp interface %s", i.Name)
		}
	}
	for _, j := range c.IGMP.Static {
		if j.Source.IsValid() {
			add("set protocols igmp interface %s static group %s source %s", j.Interface, j.Group, j.Source)
		} else {
			add("set protocols igmp interface %s static group %s", j.Interface, j.Group)
		}
	}
}

// validateMulticast checks references between statements.
func (c *Config) validateMulticast() error {
	for _, i := range c.PIM.Interfaces {
		if c.UnitOf(i.Name) == nil {
			return fmt.Errorf("line %d: %w: pim interface %s: interface not configured", i.Line, ErrInvalid, i.Name)
		}
	}
	for _, i := range c.IGMP.Interfaces {
		if c.UnitOf(i.Name) == nil {
			return fmt.Errorf("line %d: %w: igmp interface %s: interface not configured", i.Line, ErrInvalid, i.Name)
		}
	}
	if t := c.PIM.Timers; t.RegisterSuppression != 0 || t.RegisterProbe != 0 {
		// The Null-Register probe goes Register_Probe_Time before a
		// deadline drawn from [0.5, 1.5] x Register_Suppression_Time
		// (RFC 7761 §4.4.1): the probe must fit in the shortest one.
		supp, probe := cmp.Or(t.RegisterSuppression, 60), cmp.Or(t.RegisterProbe, 5)
		if 2*probe >= supp {
			return fmt.Errorf("line %d: %w: pim timers: register-probe %d s must be less than half of register-suppression %d s", t.Line, ErrInvalid, probe, supp)
		}
	}
	if err := c.validateGIR(); err != nil {
		return err
	}
	if r := c.PIM.RPLocal; r != nil {
		if !r.Address.IsValid() {
			return fmt.Errorf("line %d: %w: rp local needs an address ('rp local address <address>')", r.Line, ErrInvalid)
		}
		if !c.IsLocalAddress(r.Address) {
			return fmt.Errorf("line %d: %w: rp local address %s is not one of this router's addresses", r.Line, ErrInvalid, r.Address)
		}
	}
	return nil
}

// IsLocalAddress reports whether a is the address of one of the router's
// interfaces (lo0 included).
func (c *Config) IsLocalAddress(a netip.Addr) bool {
	for _, i := range c.Interfaces {
		for _, u := range i.Units {
			if u.Address.IsValid() && u.Address.Addr() == a {
				return true
			}
		}
	}
	return false
}

// LoopbackAddresses returns the addresses of lo0's units.
func (c *Config) LoopbackAddresses() []netip.Prefix {
	i := c.Interfaces["lo0"]
	if i == nil {
		return nil
	}
	var out []netip.Prefix
	for _, u := range i.Units {
		if u.Address.IsValid() {
			out = append(out, u.Address)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}
