package xdp

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/mxfwd/mxfwd/hal"
)

// PortStats describe one port: its data path mode and why, and the
// counters of the IFL bound to it.
type PortStats struct {
	Port      string       `json:"port"`      // "xe-3/1/0"
	Interface string       `json:"interface"` // Linux interface
	Ifindex   int          `json:"ifindex"`
	Mode      Mode         `json:"mode"` // native, generic or tc
	Why       string       `json:"why"`  // how the mode was chosen
	Tried     []string     `json:"tried,omitempty"`
	IFL       hal.IFLIndex `json:"ifl"` // bound IFL, 0 if none

	RxPackets  uint64 `json:"rx_packets"`
	RxBytes    uint64 `json:"rx_bytes"`
	TxPackets  uint64 `json:"tx_packets"` // forwarded copies and Transmit's frames
	TxBytes    uint64 `json:"tx_bytes"`
	Injected   uint64 `json:"tx_injected"` // of TxPackets, sent by Transmit
	Punted     uint64 `json:"punted"`      // frames a host-path trap sent to the FPC
	EventsLost uint64 `json:"events_lost"` // upcalls lost to a full ring
}

// Summary describes the tables.
type Summary struct {
	Routes         int    `json:"routes"`
	RoutesMax      int    `json:"routes_max"`
	Entries        int    `json:"entry_nhs"` // route entry NHs in the nhs map
	OILVariants    int    `json:"oil_variants"`
	OILQuarantined int    `json:"oil_variants_quarantined"` // released, waiting for a grace period
	OILMax         int    `json:"oil_variants_max"`
	IFLs           int    `json:"ifls"`
	OILSwitches    uint64 `json:"oil_switches"` // make-before-break switches
	Events         uint64 `json:"events"`       // upcall records read
	BadEvents      uint64 `json:"bad_events"`
	InputRuns      uint64 `json:"input_runs"`     // frames injected with BPF_PROG_RUN
	PuntChecksums  uint64 `json:"punt_checksums"` // punts whose partial checksum was completed
	PuntSegmented  uint64 `json:"punt_segmented"` // punted GSO packets cut into TCP segments
	Traps          int    `json:"traps"`          // host-path traps programmed
	TrapAddrs      int    `json:"trap_addresses"`
	TrapAddrsMax   int    `json:"trap_addresses_max"`
	TrapSwitches   uint64 `json:"trap_switches"` // trap configurations switched
}

// Ports returns the ports, sorted by physical name.
func (d *Driver) Ports() []PortStats {
	var out []PortStats
	ifls := *d.iflsPub.Load()
	byPort := map[*port]hal.IFLIndex{}
	for idx, p := range *d.bindings.Load() {
		byPort[p] = idx
	}
	for _, p := range d.ports {
		ps := PortStats{Port: p.phys, Interface: p.ifname, Ifindex: p.ifindex, Mode: p.mode, Why: p.why, Tried: p.tried,
			IFL: byPort[p], Injected: p.injected.Load()}
		if st := ifls[ps.IFL]; st != nil && ps.IFL != 0 && !d.closed.Load() {
			if s, err := d.iflStats(st.slot); err == nil {
				ps.RxPackets, ps.RxBytes = s.RxPkts, s.RxBytes
				ps.TxPackets, ps.TxBytes = s.TxPkts+st.txInject.Load(), s.TxBytes+st.txBytes.Load()
				ps.Punted, ps.EventsLost = s.Punt, s.EventsLost
			}
		}
		out = append(out, ps)
	}
	return out
}

// TableSummary returns the table occupancy (`show xdp summary`).
func (d *Driver) TableSummary() Summary {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Summary{
		Routes: len(d.routes), RoutesMax: d.opts.Routes, Entries: len(d.entries),
		OILVariants: d.oilAlloc.active(), OILQuarantined: d.oilAlloc.quarantinedCount(), OILMax: d.oilAlloc.size(),
		IFLs: len(d.ifls), OILSwitches: d.stats.oilSwitches.Load(),
		Events: d.stats.events.Load(), BadEvents: d.stats.badEvents.Load(), InputRuns: d.stats.inputRuns.Load(),
		PuntChecksums: d.stats.puntCsum.Load(), PuntSegmented: d.stats.puntSegmented.Load(),
		Traps: len(d.core.Traps()), TrapAddrs: len(d.traps.have.addrs), TrapAddrsMax: d.opts.TrapAddrs, TrapSwitches: d.traps.switches,
	}
	return s
}

const (
	vtyShowPorts   = "show xdp ports"
	vtyShowSummary = "show xdp summary"
)

