package pimshow

import (
	"fmt"
	"io"
	"strings"
)

// Text renderers for the `show pim …` commands, in the modelled platform's
// layouts (reference-junos.md §2.4 `show pim join extensive` as in seed 003,
// §2.5 `show pim neighbors [detail]`, `show pim interfaces`, `show pim
// rps`; `show pim rps extensive`, `show pim bootstrap` and `show pim
// statistics` follow the platform from memory, see the package comment).

// FormatUptime renders seconds as the platform does: "03:34:03",
// "1d 15:35:33", "2w3d 04:05:06".
func FormatUptime(s int64) string {
	if s < 0 {
		s = 0
	}
	w, s := s/(7*86400), s%(7*86400)
	d, s := s/86400, s%86400
	h, m, sec := s/3600, s/60%60, s%60
	switch {
	case w > 0:
		return fmt.Sprintf("%dw%dd %02d:%02d:%02d", w, d, h, m, sec)
	case d > 0:
		return fmt.Sprintf("%dd %02d:%02d:%02d", d, h, m, sec)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
}

func timeoutStr(t int64) string {
	if t < 0 {
		return "Infinity"
	}
	return fmt.Sprint(t)
}

const joinHeader = "Instance: PIM.master Family: INET\nR = Rendezvous Point Tree, S = Sparse, W = Wildcard\n\n"

// RenderJoin prints `show pim join [extensive]`.
func RenderJoin(w io.Writer, entries []JoinEntry, extensive bool) {
	var b strings.Builder
	b.WriteString(joinHeader)
	for _, je := range entries {
		fmt.Fprintf(&b, "Group: %s\n", je.Group)
		if je.Source.IsValid() {
			fmt.Fprintf(&b, "    Source: %s\n", je.Source)
		} else {
			b.WriteString("    Source: *\n")
			if je.RP.IsValid() {
				fmt.Fprintf(&b, "    RP: %s\n", je.RP)
			}
		}
		fmt.Fprintf(&b, "    Flags: %s\n", strings.Join(je.Flags, ","))
		fmt.Fprintf(&b, "    Upstream interface: %s\n", je.UpstreamInterface)
		if !extensive {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, "    Upstream neighbor: %s\n", je.UpstreamNeighbor)
		fmt.Fprintf(&b, "    Upstream state: %s\n", je.UpstreamState)
		if je.Graceful != nil {
			fmt.Fprintf(&b, "    Graceful RPF change: from %s via %s, %s\n", je.Graceful.OldInterface,
				je.Graceful.OldNeighbor, FormatUptime(je.Graceful.Since))
		}
		if je.Source.IsValid() {
			if je.KeepaliveTimeout != nil {
				fmt.Fprintf(&b, "    Keepalive timeout: %d\n", *je.KeepaliveTimeout)
			} else {
				b.WriteString("    Keepalive timeout:\n")
			}
		}
		fmt.Fprintf(&b, "    Uptime: %s\n", FormatUptime(je.Uptime))
		b.WriteString("    Downstream neighbors:\n")
		for _, d := range je.Downstream {
			fmt.Fprintf(&b, "        Interface: %s\n", d.Interface)
			for _, n := range d.Neighbors {
				addr := "(pruned)"
				if n.Addr.IsValid() {
					addr = n.Addr.String()
				}
				fmt.Fprintf(&b, "            %s State: %s Flags: %s Timeout: %s\n", addr, n.State, n.Flags, timeoutStr(n.Timeout))
				if n.State == "Join" {
					fmt.Fprintf(&b, "            Uptime: %s Time since last Join: %s\n", FormatUptime(n.Uptime),
						FormatUptime(n.TimeSinceLastJoin))
				}
			}
		}
		for _, as := range je.Assert {
			fmt.Fprintf(&b, "    Assert: %s %s winner %s Timeout: %d\n", as.Interface, as.State, as.Winner, as.Timeout)
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}

const neighborLegend = `B = Bidirectional Capable, G = Generation Identifier
H = Hello Option Holdtime, L = Hello Option LAN Prune Delay,
P = Hello Option DR Priority, T = Tracking Bit,
A = Hello Option Join Attribute

`

// RenderNeighbors prints `show pim neighbors [detail]`.
func RenderNeighbors(w io.Writer, ns []NeighborInfo, detail bool) {
	var b strings.Builder
	if !detail {
		b.WriteString(neighborLegend)
		b.WriteString("Instance: PIM.master\n")
		b.WriteString("Interface           IP V Mode        Option       Uptime Neighbor addr\n")
		for _, n := range ns {
			if n.Local {
				continue
			}
			fmt.Fprintf(&b, "%-19s %2d %d %-11s %-10s %8s %s\n", n.Interface, 4, 2, "", n.Options, FormatUptime(n.Uptime), n.Addr)
		}
		io.WriteString(w, b.String())
		return
	}
	b.WriteString("Instance: PIM.master\n")
	cur := ""
	for _, n := range ns {
		if n.Interface != cur {
			cur = n.Interface
			fmt.Fprintf(&b, "\nInterface: %s\n\n", cur)
		}
		if n.Local {
			fmt.Fprintf(&b, "    Address: %s,     IPv4, PIM v2, Mode: Sparse, sg Join Count: %d, tsg Join Count: %d\n", n.Addr, n.SGJoins, n.StarGJoins)
			fmt.Fprintf(&b, "        Hello Option Holdtime: %d seconds\n", n.Holdtime)
		} else {
			fmt.Fprintf(&b, "    Address: %s,     IPv4, PIM v2, sg Join Count: %d, tsg Join Count: %d\n", n.Addr, n.SGJoins, n.StarGJoins)
			b.WriteString("        BFD: Disabled\n")
			if n.Holdtime == 0xffff {
				b.WriteString("        Hello Option Holdtime: 65535 seconds\n")
			} else {
				fmt.Fprintf(&b, "        Hello Option Holdtime: %d seconds %d remaining\n", n.Holdtime, n.HoldRemaining)
			}
		}
		if n.HasDRPriority {
			fmt.Fprintf(&b, "        Hello Option DR Priority: %d\n", n.DRPriority)
		}
		if n.HasGenID {
			fmt.Fprintf(&b, "        Hello Option Generation ID: %d\n", n.GenID)
		}
		if n.LANPruneDelay {
			fmt.Fprintf(&b, "        Hello Option LAN Prune Delay: delay %d ms override %d ms\n", n.PropagationDelay, n.OverrideInterval)
			if !n.TBit {
				b.WriteString("                                      Join Suppression supported\n")
			}
		}
		if len(n.RxJoins) > 0 {
			b.WriteString("    Rx Join: Group           Source          Timeout\n")
			for _, j := range n.RxJoins {
				src := "*"
				if j.Source.IsValid() {
					src = j.Source.String()
				}
				fmt.Fprintf(&b, "             %-15s %-15s %7s\n", j.Group, src, timeoutStr(j.Timeout))
			}
		}
	}
	io.WriteString(w, b.String())
}

const interfacesLegend = `Instance: PIM.master

Stat = Status, V = Version, NbrCnt = Neighbor Count,
S = Sparse, D = Dense, B = Bidirectional,
DR = Designated Router, DDR = Dual DR, DistDR = Distributed DR,
P2P = Point-to-point link, P2MP = Point-to-Multipoint,
Active = Bidirectional is active, NotCap = Not Bidirectional Capable

`

// RenderInterfaces prints `show pim interfaces`.
func RenderInterfaces(w io.Writer, ifs []InterfaceInfo) {
	var b strings.Builder
	b.WriteString(interfacesLegend)
	b.WriteString("Name               Stat Mode IP V State        NbrCnt JoinCnt(sg/*g) DR address\n")
	for _, f := range ifs {
		stat := "Up"
		if !f.Up {
			stat = "Down"
		}
		dr := ""
		if f.DR.IsValid() {
			dr = f.DR.String()
		}
		fmt.Fprintf(&b, "%-18s %-4s %-4s %2d %d %-12s %6d %-14s %s\n", f.Name, stat, f.Mode, 4, f.Version, f.State,
			f.Neighbors, fmt.Sprintf("%d/%d", f.SGJoins, f.StarJoins), dr)
	}
	io.WriteString(w, b.String())
}

// RenderRPs prints `show pim rps [extensive]`.
func RenderRPs(w io.Writer, rps []RPInfo, extensive bool) {
	var b strings.Builder
	b.WriteString("Instance: PIM.master\n\n")
	if !extensive {
		b.WriteString("address-family INET\n")
		b.WriteString("RP address      Type        Mode   Holdtime Timeout Groups Group prefixes\n")
		for _, r := range rps {
			to := "None"
			if r.Timeout >= 0 {
				to = fmt.Sprint(r.Timeout)
			}
			first := ""
			if len(r.Prefixes) > 0 {
				first = r.Prefixes[0].String()
			}
			fmt.Fprintf(&b, "%-15s %-11s %-6s %8d %7s %6d %s\n", r.Addr, r.Type, r.Mode, r.Holdtime, to, r.Groups, first)
			for _, p := range r.Prefixes[min(1, len(r.Prefixes)):] {
				fmt.Fprintf(&b, "%59s%s\n", "", p)
			}
		}
		io.WriteString(w, b.String())
		return
	}
	b.WriteString("Address family INET\n")
	for _, r := range rps {
		via := map[string]string{"static": "static configuration", "local": "local configuration", "bootstrap": "bootstrap"}[r.Type]
		fmt.Fprintf(&b, "\nRP: %s\nLearned via: %s\nMode: Sparse\nTime Active: %s\nHoldtime: %d", r.Addr, via,
			FormatUptime(r.TimeActive), r.Holdtime)
		if r.Timeout >= 0 {
			fmt.Fprintf(&b, " with %d remaining", r.Timeout)
		}
		fmt.Fprintf(&b, "\nPriority: %d\n", r.Priority)
		if r.SBit {
			b.WriteString("MSDP capable (S-bit)\n")
		}
		b.WriteString("Group Ranges:\n")
		for _, p := range r.Prefixes {
			fmt.Fprintf(&b, "        %s\n", p)
		}
		b.WriteString("Active groups using RP:\n")
		for _, g := range r.ActiveGroups {
			fmt.Fprintf(&b, "        %s\n", g)
		}
		fmt.Fprintf(&b, "\n        total %d groups active\n", r.Groups)
		if r.Local {
			b.WriteString("\nRegister State for RP:\n")
			b.WriteString("Group           Source          FirstHop        RP Address      State    Timeout\n")
			for _, reg := range r.Registers {
				fmt.Fprintf(&b, "%-15s %-15s %-15s %-15s %-8s %7d\n", reg.Group, reg.Source, reg.FirstHop, r.Addr, reg.State, reg.Timeout)
			}
		}
	}
	io.WriteString(w, b.String())
}

// RenderBootstrap prints `show pim bootstrap`.
func RenderBootstrap(w io.Writer, bi BootstrapInfo) {
	var b strings.Builder
	b.WriteString("Instance: PIM.master\n\n")
	b.WriteString("BSR                     Pri Local address           Pri State      Timeout\n")
	bsr, local := "None", "None"
	if bi.BSR.IsValid() {
		bsr = bi.BSR.String()
	}
	if bi.LocalAddress.IsValid() {
		local = bi.LocalAddress.String()
	}
	fmt.Fprintf(&b, "%-23s %3d %-23s %3d %-10s %7d\n", bsr, bi.BSRPriority, local, bi.LocalPriority, bi.State, bi.Timeout)
	io.WriteString(w, b.String())
}

// RenderStatistics prints `show pim statistics`.
func RenderStatistics(w io.Writer, s Stats) {
	var b strings.Builder
	b.WriteString("Instance: PIM.master Family: INET\n")
	b.WriteString("PIM Message type       Received       Sent  Rx errors\n")
	row := func(name string, rx, tx, er uint64) {
		fmt.Fprintf(&b, "%-20s %10d %10d %10d\n", name, rx, tx, er)
	}
	row("V2 Hello", s.Rx.Hello, s.Tx.Hello, s.RxErrors.Hello)
	row("V2 Register", s.Rx.Register, s.Tx.Register, s.RxErrors.Register)
	row("V2 Register Stop", s.Rx.RegisterStop, s.Tx.RegisterStop, s.RxErrors.RegisterStop)
	row("V2 Join Prune", s.Rx.JoinPrune, s.Tx.JoinPrune, s.RxErrors.JoinPrune)
	row("V2 Bootstrap", s.Rx.Bootstrap, s.Tx.Bootstrap, s.RxErrors.Bootstrap)
	row("V2 Assert", s.Rx.Assert, s.Tx.Assert, s.RxErrors.Assert)
	row("V2 Graft", 0, 0, 0)
	row("V2 Graft Ack", 0, 0, 0)
	row("V2 Candidate RP", s.Rx.CandidateRP, s.Tx.CandidateRP, s.RxErrors.CandidateRP)
	row("V2 Null Register", s.Rx.NullRegister, s.Tx.NullRegister, s.RxErrors.NullRegister)
	b.WriteString("\nGlobal Statistics\n\n")
	g := func(name string, v uint64) { fmt.Fprintf(&b, "%-50s%d\n", name, v) }
	g("Neighbor unknown", s.NeighborUnknown)
	g("Rx Bad Data", s.RxBadData)
	g("Rx Intf disabled", s.RxIntfDisabled)
	g("Rx Register not RP", s.RxRegisterNotRP)
	g("Rx Unknown Reg Stop", s.RxUnknownRegStop)
	g("Rx Join/Prune no state", s.RxJPNoState)
	g("Rx Join/Prune for invalid group", s.RxJPInvalidGroup)
	g("Rx sparse join for SSM group", s.RxJPSparseForSSM)
	g("Rx CRP not BSR", s.RxCRPNotBSR)
	g("Rx BSR when BSR", s.RxBSRWhenBSR)
	g("Rx BSR not RPF if", s.RxBSRNotRPFIf)
	g("Rx data no state", s.RxDataNoState)
	g("No RP", s.NoRP)
	g("RP mismatch", s.RPMismatch)
	g("Resolve prunes sent", s.ResolvePrunes)
	g("Rx Joins", s.RxJoins)
	g("Rx Prunes", s.RxPrunes)
	g("Tx Joins", s.TxJoins)
	g("Tx Prunes", s.TxPrunes)
	g("Neighbors up", s.NeighborsUp)
	g("Neighbors down", s.NeighborsDown)
	g("Neighbor timeouts", s.NeighborTimeouts)
	g("Generation ID changes", s.GenIDChanges)
	g("DR changes", s.DRChanges)
	g("Join timeouts", s.JoinTimeouts)
	g("Keepalive timeouts", s.KeepaliveTimeouts)
	g("RPF changes", s.RPFChanges)
	g("SPT switches", s.SPTSwitches)
	g("Asserts won", s.AssertsWon)
	g("Asserts lost", s.AssertsLost)
	g("Graceful RPF changes started", s.GracefulStarted)
	g("Graceful RPF changes completed", s.GracefulCompleted)
	g("Graceful RPF changes by traffic", s.GracefulByTraffic)
	io.WriteString(w, b.String())
}
