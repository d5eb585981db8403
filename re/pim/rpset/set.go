package rpset

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// Forever is the deadline of something that never expires (a static RP, a
// holdtime of 0xffff).
const Forever int64 = math.MaxInt64

// Origin says where an RP-set entry comes from.
type Origin uint8

// Origins, in the order `show pim rps` lists them.
const (
	// OriginStatic: `set protocols pim rp static address A`.
	OriginStatic Origin = iota + 1
	// OriginLocal: `set protocols pim rp local address A` (this router is
	// the RP).
	OriginLocal
	// OriginBootstrap: learned from a bootstrap message (RFC 5059), or from
	// a C-RP-Adv at the elected BSR.
	OriginBootstrap
)

// String names the origin as the Type column of `show pim rps` does.
func (o Origin) String() string {
	switch o {
	case OriginStatic:
		return "static"
	case OriginLocal:
		return "local"
	case OriginBootstrap:
		return "bootstrap"
	}
	return "unknown"
}

// Candidate is one (RP, group range) entry of the RP-set (RFC 7761 §4.7.1).
// Lower Priority values are preferred (RFC 5059 §3.2).
type Candidate struct {
	RP       netip.Addr   `json:"rp"`
	Groups   netip.Prefix `json:"groups"`
	Priority uint8        `json:"priority"`
	Origin   Origin       `json:"origin"`
	// SBit: the C-RP has external MSDP peerings (seed 001 §3, the MSDP-bit
	// in C-RP-Adv and Bootstrap messages).
	SBit bool `json:"s_bit,omitempty"`
	// Holdtime in seconds as advertised (0 for static entries).
	Holdtime uint16 `json:"holdtime,omitempty"`
	// Expires is the absolute deadline (ns); Forever for static entries.
	Expires int64 `json:"expires"`
	// Learned is when the entry was first learned (ns), for "Time Active".
	Learned int64 `json:"learned"`
}

func (c Candidate) key() candKey { return candKey{c.RP, c.Groups} }

type candKey struct {
	rp netip.Addr
	g  netip.Prefix
}

// better reports whether a is preferred over b for group g by RFC 7761
// §4.7.1: longest group range, then the lowest priority value, then the
// highest hash value, then the highest RP address.
func better(a, b *Candidate, g netip.Addr, maskLen int) bool {
	if a.Groups.Bits() != b.Groups.Bits() {
		return a.Groups.Bits() > b.Groups.Bits()
	}
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	ha, hb := Hash(g, maskLen, a.RP), Hash(g, maskLen, b.RP)
	if ha != hb {
		return ha > hb
	}
	return a.RP.Compare(b.RP) > 0
}

// Set is the RP-set: configured entries plus those learned from bootstrap.
// The zero value is an empty set using DefaultHashMaskLen.
type Set struct {
	static []Candidate // OriginStatic and OriginLocal, from configuration
	boot   []Candidate // OriginBootstrap
	// HashMaskLen is the hash mask length from the current BSR (0: the
	// default for the address family).
	HashMaskLen int
}

// SetConfigured replaces the configured (static and local) entries.
func (s *Set) SetConfigured(c []Candidate) {
	s.static = slices.Clone(c)
	for i := range s.static {
		if s.static[i].Expires == 0 {
			s.static[i].Expires = Forever
		}
	}
	sortCands(s.static)
}

// SetBootstrap replaces the bootstrap-learned entries.
func (s *Set) SetBootstrap(c []Candidate) {
	s.boot = slices.Clone(c)
	sortCands(s.boot)
}

// Bootstrap returns the bootstrap-learned entries (sorted).
func (s *Set) Bootstrap() []Candidate { return slices.Clone(s.boot) }

// All returns every entry, configured first, each part sorted by RP then
// group range.
func (s *Set) All() []Candidate {
	out := make([]Candidate, 0, len(s.static)+len(s.boot))
	out = append(out, s.static...)
	return append(out, s.boot...)
}

func sortCands(c []Candidate) {
	slices.SortFunc(c, func(a, b Candidate) int {
		if r := a.RP.Compare(b.RP); r != 0 {
			return r
		}
		if r := a.Groups.Addr().Compare(b.Groups.Addr()); r != 0 {
			return r
		}
		return cmp.Compare(a.Groups.Bits(), b.Groups.Bits())
	})
}

func (s *Set) maskLen(g netip.Addr) int {
	if s.HashMaskLen > 0 {
		return s.HashMaskLen
	}
	if g.Is4() {
		return DefaultHashMaskLen
	}
	return DefaultHashMaskLenV6
}

// Lookup returns RP(G) (RFC 7761 §4.7.1): among the entries whose group
// range contains g and that have not expired at now, the longest range, then
// the lowest priority value, then the highest hash value (§4.7.2), then the
// highest address. Configured and learned entries compete on equal terms;
// give a static RP a lower priority value to prefer it.
func (s *Set) Lookup(g netip.Addr, now int64) (Candidate, bool) {
	var best *Candidate
	ml := s.maskLen(g)
	for _, list := range [][]Candidate{s.static, s.boot} {
		for i := range list {
			c := &list[i]
			if !c.Groups.Contains(g) || (c.Expires != Forever && c.Expires <= now) {
				continue
			}
			if best == nil || better(c, best, g, ml) {
				best = c
			}
		}
	}
	if best == nil {
		return Candidate{}, false
	}
	return *best, true
}

// MSDPServerGroup is the group the MSDP-server tie-break hashes on: the
// server represents all groups, 224.0.0.0/4 (seed 001 §2).
var MSDPServerGroup = netip.AddrFrom4([4]byte{224, 0, 0, 0})

// MSDPServer returns "the MSDP server" of seed 001 §4: among the RPs whose
// S-bit is set, the one with the highest priority (lowest value); "in case of
// a tie, the hash function should be run between them and the one with the
// highest hash value should be taken" — hashed on MSDPServerGroup; a
// remaining tie goes to the highest address.
func (s *Set) MSDPServer(now int64) (Candidate, bool) {
	var best *Candidate
	ml := s.maskLen(MSDPServerGroup)
	for _, list := range [][]Candidate{s.static, s.boot} {
		for i := range list {
			c := &list[i]
			if !c.SBit || (c.Expires != Forever && c.Expires <= now) {
				continue
			}
			if best == nil {
				best = c
				continue
			}
			if c.Priority != best.Priority {
				if c.Priority < best.Priority {
					best = c
				}
				continue
			}
			hc, hb := Hash(MSDPServerGroup, ml, c.RP), Hash(MSDPServerGroup, ml, best.RP)
			if hc > hb || (hc == hb && c.RP.Compare(best.RP) > 0) {
				best = c
			}
		}
	}
	if best == nil {
		return Candidate{}, false
	}
	return *best, true
}

// Expire drops learned entries whose holdtime ran out at now and reports
// whether any did.
func (s *Set) Expire(now int64) bool {
	n := len(s.boot)
	s.boot = slices.DeleteFunc(s.boot, func(c Candidate) bool { return c.Expires != Forever && c.Expires <= now })
	return len(s.boot) != n
}

// NextDeadline is the earliest expiry of a learned entry (0: none).
func (s *Set) NextDeadline() int64 {
	var d int64
	for _, c := range s.boot {
		if c.Expires != Forever && (d == 0 || c.Expires < d) {
			d = c.Expires
		}
	}
	return d
}
