package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
	"github.com/mxfwd/mxfwd/re/nsr"
)

// TNP addresses of the routing engines (reference-junos §2.8, §4:
// 128.0.0.(4+N) for reN, the master alias 0x1).
func reTNP(id int) ipc.TNPAddr { return ipc.TNPAddr(0x4 + id) }

func reMAC(id int) string { return fmt.Sprintf("02:01:00:00:00:%02x", 0x4+id) }

func (s *Server) addNSRCommands(t *cli.Tree) {
	t.SetHelp("request chassis", "Chassis requests")
	t.SetHelp("request chassis routing-engine", "Routing engine requests")
	t.SetHelp("show task", "Show routing protocol task information")
	t.Add("show system switchover", "Show the graceful switchover state of this routing engine", s.cliSwitchover, nil)
	t.Add("show task replication", "Show the state of the protocols' replication to the backup routing engine", s.cliTaskReplication, nil)
	t.Add("request chassis routing-engine master switch", "Make the other routing engine the master (planned switchover)", s.cliMasterSwitch, nil,
		cli.Option{Name: "check", Help: "Only say whether a switchover would be allowed now"})
	n := t.Add("show msdp socket", "Show the MSDP sessions' sockets and their replication", s.cliMSDPSocket, nil)
	n.Hidden = true
}

// nsrStatus is the pairing's status, or a lone routing engine's.
func (s *Server) nsrStatus() (nsr.Status, bool) {
	if s.nsr == nil {
		return nsr.Status{Role: "Master", Peer: "Not connected"}, false
	}
	return s.nsr.node.Status(), true
}

