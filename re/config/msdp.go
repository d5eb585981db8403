package config

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MSDP is `set protocols msdp …` (RFC 3618; seed 000 for NSR, seed 001
// for group-specific peering).
type MSDP struct {
	LocalAddress netip.Addr
	Peers        []MSDPPeer
	Groups       []MSDPGroup
	// Timers in seconds (0: the defaults 60, 75, 75).
	KeepAlive, HoldTime, SAHoldTime int
	ActiveSourceLimit               *SourceLimit
	Import, Export                  []string
	AuthenticationKey               string
	LocalSources                    []MSDPLocalSource
	Traceoptions                    []string
	// NonstopRoutingDisable turns MSDP socket replication off (seed 000:
	// hidden `nonstop-routing-disable`).
	NonstopRoutingDisable bool
	// Server is seed 001's MSDP server role.
	Server *MSDPServer
	// GroupSpecific is seed 001's RP role: peer internally with the MSDP
	// server learned from the bootstrap S-bit.
	GroupSpecific *MSDPGroupSpecific
}

// Enabled reports whether MSDP is configured.
func (m *MSDP) Enabled() bool {
	return len(m.Peers) > 0 || len(m.Groups) > 0 || m.Server != nil || m.GroupSpecific != nil || len(m.LocalSources) > 0
}

// MSDPPeer is one peer (`peer A …`, or `group G peer A …`).
type MSDPPeer struct {
	Address           netip.Addr
	LocalAddress      netip.Addr
	Group             string
	DefaultPeer       bool
	AuthenticationKey string
	ActiveSourceLimit *SourceLimit
	Import, Export    []string
	Line              int
}

// MSDPGroup is `group NAME …`.
type MSDPGroup struct {
	Name              string
	MeshGroup         bool
	LocalAddress      netip.Addr
	AuthenticationKey string
	Import, Export    []string
}

// SourceLimit is `active-source-limit maximum N [threshold N] [log-warning
// PERCENT] [log-interval S]`.
type SourceLimit struct {
	Maximum, Threshold, LogWarning, LogInterval int
}

// MSDPLocalSource is `local-source S group G` (a source originated as if
// it had registered here).
type MSDPLocalSource struct {
	Source, Group netip.Addr
}

// MSDPServer is `server [address A] [accept-rps P]`.
type MSDPServer struct {
	Address   netip.Addr
	AcceptRPs []netip.Prefix
}

// MSDPGroupSpecific is `group-specific-peering [local-address A]`.
type MSDPGroupSpecific struct {
	LocalAddress netip.Addr
}

// PolicyStatement is `set policy-options policy-statement NAME term T
// from … then accept|reject`: route-filter matches the SA's group,
// source-address-filter its source, rp-address-filter its originator.
type PolicyStatement struct {
	Name  string
	Terms []PolicyTerm
}

// PolicyTerm is one term.
type PolicyTerm struct {
	Name                 string
	Group, Source, RP    []PrefixMatch
	Accept, Reject, Next bool
}

// PrefixMatch is a prefix with its match type: exact, orlonger, longer,
// upto /N, prefix-length-range /A-/B.
type PrefixMatch struct {
	Prefix   netip.Prefix
	Type     string
	Min, Max int
}

func (p PrefixMatch) String() string {
	switch p.Type {
	case "upto":
		return fmt.Sprintf("%s upto /%d", p.Prefix, p.Max)
	case "prefix-length-range":
		return fmt.Sprintf("%s prefix-length-range /%d-/%d", p.Prefix, p.Min, p.Max)
	}
	return p.Prefix.String() + " " + p.Type
}

func (m *MSDP) peer(a netip.Addr, line int) *MSDPPeer {
	for i := range m.Peers {
		if m.Peers[i].Address == a {
			return &m.Peers[i]
		}
	}
	m.Peers = append(m.Peers, MSDPPeer{Address: a, Line: line})
	return &m.Peers[len(m.Peers)-1]
}

func (m *MSDP) group(name string) *MSDPGroup {
	for i := range m.Groups {
		if m.Groups[i].Name == name {
			return &m.Groups[i]
		}
	}
	m.Groups = append(m.Groups, MSDPGroup{Name: name})
	return &m.Groups[len(m.Groups)-1]
}

func parseLimit(w []string) (*SourceLimit, error) {
	l := &SourceLimit{}
	if len(w) == 0 || len(w)%2 != 0 {
		return nil, bad("expecting 'active-source-limit maximum <n> [threshold <n>] [log-warning <percent>] [log-interval <s>]'")
	}
	for ; len(w) > 0; w = w[2:] {
		var err error
		switch w[0] {
		case "maximum":
			l.Maximum, err = parseUint(w[1], "maximum", 0, 1<<30)
		case "threshold":
			l.Threshold, err = parseUint(w[1], "threshold", 0, 1<<30)
		case "log-warning":
			l.LogWarning, err = parseUint(w[1], "log-warning", 0, 100)
		case "log-interval":
			l.LogInterval, err = parseUint(w[1], "log-interval", 6, 32767)
		default:
			return nil, bad("unknown active-source-limit option %q", w[0])
		}
		if err != nil {
			return nil, err
		}
	}
	if l.Threshold > l.Maximum && l.Maximum > 0 {
		return nil, bad("active-source-limit threshold %d is above maximum %d", l.Threshold, l.Maximum)
	}
	return l, nil
}

// peerOption parses the options common to peers, groups and the global
// level into the given fields.
func peerOption(w []string, local *netip.Addr, key *string, imp, exp *[]string) (bool, error) {
	if len(w) != 2 {
		return false, nil
	}
	switch w[0] {
	case "local-address":
		a, err := addr(w[1], "local address")
		if err != nil {
			return true, err
		}
		*local = a
	case "authentication-key":
		*key = w[1]
	case "import":
		*imp = appendUniq(*imp, w[1])
	case "export":
		*exp = appendUniq(*exp, w[1])
	default:
		return false, nil
	}
	return true, nil
}

func (c *Config) applyMSDP(w []string, line int) error {
	m := &c.MSDP
	if len(w) == 0 {
		return bad("incomplete statement, expecting msdp peer|group|...")
	}
	if ok, err := peerOption(w, &m.LocalAddress, &m.AuthenticationKey, &m.Import, &m.Export); ok || err != nil {
		return err
	}
	switch w[0] {
	case "peer":
		if len(w) < 2 {
			return bad("expecting 'msdp peer <address> ...'")
		}
		a, err := addr(w[1], "peer address")
		if err != nil {
			return err
		}
		return c.msdpPeer(m.peer(a, line), w[2:])
	case "group":
		if len(w) < 3 {
			return bad("expecting 'msdp group <name> mode mesh-group|standard' or 'msdp group <name> peer <address> ...'")
		}
		g := m.group(w[1])
		rest := w[2:]
		if ok, err := peerOption(rest, &g.LocalAddress, &g.AuthenticationKey, &g.Import, &g.Export); ok || err != nil {
			return err
		}
		switch rest[0] {
		case "mode":
			if len(rest) != 2 || (rest[1] != "mesh-group" && rest[1] != "standard") {
				return bad("expecting 'msdp group %s mode mesh-group|standard'", w[1])
			}
			g.MeshGroup = rest[1] == "mesh-group"
			return nil
		case "peer":
			if len(rest) < 2 {
				return bad("expecting 'msdp group %s peer <address>'", w[1])
			}
			a, err := addr(rest[1], "peer address")
			if err != nil {
				return err
			}
			p := m.peer(a, line)
			if p.Group != "" && p.Group != w[1] {
				return bad("peer %s is already in group %s", a, p.Group)
			}
			p.Group = w[1]
			return c.msdpPeer(p, rest[2:])
		}
		return bad("unknown msdp group statement %q", rest[0])
	case "keep-alive", "hold-time", "sa-hold-time":
		// The modelled platform's ranges.
		r := map[string][2]int{"keep-alive": {10, 60}, "hold-time": {15, 150}, "sa-hold-time": {75, 300}}[w[0]]
		v, err := uintStmt(w[1:], w[0], w[0]+" <seconds>", r[0], r[1])
		if err != nil {
			return err
		}
		switch w[0] {
		case "keep-alive":
			m.KeepAlive = v
		case "hold-time":
			m.HoldTime = v
		default:
			m.SAHoldTime = v
		}
		return nil
	case "active-source-limit":
		l, err := parseLimit(w[1:])
		if err != nil {
			return err
		}
		m.ActiveSourceLimit = l
		return nil
	case "local-source":
		if len(w) != 4 || w[2] != "group" {
			return bad("expecting 'msdp local-source <source> group <group>'")
		}
		s, err := addr(w[1], "source")
		if err != nil {
			return err
		}
		g, err := addr(w[3], "group")
		if err != nil {
			return err
		}
		if !g.IsMulticast() {
			return bad("group %s is not a multicast address", g)
		}
		m.LocalSources = append(m.LocalSources, MSDPLocalSource{Source: s, Group: g})
		return nil
	case "traceoptions":
		if len(w) != 3 || w[1] != "flag" {
			return bad("expecting 'msdp traceoptions flag <flag>'")
		}
		switch w[2] {
		case "source-active", "keepalive", "packets", "normal", "state", "nsr-synchronization", "all":
		default:
			return bad("unknown traceoptions flag %q (expected source-active, keepalive, packets, normal, state, nsr-synchronization, all)", w[2])
		}
		m.Traceoptions = appendUniq(m.Traceoptions, w[2])
		return nil
	case "nonstop-routing-disable":
		if len(w) != 1 {
			return bad("expecting 'msdp nonstop-routing-disable'")
		}
		m.NonstopRoutingDisable = true
		return nil
	case "server":
		if m.Server == nil {
			m.Server = &MSDPServer{}
		}
		rest := w[1:]
		if len(rest) == 0 {
			return nil
		}
		if len(rest) != 2 {
			return bad("expecting 'msdp server [address <address>] [accept-rps <prefix>]'")
		}
		switch rest[0] {
		case "address":
			a, err := addr(rest[1], "server address")
			if err != nil {
				return err
			}
			m.Server.Address = a
		case "accept-rps":
			p, err := netip.ParsePrefix(rest[1])
			if err != nil || !p.Addr().Is4() {
				return bad("invalid prefix %q", rest[1])
			}
			m.Server.AcceptRPs = append(m.Server.AcceptRPs, p.Masked())
		default:
			return bad("unknown msdp server statement %q", rest[0])
		}
		return nil
	case "group-specific-peering":
		if m.GroupSpecific == nil {
			m.GroupSpecific = &MSDPGroupSpecific{}
		}
		if len(w) == 1 {
			return nil
		}
		if len(w) != 3 || w[1] != "local-address" {
			return bad("expecting 'msdp group-specific-peering [local-address <address>]'")
		}
		a, err := addr(w[2], "local address")
		if err != nil {
			return err
		}
		m.GroupSpecific.LocalAddress = a
		return nil
	}
	return bad("unknown msdp statement %q", strings.Join(w, " "))
}

func (c *Config) msdpPeer(p *MSDPPeer, w []string) error {
	if len(w) == 0 {
		return nil
	}
	if ok, err := peerOption(w, &p.LocalAddress, &p.AuthenticationKey, &p.Import, &p.Export); ok || err != nil {
		return err
	}
	switch w[0] {
	case "default-peer":
		if len(w) != 1 {
			return bad("expecting 'msdp peer %s default-peer'", p.Address)
		}
		p.DefaultPeer = true
		return nil
	case "active-source-limit":
		l, err := parseLimit(w[1:])
		if err != nil {
			return err
		}
		p.ActiveSourceLimit = l
		return nil
	}
	return bad("unknown msdp peer statement %q (expected local-address, authentication-key, default-peer, active-source-limit, import, export)", strings.Join(w, " "))
}

// applyPolicy parses `policy-options policy-statement NAME term T from
// route-filter|source-address-filter|rp-address-filter P TYPE` and `… then
// accept|reject|next term`.
func (c *Config) applyPolicy(w []string) error {
	if len(w) < 6 || w[0] != "policy-statement" || w[2] != "term" {
		return bad("expecting 'policy-options policy-statement <name> term <term> from|then ...'")
	}
	if c.Policies == nil {
		c.Policies = map[string]*PolicyStatement{}
	}
	ps := c.Policies[w[1]]
	if ps == nil {
		ps = &PolicyStatement{Name: w[1]}
		c.Policies[w[1]] = ps
	}
	var t *PolicyTerm
	for i := range ps.Terms {
		if ps.Terms[i].Name == w[3] {
			t = &ps.Terms[i]
		}
	}
	if t == nil {
		ps.Terms = append(ps.Terms, PolicyTerm{Name: w[3]})
		t = &ps.Terms[len(ps.Terms)-1]
	}
	rest := w[4:]
	switch rest[0] {
	case "then":
		if len(rest) == 2 && rest[1] == "accept" {
			t.Accept, t.Reject, t.Next = true, false, false
			return nil
		}
		if len(rest) == 2 && rest[1] == "reject" {
			t.Accept, t.Reject, t.Next = false, true, false
			return nil
		}
		if len(rest) == 3 && rest[1] == "next" && rest[2] == "term" {
			t.Accept, t.Reject, t.Next = false, false, true
			return nil
		}
		return bad("expecting 'then accept|reject|next term'")
	case "from":
		if len(rest) < 4 {
			return bad("expecting 'from route-filter|source-address-filter|rp-address-filter <prefix> <match-type>'")
		}
		pm, err := parsePrefixMatch(rest[2:])
		if err != nil {
			return err
		}
		switch rest[1] {
		case "route-filter":
			t.Group = append(t.Group, pm)
		case "source-address-filter":
			t.Source = append(t.Source, pm)
		case "rp-address-filter":
			t.RP = append(t.RP, pm)
		default:
			return bad("unknown from condition %q (expected route-filter, source-address-filter, rp-address-filter)", rest[1])
		}
		return nil
	}
	return bad("expecting 'from' or 'then' after the term name")
}

func parsePrefixMatch(w []string) (PrefixMatch, error) {
	p, err := netip.ParsePrefix(w[0])
	if err != nil || !p.Addr().Is4() {
		return PrefixMatch{}, bad("invalid prefix %q", w[0])
	}
	pm := PrefixMatch{Prefix: p.Masked(), Type: w[1]}
	length := func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimPrefix(s, "/"))
		if err != nil || n < 0 || n > 32 {
			return 0, bad("invalid prefix length %q", s)
		}
		return n, nil
	}
	switch {
	case len(w) == 2 && (w[1] == "exact" || w[1] == "orlonger" || w[1] == "longer"):
		return pm, nil
	case len(w) == 3 && w[1] == "upto":
		pm.Min = p.Bits()
		pm.Max, err = length(w[2])
		return pm, err
	case len(w) == 3 && w[1] == "prefix-length-range":
		a, b, ok := strings.Cut(w[2], "-")
		if !ok {
			return pm, bad("expecting prefix-length-range /A-/B")
		}
		if pm.Min, err = length(a); err != nil {
			return pm, err
		}
		if pm.Max, err = length(b); err != nil {
			return pm, err
		}
		if pm.Min > pm.Max || pm.Min < p.Bits() {
			return pm, bad("prefix-length-range /%d-/%d does not fit %s", pm.Min, pm.Max, p)
		}
		return pm, nil
	}
	return pm, bad("unknown match type %q (expected exact, orlonger, longer, upto /N, prefix-length-range /A-/B)", strings.Join(w[1:], " "))
}

