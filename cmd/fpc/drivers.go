package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/drivers/afpacket"
	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/drivers/xdp"
	"github.com/mxfwd/mxfwd/hal"
)

// drivers is the explicit table of PFE drivers (no init-time registration).
var drivers = map[string]struct {
	new  hal.Constructor
	help string
}{
	"swpfe":    {swpfe.New, "fast software PFE, in-memory ports (default, no root)"},
	"trio":     {trio.New, "functional model of the Trio chipset: sublists, binary/unary trees, fabric"},
	"afpacket": {afpacket.New, "real Linux ports through AF_PACKET rings (root)"},
	"xdp":      {xdp.New, "real Linux ports, forwarding in the kernel: XDP or tc BPF programs fed from BPF maps (root)"},
}

func driverNames() string {
	var n []string
	for k := range drivers {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func (a *app) driversCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drivers",
		Short: "List the PFE drivers",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			var n []string
			for k := range drivers {
				n = append(n, k)
			}
			sort.Strings(n)
			for _, k := range n {
				fmt.Fprintf(cmd.OutOrStdout(), "%-10s %s\n", k, drivers[k].help)
			}
		},
	}
}
