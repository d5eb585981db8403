package afpacket

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/mxfwd/mxfwd/hal"
)

// PortStats are the counters of one port. Receive counters count frames the
// RX worker took from the ring (after the kernel socket filter); transmit
// counters count frames queued on the TX ring.
type PortStats struct {
	Port      string       `json:"port"`      // physical interface, "xe-3/1/0"
	Interface string       `json:"interface"` // Linux interface, "veth31"
	IFL       hal.IFLIndex `json:"ifl"`       // bound IFL, 0 if none yet

	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxBatches uint64 `json:"rx_batches"` // ring blocks processed; RxPackets/RxBatches is the mean batch
	RxWaits   uint64 `json:"rx_waits"`   // times the worker found the ring empty and slept
	// RxCsumCompleted counts frames the kernel delivered with the UDP/TCP
	// checksum left to the hardware (TP_STATUS_CSUMNOTREADY: a sender on
	// this host behind a veth or tap) whose checksum the driver completed.
	RxCsumCompleted uint64 `json:"rx_csum_completed"`
	// RxBacklogMax is the most ring blocks the worker ever found ready at
	// once: how close the ring came to overflowing (at RxBlocks it was full
	// and the kernel dropped).
	RxBacklogMax uint64 `json:"rx_backlog_max"`
	RxBlocks     int    `json:"rx_blocks"` // blocks in the ring
	TxPackets    uint64 `json:"tx_packets"`
	TxBytes      uint64 `json:"tx_bytes"`
	Injected     uint64 `json:"tx_injected"` // of TxPackets, sent by Transmit (RE control traffic)

	// Drops by reason.
	RxRingDrops    uint64 `json:"rx_ring_drops"`    // kernel: ring full (PACKET_STATISTICS tp_drops)
	RxQueueFreezes uint64 `json:"rx_queue_freezes"` // kernel: times every block was held by user space
	RxTruncated    uint64 `json:"rx_truncated"`     // frame longer than the ring could hold
	RxUnbound      uint64 `json:"rx_unbound"`       // received while no IFL was bound to the port
	TxRingFull     uint64 `json:"tx_ring_full"`     // no free TX slot: everything in flight
	TxTooBig       uint64 `json:"tx_too_big"`       // frame larger than a TX slot or the MTU
	TxRefused      uint64 `json:"tx_refused"`       // device kept refusing (ENOBUFS) for the retry budget
	TxErrors       uint64 `json:"tx_errors"`        // failed flushes (sendto errors other than EAGAIN)
}

// Stats is a snapshot of the driver's own counters, for the FPC runtime's
// Prometheus collector (label by port, never by flow).
type Stats struct {
	Ports []PortStats `json:"ports"`
	// NoPort counts frames the core forwarded to an IFL that no port of
	// this driver serves (another FPC's interface, or a unit we ignore).
	NoPort uint64 `json:"no_port"`
}

// Stats returns the counters of every port, sorted by physical name. It
// reads PACKET_STATISTICS from the kernel and may be called from any
// goroutine, also after Close (then it returns the last values).
func (d *Driver) Stats() Stats {
	s := Stats{NoPort: d.noPort.Load(), Ports: make([]PortStats, 0, len(d.ports))}
	for _, p := range d.ports {
		_, drops, freezes := p.rx.kernelStats()
		s.Ports = append(s.Ports, PortStats{
			Port: p.phys, Interface: p.ifname, IFL: p.boundIFL(),
			RxPackets: p.st.rxPackets.Load(), RxBytes: p.st.rxBytes.Load(), RxBatches: p.st.rxBatches.Load(), RxWaits: p.st.rxWaits.Load(),
			RxCsumCompleted: p.st.rxCsumCompleted.Load(), RxBacklogMax: p.st.rxBacklogMax.Load(), RxBlocks: p.rx.blockNr,
			TxPackets: p.st.txPackets.Load(), TxBytes: p.st.txBytes.Load(), Injected: p.st.injected.Load(),
			RxRingDrops: drops, RxQueueFreezes: freezes,
			RxTruncated: p.st.rxTruncated.Load(), RxUnbound: p.st.rxUnbound.Load(),
			TxRingFull: p.st.txRingFull.Load(), TxTooBig: p.st.txTooBig.Load(), TxRefused: p.st.txRefused.Load(), TxErrors: p.st.txErrors.Load(),
		})
	}
	return s
}

// vtyShowPorts is the vty command of this driver.
const vtyShowPorts = "show afpacket ports"

// VtyCommands implements hal.VtyHandler.
func (d *Driver) VtyCommands() []string { return []string{vtyShowPorts} }

// HandleVty implements hal.VtyHandler: `show afpacket ports` prints one line
// per port, with "detail" one block per port with every counter, and with
// "--json" (or the words "| display json") Stats as JSON.
func (d *Driver) HandleVty(args []string, w io.Writer) (bool, error) {
	if len(args) < 3 || args[0] != "show" || args[1] != "afpacket" || args[2] != "ports" {
		return false, nil
	}
	rest := args[3:]
	jsonOut, detail := false, false
	switch {
	case len(rest) == 0:
	case slices.Equal(rest, []string{"|", "display", "json"}), slices.Equal(rest, []string{"--json"}):
		jsonOut = true
	case slices.Equal(rest, []string{"detail"}):
		detail = true
	default:
		return true, fmt.Errorf("usage: %s [detail | --json]: %w", vtyShowPorts, hal.ErrInvalid)
	}
	s := d.Stats()
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return true, enc.Encode(s)
	}
	if detail {
		for _, p := range s.Ports {
			fmt.Fprintf(w, "%s (%s), IFL %d\n", p.Port, p.Interface, p.IFL)
			fmt.Fprintf(w, "  rx: %d packets, %d bytes, %d batches, %d waits, %d checksums completed\n", p.RxPackets, p.RxBytes, p.RxBatches, p.RxWaits, p.RxCsumCompleted)
			fmt.Fprintf(w, "  rx ring: %d blocks, most ready at once %d\n", p.RxBlocks, p.RxBacklogMax)
			fmt.Fprintf(w, "  rx drops: ring %d, queue freezes %d, truncated %d, unbound %d\n", p.RxRingDrops, p.RxQueueFreezes, p.RxTruncated, p.RxUnbound)
			fmt.Fprintf(w, "  tx: %d packets, %d bytes (%d injected)\n", p.TxPackets, p.TxBytes, p.Injected)
			fmt.Fprintf(w, "  tx drops: ring full %d, refused %d, too big %d, errors %d\n", p.TxRingFull, p.TxRefused, p.TxTooBig, p.TxErrors)
		}
		_, err := fmt.Fprintf(w, "Frames forwarded to IFLs without a local port: %d\n", s.NoPort)
		return true, err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Port\tInterface\tIFL\tRx pkts\tRx bytes\tTx pkts\tTx bytes\tRx ring drops\tRx unbound\tTx ring full\tTx refused\tTx too big\tTx errors\tAvg batch\tWaits\t")
	for _, p := range s.Ports {
		avg := 0.0
		if p.RxBatches > 0 {
			avg = float64(p.RxPackets) / float64(p.RxBatches)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%d\t\n",
			p.Port, p.Interface, p.IFL, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes,
			p.RxRingDrops, p.RxUnbound, p.TxRingFull, p.TxRefused, p.TxTooBig, p.TxErrors, avg, p.RxWaits)
	}
	if err := tw.Flush(); err != nil {
		return true, err
	}
	_, err := fmt.Fprintf(w, "Frames forwarded to IFLs without a local port: %d\n", s.NoPort)
	return true, err
}