// validateMSDP checks references: peers' groups and policies exist.
func (c *Config) validateMSDP() error {
	m := &c.MSDP
	for _, p := range m.Peers {
		for _, pol := range append(append(slices.Clone(p.Import), p.Export...), append(m.Import, m.Export...)...) {
			if c.Policies[pol] == nil {
				return fmt.Errorf("line %d: %w: msdp peer %s: policy %q is not defined (set policy-options policy-statement %s …)", p.Line, ErrInvalid, p.Address, pol, pol)
			}
		}
	}
	for _, g := range m.Groups {
		for _, pol := range append(slices.Clone(g.Import), g.Export...) {
			if c.Policies[pol] == nil {
				return fmt.Errorf("%w: msdp group %s: policy %q is not defined", ErrInvalid, g.Name, pol)
			}
		}
	}
	return nil
}

// msdpStatements renders MSDP and the policies.
func (c *Config) msdpStatements(add func(string, ...any)) {
	m := &c.MSDP
	opts := func(prefix string, local netip.Addr, key string, imp, exp []string) {
		if local.IsValid() {
			add("%s local-address %s", prefix, local)
		}
		if key != "" {
			add("%s authentication-key %s", prefix, key)
		}
		for _, p := range imp {
			add("%s import %s", prefix, p)
		}
		for _, p := range exp {
			add("%s export %s", prefix, p)
		}
	}
	limit := func(prefix string, l *SourceLimit) {
		if l == nil {
			return
		}
		s := fmt.Sprintf("%s active-source-limit maximum %d", prefix, l.Maximum)
		if l.Threshold > 0 {
			s += fmt.Sprintf(" threshold %d", l.Threshold)
		}
		if l.LogWarning > 0 {
			s += fmt.Sprintf(" log-warning %d", l.LogWarning)
		}
		if l.LogInterval > 0 {
			s += fmt.Sprintf(" log-interval %d", l.LogInterval)
		}
		add("%s", s)
	}
	opts("set protocols msdp", m.LocalAddress, m.AuthenticationKey, m.Import, m.Export)
	for _, t := range []struct {
		name string
		v    int
	}{{"keep-alive", m.KeepAlive}, {"hold-time", m.HoldTime}, {"sa-hold-time", m.SAHoldTime}} {
		if t.v != 0 {
			add("set protocols msdp %s %d", t.name, t.v)
		}
	}
	limit("set protocols msdp", m.ActiveSourceLimit)
	for _, g := range m.Groups {
		if g.MeshGroup {
			add("set protocols msdp group %s mode mesh-group", g.Name)
		}
		opts("set protocols msdp group "+g.Name, g.LocalAddress, g.AuthenticationKey, g.Import, g.Export)
	}
	for _, p := range m.Peers {
		prefix := "set protocols msdp peer " + p.Address.String()
		if p.Group != "" {
			prefix = "set protocols msdp group " + p.Group + " peer " + p.Address.String()
		}
		if !p.LocalAddress.IsValid() && p.AuthenticationKey == "" && len(p.Import) == 0 && len(p.Export) == 0 && !p.DefaultPeer && p.ActiveSourceLimit == nil {
			add("%s", prefix)
		}
		opts(prefix, p.LocalAddress, p.AuthenticationKey, p.Import, p.Export)
		if p.DefaultPeer {
			add("%s default-peer", prefix)
		}
		limit(prefix, p.ActiveSourceLimit)
	}
	for _, s := range m.LocalSources {
		add("set protocols msdp local-source %s group %s", s.Source, s.Group)
	}
	for _, f := range m.Traceoptions {
		add("set protocols msdp traceoptions flag %s", f)
	}
	if m.NonstopRoutingDisable {
		add("set protocols msdp nonstop-routing-disable")
	}
	if s := m.Server; s != nil {
		add("set protocols msdp server")
		if s.Address.IsValid() {
			add("set protocols msdp server address %s", s.Address)
		}
		for _, p := range s.AcceptRPs {
			add("set protocols msdp server accept-rps %s", p)
		}
	}
	if g := m.GroupSpecific; g != nil {
		if g.LocalAddress.IsValid() {
			add("set protocols msdp group-specific-peering local-address %s", g.LocalAddress)
		} else {
			add("set protocols msdp group-specific-peering")
		}
	}
	names := make([]string, 0, len(c.Policies))
	for n := range c.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, t := range c.Policies[n].Terms {
			prefix := fmt.Sprintf("set policy-options policy-statement %s term %s", n, t.Name)
			for _, x := range t.Group {
				add("%s from route-filter %s", prefix, x)
			}
			for _, x := range t.Source {
				add("%s from source-address-filter %s", prefix, x)
			}
			for _, x := range t.RP {
				add("%s from rp-address-filter %s", prefix, x)
			}
			switch {
			case t.Accept:
				add("%s then accept", prefix)
			case t.Reject:
				add("%s then reject", prefix)
			case t.Next:
				add("%s then next term", prefix)
			}
		}
	}
}
