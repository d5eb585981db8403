package server

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/rib"
)

// Version is printed by `show version`.
var Version = "mxfwd 0.1"

// CLI returns the RE command tree. Layouts follow seed 003 and
// reference-junos.md §2.
func (s *Server) CLI() *cli.Tree {
	t := cli.New()
	t.SetHelp("show", "Show information")
	t.SetHelp("clear", "Clear information")
	t.SetHelp("request", "Make system-level requests")
	t.SetHelp("monitor", "Show real-time debugging information")
	defer func() {
		for p, h := range map[string]string{
			"show tnp": "Show TNP information", "show chassis": "Show chassis information",
			"show multicast": "Show multicast information", "show route": "Show routing table information",
			"show kernel": "Show kernel information", "show system": "Show system information",
			"show system statistics": "Show statistics", "clear multicast": "Clear multicast information",
			"request multicast": "Change multicast state", "request system": "System requests",
		} {
			t.SetHelp(p, h)
		}
	}()
	t.Add("show tnp addresses", "Show TNP addresses of the RE and the connected FPCs", s.cliTNP, nil)
	t.Add("show chassis fpc", "Show connected FPCs", s.cliFPCs, nil)
	t.Add("show multicast next-hops", "Show multicast next-hop information", s.cliNextHops, nil,
		cli.Option{Name: "detail", Help: "Display detailed output"})
	t.Add("show multicast route", "Show multicast routing table", s.cliMcastRoute,
		[]cli.Arg{{Name: "group", Keyword: "group", Help: "Group address"}},
		cli.Option{Name: "detail", Help: "Display detailed output"},
		cli.Option{Name: "extensive", Help: "Display extensive output"})
	t.Add("show multicast statistics", "Show multicast statistics", s.cliMcastStats, nil)
	t.Add("show route table", "Show a routing table", s.cliRouteTable,
		[]cli.Arg{{Name: "table", Help: "Table name (inet.0, inet.1, inet.4)", Required: true}},
		cli.Option{Name: "detail", Help: "Display detailed output"})
	t.Add("show route", "Show the active route to a destination in inet.0", s.cliRoute,
		[]cli.Arg{{Name: "destination", Help: "IPv4 address or prefix", Required: true}},
		cli.Option{Name: "detail", Help: "Display detailed output"})
	s.addPIMCommands(t)
	s.addMSDPCommands(t)
	s.addNSRCommands(t)
	t.Add("show interfaces terse", "Show the interfaces: admin and link state, address", s.cliInterfacesTerse, nil)
	t.Add("clear multicast forwarding-cache", "Clear the multicast forwarding cache", s.cliClearCache, nil)
	t.Add("monitor kernel", "Show the kernel's route and next-hop changes (rtsockmon -t)", s.cliJournal,
		[]cli.Arg{{Name: "count", Keyword: "count", Help: "Last N lines"}})
	t.Add("show kernel journal", "Show the kernel's route and next-hop changes", s.cliJournal,
		[]cli.Arg{{Name: "count", Keyword: "count", Help: "Last N lines"}})
	joinArgs := []cli.Arg{
		{Name: "source", Keyword: "source", Help: "Source address", Required: true},
		{Name: "group", Keyword: "group", Help: "Group address", Required: true},
		{Name: "interface", Keyword: "interface", Help: "Downstream logical interface", Required: true},
		{Name: "upstream", Keyword: "upstream", Help: "Upstream logical interface (default: the interface whose subnet holds the source)"},
	}
	t.Add("request multicast join", "Add a static (S,G) join at run time", s.cliJoin, joinArgs)
	t.Add("request multicast prune", "Remove a downstream interface from an (S,G) join", s.cliPrune, joinArgs[:3])
	t.Add("request system reload", "Reread the configuration file", s.cliReload, nil)
	t.Add("show configuration", "Show the active configuration", s.cliConfig, nil)
	t.Add("show system statistics ipc", "Show IPC statistics of the RE", s.cliIPCStats, nil)
	t.Add("show version", "Show the software version", func(_ context.Context, _ *cli.Request, w io.Writer) error {
		fmt.Fprintf(w, "Hostname: %s\nModel: mxfwd\n%s\n", s.Config().HostName, Version)
		return nil
	}, nil)
	return t
}

