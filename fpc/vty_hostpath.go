package fpc

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/hal"
)

// addHostPathVty registers the host-path commands: `show host-path
// statistics`, and `test interface IFL down|up` on drivers whose ports are
// in memory (hal.LinkSetter).
func (r *Runtime) addHostPathVty(t *cli.Tree) {
	t.Add("show host-path statistics", "Show punted packets per trap: sent to the RE, dropped by reason", r.vtyHostPath, nil)
	t.SetHelp("show host-path", "Show the host path (traps, policers)")
	if _, ok := r.drv.(hal.LinkSetter); ok {
		t.Add("test interface", "Set the operational state of a port (in-memory ports)", r.vtyTestInterface,
			[]cli.Arg{
				{Name: "interface", Help: "Logical interface of the port, e.g. xe-3/1/0.0", Required: true},
				{Name: "state", Help: "down or up", Required: true},
			})
	}
}

func (r *Runtime) vtyHostPath(_ context.Context, req *cli.Request, w io.Writer) error {
	rep := r.HostPath()
	if req.JSON {
		return cli.WriteJSON(w, rep)
	}
	fmt.Fprintf(w, "Host path: card limit %g pps (burst %g), %d queued\n\n", rep.Card.Rate, rep.Card.Burst, rep.Queue)
	fmt.Fprintf(w, "%-6s %-9s %-28s %6s %10s %10s %8s %8s %8s %8s %8s\n",
		"Trap", "Class", "Match", "Rate", "Received", "Sent", "Policed", "Card", "Queue", "Lane", "NoSess")
	row := func(id, class, match string, rate float64, s HostPathStats) {
		fmt.Fprintf(w, "%-6s %-9s %-28s %6g %10d %10d %8d %8d %8d %8d %8d\n",
			id, class, match, rate, s.Received, s.Sent, s.Policed, s.CardLimit, s.QueueFull, s.LaneFull, s.NoSession)
	}
	for _, x := range rep.Traps {
		id := fmt.Sprint(x.Trap)
		if x.Trap == hal.TrapEncap {
			id = "encap"
		}
		row(id, x.Class, x.Match, x.Rate, x.HostPathStats)
	}
	row("total", "", "", rep.Card.Rate, rep.Total)
	return nil
}

func (r *Runtime) vtyTestInterface(_ context.Context, req *cli.Request, w io.Writer) error {
	ls, ok := r.drv.(hal.LinkSetter)
	if !ok {
		return fmt.Errorf("driver %s has real ports: their state comes from the link", r.cfg.DriverName)
	}
	name := req.Arg("interface")
	ifl, ok := r.IFLByName(name)
	if !ok {
		return fmt.Errorf("unknown interface %q on this card", name)
	}
	var up bool
	switch req.Arg("state") {
	case "up":
		up = true
	case "down":
	default:
		return fmt.Errorf("invalid state %q: expected down or up", req.Arg("state"))
	}
	if err := ls.SetLinkState(ifl, up); err != nil {
		return fmt.Errorf("interface %s: %w", name, err)
	}
	fmt.Fprintf(w, "Interface %s (ifl %d) link %s\n", name, ifl, req.Arg("state"))
	return nil
}

// linkRows lists the reported port states for `show ipc`.
func (r *Runtime) linkRows() []string {
	st := r.LinkStates()
	idx := make([]hal.IFLIndex, 0, len(st))
	for i := range st {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	var out []string
	for _, i := range idx {
		name := "-"
		if ifl, err := r.drv.IFL(i); err == nil {
			name = ifl.Name
		}
		out = append(out, fmt.Sprintf("%s (ifl %d) %s", name, i, map[bool]string{true: "up", false: "down"}[st[i]]))
	}
	return out
}
