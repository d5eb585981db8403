package rib

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Table is inet.0, or the part of it a `show route` asked for, as data
// (JSON for `| display json`) and the input of RenderTable. The counts are
// always the whole table's, as Junos prints them.
type Table struct {
	Name         string        `json:"table-name"`
	Destinations int           `json:"destination-count"`
	Routes       int           `json:"total-route-count"`
	Active       int           `json:"active-route-count"`
	Holddown     int           `json:"holddown-route-count"`
	Hidden       int           `json:"hidden-route-count"`
	LocalAS      uint32        `json:"local-as,omitempty"`
	Entries      []Destination `json:"destinations"`
}

// Destination is one prefix with its routes that are not hidden, in
// selection order (the active one first).
type Destination struct {
	Prefix netip.Prefix `json:"destination"`
	Routes []RouteInfo  `json:"routes"`
}

// RouteInfo is one route of a destination.
type RouteInfo struct {
	Active     bool     `json:"active"`
	Protocol   Protocol `json:"protocol"`
	Preference uint32   `json:"preference"`
	Metric     uint32   `json:"metric"`
	AgeSeconds int64    `json:"age-seconds"`
	// InactiveReason says why a route lost to the active one (Junos
	// wording); empty for the active route.
	InactiveReason string        `json:"inactive-reason,omitempty"`
	NextHops       []NextHopInfo `json:"next-hops"`
}

// NextHopInfo is one next hop of a route; Selected marks the one RPF uses
// (`>` in `show route`).
type NextHopInfo struct {
	To       netip.Addr `json:"to,omitzero"`
	Via      string     `json:"via"`
	Selected bool       `json:"selected"`
}

// Table returns all of inet.0 (`show route table inet.0`).
func (r *RIB) Table(now time.Time) Table {
	t := r.header()
	r.table.Walk(func(_ uint32, _ uint8, d *dest) bool {
		t.add(d, now)
		return true
	})
	return t
}

// Show answers `show route DEST`: for an address (or a /32), the active
// route of the longest match; for a shorter prefix, every destination
// inside it, or the longest match covering it when there is none.
func (r *RIB) Show(p netip.Prefix, now time.Time) Table {
	t := r.header()
	if !p.IsValid() || !p.Addr().Is4() {
		return t
	}
	k, b := key4(p)
	if b < 32 {
		r.table.WalkUnder(k, b, func(_ uint32, _ uint8, d *dest) bool {
			t.add(d, now)
			return true
		})
		if len(t.Entries) > 0 {
			return t
		}
	}
	// The longest destination with an active route that covers p.
	if d, _, _, ok := r.table.LookupPrefixIf(k, b, hasActive); ok {
		t.add(d, now)
	}
	return t
}

func (r *RIB) header() Table {
	c := r.Counts()
	return Table{
		Name: TableName, Destinations: c.Destinations, Routes: c.Routes, Active: c.Active,
		Hidden: c.Hidden, LocalAS: r.localAS,
	}
}

func (t *Table) add(d *dest, now time.Time) {
	e := Destination{Prefix: d.prefix()}
	for _, rt := range d.routes {
		if !rt.eligible() {
			continue
		}
		ri := RouteInfo{
			Active: rt == d.active, Protocol: rt.proto, Preference: rt.pref, Metric: rt.metric,
			AgeSeconds: (now.UnixNano() - rt.since) / int64(time.Second),
		}
		if !ri.Active && d.active != nil {
			ri.InactiveReason = inactiveReason(d.active, rt)
		}
		u := rt.usable()
		for i, nh := range u {
			ri.NextHops = append(ri.NextHops, NextHopInfo{To: nh.Gateway, Via: nh.Interface, Selected: i == len(u)-1})
		}
		e.Routes = append(e.Routes, ri)
	}
	if len(e.Routes) > 0 {
		t.Entries = append(t.Entries, e)
	}
}

func inactiveReason(act, rt *route) string {
	switch {
	case act.pref != rt.pref:
		return "Route Preference"
	case act.metric != rt.metric:
		return "Route Metric or MED comparison"
	}
	return "Not Best in its group"
}

// RenderTable formats `show route ...` (detail false) or `show route ...
// detail`, in the layout of Junos inet.0: a header with the whole table's
// counts, then per destination the active route marked `*` ("+ = Active
// Route, - = Last Active, * = Both": we keep no holddown, so the active
// route is always also the last active one), its next hops with `>` on
// the selected one. A Table without entries renders nothing, as Junos
// prints nothing for a destination it has no route to.
func RenderTable(w io.Writer, t Table, detail bool) error {
	if len(t.Entries) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s: %d destinations, %d routes (%d active, %d holddown, %d hidden)\n",
		t.Name, t.Destinations, t.Routes, t.Active, t.Holddown, t.Hidden)
	if detail {
		renderDetail(bw, t)
		return bw.Flush()
	}
	bw.WriteString("+ = Active Route, - = Last Active, * = Both\n\n")
	for _, e := range t.Entries {
		for i, ri := range e.Routes {
			name, mark := "", byte(' ')
			if i == 0 {
				name = e.Prefix.String()
			}
			if ri.Active {
				mark = '*'
			}
			fmt.Fprintf(bw, "%-19s%c[%s/%d] %s", name, mark, ri.Protocol, ri.Preference, clock(time.Duration(ri.AgeSeconds)*time.Second))
			if ri.Metric != 0 {
				fmt.Fprintf(bw, ", metric %d", ri.Metric)
			}
			bw.WriteByte('\n')
			for _, nh := range ri.NextHops {
				switch {
				case ri.Protocol == ProtoLocal:
					fmt.Fprintf(bw, "%22sLocal via %s\n", "", nh.Via)
				case nh.Selected:
					fmt.Fprintf(bw, "%20s> %s\n", "", nhText(nh))
				default:
					fmt.Fprintf(bw, "%22s%s\n", "", nhText(nh))
				}
			}
		}
	}
	return bw.Flush()
}

