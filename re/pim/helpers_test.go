package pim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func a(s string) netip.Addr   { return netip.MustParseAddr(s) }
func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// fakeRIB answers RPF by longest prefix match over a table the test edits.
type fakeRIB struct {
	routes map[netip.Prefix]RPF
}

func newRIB() *fakeRIB { return &fakeRIB{routes: map[netip.Prefix]RPF{}} }

func (r *fakeRIB) LookupRPF(x netip.Addr) RPF {
	best, bits := RPF{}, -1
	for p, rpf := range r.routes {
		if p.Contains(x) && p.Bits() > bits {
			best, bits = rpf, p.Bits()
		}
	}
	return best
}

// of returns the actions of type T.
func of[T Action](acts []Action) []T {
	var out []T
	for _, x := range acts {
		if v, ok := x.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// dump renders actions one per line (for failure messages).
func dump(acts []Action) string {
	var b strings.Builder
	for _, x := range acts {
		fmt.Fprintf(&b, "%T %+v\n", x, x)
	}
	return b.String()
}

func jpEntries(acts []Action) []string {
	var out []string
	for _, x := range of[SendJoinPrune](acts) {
		for _, g := range x.Msg.Groups {
			for _, j := range g.Joins {
				out = append(out, fmt.Sprintf("if%d->%s J %s", x.If, x.Msg.UpstreamNeighbor, srcStr(g.Group, j)))
			}
			for _, pr := range g.Prunes {
				out = append(out, fmt.Sprintf("if%d->%s P %s", x.If, x.Msg.UpstreamNeighbor, srcStr(g.Group, pr)))
			}
		}
	}
	slices.Sort(out)
	return out
}

func srcStr(g netip.Addr, s JPSource) string {
	switch {
	case s.WC:
		return fmt.Sprintf("(*,%s)", g)
	case s.RPT:
		return fmt.Sprintf("(%s,%s,rpt)", s.Addr, g)
	}
	return fmt.Sprintf("(%s,%s)", s.Addr, g)
}

func mustEngine(t testing.TB, cfg Config, rib RPFLookup) *Engine {
	t.Helper()
	e, err := New(cfg, Options{Seed: [2]uint64{1, 2}, RPF: rib}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