func (s *Server) cliTNP(_ context.Context, req *cli.Request, w io.Writer) error {
	fpcs := s.FPCs()
	if req.JSON {
		return cli.WriteJSON(w, fpcs)
	}
	// Layout of seed 003 / reference-junos §2.8: E is 0 for the RE and 4
	// for a line card, H the internal plane, R 3.
	fmt.Fprintln(w, "   Name                TNPaddr   MAC address    IF     MTU E H R")
	row := func(name string, a ipc.TNPAddr, mac string, e int) {
		fmt.Fprintf(w, "%-10s%18s %s em0  1500 %d 0 3\n", name, fmt.Sprintf("%#x", uint32(a)), mac, e)
	}
	// The master alias follows mastership; with a paired routing
	// engine both reN rows are shown.
	st, paired := s.nsrStatus()
	master := st.REID
	if paired && st.Role != "Master" && st.PeerPID != 0 {
		master = st.PeerRE
	}
	row("master", ipc.TNPMaster, reMAC(master), 0)
	res := []int{st.REID}
	if paired && st.PeerPID != 0 {
		res = append(res, st.PeerRE)
		slices.Sort(res)
	}
	for _, id := range res {
		row(fmt.Sprintf("re%d", id), reTNP(id), reMAC(id), 0)
	}
	for _, f := range fpcs {
		row(fmt.Sprintf("fpc%d", f.Slot), ipc.FPCAddr(f.Slot), f.MAC, 4)
	}
	return nil
}

func (s *Server) cliFPCs(_ context.Context, req *cli.Request, w io.Writer) error {
	fpcs := s.FPCs()
	if req.JSON {
		return cli.WriteJSON(w, fpcs)
	}
	fmt.Fprintf(w, "%-5s %-8s %-10s %-10s %-22s %-8s %s\n", "Slot", "State", "Driver", "Uptime", "Remote", "Auth", "PFEs")
	for _, f := range fpcs {
		pfes := make([]string, len(f.PFEs))
		for i, p := range f.PFEs {
			pfes[i] = strconv.Itoa(int(p))
		}
		fmt.Fprintf(w, "%-5d %-8s %-10s %-10s %-22s %-8s %s\n", f.Slot, "Online", f.Driver, f.Uptime.Truncate(time.Second), f.Remote, f.Auth, strings.Join(pfes, ","))
	}
	return nil
}

func (s *Server) cliNextHops(_ context.Context, req *cli.Request, w io.Writer) error {
	if req.JSON {
		return cli.WriteJSON(w, s.kern.NextHops())
	}
	return s.kern.ShowNextHops(w)
}

func (s *Server) cliMcastRoute(_ context.Context, req *cli.Request, w io.Writer) error {
	var g netip.Addr
	if v := req.Arg("group"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() || !a.IsMulticast() {
			return fmt.Errorf("invalid group %q: expected an IPv4 multicast address", v)
		}
		g = a
	}
	if req.JSON {
		rs := s.kern.Routes(g)
		s.annotateRoutes(rs)
		return cli.WriteJSON(w, rs)
	}
	return s.kern.ShowRouteAnnotated(w, g, req.Flag("detail"), req.Flag("extensive"), s.annotateRoutes)
}

func (s *Server) cliMcastStats(_ context.Context, req *cli.Request, w io.Writer) error {
	if req.JSON {
		return cli.WriteJSON(w, s.kern.Statistics())
	}
	return s.kern.ShowStatistics(w)
}

