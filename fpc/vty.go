package fpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/hal"
)

// Vty returns the card's command tree (served on its Unix socket by cmd/fpc).
// Layouts follow seed 003's PFE vty outputs column for column.
func (r *Runtime) Vty() *cli.Tree {
	t := cli.New()
	t.SetHelp("show", "Show information")
	t.SetHelp("test", "Test tools")
	defer func() {
		t.SetHelp("show route", "Show PFE routes")
		t.SetHelp("show nhdb", "Show the next-hop database")
		t.SetHelp("show nhdb mcast", "Show multicast next hops")
		t.SetHelp("show ifl", "Show logical interfaces")
		t.SetHelp("show pfe", "Show PFE state")
		t.SetHelp("show resolve", "Show resolve throttling")
	}()
	t.Add("show route long_ip", "Show the multicast (S,G) routes of the PFE", r.vtyRoutes, nil)
	t.Add("show route long_ip prefix", "Show the route a GROUP.SOURCE would hit", r.vtyRoutePrefix,
		[]cli.Arg{{Name: "prefix", Help: "GROUP.SOURCE, e.g. 232.0.7.1.10.128.1.10", Required: true}},
		cli.Option{Name: "detail", Help: "Show the next-hop chain"})
	t.Add("show nhdb id", "Show a next hop", r.vtyNHDB,
		[]cli.Arg{{Name: "id", Help: "Next-hop id", Required: true}},
		cli.Option{Name: "recursive", Help: "Show the next-hop chain"})
	t.Add("show nhdb summary", "Show next-hop counts", r.vtyNHDBSummary, nil)
	t.Add("show nhdb mcast resolve", "Show the multicast resolve next hop and its rate", r.vtyMcastResolve, nil)
	t.Add("show ifl counters", "Show per-interface counters of the PFE", r.vtyIFLCounters, nil)
	t.Add("show pfe egress", "Show frames output per interface (in-memory ports)", r.vtyEgress, nil)
	t.Add("show pfe failures", "Show the objects the PFE failed to program (retried, reported to the RE)", r.vtyFailures, nil)
	t.Add("show resolve statistics", "Show resolve throttling counters", r.vtyResolveStats, nil)
	t.Add("show ipc", "Show the IPC session with the RE", r.vtyIPC, nil)
	t.Add("show version", "Show the card, its driver and the router's host name", r.vtyVersion, nil)
	t.Add("test traffic", "Send a multicast stream into the PFE as if received on an interface", r.vtyTraffic,
		[]cli.Arg{
			{Name: "source", Keyword: "source", Help: "Source address", Required: true},
			{Name: "group", Keyword: "group", Help: "Group address", Required: true},
			{Name: "interface", Keyword: "interface", Help: "Ingress logical interface", Required: true},
			{Name: "count", Keyword: "count", Help: "Packets (default 1)"},
			{Name: "rate", Keyword: "rate", Help: "Packets per second (default: as fast as possible)"},
			{Name: "size", Keyword: "size", Help: "Frame size in bytes (default 64)"},
			{Name: "ttl", Keyword: "ttl", Help: "IP TTL (default 64)"},
		})
	t.Add("test traffic stop", "Stop background streams", r.vtyTrafficStop, nil)
	r.addHostPathVty(t)
	if vh, ok := r.drv.(hal.VtyHandler); ok {
		for _, c := range vh.VtyCommands() {
			if strings.Contains(c, "<") {
				continue // commands with arguments are served by the generic tree (e.g. show nhdb id)
			}
			cmd := c
			t.Add(cmd, "Driver command ("+r.cfg.DriverName+")", func(_ context.Context, req *cli.Request, w io.Writer) error {
				args := strings.Fields(cmd)
				for _, o := range sortedFlags(req.Flags) {
					args = append(args, o)
				}
				if req.JSON {
					args = append(args, "--json")
				}
				handled, err := vh.HandleVty(args, w)
				if !handled && err == nil {
					return fmt.Errorf("driver %s did not handle %q", r.cfg.DriverName, cmd)
				}
				return err
			}, nil, cli.Option{Name: "detail"})
		}
	}
	return t
}

