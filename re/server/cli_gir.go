package server

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/re/pim/gir"
)

// addGIRCommands adds the graceful insertion and removal commands (seed
// 002, issue #16): `show pim maintenance`, `request pim maintenance
// enable|disable`.
func (s *Server) addGIRCommands(t *cli.Tree) {
	t.SetHelp("request pim", "PIM requests")
	t.SetHelp("request pim maintenance", "PIM graceful insertion and removal")
	t.Add("show pim maintenance", "Show PIM graceful insertion and removal: our maintenance window and the ones learned", s.cliPIMMaintenance, nil)
	t.Add("request pim maintenance enable", "Go into maintenance: announce a graceful-RPF-change window (removal)", s.cliMaintenanceEnable,
		[]cli.Arg{
			{Name: "start", Keyword: "start", Help: fmt.Sprintf("Seconds until routers start graceful RPF changes (default %d)", int(gir.DefaultStart.Seconds()))},
			{Name: "stop", Keyword: "stop", Help: fmt.Sprintf("Seconds until they stop (default %d)", int(gir.DefaultStop.Seconds()))},
		})
	t.Add("request pim maintenance disable", "Leave maintenance: announce an insertion window (start 0), then fully operational", s.cliMaintenanceDisable,
		[]cli.Arg{{Name: "stop", Keyword: "stop", Help: fmt.Sprintf("Seconds of the insertion window (default %d; 0: fully operational at once)", int(gir.DefaultInsertion.Seconds()))}})
}

// secondsArg parses an optional whole number of seconds.
func secondsArg(req *cli.Request, name string, def time.Duration) (time.Duration, error) {
	v := req.Arg(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: expected seconds (0..4294967295)", name, v)
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) cliMaintenanceEnable(ctx context.Context, req *cli.Request, w io.Writer) error {
	start, err := secondsArg(req, "start", gir.DefaultStart)
	if err != nil {
		return err
	}
	stop, err := secondsArg(req, "stop", gir.DefaultStop)
	if err != nil {
		return err
	}
	if err := s.eng.Do(ctx, func() error { return s.mc.Maintenance(true, start, stop) }); err != nil {
		return err
	}
	fmt.Fprintf(w, "Maintenance: graceful RPF change announced from %s to %s from now\n", start, stop)
	return nil
}

func (s *Server) cliMaintenanceDisable(ctx context.Context, req *cli.Request, w io.Writer) error {
	stop, err := secondsArg(req, "stop", gir.DefaultInsertion)
	if err != nil {
		return err
	}
	if err := s.eng.Do(ctx, func() error { return s.mc.Maintenance(false, 0, stop) }); err != nil {
		return err
	}
	if stop == 0 {
		fmt.Fprintln(w, "Maintenance over: fully operational announced")
	} else {
		fmt.Fprintf(w, "Maintenance over: insertion window of %s announced\n", stop)
	}
	return nil
}

func (s *Server) cliPIMMaintenance(ctx context.Context, req *cli.Request, w io.Writer) error {
	var st gir.Status
	err := s.eng.Do(ctx, func() error {
		var err error
		st, err = s.mc.GIRStatus()
		return err
	})
	if err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, st)
	}
	renderMaintenance(w, st)
	return nil
}

// in renders the time from now to t ("-" when zero or past).
func in(now, t time.Time) string {
	if t.IsZero() || !t.After(now) {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func renderMaintenance(w io.Writer, st gir.Status) {
	orig := "none"
	if st.Originator.IsValid() {
		orig = st.Originator.String()
	}
	fmt.Fprintf(w, "Graceful insertion and removal: PFM GIR TLV type %d, originator %s, announcements every %gs (%d copies)\n",
		st.TLVType, orig, st.Interval, st.Copies)
	l := st.Local
	fmt.Fprintf(w, "Local mode: %s", l.Mode)
	if !l.WindowStop.IsZero() {
		state := "pending"
		if l.Open {
			state = "open"
		}
		fmt.Fprintf(w, ", window %s (starts in %s, stops in %s)", state, in(st.Now, l.WindowStart), in(st.Now, l.WindowStop))
	}
	fmt.Fprintf(w, ", %d announcements sent, next in %s\n", l.Announcements, in(st.Now, l.NextAnnouncement))
	active := "inactive"
	if st.Graceful {
		active = "active"
	}
	fmt.Fprintf(w, "Graceful RPF change: %s\n\n", active)
	fmt.Fprintf(w, "Learned maintenance windows: %d\n", len(st.Learned))
	if len(st.Learned) == 0 {
		return
	}
	fmt.Fprintf(w, "%-16s %-14s %-16s %-8s %-8s %-8s %-9s %s\n", "Originator", "Interface", "Neighbor", "State", "Start", "Stop", "Refreshes", "Sources")
	for _, x := range st.Learned {
		state := "pending"
		switch {
		case x.Open && x.Relevant:
			state = "open"
		case x.Open:
			state = "ignored" // no state for its sources
		}
		srcs := "all"
		if len(x.Sources) > 0 {
			parts := make([]string, len(x.Sources))
			for i, p := range x.Sources {
				parts[i] = p.String()
			}
			srcs = strings.Join(parts, " ")
		}
		fmt.Fprintf(w, "%-16s %-14s %-16s %-8s %-8s %-8s %-9d %s\n", x.Originator, x.Interface, x.Neighbor, state,
			in(st.Now, x.Start), in(st.Now, x.Stop), x.Refreshes, srcs)
	}
}

// renderGIRStats is the GIR part of `show pim statistics`.
func renderGIRStats(w io.Writer, s gir.Stats) {
	fmt.Fprintln(w, "\nGraceful insertion and removal (PFM):")
	fmt.Fprintf(w, "    Originated %d, received %d, accepted %d, forwarded %d\n", s.Originated, s.Received, s.Accepted, s.Forwarded)
	fmt.Fprintf(w, "    Dropped: own %d, not from a neighbor %d, not to ALL-PIM-ROUTERS %d, RPF check %d, boundary %d, late No-Forward %d, duplicate %d\n",
		s.DropOwn, s.DropNotNeighbor, s.DropNotAllPIM, s.DropRPF, s.DropBoundary, s.DropNoForward, s.Duplicates)
	fmt.Fprintf(w, "    Our copies delayed by the message rate or gap: %d\n", s.RateLimited)
	fmt.Fprintf(w, "    Not forwarded: N bit %d, no forwardable TLV %d\n", s.NoForwardBit, s.NothingToForward)
	fmt.Fprintf(w, "    TLVs: without GIR %d, malformed GIR %d, invalid window %d\n", s.NoGIR, s.MalformedGIR, s.InvalidWindow)
	fmt.Fprintf(w, "    Windows: learned %d, refreshed %d, opened %d, closed %d, expired %d, not relevant %d; graceful mode entered %d\n",
		s.WindowsLearned, s.Refreshes, s.WindowsOpened, s.WindowsClosed, s.WindowsExpired, s.NotRelevant, s.GracefulOpened)
}