func (s *Server) cliRouteTable(ctx context.Context, req *cli.Request, w io.Writer) error {
	switch t := req.Arg("table"); t {
	case "inet.0":
		var tbl rib.Table
		if err := s.eng.Do(ctx, func() error { tbl = s.rt.rib.Table(s.clk.Now()); return nil }); err != nil {
			return err
		}
		if req.JSON {
			return cli.WriteJSON(w, tbl)
		}
		return rib.RenderTable(w, tbl, req.Flag("detail"))
	case "inet.4":
		return s.cliInet4(ctx, req, w)
	case "inet.1":
	default:
		return fmt.Errorf("routing table %q not found (this RE has inet.0, inet.1 and inet.4)", t)
	}
	if req.JSON {
		return cli.WriteJSON(w, s.kern.RouteTable())
	}
	return s.kern.ShowRouteTable(w, req.Flag("detail"))
}

// cliRoute answers `show route DEST` from inet.0: the longest match for
// an address, the destinations inside a prefix.
func (s *Server) cliRoute(ctx context.Context, req *cli.Request, w io.Writer) error {
	d := req.Arg("destination")
	p, err := netip.ParsePrefix(d)
	if err != nil {
		a, aerr := netip.ParseAddr(d)
		if aerr != nil || !a.Is4() {
			return fmt.Errorf("invalid destination %q: expected an IPv4 address or prefix", d)
		}
		p = netip.PrefixFrom(a, 32)
	}
	var tbl rib.Table
	if err := s.eng.Do(ctx, func() error { tbl = s.rt.rib.Show(p, s.clk.Now()); return nil }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, tbl)
	}
	return rib.RenderTable(w, tbl, req.Flag("detail"))
}

// cliInterfacesTerse lists the interfaces as `show interfaces terse`
// does: admin and link state, protocol and address.
func (s *Server) cliInterfacesTerse(_ context.Context, req *cli.Request, w io.Writer) error {
	ifs := s.kern.Interfaces()
	sort.SliceStable(ifs, func(i, j int) bool { return ifaceOrder(ifs[i].Name) < ifaceOrder(ifs[j].Name) })
	if req.JSON {
		return cli.WriteJSON(w, ifs)
	}
	updown := func(b bool) string {
		if b {
			return "up"
		}
		return "down"
	}
	fmt.Fprintf(w, "%-24s%-6s%-5s%-6s%s\n", "Interface", "Admin", "Link", "Proto", "Local")
	for _, f := range ifs {
		proto, local := "", ""
		if f.Addr.IsValid() {
			proto, local = "inet", f.Addr.String()
		}
		if f.Aggregate != "" {
			proto, local = "aenet", "--> "+f.Aggregate
		}
		fmt.Fprintf(w, "%-24s%-6s%-5s%-6s%s\n", f.Name, updown(f.Admin), updown(f.Link && f.Up), proto, local)
	}
	return nil
}

// ifaceOrder sorts interfaces as Junos lists them: by name, physical
// ports before aggregates.
func ifaceOrder(name string) string {
	if strings.HasPrefix(name, "ae") {
		return "~" + name
	}
	return name
}

func (s *Server) cliClearCache(ctx context.Context, _ *cli.Request, w io.Writer) error {
	var n int
	if err := s.eng.Do(ctx, func() error { n = s.kern.ClearCache(); return nil }); err != nil {
		return err
	}
	fmt.Fprintf(w, "Cleared %d multicast forwarding-cache entries\n", n)
	return nil
}

