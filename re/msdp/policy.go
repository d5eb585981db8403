package msdp

import (
	"fmt"
	"net/netip"
)

// Verdict is what a policy term decides.
type Verdict uint8

// Verdicts. A term without a terminating action (VerdictNext) lets the
// evaluation go on to the next term, then the next policy of the chain.
const (
	VerdictNext Verdict = iota
	VerdictAccept
	VerdictReject
)

func (v Verdict) String() string {
	switch v {
	case VerdictAccept:
		return "accept"
	case VerdictReject:
		return "reject"
	}
	return "next"
}

// MatchType is how a prefix filter matches an address, as Junos
// route-filter match types do. An SA's group, source and originator are
// host addresses: they are matched as /32 routes.
type MatchType uint8

// Match types.
const (
	// Exact: the filter's prefix is the /32 of the address.
	Exact MatchType = iota
	// OrLonger: the prefix contains the address.
	OrLonger
	// Longer: the prefix is shorter than /32 and contains the address.
	Longer
	// PrefixLengthRange: the prefix contains the address and 32 is in
	// [Min, Max].
	PrefixLengthRange
)

func (m MatchType) String() string {
	return [...]string{"exact", "orlonger", "longer", "prefix-length-range"}[m]
}

// PrefixFilter is one `route-filter PREFIX TYPE` line.
type PrefixFilter struct {
	Prefix netip.Prefix `json:"prefix"`
	Type   MatchType    `json:"type"`
	// Min and Max bound the length for PrefixLengthRange.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
}

func (f PrefixFilter) match(a netip.Addr) bool {
	if !f.Prefix.Contains(a) {
		return false
	}
	switch f.Type {
	case Exact:
		return f.Prefix.Bits() == 32
	case OrLonger:
		return true
	case Longer:
		return f.Prefix.Bits() < 32
	case PrefixLengthRange:
		return f.Min <= 32 && 32 <= f.Max
	}
	return false
}

// Term is one policy term: from (every non-empty list must match; within
// a list any filter may) then Then.
type Term struct {
	Name       string         `json:"name"`
	Group      []PrefixFilter `json:"group,omitempty"`
	Source     []PrefixFilter `json:"source,omitempty"`
	Originator []PrefixFilter `json:"originator,omitempty"`
	Then       Verdict        `json:"then"`
}

func anyMatch(fs []PrefixFilter, a netip.Addr) bool {
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.match(a) {
			return true
		}
	}
	return false
}

// Policy is a small route-filter style SA policy (Junos `policy-statement`
// applied as MSDP import or export): terms evaluated in order, the first
// matching term with a terminating action decides.
type Policy struct {
	Name  string `json:"name"`
	Terms []Term `json:"terms"`
}

// Evaluate returns the verdict of the first matching terminating term,
// VerdictNext if none.
func (p *Policy) Evaluate(group, source, originator netip.Addr) Verdict {
	for i := range p.Terms {
		t := &p.Terms[i]
		if t.Then == VerdictNext {
			continue
		}
		if anyMatch(t.Group, group) && anyMatch(t.Source, source) && anyMatch(t.Originator, originator) {
			return t.Then
		}
	}
	return VerdictNext
}

func (p *Policy) validate() error {
	for _, t := range p.Terms {
		for _, fs := range [][]PrefixFilter{t.Group, t.Source, t.Originator} {
			for _, f := range fs {
				if !f.Prefix.IsValid() || !f.Prefix.Addr().Is4() {
					return fmt.Errorf("term %q: %v is not an IPv4 prefix", t.Name, f.Prefix)
				}
				if f.Prefix != f.Prefix.Masked() {
					return fmt.Errorf("term %q: %v has host bits set", t.Name, f.Prefix)
				}
				if f.Type == PrefixLengthRange && (f.Min < f.Prefix.Bits() || f.Min > f.Max || f.Max > 32) {
					return fmt.Errorf("term %q: %v prefix-length-range /%d-/%d", t.Name, f.Prefix, f.Min, f.Max)
				}
				if f.Type > PrefixLengthRange {
					return fmt.Errorf("term %q: unknown match type %d", t.Name, f.Type)
				}
			}
		}
		if t.Then > VerdictReject {
			return fmt.Errorf("term %q: unknown action %d", t.Name, t.Then)
		}
	}
	return nil
}

// accepts evaluates a policy chain; with no verdict the default MSDP
// policy accepts.
func accepts(chain []*Policy, group, source, originator netip.Addr) bool {
	for _, p := range chain {
		switch p.Evaluate(group, source, originator) {
		case VerdictAccept:
			return true
		case VerdictReject:
			return false
		}
	}
	return true
}