// VtyCommands implements hal.VtyHandler.
func (d *Driver) VtyCommands() []string { return []string{vtyShowPorts, vtyShowSummary} }

// HandleVty implements hal.VtyHandler: `show xdp ports` (one line per port
// with its mode; "detail" adds how the mode was chosen) and `show xdp
// summary`; "--json" or "| display json" print JSON.
func (d *Driver) HandleVty(args []string, w io.Writer) (bool, error) {
	if len(args) < 3 || args[0] != "show" || args[1] != "xdp" || (args[2] != "ports" && args[2] != "summary") {
		return false, nil
	}
	rest := args[3:]
	jsonOut, detail := false, false
	switch {
	case len(rest) == 0:
	case slices.Equal(rest, []string{"|", "display", "json"}), slices.Equal(rest, []string{"--json"}):
		jsonOut = true
	case slices.Equal(rest, []string{"detail"}) && args[2] == "ports":
		detail = true
	default:
		return true, fmt.Errorf("usage: %s [detail] [--json] | %s [--json]: %w", vtyShowPorts, vtyShowSummary, hal.ErrInvalid)
	}
	var v any
	if args[2] == "summary" {
		v = d.TableSummary()
	} else {
		v = d.Ports()
	}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return true, enc.Encode(v)
	}
	if s, ok := v.(Summary); ok {
		fmt.Fprintf(w, "Routes: %d of %d\n", s.Routes, s.RoutesMax)
		fmt.Fprintf(w, "Entry next hops: %d\n", s.Entries)
		fmt.Fprintf(w, "OIL variants: %d of %d (%d waiting for a grace period), %d make-before-break switches\n", s.OILVariants, s.OILMax, s.OILQuarantined, s.OILSwitches)
		fmt.Fprintf(w, "IFLs: %d\n", s.IFLs)
		fmt.Fprintf(w, "Traps: %d (addresses %d of %d), %d configuration switches\n", s.Traps, s.TrapAddrs, s.TrapAddrsMax, s.TrapSwitches)
		_, err := fmt.Fprintf(w, "Upcall records: %d (%d bad); punts with a checksum completed: %d, GSO packets segmented: %d; frames injected: %d\n", s.Events, s.BadEvents, s.PuntChecksums, s.PuntSegmented, s.InputRuns)
		return true, err
	}
	ports := v.([]PortStats)
	if detail {
		for _, p := range ports {
			fmt.Fprintf(w, "%s (%s, ifindex %d), IFL %d\n", p.Port, p.Interface, p.Ifindex, p.IFL)
			fmt.Fprintf(w, "  mode: %s (%s)\n", p.Mode, p.Why)
			for _, t := range p.Tried {
				fmt.Fprintf(w, "  not used: %s\n", t)
			}
			fmt.Fprintf(w, "  rx: %d packets, %d bytes; punted %d\n", p.RxPackets, p.RxBytes, p.Punted)
			fmt.Fprintf(w, "  tx: %d packets, %d bytes (%d injected); upcalls lost %d\n", p.TxPackets, p.TxBytes, p.Injected, p.EventsLost)
		}
		return true, nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Port\tInterface\tMode\tIFL\tRx pkts\tTx pkts\tPunted\tEvents lost")
	for _, p := range ports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", p.Port, p.Interface, p.Mode, p.IFL, p.RxPackets, p.TxPackets, p.Punted, p.EventsLost)
	}
	return true, tw.Flush()
}

// Metrics implements hal.MetricsReporter: per-port packets by direction and
// the data path mode.
func (d *Driver) Metrics() []hal.Metric {
	var out []hal.Metric
	for _, p := range d.Ports() {
		lbl := func(k, v string) [][2]string {
			return [][2]string{{"port", p.Port}, {"interface", p.Interface}, {k, v}}
		}
		out = append(out,
			hal.Metric{Name: "mxfwd_xdp_port_packets_total", Help: "Packets per port and direction.", Labels: lbl("direction", "rx"), Value: float64(p.RxPackets), Counter: true},
			hal.Metric{Name: "mxfwd_xdp_port_packets_total", Help: "Packets per port and direction.", Labels: lbl("direction", "tx"), Value: float64(p.TxPackets), Counter: true},
			hal.Metric{Name: "mxfwd_xdp_port_mode", Help: "Data path mode of the port (1 for the mode in use).", Labels: lbl("mode", string(p.Mode)), Value: 1},
			hal.Metric{Name: "mxfwd_xdp_port_events_lost_total", Help: "Upcalls lost to a full ring buffer.", Labels: [][2]string{{"port", p.Port}, {"interface", p.Interface}}, Value: float64(p.EventsLost), Counter: true},
		)
	}
	return out
}
