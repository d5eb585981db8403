package lab

import (
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/topo"
)

// Status is a lab as it is now.
type Status struct {
	Name     string       `json:"name"`
	Topology string       `json:"topology"`
	Dir      string       `json:"dir"`
	Phase    string       `json:"phase"`
	Error    string       `json:"error,omitempty"`
	Created  time.Time    `json:"created"`
	Mroute   Mroute       `json:"mroute"`
	FRRNote  string       `json:"frr_note"`
	Nodes    []NodeStatus `json:"nodes"`
	Links    []LinkStatus `json:"links"`
	Captures []ProcStatus `json:"captures,omitempty"`
	// Healthy: every recorded process is alive and every namespace present.
	Healthy bool `json:"healthy"`
}

// NodeStatus is one node.
type NodeStatus struct {
	Name           string       `json:"name"`
	Kind           string       `json:"kind"`
	Netns          string       `json:"netns"`
	NetnsPresent   bool         `json:"netns_present"`
	Procs          []ProcStatus `json:"procs"`
	HostInterfaces bool         `json:"host_interfaces,omitempty"`
	HostIfNote     string       `json:"host_interfaces_note,omitempty"`
}

// ProcStatus is one recorded process.
type ProcStatus struct {
	Role  string `json:"role"`
	Node  string `json:"node"`
	Pid   int    `json:"pid"`
	Alive bool   `json:"alive"`
	Log   string `json:"log"`
	File  string `json:"file,omitempty"`
}

// LinkStatus is one link with the state of both ends.
type LinkStatus struct {
	A      string `json:"a"`
	B      string `json:"b"`
	AState string `json:"a_state"`
	BState string `json:"b_state"`
}

// ifState returns up, down, no-carrier or missing for an interface in a
// namespace.
func ifState(ns, ifname string) string {
	state := "missing"
	_ = netns.Do(netns.Path(ns), func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return nil
		}
		switch {
		case ifi.Flags&net.FlagUp == 0:
			state = "down"
		case ifi.Flags&net.FlagRunning == 0:
			state = "no-carrier"
		default:
			state = "up"
		}
		return nil
	})
	return state
}

// Status reports the lab's nodes, processes (alive or not), links and
// captures, and what the kernel offers FRR.
func (l *Lab) Status() Status {
	l.mu.Lock()
	st := *l.st
	l.mu.Unlock()
	s := Status{Name: st.Name, Topology: st.Topology, Dir: st.Dir, Phase: st.Phase, Error: st.Error,
		Created: st.Created, Mroute: st.Mroute, FRRNote: st.Mroute.FRRNote(), Healthy: st.Phase == PhaseUp}
	present := map[string]bool{}
	for _, ns := range st.Namespaces {
		id, err := netns.Identify(netns.Path(ns.Name))
		present[ns.Name] = err == nil && (ns.ID.IsZero() || id == ns.ID)
	}
	for _, n := range st.Nodes {
		ns := NodeStatus{Name: n.Name, Kind: n.Kind, Netns: n.Netns, NetnsPresent: present[n.Netns],
			HostInterfaces: n.HostInterfaces, HostIfNote: n.HostIfNote}
		s.Healthy = s.Healthy && ns.NetnsPresent
		for _, p := range st.Procs {
			if p.Node != n.Name || p.Role == roleCapture {
				continue
			}
			ps := ProcStatus{Role: p.Role, Node: p.Node, Pid: p.Pid, Alive: p.Alive(), Log: p.Log}
			s.Healthy = s.Healthy && ps.Alive
			ns.Procs = append(ns.Procs, ps)
		}
		s.Nodes = append(s.Nodes, ns)
	}
	for _, lk := range st.Links {
		s.Links = append(s.Links, LinkStatus{A: lk.A, B: lk.B, AState: ifState(lk.ANetns, lk.ALinux), BState: ifState(lk.BNetns, lk.BLinux)})
	}
	for _, p := range st.Procs {
		if p.Role == roleCapture {
			s.Captures = append(s.Captures, ProcStatus{Role: p.Role, Node: p.Node, Pid: p.Pid, Alive: p.Alive(), Log: p.Log, File: p.File})
		}
	}
	return s
}

// WriteText prints a status for people.
func (s Status) WriteText(w io.Writer) {
	fmt.Fprintf(w, "lab %s: %s since %s (topology %s, run dir %s)\n", s.Name, s.Phase, s.Created.Format(time.DateTime), s.Topology, s.Dir)
	if s.Error != "" {
		fmt.Fprintf(w, "error: %s\n", s.Error)
	}
	fmt.Fprintf(w, "kernel: %s\n", s.FRRNote)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNODE\tKIND\tNETNS\tPROCESSES")
	for _, n := range s.Nodes {
		var ps []string
		for _, p := range n.Procs {
			state := "running"
			if !p.Alive {
				state = "DEAD"
			}
			ps = append(ps, fmt.Sprintf("%s %d %s", p.Role, p.Pid, state))
		}
		nsState := n.Netns
		if !n.NetnsPresent {
			nsState += " (MISSING)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Kind, nsState, strings.Join(ps, ", "))
	}
	tw.Flush()
	for _, n := range s.Nodes {
		if n.Kind == string(topo.KindMxfwd) {
			fmt.Fprintf(w, "%s host interfaces: %s\n", n.Name, n.HostIfNote)
		}
	}
	if len(s.Links) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nLINK\t\t")
		for _, lk := range s.Links {
			fmt.Fprintf(tw, "%s (%s)\t<->\t%s (%s)\n", lk.A, lk.AState, lk.B, lk.BState)
		}
		tw.Flush()
	}
	if len(s.Captures) > 0 {
		fmt.Fprintln(w, "\nCAPTURES")
		for _, c := range s.Captures {
			state := "running"
			if !c.Alive {
				state = "DEAD"
			}
			fmt.Fprintf(w, "%s pid %d %s -> %s\n", c.Node, c.Pid, state, c.File)
		}
	}
}