func sortedFlags(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

const routeHeader = `IPv4 Route Table 0, default.0, 0x0:
Destination   NH IP Addr      Type     NH ID Interface
------------  --------------- -------- ----- ---------
`

func (r *Runtime) routeLine(w io.Writer, rt hal.Route) {
	typ := "-"
	if nh, err := r.drv.NextHop(rt.NH); err == nil {
		typ = nh.Type.String()
	}
	fmt.Fprintf(w, "%-50s%8s %5d RT-ifl %d\n", rt.Key.String(), typ, rt.NH, rt.RPF)
}

func (r *Runtime) vtyRoutes(_ context.Context, req *cli.Request, w io.Writer) error {
	var routes []hal.Route
	r.drv.WalkRoutes(func(rt hal.Route, _ hal.RouteStat) bool {
		routes = append(routes, rt)
		return true
	})
	sort.Slice(routes, func(i, j int) bool { return routeLess(routes[i].Key, routes[j].Key) })
	if req.JSON {
		return cli.WriteJSON(w, routes)
	}
	io.WriteString(w, routeHeader)
	for _, rt := range routes {
		r.routeLine(w, rt)
	}
	return nil
}

func routeLess(a, b hal.RouteKey) bool {
	if a.PrefixLen != b.PrefixLen {
		return a.PrefixLen < b.PrefixLen
	}
	if c := a.Group.Compare(b.Group); c != 0 {
		return c < 0
	}
	return a.Source.Compare(b.Source) < 0
}

func (r *Runtime) vtyRoutePrefix(_ context.Context, req *cli.Request, w io.Writer) error {
	src, grp, err := parseSG(req.Arg("prefix"))
	if err != nil {
		return err
	}
	rt, err := r.drv.Lookup(src, grp)
	if err != nil {
		return fmt.Errorf("no route for %s: %w", req.Arg("prefix"), err)
	}
	if req.JSON {
		return cli.WriteJSON(w, struct {
			Route hal.Route
			Chain []hal.NextHop
		}{rt, r.chain(rt.NH)})
	}
	io.WriteString(w, routeHeader)
	r.routeLine(w, rt)
	if !req.Flag("detail") {
		return nil
	}
	fmt.Fprintf(w, "\nNexthop details:\n")
	r.writeChain(w, rt.NH, 0)
	fmt.Fprintf(w, "\n  RT flags: 0x%04x, Ignore: 0x00000000, COS index: 0\n", uint32(rt.Flags))
	fmt.Fprintf(w, "  DCU id: 0, SCU id: 0,  RPF ifl list id: 0\n")
	return nil
}

func (r *Runtime) chain(id hal.NHID) []hal.NextHop {
	var out []hal.NextHop
	var walk func(id hal.NHID, depth int)
	walk = func(id hal.NHID, depth int) {
		nh, err := r.drv.NextHop(id)
		if err != nil || depth > 8 {
			return
		}
		out = append(out, nh)
		if nh.Type == hal.NHIndirect {
			walk(nh.Target, depth+1)
		}
		for _, m := range nh.Members {
			walk(m, depth+1)
		}
	}
	walk(id, 0)
	return out
}

// NHLine formats one next hop as the vty's recursive chain does, e.g.
// "1378(Unicast, IPv4, ifl:395:xe-3/1/0.0, pfe-id:13)".
func (r *Runtime) NHLine(nh hal.NextHop) string {
	ifl := "0:-"
	pfe := hal.PFEID(0)
	if nh.IFL != 0 {
		name := "-"
		if i, err := r.drv.IFL(nh.IFL); err == nil {
			name = i.Name
			if nh.Type == hal.NHUnicast {
				pfe = i.PFE
			}
		}
		ifl = fmt.Sprintf("%d:%s", nh.IFL, name)
	}
	switch nh.Type {
	case hal.NHIndirect:
		return fmt.Sprintf("%d(Indirect, IPv4, ifl:%s, pfe-id:%d, i-ifl:0:-)", nh.ID, ifl, pfe)
	case hal.NHComposite:
		return fmt.Sprintf("%d(Compst, IPv4, ifl:%s, pfe-id:%d, comp-fn:multicast)", nh.ID, ifl, pfe)
	}
	return fmt.Sprintf("%d(%s, IPv4, ifl:%s, pfe-id:%d)", nh.ID, nh.Type, ifl, pfe)
}

func (r *Runtime) writeChain(w io.Writer, id hal.NHID, depth int) {
	nh, err := r.drv.NextHop(id)
	if err != nil {
		fmt.Fprintf(w, "%s%d(unknown)\n", strings.Repeat("    ", depth), id)
		return
	}
	if depth > 8 {
		return
	}
	fmt.Fprintf(w, "%s%s\n", strings.Repeat("    ", depth), r.NHLine(nh))
	if nh.Type == hal.NHIndirect {
		r.writeChain(w, nh.Target, depth+1)
	}
	for _, m := range nh.Members {
		r.writeChain(w, m, depth+1)
	}
}

const nhdbHeader = `   ID      Type      Interface    Next Hop Addr    Protocol       Encap     MTU       Flags  PFE internal Flags
-----  --------  -------------  ---------------  ----------  ------------  ----  ----------  --------------------
`

func (r *Runtime) vtyNHDB(_ context.Context, req *cli.Request, w io.Writer) error {
	v, err := strconv.ParseUint(req.Arg("id"), 10, 32)
	if err != nil {
		return fmt.Errorf("invalid next-hop id %q", req.Arg("id"))
	}
	id := hal.NHID(v)
	nh, err := r.drv.NextHop(id)
	if err != nil {
		return fmt.Errorf("next hop %d: %w", id, err)
	}
	if req.JSON {
		return cli.WriteJSON(w, r.chain(id))
	}
	if d, ok := r.drv.(hal.NHDetailer); ok {
		if err := d.NHDetail(id, w); err == nil {
			return nil
		} else if !errors.Is(err, hal.ErrNotSupported) {
			return err
		}
	}
	io.WriteString(w, nhdbHeader)
	iface, encap, mtu := "-", "-", 0
	if nh.IFL != 0 {
		if i, err := r.drv.IFL(nh.IFL); err == nil {
			iface, mtu = i.Name, int(i.MTU)
			if nh.Type == hal.NHUnicast {
				encap = "Ethernet"
			}
		}
	}
	fmt.Fprintf(w, "%5d  %8s  %-13s  %-15s  %10s  %12s  %4d  0x%08x 0x%08x\n", nh.ID, nh.Type, iface, "-", "IPv4", encap, mtu, 0, 0)
	if req.Flag("recursive") || nh.Type == hal.NHComposite || nh.Type == hal.NHIndirect || nh.Type == hal.NHAggregate {
		fmt.Fprintf(w, "\nKernel nh-list:\n")
		r.writeChain(w, id, 0)
	}
	return nil
}

func (r *Runtime) vtyNHDBSummary(_ context.Context, req *cli.Request, w io.Writer) error {
	s := r.drv.Summary()
	if req.JSON {
		return cli.WriteJSON(w, s)
	}
	fmt.Fprintf(w, " Total number of NH = %d\n", s.NHs)
	types := make([]int, 0, len(s.NHsByType))
	for t := range s.NHsByType {
		types = append(types, int(t))
	}
	sort.Ints(types)
	for _, t := range types {
		fmt.Fprintf(w, "   %-10s %d\n", hal.NHType(t).String(), s.NHsByType[hal.NHType(t)])
	}
	fmt.Fprintf(w, " Total number of routes = %d\n Total number of IFLs = %d\n", s.Routes, s.IFLs)
	return nil
}

func (r *Runtime) vtyMcastResolve(_ context.Context, req *cli.Request, w io.Writer) error {
	rate := r.throttle.Rate()
	if req.JSON {
		return cli.WriteJSON(w, map[string]any{"id": hal.NHResolveID, "type": "Resolve", "protocol": "IPv4", "resolve-rate": rate})
	}
	fmt.Fprintf(w, "Nexthop Info:\n   ID      Type    Protocol    Resolve-Rate\n-----  --------  ----------  ---------------\n")
	fmt.Fprintf(w, "%5d  %8s  %10s  %15d\n", hal.NHResolveID, "Resolve", "IPv4", rate)
	return nil
}

func (r *Runtime) vtyIFLCounters(_ context.Context, req *cli.Request, w io.Writer) error {
	r.mu.Lock()
	idx := make([]hal.IFLIndex, 0, len(r.shadow.ifls))
	for i := range r.shadow.ifls {
		idx = append(idx, i)
	}
	r.mu.Unlock()
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	type row struct {
		Index hal.IFLIndex
		Name  string
		hal.IFLCounters
	}
	var rows []row
	for _, i := range idx {
		c, err := r.drv.IFLCounters(i)
		if err != nil {
			continue
		}
		name := "-"
		if ifl, err := r.drv.IFL(i); err == nil {
			name = ifl.Name
		}
		rows = append(rows, row{i, name, c})
	}
	if req.JSON {
		return cli.WriteJSON(w, rows)
	}
	fmt.Fprintf(w, "%-6s %-14s %12s %12s %10s %10s %10s %10s %10s\n", "IFL", "Name", "Rx packets", "Tx packets", "RPF fail", "TTL", "Discard", "Resolve", "Malformed")
	for _, x := range rows {
		fmt.Fprintf(w, "%-6d %-14s %12d %12d %10d %10d %10d %10d %10d\n", x.Index, x.Name, x.RxPackets, x.TxPackets, x.RPFFail, x.TTLExpiry, x.Discard, x.Resolve, x.Malformed)
	}
	return nil
}

func (r *Runtime) vtyEgress(_ context.Context, req *cli.Request, w io.Writer) error {
	rows := r.egress.snapshot()
	if req.JSON {
		return cli.WriteJSON(w, rows)
	}
	name := func(x hal.IFLIndex) string {
		if ifl, err := r.drv.IFL(x); err == nil {
			return ifl.Name
		}
		return "-"
	}
	fmt.Fprintf(w, "%-6s %-14s %12s %14s\n", "IFL", "Name", "Packets", "Bytes")
	for _, x := range rows {
		if x.Packets > 0 {
			fmt.Fprintf(w, "%-6d %-14s %12d %14d\n", x.IFL, name(x.IFL), x.Packets, x.Bytes)
		}
	}
	first := true
	for _, x := range rows {
		if x.Control == 0 {
			continue
		}
		if first {
			fmt.Fprintln(w, "Control frames (ARP, PIM, IGMP, link-local multicast):")
			first = false
		}
		fmt.Fprintf(w, "  %s: %d\n", name(x.IFL), x.Control)
	}
	return nil
}

func (r *Runtime) vtyResolveStats(_ context.Context, req *cli.Request, w io.Writer) error {
	st := r.throttle.Stats()
	hp := r.HostPath()
	out := map[string]uint64{
		"resolve-rate":          uint64(r.throttle.Rate()),
		"requests-sent":         r.stats.ResolveSent.Load(),
		"requests-dropped":      r.stats.ResolveDropped.Load(),
		"throttled":             st.Throttled,
		"outstanding-refused":   st.Outstanding,
		"outstanding-full":      st.PendingFull,
		"outstanding-expired":   st.Expired,
		"outstanding-now":       uint64(r.throttle.Pending()),
		"wrong-iif-sent":        r.stats.WrongIIFSent.Load(),
		"wrong-iif-ratelimited": r.stats.WrongIIFLimit.Load(),
		"punts-sent":            hp.Total.Sent,
		"punts-dropped":         hp.Total.Dropped,
	}
	if req.JSON {
		return cli.WriteJSON(w, out)
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%-24s %d\n", k+":", out[k])
	}
	return nil
}

func (r *Runtime) vtyIPC(_ context.Context, req *cli.Request, w io.Writer) error {
	st, up := r.SessionStats()
	master := r.Master()
	info := map[string]any{
		"slot":           r.cfg.Slot,
		"tnp-address":    fmt.Sprintf("%#x", uint32(r.TNPAddr())),
		"re":             r.cfg.RE,
		"master":         master,
		"connected":      up,
		"connects":       r.connects.Load(),
		"refusals":       r.stats.Refusals.Load(),
		"resyncs":        r.stats.Resyncs.Load(),
		"swept":          r.stats.Swept.Load(),
		"ops-applied":    r.stats.OpsApplied.Load(),
		"ops-failed":     r.stats.OpsFailed.Load(),
		"hit-reports":    r.stats.HitReports.Load(),
		"injected":       r.stats.Injected.Load(),
		"inject-forward": r.stats.InjectFwd.Load(),
		"inject-failed":  r.stats.InjectFailed.Load(),
		"link-sent":      r.stats.LinkSent.Load(),
		"link-dropped":   r.stats.LinkDropped.Load(),
		"links":          r.linkRows(),
		"session":        st,
		"failing":        r.failedCount(),
		"failures":       r.failureStats(),
		"auth":           r.authName(),
	}
	if req.JSON {
		return cli.WriteJSON(w, info)
	}
	fmt.Fprintf(w, "FPC %d (TNP %#x) RE %s: %s\n", r.cfg.Slot, uint32(r.TNPAddr()), r.cfg.RE, map[bool]string{true: "connected", false: "disconnected"}[up])
	if up {
		fmt.Fprintf(w, "  master RE %s\n", master)
	}
	fmt.Fprintf(w, "  connects %d, refusals %d, resyncs %d, swept %d, ops applied %d, ops failed %d, hit reports %d\n",
		r.connects.Load(), r.stats.Refusals.Load(), r.stats.Resyncs.Load(), r.stats.Swept.Load(), r.stats.OpsApplied.Load(), r.stats.OpsFailed.Load(), r.stats.HitReports.Load())
	fmt.Fprintf(w, "  injects: sent %d, forwarded %d, failed %d; link state: sent %d, not sent %d\n",
		r.stats.Injected.Load(), r.stats.InjectFwd.Load(), r.stats.InjectFailed.Load(), r.stats.LinkSent.Load(), r.stats.LinkDropped.Load())
	for _, l := range r.linkRows() {
		fmt.Fprintf(w, "  link %s\n", l)
	}
	fs := r.failureStats()
	fmt.Fprintf(w, "  authentication %s; failing objects %d, retried %d (%d applied), failures reported %d, cleared %d, reports not sent %d\n",
		r.authName(), r.failedCount(), fs.Retried, fs.RetryApplied, fs.Reported, fs.Cleared, fs.ReportDrops)
	if up {
		fmt.Fprintf(w, "  session: %+v\n", st)
	}
	return nil
}

func (r *Runtime) failureStats() failStats {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.fstats
}

func (r *Runtime) authName() string {
	switch {
	case r.cfg.AuthKey != nil && r.cfg.TLS != nil:
		return "hmac+tls"
	case r.cfg.AuthKey != nil:
		return "hmac"
	case r.cfg.TLS != nil:
		return "tls"
	}
	return "none"
}

// vtyFailures lists the objects the card failed to program (kept out of
// its state, retried, reported to the RE).
func (r *Runtime) vtyFailures(_ context.Context, req *cli.Request, w io.Writer) error {
	fs := r.FailedOps()
	if req.JSON {
		return cli.WriteJSON(w, fs)
	}
	fmt.Fprintf(w, "%d objects failed to program\n", len(fs))
	for _, f := range fs {
		if _, err := fmt.Fprintf(w, "  %-40s %s\n", f.Object, f.Error); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runtime) vtyVersion(_ context.Context, req *cli.Request, w io.Writer) error {
	host, _ := r.Option("host-name")
	if host == "" {
		host = "mxfwd"
	}
	if req.JSON {
		return cli.WriteJSON(w, map[string]any{"hostname": host, "slot": r.cfg.Slot, "driver": r.cfg.DriverName})
	}
	fmt.Fprintf(w, "Hostname: %s\nSlot: %d\nDriver: %s\n", host, r.cfg.Slot, r.cfg.DriverName)
	return nil
}

func (r *Runtime) vtyTraffic(_ context.Context, req *cli.Request, w io.Writer) error {
	src, err := netip.ParseAddr(req.Arg("source"))
	if err != nil || !src.Is4() {
		return fmt.Errorf("invalid source %q", req.Arg("source"))
	}
	grp, err := netip.ParseAddr(req.Arg("group"))
	if err != nil || !grp.Is4() || !grp.IsMulticast() {
		return fmt.Errorf("invalid group %q: expected an IPv4 multicast address", req.Arg("group"))
	}
	ifl, ok := r.IFLByName(req.Arg("interface"))
	if !ok {
		return fmt.Errorf("unknown interface %q on this card", req.Arg("interface"))
	}
	num := func(name string, def, lo, hi int) (int, error) {
		s := req.Arg(name)
		if s == "" {
			return def, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return 0, fmt.Errorf("invalid %s %q (range %d..%d)", name, s, lo, hi)
		}
		return v, nil
	}
	count, err := num("count", 1, 1, 1<<30)
	if err != nil {
		return err
	}
	rate, err := num("rate", 0, 0, 100_000_000)
	if err != nil {
		return err
	}
	size, err := num("size", 64, 60, 9000)
	if err != nil {
		return err
	}
	ttl, err := num("ttl", 64, 0, 255)
	if err != nil {
		return err
	}
	s := Stream{Source: src, Group: grp, Ingress: ifl, Count: count, Rate: rate, Size: size, TTL: uint8(ttl)}
	if rate == 0 {
		n, err := r.SendStream(context.Background(), s)
		fmt.Fprintf(w, "Sent %d packets (%s -> %s) into %s\n", n, src, grp, req.Arg("interface"))
		return err
	}
	id := r.StartStream(s)
	fmt.Fprintf(w, "Stream %d started: %d packets at %d pps (%s -> %s) into %s\n", id, count, rate, src, grp, req.Arg("interface"))
	return nil
}

func (r *Runtime) vtyTrafficStop(_ context.Context, _ *cli.Request, w io.Writer) error {
	n := r.StopStreams()
	fmt.Fprintf(w, "Stopped %d streams\n", n)
	return nil
}
