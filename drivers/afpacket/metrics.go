package afpacket

import "github.com/mxfwd/mxfwd/hal"

var _ hal.MetricsReporter = (*Driver)(nil)

// Metrics implements hal.MetricsReporter: per-port packets and bytes by
// direction, and drops by reason (ring drops as reported by the kernel).
func (d *Driver) Metrics() []hal.Metric {
	st := d.Stats()
	out := make([]hal.Metric, 0, len(st.Ports)*13+1)
	for _, p := range st.Ports {
		lbl := func(k, v string) [][2]string {
			return [][2]string{{"port", p.Port}, {"interface", p.Interface}, {k, v}}
		}
		for _, c := range []struct {
			dir   string
			pk, b uint64
		}{{"rx", p.RxPackets, p.RxBytes}, {"tx", p.TxPackets, p.TxBytes}} {
			out = append(out,
				hal.Metric{Name: "mxfwd_afpacket_port_packets_total", Help: "Packets per port and direction.", Labels: lbl("direction", c.dir), Value: float64(c.pk), Counter: true},
				hal.Metric{Name: "mxfwd_afpacket_port_bytes_total", Help: "Bytes per port and direction.", Labels: lbl("direction", c.dir), Value: float64(c.b), Counter: true})
		}
		for _, c := range []struct {
			reason string
			v      uint64
		}{
			{"rx_ring_full", p.RxRingDrops}, {"rx_truncated", p.RxTruncated}, {"rx_unbound", p.RxUnbound},
			{"tx_ring_full", p.TxRingFull}, {"tx_too_big", p.TxTooBig}, {"tx_refused", p.TxRefused}, {"tx_error", p.TxErrors},
		} {
			out = append(out, hal.Metric{Name: "mxfwd_afpacket_port_drops_total", Help: "Frames dropped per port, by reason.", Labels: lbl("reason", c.reason), Value: float64(c.v), Counter: true})
		}
		out = append(out, hal.Metric{Name: "mxfwd_afpacket_port_checksums_completed_total", Help: "Frames received with the UDP/TCP checksum left to the device (a local sender) whose checksum the driver completed.",
			Labels: [][2]string{{"port", p.Port}, {"interface", p.Interface}}, Value: float64(p.RxCsumCompleted), Counter: true})
	}
	out = append(out, hal.Metric{Name: "mxfwd_afpacket_no_port_total", Help: "Copies for IFLs no port of this card serves.", Value: float64(st.NoPort), Counter: true})
	return out
}