// cliSwitchover renders `show system switchover` as the modelled platform
// does (reference-junos §4), plus the pairing's details.
func (s *Server) cliSwitchover(_ context.Context, req *cli.Request, w io.Writer) error {
	st, on := s.nsrStatus()
	if req.JSON {
		return cli.WriteJSON(w, st)
	}
	onOff := map[bool]string{true: "On", false: "Off"}
	fmt.Fprintf(w, "Graceful switchover: %s\n", onOff[on])
	if !on {
		return nil
	}
	ready := func(name string) string {
		for _, c := range st.Clients {
			if c.Name == name {
				if c.State == "Complete" {
					return "Ready"
				}
				return c.State
			}
		}
		return "Not applicable"
	}
	if st.Role == "Backup" {
		fmt.Fprintf(w, "Configuration database: %s\n", ready("Configuration"))
		fmt.Fprintf(w, "Kernel database: %s\n", ready("Kernel"))
	}
	fmt.Fprintf(w, "Peer state: %s\n", st.Peer)
	fmt.Fprintf(w, "\nRouting engine: re%d (%s)", st.REID, st.Role)
	if !st.Since.IsZero() {
		fmt.Fprintf(w, " since %s", st.Since.Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Fprintln(w)
	if st.PeerPID != 0 {
		fmt.Fprintf(w, "Other routing engine: re%d (pid %d)\n", st.PeerRE, st.PeerPID)
	}
	fmt.Fprintf(w, "Keepalive: %v, takeover after %v without one (sent %d, received %d)\n",
		st.Keepalive, st.TakeoverAfter, st.KeepalivesTx, st.KeepalivesRx)
	fmt.Fprintf(w, "Switchovers: %d", st.Switchovers)
	if !st.LastSwitch.IsZero() {
		fmt.Fprintf(w, ", last %s", st.LastSwitch.Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Fprintln(w)
	if d := time.Duration(s.nsr.takeover.Load()); d > 0 {
		fmt.Fprintf(w, "Last takeover took %v\n", d.Round(time.Microsecond))
	}
	if !st.SyncedAt.IsZero() {
		fmt.Fprintf(w, "Initial replication complete: %s (%d since start)\n", st.SyncedAt.Format("2006-01-02 15:04:05 MST"), st.Syncs)
	}
	if st.Role == "Master" {
		if st.SwitchRefusal != "" {
			fmt.Fprintf(w, "Planned switchover: not allowed: %s\n", st.SwitchRefusal)
		} else {
			fmt.Fprintln(w, "Planned switchover: allowed")
		}
	}
	fmt.Fprintf(w, "Mirror: %d records sent (%d bytes), %d received (%d bytes)\n", st.RecordsTx, st.BytesTx, st.RecordsRx, st.BytesRx)
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		for _, e := range st.Events {
			fmt.Fprintln(w, "  "+e)
		}
	}
	return nil
}

// cliTaskReplication renders `show task replication` (reference-junos §5).
func (s *Server) cliTaskReplication(_ context.Context, req *cli.Request, w io.Writer) error {
	st, on := s.nsrStatus()
	if req.JSON {
		return cli.WriteJSON(w, st)
	}
	enabled := "Disabled"
	if on && s.Config().NonstopRouting {
		enabled = "Enabled"
	}
	fmt.Fprintf(w, "        Stateful Replication: %s\n", enabled)
	fmt.Fprintf(w, "        RE mode: %s\n\n", st.Role)
	if !on {
		return nil
	}
	fmt.Fprintf(w, "    %-24s%-22s\n", "Protocol", "Synchronization Status")
	for _, c := range st.Clients {
		if c.Name != "PIM" && c.Name != "MSDP" {
			continue
		}
		state := c.State
		if c.Name == "MSDP" && s.nsrDisabledForMSDP() {
			state = "Disabled (nonstop-routing-disable)"
		}
		fmt.Fprintf(w, "    %-24s%-22s\n", c.Name, state)
		if c.Name == "PIM" {
			fmt.Fprintf(w, "    %-24s%-22s\n", "IGMP", state)
		}
	}
	return nil
}

// cliMasterSwitch runs `request chassis routing-engine master switch`.
func (s *Server) cliMasterSwitch(ctx context.Context, req *cli.Request, w io.Writer) error {
	if s.nsr == nil {
		return errors.New("graceful switchover is not configured: no other routing engine")
	}
	st := s.nsr.node.Status()
	if req.Flag("check") {
		if st.Role != "Master" {
			return errors.New("switchover check: this is not the master routing engine")
		}
		if st.SwitchRefusal != "" {
			return fmt.Errorf("switchover check: not ready: %s", st.SwitchRefusal)
		}
		fmt.Fprintln(w, "Switchover Ready")
		return nil
	}
	fmt.Fprintln(w, "Resolving mastership...")
	if err := s.nsr.node.Switch(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "Complete. The other routing engine becomes the master.")
	return nil
}

// cliMSDPSocket renders the hidden `show msdp socket` (seed 000 §2.4.1):
// each session's socket on this routing engine and where its replication
// stands.
func (s *Server) cliMSDPSocket(_ context.Context, req *cli.Request, w io.Writer) error {
	t := s.msdp.Transport()
	var socks []msdpnet.Socket
	if t != nil {
		socks = t.Sockets()
	}
	if req.JSON {
		return cli.WriteJSON(w, socks)
	}
	st, _ := s.nsrStatus()
	fmt.Fprintf(w, "Routing engine: re%d (%s)\n", st.REID, st.Role)
	fmt.Fprintf(w, "%-16s %-16s %-9s %5s %-18s %12s %12s %9s %-7s\n", "Peer", "Local", "Role", "Fd", "Cookie", "In offset", "Out offset", "Mirrored", "In sync")
	for _, so := range socks {
		sync := "no"
		if so.InSync {
			sync = "yes"
		}
		if !so.Replicated {
			sync = "-"
		}
		fmt.Fprintf(w, "%-16s %-16s %-9s %5d %#-18x %12d %12d %9d %-7s\n", so.Peer, so.Local, so.Role, so.FD, so.Cookie, so.InOffset, so.OutOffset, so.MirrorSeq, sync)
		if so.TakenOver {
			fmt.Fprintf(w, "  taken over: %d inbound bytes discarded (mirrored, not consumed by the old master), %d bytes written to complete its last TLV\n", so.Discarded, so.Completed)
		}
		if so.MirrorErrors > 0 || so.Suppressed > 0 || so.DuplicateBytes > 0 {
			fmt.Fprintf(w, "  mirror errors %d, suppressed standby sends %d, duplicate bytes %d\n", so.MirrorErrors, so.Suppressed, so.DuplicateBytes)
		}
	}
	return nil
}
