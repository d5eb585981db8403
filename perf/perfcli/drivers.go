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
				if d.RealPorts {
					extra = "real ports (veth rig in the mem tier)"
				}
				if d.NeedsRoot {
					extra += ", needs root"
				}
				if d.MaxPorts > 0 {
					extra += fmt.Sprintf(", at most %d egress ports", d.MaxPorts)
				}
				if d.KernelTier {
					extra += fmt.Sprintf(", kernel tier next to ipmr (fan-out <= %d)", perf.KernelMaxFanout)
				}
				fmt.Fprintf(w, "%-10s %s\n", name, extra)
			}
			fmt.Fprintf(w, "%-10s the Linux kernel's ipmr on veth (kernel tier, fan-out <= %d, root)\n", "kernel", perf.KernelMaxFanout)
		},
	}
}
