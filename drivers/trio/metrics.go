package trio

import (
	"strconv"

	"github.com/mxfwd/mxfwd/hal"
)

var _ hal.MetricsReporter = (*Driver)(nil)

// Metrics implements hal.MetricsReporter: per-PFE replication and fabric
// counters of the PFEs that saw traffic, and drops by reason.
func (d *Driver) Metrics() []hal.Metric {
	var out []hal.Metric
	for _, s := range d.ReplicationStats() {
		pfe := strconv.Itoa(int(s.PFE))
		c := func(name, help string, v uint64) hal.Metric {
			return hal.Metric{Name: name, Help: help, Labels: [][2]string{{"pfe", pfe}}, Value: float64(v), Counter: true}
		}
		out = append(out,
			c("mxfwd_trio_pfe_ingress_packets_total", "Packets received on the PFE's ports.", s.Ingress),
			c("mxfwd_trio_pfe_local_copies_total", "Copies replicated to the PFE's own ports.", s.LocalCopies),
			c("mxfwd_trio_pfe_fabric_tx_total", "Copies sent to other PFEs over the fabric.", s.FabricTx),
			c("mxfwd_trio_pfe_fabric_rx_total", "Copies received from the fabric.", s.FabricRx),
			c("mxfwd_trio_pfe_fabric_bytes_total", "Bytes sent over the fabric.", s.FabricBytes),
		)
		for r, v := range s.Drops {
			out = append(out, hal.Metric{Name: "mxfwd_trio_pfe_drops_total", Help: "Packets dropped on the PFE, by reason.",
				Labels: [][2]string{{"pfe", pfe}, {"reason", DropReason(r).String()}}, Value: float64(v), Counter: true})
		}
	}
	return out
}