func (s *Server) cliJournal(_ context.Context, req *cli.Request, w io.Writer) error {
	lines, _ := s.kern.Journal(0)
	if c := req.Arg("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid count %q", c)
		}
		if n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	}
	if req.JSON {
		return cli.WriteJSON(w, lines)
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

func (s *Server) parseJoin(req *cli.Request) (kernel.Join, error) {
	src, err := netip.ParseAddr(req.Arg("source"))
	if err != nil || !src.Is4() || src.IsMulticast() {
		return kernel.Join{}, fmt.Errorf("invalid source %q: expected an IPv4 unicast address", req.Arg("source"))
	}
	grp, err := netip.ParseAddr(req.Arg("group"))
	if err != nil || !grp.Is4() || !grp.IsMulticast() {
		return kernel.Join{}, fmt.Errorf("invalid group %q: expected an IPv4 multicast address", req.Arg("group"))
	}
	ifl := req.Arg("interface")
	if _, _, ok := config.SplitIFL(ifl); !ok {
		return kernel.Join{}, fmt.Errorf("invalid interface %q: expected NAME.UNIT, e.g. ae91.0", ifl)
	}
	up := req.Arg("upstream")
	return kernel.Join{Source: src, Group: grp, Upstream: up, Downstream: []string{ifl}, Protocol: kernel.OwnerCLI.String()}, nil
}

// cliJoin adds a run-time join (owner CLI: it survives configuration
// reloads and is not part of the configuration).
func (s *Server) cliJoin(ctx context.Context, req *cli.Request, w io.Writer) error {
	j, err := s.parseJoin(req)
	if err != nil {
		return err
	}
	err = s.eng.Do(ctx, func() error {
		if j.Upstream == "" {
			res, ok := s.rt.rib.RPF(j.Source)
			if !ok {
				return fmt.Errorf("no upstream interface for source %s: no route to it in inet.0 (give 'upstream IFL')", j.Source)
			}
			j.Upstream = res.Interface
		}
		return s.kern.Join(j)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Joined (%s,%s) upstream %s downstream %s\n", j.Source, j.Group, j.Upstream, j.Downstream[0])
	return nil
}

// cliPrune removes a downstream interface from the run-time joins of
// (S,G) (owner CLI); configured static joins are changed by the
// configuration.
func (s *Server) cliPrune(ctx context.Context, req *cli.Request, w io.Writer) error {
	j, err := s.parseJoin(req)
	if err != nil {
		return err
	}
	e := kernel.SGEntry(j.Source, j.Group)
	err = s.eng.Do(ctx, func() error {
		c, ok := s.kern.Contributions(kernel.OwnerCLI)[e]
		name := j.Downstream[0]
		i := slices.IndexFunc(c.Downstream, func(d string) bool { return d == name })
		if !ok || i < 0 {
			return fmt.Errorf("prune (%s,%s): %s was not joined with 'request multicast join': %w", j.Source, j.Group, name, kernel.ErrNoJoin)
		}
		c.Downstream = slices.Delete(c.Downstream, i, i+1)
		if len(c.Downstream) == 0 {
			return s.kern.Withdraw(kernel.OwnerCLI, e)
		}
		return s.kern.SetContribution(kernel.OwnerCLI, e, c)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Pruned %s from (%s,%s)\n", j.Downstream[0], j.Source, j.Group)
	return nil
}

func (s *Server) cliReload(ctx context.Context, _ *cli.Request, w io.Writer) error {
	if err := s.Reload(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "configuration reloaded")
	return nil
}

func (s *Server) cliConfig(_ context.Context, req *cli.Request, w io.Writer) error {
	c := s.Config()
	if req.JSON {
		return cli.WriteJSON(w, c)
	}
	for _, l := range c.Statements() {
		fmt.Fprintln(w, l)
	}
	return nil
}

func (s *Server) cliIPCStats(_ context.Context, req *cli.Request, w io.Writer) error {
	waiting, _ := s.adm.stats()
	sum := s.kern.Summary()
	st := map[string]uint64{
		"registrations":    s.stats.Registrations.Load(),
		"refused":          s.stats.Refused.Load(),
		"resolve-requests": s.stats.Resolves.Load(),
		"route-hits":       s.stats.RouteHits.Load(),
		"wrong-iif":        s.stats.WrongIIF.Load(),
		"punts":            s.stats.Punts.Load(),
		"download-ops":     s.stats.DownloadOps.Load(),
		"download-errors":  s.stats.DownloadErrors.Load(),
		"lagged-cards":     s.stats.Lagged.Load(),
		// Hardening.
		"unregistered-now":     uint64(waiting),
		"unregistered-refused": s.stats.Unregistered.Load(),
		"handshake-failed":     s.stats.HandshakeFailed.Load(),
		"auth-failed":          s.stats.AuthFailed.Load(),
		"sessions-replaced":    s.stats.Replaced.Load(),
		"resolve-over-limit":   s.stats.ResolveLimited.Load(),
		"mdiscard-refused":     sum.DiscardRefused,
		"counters-refused":     s.stats.CountersRefused.Load(),
		"punts-refused":        s.stats.PuntsRefused.Load(),
		"unexpected-messages":  s.stats.UnexpectedFromFP.Load(),
		"apply-error-reports":  s.stats.ApplyErrors.Load(),
		"log-lines-suppressed": s.rlog.Suppressed(),
	}
	keys := []string{"registrations", "refused", "resolve-requests", "route-hits", "wrong-iif", "punts", "download-ops", "download-errors", "lagged-cards",
		"unregistered-now", "unregistered-refused", "handshake-failed", "auth-failed", "sessions-replaced", "resolve-over-limit", "mdiscard-refused",
		"counters-refused", "punts-refused", "unexpected-messages", "apply-error-reports", "log-lines-suppressed"}
	fpcs := s.FPCs()
	discards := map[hal.Slot]kernel.SlotDiscards{}
	for _, d := range s.kern.DiscardsBySlot() {
		discards[d.Slot] = d
	}
	logSt := s.clog.Stats()
	engSt := s.eng.Stats()
	if req.JSON {
		return cli.WriteJSON(w, map[string]any{"counters": st, "fpcs": fpcs, "change-log": logSt, "engine": engSt, "mdiscard": s.kern.DiscardsBySlot()})
	}
	for _, k := range keys {
		fmt.Fprintf(w, "%-18s %d\n", k+":", st[k])
	}
	fmt.Fprintf(w, "\nChange log: %d messages appended, %d retained (%d bytes; bound %d messages, %d bytes), %d followers\n",
		logSt.Total, logSt.Messages, logSt.Bytes, logSt.MaxMsgs, logSt.MaxBytes, logSt.Cursors)
	fmt.Fprintf(w, "%-5s %-8s %14s %12s %12s %10s %10s %10s %10s %10s\n", "Slot", "State", "Lag (msgs)", "Msgs out", "Frames out", "RTT",
		"Failing", "Res.drops", "mdiscard", "md.refused")
	for _, f := range fpcs {
		state := "Synced"
		if !f.Synced {
			state = "Resync"
		}
		d := discards[f.Slot]
		fmt.Fprintf(w, "%-5d %-8s %14d %12d %12d %10s %10d %10d %10d %10d\n", f.Slot, state, f.Lag, f.Session.MessagesOut, f.Session.FramesOut,
			f.Session.LastRTT.Round(time.Microsecond), f.Failures.Failing, f.ResolveDropped, d.Entries, d.Refused)
	}
	fmt.Fprintf(w, "\nOwner loop: queue %d/%d, events %d, timers %d\n", engSt.QueueDepth, engSt.QueueCap, engSt.Events, engSt.Timers)
	for _, k := range []string{"resolve", "wrong-interface", "hit", "punt"} {
		fmt.Fprintf(w, "  %-16s queued %d, handled %d, dropped %d\n", k, engSt.Queued[k], engSt.Handled[k], engSt.Dropped[k])
	}
	for _, k := range []string{"input", "call", "timer"} {
		ws := engSt.Wait[k]
		fmt.Fprintf(w, "  wait %-6s n=%d p50<=%s p99<=%s max %s\n", k, ws.Count, ws.P50, ws.P99, ws.Max.Round(time.Microsecond))
	}
	return nil
}
