package server

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/gir"
	pimhost "github.com/mxfwd/mxfwd/re/pim/host"
	"github.com/mxfwd/mxfwd/re/pim/pimshow"
)

// addPIMCommands adds the PIM and IGMP commands (layouts of
// reference-junos.md §2.4-2.5).
func (s *Server) addPIMCommands(t *cli.Tree) {
	t.SetHelp("show pim", "Show PIM information")
	t.SetHelp("show igmp", "Show IGMP information")
	t.SetHelp("clear pim", "Clear PIM information")
	detail := cli.Option{Name: "detail", Help: "Display detailed output"}
	extensive := cli.Option{Name: "extensive", Help: "Display extensive output"}
	t.Add("show pim neighbors", "Show PIM neighbors", s.cliPIMNeighbors, nil, detail)
	t.Add("show pim interfaces", "Show PIM interfaces", s.cliPIMInterfaces, nil)
	t.Add("show pim join", "Show PIM join/prune state", s.cliPIMJoin,
		[]cli.Arg{{Name: "group", Help: "Group address"}}, extensive)
	t.Add("show pim rps", "Show PIM rendezvous points", s.cliPIMRPs, nil, extensive)
	t.Add("show pim bootstrap", "Show PIM bootstrap routers", s.cliPIMBootstrap, nil)
	t.Add("show pim statistics", "Show PIM statistics", s.cliPIMStatistics, nil)
	t.Add("show igmp group", "Show IGMP group membership", s.cliIGMPGroup, nil)
	t.Add("show igmp interface", "Show IGMP interfaces", s.cliIGMPInterface, nil)
	t.Add("clear pim join", "Clear PIM join/prune state", s.cliClearPIMJoin,
		[]cli.Arg{{Name: "group", Help: "Group address"}})
	t.Add("clear pim statistics", "Clear PIM statistics", s.cliClearPIMStats, nil)
	s.addGIRCommands(t)
}

// pimQuery runs fn on the loop with the engine.
func (s *Server) pimQuery(ctx context.Context, fn func(e *pim.Engine, now time.Time)) error {
	return s.eng.Do(ctx, func() error {
		return s.mc.Do(func(e *pim.Engine, now time.Time) []pim.Action { fn(e, now); return nil })
	})
}

func (s *Server) cliPIMNeighbors(ctx context.Context, req *cli.Request, w io.Writer) error {
	var ns []pim.NeighborInfo
	if err := s.pimQuery(ctx, func(e *pim.Engine, now time.Time) { ns = e.ShowNeighbors(now) }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, ns)
	}
	pimshow.RenderNeighbors(w, ns, req.Flag("detail"))
	return nil
}

func (s *Server) cliPIMInterfaces(ctx context.Context, req *cli.Request, w io.Writer) error {
	var is []pim.InterfaceInfo
	if err := s.pimQuery(ctx, func(e *pim.Engine, now time.Time) { is = e.ShowInterfaces(now) }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, is)
	}
	pimshow.RenderInterfaces(w, is)
	return nil
}

func optGroup(req *cli.Request) (netip.Addr, error) {
	v := req.Arg("group")
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() || !a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("invalid group %q: expected an IPv4 multicast address", v)
	}
	return a, nil
}

func (s *Server) cliPIMJoin(ctx context.Context, req *cli.Request, w io.Writer) error {
	g, err := optGroup(req)
	if err != nil {
		return err
	}
	var js []pim.JoinEntry
	if err := s.pimQuery(ctx, func(e *pim.Engine, now time.Time) { js = e.ShowJoin(now, g) }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, js)
	}
	pimshow.RenderJoin(w, js, req.Flag("extensive"))
	return nil
}

func (s *Server) cliPIMRPs(ctx context.Context, req *cli.Request, w io.Writer) error {
	var rps []pim.RPInfo
	if err := s.pimQuery(ctx, func(e *pim.Engine, now time.Time) { rps = e.ShowRPs(now) }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, rps)
	}
	pimshow.RenderRPs(w, rps, req.Flag("extensive"))
	return nil
}

func (s *Server) cliPIMBootstrap(ctx context.Context, req *cli.Request, w io.Writer) error {
	var bi pim.BootstrapInfo
	if err := s.pimQuery(ctx, func(e *pim.Engine, now time.Time) { bi = e.ShowBootstrap(now) }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, bi)
	}
	pimshow.RenderBootstrap(w, bi)
	return nil
}