func nhText(nh NextHopInfo) string {
	if nh.To.IsValid() {
		return fmt.Sprintf("to %s via %s", nh.To, nh.Via)
	}
	return "via " + nh.Via
}

// Per-protocol fields of the detail view, as Junos shows them.
func detailFields(p Protocol, hasGateway bool) (nhType, state, task string) {
	nhType = "Router"
	if !hasGateway {
		nhType = "Interface"
	}
	switch p {
	case ProtoDirect:
		return "Interface", "<Active Int>", "IF"
	case ProtoLocal:
		return "Local", "<Active NoReadvrt Int>", "IF"
	case ProtoStatic:
		return nhType, "<Active Int Ext>", "RT"
	case ProtoOSPF:
		return nhType, "<Active Int>", "OSPF"
	case ProtoISIS:
		return nhType, "<Active Int>", "IS-IS"
	case ProtoRIP:
		return nhType, "<Active Int>", "RIPv2"
	case ProtoBGP:
		return nhType, "<Active Ext>", "BGP"
	}
	return nhType, "<Active Int Ext>", "KRT"
}

func renderDetail(bw *bufio.Writer, t Table) {
	in := strings.Repeat(" ", 16)
	for i, e := range t.Entries {
		if i > 0 {
			bw.WriteString("\n")
		}
		announced := 0
		if e.Routes[0].Active {
			announced = 1
		}
		entries := "entries"
		if len(e.Routes) == 1 {
			entries = "entry"
		}
		fmt.Fprintf(bw, "%s (%d %s, %d announced)\n", e.Prefix, len(e.Routes), entries, announced)
		for _, ri := range e.Routes {
			mark := " "
			if ri.Active {
				mark = "*"
			}
			fmt.Fprintf(bw, "        %s%-6s Preference: %d\n", mark, ri.Protocol, ri.Preference)
			nhType, state, task := detailFields(ri.Protocol, len(ri.NextHops) > 0 && ri.NextHops[0].To.IsValid())
			if !ri.Active {
				state = "<" + strings.TrimPrefix(state[1:], "Active ")
			}
			fmt.Fprintf(bw, "%sNext hop type: %s\n", in, nhType)
			for _, nh := range ri.NextHops {
				switch {
				case ri.Protocol == ProtoLocal:
					fmt.Fprintf(bw, "%sInterface: %s\n", in, nh.Via)
				default:
					to := ""
					if nh.To.IsValid() {
						to = nh.To.String() + " "
					}
					sel := ""
					if nh.Selected {
						sel = ", selected"
					}
					fmt.Fprintf(bw, "%sNext hop: %svia %s%s\n", in, to, nh.Via, sel)
				}
			}
			fmt.Fprintf(bw, "%sState: %s\n", in, state)
			if !ri.Active {
				fmt.Fprintf(bw, "%sInactive reason: %s\n", in, ri.InactiveReason)
			}
			if t.LocalAS != 0 {
				fmt.Fprintf(bw, "%sLocal AS: %d\n", in, t.LocalAS)
			}
			fmt.Fprintf(bw, "%sAge: %s", in, age(time.Duration(ri.AgeSeconds)*time.Second))
			if ri.Metric != 0 {
				fmt.Fprintf(bw, " \tMetric: %d", ri.Metric)
			}
			bw.WriteByte('\n')
			fmt.Fprintf(bw, "%sTask: %s\n", in, task)
			if ri.Active {
				fmt.Fprintf(bw, "%sAnnouncement bits (1): 0-KRT\n", in)
			}
			fmt.Fprintf(bw, "%sAS path: I\n", in)
		}
	}
}

// clock formats a duration as `show route` prints route ages: "00:00:11",
// "1d 15:35:33", "1w2d 03:04:05" (the same form as re/kernel's inet.1).
func clock(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	days, s := s/86400, s%86400
	hms := fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
	switch {
	case days >= 7:
		return fmt.Sprintf("%dw%dd %s", days/7, days%7, hms)
	case days > 0:
		return fmt.Sprintf("%dd %s", days, hms)
	}
	return hms
}

// age formats a route age as `show route detail` does: "2:53", "1:02:03",
// "1d 2:03:04", "1w2d 3:04:05".
func age(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	days, s := s/86400, s%86400
	h, m, sec := s/3600, s/60%60, s%60
	hms := fmt.Sprintf("%d:%02d", m, sec)
	if h > 0 || days > 0 {
		hms = fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	switch {
	case days >= 7:
		return fmt.Sprintf("%dw%dd %s", days/7, days%7, hms)
	case days > 0:
		return fmt.Sprintf("%dd %s", days, hms)
	}
	return hms
}
