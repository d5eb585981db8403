package perfcli

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/perf"
)

func (a *app) driversCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drivers",
		Short: "List the drivers perf can measure and their limits",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			ds := perf.DefaultDrivers()
			w := cmd.OutOrStdout()
			for _, name := range slices.Sorted(maps.Keys(ds)) {
				d := ds[name]
				extra := "in-memory ports"
				switch {
				case d.KernelOnly:
					extra = "real ports, forwarding in the kernel (kernel tier only)"
				case d.RealPorts:
					extra = "real ports (veth rig in the mem tier)"
				}
				if d.NeedsRoot {
					extra += ", needs root"
				}
				if d.MaxPorts > 0 {
					extra += fmt.Sprintf(", at most %d egress ports", d.MaxPorts)
				}
				if d.KernelTier {
					extra += ", kernel tier next to the kernel's replicators"
				}
				fmt.Fprintf(w, "%-10s %s\n", name, extra)
			}
			fmt.Fprintf(w, "%-10s the Linux kernel's ipmr on veth (kernel tier, fan-out <= %d, root; only on kernels with CONFIG_IP_MROUTE)\n", "kernel", perf.KernelMaxFanout)
			fmt.Fprintf(w, "%-10s nftables netdev ingress: (S,G) match, TTL, MAC rewrite, dup to every port (kernel tier)\n", "nftdup")
			fmt.Fprintf(w, "%-10s a Linux bridge flooding the input to the outputs: layer 2 only (kernel tier)\n", "bridge")
		},
	}
}
