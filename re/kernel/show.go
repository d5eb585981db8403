package kernel

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// The data accessors below return plain structs (JSON-able, for `| display
// json`); the Render functions format them as the Junos CLI does, and the
// Show methods combine both. Renderers run without the kernel's lock. The
// tables that grow with the number of flows (forwarding cache, inet.1) are
// walked in chunks (WalkRoutes, WalkRouteTable): the keys are taken under
// the lock, then each chunk is copied under it and rendered without it, so
// a CLI client reading slowly neither holds the lock nor makes the RE copy
// the whole table, and a failed write stops the walk.

// ShowChunk is how many entries a Show method copies under the lock at a
// time: about 300 KB of rows, a few milliseconds of lock.
const ShowChunk = 1024

// MulticastNextHop is one row of `show multicast next-hops`.
type MulticastNextHop struct {
	ID         hal.NHID `json:"id"`
	Refcount   int      `json:"refcount"`
	KRefcount  int      `json:"krefcount"`
	Downstream []string `json:"downstream-interfaces"`
}

// NextHops returns the multicast (OIL) next hops by id.
func (k *Kernel) NextHops() []MulticastNextHop {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]MulticastNextHop, 0, len(k.oils))
	for _, o := range sortedOILs(k.oils) {
		out = append(out, MulticastNextHop{ID: o.id, Refcount: o.refs, KRefcount: 1, Downstream: o.names()})
	}
	return out
}