func (s *Server) cliPIMStatistics(ctx context.Context, req *cli.Request, w io.Writer) error {
	var st pim.Stats
	var h pimhost.Stats
	var gs gir.Stats
	if err := s.pimQuery(ctx, func(e *pim.Engine, _ time.Time) { st = e.Stats(); h = s.mc.Stats(); gs = s.mc.GIRStats() }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, map[string]any{"engine": st, "io": h, "gir": gs})
	}
	// The engine sends the Null-Registers; the data Registers are built
	// by the host from the packets pe- traps: the Register row counts
	// both, as the received side does.
	st.Tx.Register += h.RegistersSent
	pimshow.RenderStatistics(w, st)
	fmt.Fprintf(w, "\nPIM I/O: received %d, sent %d, send errors %d, registers sent %d, registers decapsulated %d\n",
		h.PIMReceived, h.PIMSent, h.PIMSendErrors, h.RegistersSent, h.RegistersDecap)
	if len(h.PIMBad) > 0 {
		fmt.Fprintln(w, "Dropped PIM packets:")
		keys := make([]string, 0, len(h.PIMBad))
		for k := range h.PIMBad {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %-40s %d\n", k, h.PIMBad[k])
		}
	}
	renderGIRStats(w, gs)
	return nil
}

func (s *Server) cliClearPIMJoin(ctx context.Context, req *cli.Request, w io.Writer) error {
	g, err := optGroup(req)
	if err != nil {
		return err
	}
	err = s.eng.Do(ctx, func() error { return s.mc.ClearJoin(g) })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Cleared PIM join state")
	return nil
}

func (s *Server) cliClearPIMStats(ctx context.Context, _ *cli.Request, w io.Writer) error {
	if err := s.eng.Do(ctx, func() error { return s.mc.ClearStatistics() }); err != nil {
		return err
	}
	fmt.Fprintln(w, "Cleared PIM statistics")
	return nil
}

// igmpStates snapshots the IGMP interfaces on the loop.
func (s *Server) igmpStates(ctx context.Context) ([]igmp.InterfaceState, map[uint32]string, time.Time, error) {
	var out []igmp.InterfaceState
	names := map[uint32]string{}
	var now time.Time
	err := s.eng.Do(ctx, func() error {
		now = s.clk.Now()
		r := s.mc.IGMP()
		for _, i := range r.Interfaces() {
			out = append(out, r.Interface(i).State())
		}
		for _, f := range s.kern.Interfaces() {
			names[uint32(f.Index)] = f.Name
		}
		return nil
	})
	return out, names, now, err
}

// cliIGMPGroup renders `show igmp group` as the modelled platform does.
func (s *Server) cliIGMPGroup(ctx context.Context, req *cli.Request, w io.Writer) error {
	states, names, now, err := s.igmpStates(ctx)
	if err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, states)
	}
	for _, st := range states {
		fmt.Fprintf(w, "Interface: %s, Groups: %d\n", names[uint32(st.Iface)], len(st.Groups))
		for _, g := range st.Groups {
			srcs := []string{"0.0.0.0"}
			if len(g.Sources) > 0 {
				srcs = srcs[:0]
				for _, x := range g.Sources {
					srcs = append(srcs, x.Addr.String())
				}
			}
			for _, src := range srcs {
				fmt.Fprintf(w, "    Group: %s\n", g.Group)
				fmt.Fprintf(w, "        Group mode: %s\n", capitalize(g.Membership.Mode.String()))
				fmt.Fprintf(w, "        Source: %s\n", src)
				last := "Local"
				if g.LastReporter.IsValid() {
					last = g.LastReporter.String()
				}
				fmt.Fprintf(w, "        Last reported by: %s\n", last)
				timeout := 0
				if !g.Expires.IsZero() {
					timeout = int(g.Expires.Sub(now).Round(time.Second) / time.Second)
				}
				kind := "Dynamic"
				if g.Static {
					kind = "Static"
				}
				fmt.Fprintf(w, "        Timeout: %9d Type: %s\n", timeout, kind)
			}
		}
	}
	return nil
}

// cliIGMPInterface renders `show igmp interface`.
func (s *Server) cliIGMPInterface(ctx context.Context, req *cli.Request, w io.Writer) error {
	states, names, now, err := s.igmpStates(ctx)
	if err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, states)
	}
	for _, st := range states {
		fmt.Fprintf(w, "Interface: %s\n", names[uint32(st.Iface)])
		fmt.Fprintf(w, "    Querier: %s\n", st.Querier)
		state := "Up"
		if !st.Up {
			state = "Down"
		}
		fmt.Fprintf(w, "    State: %s Timeout: %s Version: %d Groups: %d\n", state, querierTimeout(st, now), st.Version, len(st.Groups))
		fmt.Fprintf(w, "    Immediate leave: Off\n    Promiscuous mode: Off\n    Passive: Off\n\n")
	}
	fmt.Fprintf(w, "Configured Parameters:\nIGMP Query Interval: 125.0\nIGMP Query Response Interval: 10.0\nIGMP Last Member Query Interval: 1.0\nIGMP Robustness Count: 2\n")
	return nil
}

func querierTimeout(st igmp.InterfaceState, now time.Time) string {
	if st.Self || st.OtherQuerierUntil.IsZero() {
		return "None"
	}
	return fmt.Sprint(int(st.OtherQuerierUntil.Sub(now).Round(time.Second) / time.Second))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