// RenderNextHops formats `show multicast next-hops` (reference-junos §2.1,
// seed 003); continuation interfaces are indented to column 31.
func RenderNextHops(w io.Writer, nhs []MulticastNextHop) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("Family: INET\nID          Refcount KRefcount Downstream interface\n")
	for _, nh := range nhs {
		fmt.Fprintf(bw, "%-12d%8d%10d", nh.ID, nh.Refcount, nh.KRefcount)
		for i, d := range nh.Downstream {
			if i > 0 {
				bw.WriteString(strings.Repeat(" ", 30))
			}
			bw.WriteString(" " + d + "\n")
		}
		if len(nh.Downstream) == 0 {
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

// ShowNextHops writes `show multicast next-hops`.
func (k *Kernel) ShowNextHops(w io.Writer) error { return RenderNextHops(w, k.NextHops()) }

// MulticastRoute is one (S,G) of `show multicast route`.
type MulticastRoute struct {
	Group              netip.Addr `json:"group"`
	Source             netip.Addr `json:"source"`
	SourcePrefixLen    int        `json:"source-prefix-length"`
	Upstream           string     `json:"upstream-interface"`
	Downstream         []string   `json:"downstream-interfaces"`
	SessionDescription string     `json:"session-description"`
	KBps               uint64     `json:"kbps"`
	PPS                uint64     `json:"pps"`
	Packets            uint64     `json:"packets"`
	NextHopID          hal.NHID   `json:"next-hop-id"`
	UpstreamProtocol   string     `json:"upstream-protocol"`
	RouteState         string     `json:"route-state"`
	ForwardingState    string     `json:"forwarding-state"`
	CacheLifetime      int64      `json:"cache-lifetime-seconds"`
	WrongIncoming      uint64     `json:"wrong-incoming-interface-notifications"`
	UptimeSeconds      int64      `json:"uptime-seconds"`
	// Programming lists the cards that failed to program the route or its
	// next hops (filled in by the RE from the cards' reports).
	Programming []ProgrammingFailure `json:"programming-failures,omitempty"`
	// CompositeID is the route's composite NH (0 for mdiscard), for
	// matching the cards' reports.
	CompositeID hal.NHID `json:"-"`
}

// ProgrammingFailure is a card that reported a failure to program a
// route or one of its next hops (`show multicast route extensive`).
type ProgrammingFailure struct {
	Slot   hal.Slot `json:"slot"`
	Object string   `json:"object"` // "set-route 232.0.7.1.10.128.1.10/64", "set-nh 1174"
	Error  string   `json:"error"`  // "table full"
}

// Routes returns the forwarding-cache entries, of group only if it is
// valid, ordered by group then source.
func (k *Kernel) Routes(group netip.Addr) []MulticastRoute {
	var out []MulticastRoute
	_ = k.WalkRoutes(group, ShowChunk, func(rs []MulticastRoute) error {
		out = append(out, rs...)
		return nil
	})
	return out
}

// cachedKeys returns the keys of the forwarding-cache entries, of group
// only if it is valid, ordered by group then source. It takes the lock
// for the collection only.
func (k *Kernel) cachedKeys(group netip.Addr) []sgKey {
	k.mu.Lock()
	keys := make([]sgKey, 0, k.nForward+k.nDiscard)
	filter := group.IsValid()
	var g uint32
	if filter {
		gg := group.Unmap()
		if !gg.Is4() {
			k.mu.Unlock()
			return nil
		}
		g = u32(gg)
	}
	for key, st := range k.sgs {
		if st.cached && (!filter || uint32(key>>32) == g) {
			keys = append(keys, key)
		}
	}
	k.mu.Unlock()
	slices.Sort(keys)
	return keys
}

// WalkRoutes calls fn with the forwarding-cache entries (of group only if
// it is valid), ordered by group then source, at most chunk at a time,
// each chunk copied under the lock and fn called without it. An entry
// gone since the walk began is skipped. fn's error ends the walk and is
// returned.
func (k *Kernel) WalkRoutes(group netip.Addr, chunk int, fn func([]MulticastRoute) error) error {
	keys := k.cachedKeys(group)
	if chunk <= 0 {
		chunk = ShowChunk
	}
	buf := make([]MulticastRoute, 0, min(chunk, len(keys)))
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		buf = k.routesLocked(keys[:n], buf[:0])
		keys = keys[n:]
		if len(buf) == 0 {
			continue
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
	return nil
}

// routesLocked copies the entries of keys into out under the lock.
func (k *Kernel) routesLocked(keys []sgKey, out []MulticastRoute) []MulticastRoute {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now().UnixNano()
	for _, key := range keys {
		st := k.sgs[key]
		if st == nil || !st.cached {
			continue
		}
		r := MulticastRoute{
			Group:              st.key.group(),
			Source:             st.key.source(),
			SourcePrefixLen:    32,
			Upstream:           k.ifName(st.rpf),
			SessionDescription: SessionDescription(st.key.group()),
			Packets:            st.packets,
			RouteState:         "Active",
			ForwardingState:    "Forwarding",
			WrongIncoming:      st.wrongIIF,
			UptimeSeconds:      (now - st.created) / int64(time.Second),
			UpstreamProtocol:   "Multicast",
		}
		if !st.discard && st.owner != 0 {
			r.UpstreamProtocol = st.owner.String()
		}
		if st.lastTraffic != 0 && now-st.lastTraffic <= rateStale {
			r.KBps, r.PPS = st.bps/1000, st.pps
		}
		if st.discard {
			r.ForwardingState = "Pruned"
		} else {
			r.Downstream = st.oil.names()
			r.NextHopID = st.indr
			r.CompositeID = st.comp
		}
		left := st.active + int64(k.timeout) - now
		if left > 0 {
			r.CacheLifetime = (left + int64(time.Second) - 1) / int64(time.Second)
		}
		out = append(out, r)
	}
	return out
}

func (k *Kernel) ifName(idx hal.IFLIndex) string {
	if f := k.ifByIndex[idx]; f != nil {
		return f.name
	}
	return fmt.Sprintf("ifl-%d", idx)
}

// SessionDescription names the address block of group as `show multicast
// route detail` does (reference-junos §2.2).
func SessionDescription(group netip.Addr) string {
	g := group.Unmap()
	if !g.Is4() {
		return "Unknown"
	}
	b := g.As4()
	switch {
	case b[0] == 232:
		return "Source specific multicast"
	case b[0] == 233:
		return "GLOP Block"
	case b[0] == 239 && b[1]&0xfc == 192: // 239.192.0.0/14, RFC 2365
		return "Organisational Local Scope"
	}
	return "Unknown"
}

// RenderRoutes formats `show multicast route [detail|extensive]` (seed 003,
// reference-junos §2.2). Nothing is printed for an empty list.
func RenderRoutes(w io.Writer, routes []MulticastRoute, detail, extensive bool) error {
	if len(routes) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("Instance: master Family: INET\n\n")
	if err := renderRouteRows(bw, routes, detail, extensive); err != nil {
		return err
	}
	return bw.Flush()
}

// renderRouteRows writes the entries of RenderRoutes; it stops at the
// first write error.
func renderRouteRows(bw *bufio.Writer, routes []MulticastRoute, detail, extensive bool) error {
	detail = detail || extensive
	for _, r := range routes {
		fmt.Fprintf(bw, "Group: %s\n", r.Group)
		fmt.Fprintf(bw, "    Source: %s/%d\n", r.Source, r.SourcePrefixLen)
		fmt.Fprintf(bw, "    Upstream interface: %s\n", r.Upstream)
		if len(r.Downstream) > 0 {
			fmt.Fprintf(bw, "    Downstream interface list:\n        %s\n", strings.Join(r.Downstream, " "))
		}
		if detail {
			fmt.Fprintf(bw, "    Session description: %s\n", r.SessionDescription)
			fmt.Fprintf(bw, "    Statistics: %d kBps, %d pps, %d packets\n", r.KBps, r.PPS, r.Packets)
			fmt.Fprintf(bw, "    Next-hop ID: %d\n", r.NextHopID)
			fmt.Fprintf(bw, "    Upstream protocol: %s\n", r.UpstreamProtocol)
		}
		if extensive {
			fmt.Fprintf(bw, "    Route state: %s\n", r.RouteState)
			fmt.Fprintf(bw, "    Forwarding state: %s\n", r.ForwardingState)
			for _, p := range r.Programming {
				fmt.Fprintf(bw, "    Programming: FPC %d failed: %s (%s)\n", p.Slot, p.Error, p.Object)
			}
			fmt.Fprintf(bw, "    Cache lifetime/timeout: %d seconds\n", r.CacheLifetime)
			fmt.Fprintf(bw, "    Wrong incoming interface notifications: %d\n", r.WrongIncoming)
			fmt.Fprintf(bw, "    Uptime: %s\n", clock(time.Duration(r.UptimeSeconds)*time.Second))
		}
		if _, err := bw.WriteString("\n"); err != nil {
			return err
		}
	}
	return nil
}

// ShowRoute writes `show multicast route [group G] [detail|extensive]`;
// an invalid group shows all groups.
func (k *Kernel) ShowRoute(w io.Writer, group netip.Addr, detail, extensive bool) error {
	return k.ShowRouteAnnotated(w, group, detail, extensive, nil)
}

// ShowRouteAnnotated is ShowRoute with annotate (nil: none) called on
// each chunk of entries, without the lock, before it is rendered (the RE
// fills in the cards' programming failures). Output is written chunk by
// chunk; a write error ends the walk.
func (k *Kernel) ShowRouteAnnotated(w io.Writer, group netip.Addr, detail, extensive bool, annotate func([]MulticastRoute)) error {
	bw := bufio.NewWriter(w)
	first := true
	err := k.WalkRoutes(group, ShowChunk, func(rs []MulticastRoute) error {
		if annotate != nil {
			annotate(rs)
		}
		if first {
			first = false
			bw.WriteString("Instance: master Family: INET\n\n")
		}
		return renderRouteRows(bw, rs, detail, extensive)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// IfStats are the per-interface counters of `show multicast statistics`.
// Resolve and mismatch counters count on the ingress interface, In counters
// count traffic of routes whose RPF interface it is, Out counters traffic of
// routes whose OIL contains it. Kbytes are 1000 bytes.
type IfStats struct {
	MismatchError   uint64 `json:"mismatch-error"`
	Mismatch        uint64 `json:"mismatch"`
	MismatchNoRoute uint64 `json:"mismatch-no-route"`
	KernelResolve   uint64 `json:"kernel-resolve"`
	RoutingNotify   uint64 `json:"routing-notify"` // reserved for PIM source notifications; 0 today
	ResolveNoRoute  uint64 `json:"resolve-no-route"`
	ResolveError    uint64 `json:"resolve-error"`
	ResolveFiltered uint64 `json:"resolve-filtered"`
	NotifyFiltered  uint64 `json:"notify-filtered"`
	InBytes         uint64 `json:"in-bytes"`
	InPackets       uint64 `json:"in-packets"`
	OutBytes        uint64 `json:"out-bytes"`
	OutPackets      uint64 `json:"out-packets"`
}

// InterfaceStatistics is one interface of `show multicast statistics`.
type InterfaceStatistics struct {
	Interface       string `json:"interface"`
	RoutingProtocol string `json:"routing-protocol"`
	IfStats
}

// Statistics returns the counters of every configured interface that is not
// a LAG member, in index order.
func (k *Kernel) Statistics() []InterfaceStatistics {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []InterfaceStatistics
	fs := slices.Clone(k.ifList)
	slices.SortFunc(fs, func(a, b *iface) int { return cmp.Compare(a.index, b.index) })
	for _, f := range fs {
		if f.isMember() {
			continue
		}
		out = append(out, InterfaceStatistics{Interface: f.name, RoutingProtocol: f.protocol, IfStats: f.stats})
	}
	return out
}

// UnattributedStatistics returns the counters of requests whose ingress
// interface is unknown to the kernel (not shown by the CLI).
func (k *Kernel) UnattributedStatistics() IfStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unattributed
}

// RenderStatistics formats `show multicast statistics` (seed 003,
// reference-junos §2.3): two columns per line, the left 30 characters wide,
// the right 31, values right-aligned.
func RenderStatistics(w io.Writer, stats []InterfaceStatistics) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("Instance: master Family: INET\n")
	pair := func(l1, v1, l2, v2 string) {
		bw.WriteString("    " + field(l1, v1, 30) + "   " + field(l2, v2, 31) + "\n")
	}
	n := func(v uint64) string { return fmt.Sprint(v) }
	for _, s := range stats {
		fmt.Fprintf(bw, "Interface: %s\n", s.Interface)
		pair("Routing protocol:", s.RoutingProtocol, "Mismatch error:", n(s.MismatchError))
		pair("Mismatch:", n(s.Mismatch), "Mismatch no route:", n(s.MismatchNoRoute))
		pair("Kernel resolve:", n(s.KernelResolve), "Routing notify:", n(s.RoutingNotify))
		pair("Resolve no route:", n(s.ResolveNoRoute), "Resolve error:", n(s.ResolveError))
		pair("Resolve filtered:", n(s.ResolveFiltered), "Notify filtered:", n(s.NotifyFiltered))
		pair("In kbytes:", n(s.InBytes/1000), "In packets:", n(s.InPackets))
		pair("Out kbytes:", n(s.OutBytes/1000), "Out packets:", n(s.OutPackets))
	}
	return bw.Flush()
}

// field left-aligns label and right-aligns value in width characters (at
// least one space between them).
func field(label, value string, width int) string {
	pad := width - len(label) - len(value)
	if pad < 1 {
		pad = 1
	}
	return label + strings.Repeat(" ", pad) + value
}

// ShowStatistics writes `show multicast statistics`.
func (k *Kernel) ShowStatistics(w io.Writer) error { return RenderStatistics(w, k.Statistics()) }

// RouteTable is table inet.1 as `show route table inet.1` shows it.
type RouteTable struct {
	Name         string       `json:"table-name"`
	Destinations int          `json:"destination-count"`
	Routes       int          `json:"total-route-count"`
	Active       int          `json:"active-route-count"`
	Holddown     int          `json:"holddown-route-count"`
	Hidden       int          `json:"hidden-route-count"`
	Entries      []RouteEntry `json:"routes"`
}

// RouteEntry is one route of inet.1.
type RouteEntry struct {
	Group           netip.Addr `json:"group"`
	Source          netip.Addr `json:"source,omitzero"` // (S,G) routes only
	PrefixLen       int        `json:"prefix-length"`
	Protocol        string     `json:"protocol"`
	Preference      int        `json:"preference"`
	AgeSeconds      int64      `json:"age-seconds"`
	NextHopType     string     `json:"next-hop-type"`
	NextHopIndex    hal.NHID   `json:"next-hop-index"`
	NextHopRefcount int        `json:"next-hop-reference-count"`
	Address         string     `json:"address"`
	State           string     `json:"state"`
	LocalAS         uint32     `json:"local-as"`
	Task            string     `json:"task"`
	ASPathRecorded  bool       `json:"as-path-recorded"`
}

// Destination is the route's name in the brief form ("224.0.0.0/4",
// "232.0.7.1,10.128.1.10/64").
func (e RouteEntry) Destination() string {
	if e.Source.IsValid() {
		return fmt.Sprintf("%s,%s/%d", e.Group, e.Source, e.PrefixLen)
	}
	return fmt.Sprintf("%s/%d", e.Group, e.PrefixLen)
}

// DetailDestination is the name in the detail form (seed 003:
// "232.0.7.1.10.128.1.10/64").
func (e RouteEntry) DetailDestination() string {
	if e.Source.IsValid() {
		return fmt.Sprintf("%s.%s/%d", e.Group, e.Source, e.PrefixLen)
	}
	return e.Destination()
}

// nhAddress is a stable stand-in for the kernel address Junos prints.
func nhAddress(id hal.NHID) string {
	return fmt.Sprintf("%#x", 0x11e00000+(uint32(id)*0x9e3779b1>>8)&0x000ffffc)
}

// RouteTable returns table inet.1: the 224/4 default and every (S,G) route.
func (k *Kernel) RouteTable() RouteTable {
	var t RouteTable
	_ = k.WalkRouteTable(ShowChunk, func(h RouteTable, es []RouteEntry) error {
		if t.Name == "" {
			t = h
		}
		t.Entries = append(t.Entries, es...)
		return nil
	})
	return t
}

// WalkRouteTable calls fn with table inet.1 in chunks, as WalkRoutes
// does: head carries the counts (taken when the walk began; its Entries
// are nil), entries the 224/4 default first, then the (S,G) routes in
// order. fn's error ends the walk.
func (k *Kernel) WalkRouteTable(chunk int, fn func(head RouteTable, entries []RouteEntry) error) error {
	keys := k.cachedKeys(netip.Addr{})
	if chunk <= 0 {
		chunk = ShowChunk
	}
	head := RouteTable{Name: "inet.1"}
	head.Destinations, head.Routes, head.Active = len(keys)+1, len(keys)+1, len(keys)+1
	k.mu.Lock()
	def := defaultRoute()
	buf := []RouteEntry{{
		Group: def.Key.Group, PrefixLen: int(def.Key.PrefixLen),
		Protocol: "Multicast", Preference: 180,
		AgeSeconds:  int64(k.now().Sub(k.started) / time.Second),
		NextHopType: "MultiResolve", NextHopIndex: def.NH, NextHopRefcount: 1,
		Address: nhAddress(def.NH), State: "<Active NoReadvrt Int>", LocalAS: k.localAS, Task: "MC",
	}}
	k.mu.Unlock()
	if err := fn(head, buf); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		buf = k.routeEntriesLocked(keys[:n], buf[:0])
		keys = keys[n:]
		if len(buf) == 0 {
			continue
		}
		if err := fn(head, buf); err != nil {
			return err
		}
	}
	return nil
}

// routeEntriesLocked copies the inet.1 entries of keys into out under the
// lock.
func (k *Kernel) routeEntriesLocked(keys []sgKey, out []RouteEntry) []RouteEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	for _, key := range keys {
		st := k.sgs[key]
		if st == nil || !st.cached {
			continue
		}
		e := RouteEntry{
			Group: st.key.group(), Source: st.key.source(), PrefixLen: 64,
			AgeSeconds: (now.UnixNano() - st.created) / int64(time.Second),
			LocalAS:    k.localAS,
		}
		if st.discard {
			e.Protocol, e.Preference, e.Task = "Multicast", 180, "MC"
			e.NextHopType, e.NextHopIndex, e.NextHopRefcount = "MultiDiscard", hal.NHMDiscardID, k.nDiscard
			e.State = "<Active Int>"
		} else {
			e.Protocol, e.Preference, e.Task = "PIM", 105, "PIM.master"
			e.NextHopType, e.NextHopIndex = "Multicast (IPv4) Composite", st.indr
			e.NextHopRefcount = st.oil.refs + 1
			e.State = "<Active Int Ext>"
			e.ASPathRecorded = true
		}
		e.Address = nhAddress(e.NextHopIndex)
		out = append(out, e)
	}
	return out
}

// RenderRouteTable formats `show route table inet.1 [detail]`
// (reference-junos §2.7; the detail block follows seed 003).
func RenderRouteTable(w io.Writer, t RouteTable, detail bool) error {
	bw := bufio.NewWriter(w)
	renderRouteTableHead(bw, t, detail)
	if err := renderRouteTableRows(bw, t.Entries, detail, true); err != nil {
		return err
	}
	return bw.Flush()
}

func renderRouteTableHead(bw *bufio.Writer, t RouteTable, detail bool) {
	fmt.Fprintf(bw, "%s: %d destinations, %d routes (%d active, %d holddown, %d hidden)\n",
		t.Name, t.Destinations, t.Routes, t.Active, t.Holddown, t.Hidden)
	if !detail {
		bw.WriteString("+ = Active Route, - = Last Active, * = Both\n\n")
	}
}

// renderRouteTableRows writes entries; first says whether they open the
// table (no blank line before the first detail block). It stops at the
// first write error.
func renderRouteTableRows(bw *bufio.Writer, entries []RouteEntry, detail, first bool) error {
	if !detail {
		for _, e := range entries {
			fmt.Fprintf(bw, "%-19s*[%s/%d] %s\n", e.Destination(), e.Protocol, e.Preference,
				clock(time.Duration(e.AgeSeconds)*time.Second))
			if _, err := fmt.Fprintf(bw, "%22s%s\n", "", e.NextHopType); err != nil {
				return err
			}
		}
		return nil
	}
	for i, e := range entries {
		if i > 0 || !first {
			if _, err := bw.WriteString("\n"); err != nil {
				return err
			}
		}
		d := e.DetailDestination()
		sep := " "
		if len(d) >= 19 {
			sep = ""
		}
		fmt.Fprintf(bw, "%s%s(1 entry, 1 announced)\n", d, sep)
		fmt.Fprintf(bw, "        *%-6s Preference: %d\n", e.Protocol, e.Preference)
		in := strings.Repeat(" ", 16)
		fmt.Fprintf(bw, "%sNext hop type: %s, Next hop index: %d\n", in, e.NextHopType, e.NextHopIndex)
		fmt.Fprintf(bw, "%sAddress: %s\n", in, e.Address)
		fmt.Fprintf(bw, "%sNext-hop reference count: %d\n", in, e.NextHopRefcount)
		fmt.Fprintf(bw, "%sState: %s\n", in, e.State)
		fmt.Fprintf(bw, "%sLocal AS: %d\n", in, e.LocalAS)
		fmt.Fprintf(bw, "%sAge: %s\n", in, age(time.Duration(e.AgeSeconds)*time.Second))
		fmt.Fprintf(bw, "%sTask: %s\n", in, e.Task)
		fmt.Fprintf(bw, "%sAnnouncement bits (1): 0-KRT\n", in)
		fmt.Fprintf(bw, "%sAS path: I\n", in)
		if e.ASPathRecorded {
			fmt.Fprintf(bw, "%sAS path: Recorded\n", in)
		}
	}
	return nil
}

// ShowRouteTable writes `show route table inet.1 [detail]`, chunk by
// chunk; a write error ends the walk.
func (k *Kernel) ShowRouteTable(w io.Writer, detail bool) error {
	bw := bufio.NewWriter(w)
	first := true
	err := k.WalkRouteTable(ShowChunk, func(h RouteTable, es []RouteEntry) error {
		if first {
			renderRouteTableHead(bw, h, detail)
		}
		err := renderRouteTableRows(bw, es, detail, first)
		first = false
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// clock formats a duration as Junos uptimes: "00:00:11", "1d 15:35:33",
// "1w2d 03:04:05".
func clock(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
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
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	days, s := s/86400, s%86400
	h, m, sec := s/3600, s/60%60, s%60
	var hms string
	if h > 0 || days > 0 {
		hms = fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	} else {
		hms = fmt.Sprintf("%d:%02d", m, sec)
	}
	switch {
	case days >= 7:
		return fmt.Sprintf("%dw%dd %s", days/7, days%7, hms)
	case days > 0:
		return fmt.Sprintf("%dd %s", days, hms)
	}
	return hms
}
