// Command fpc is one mxfwd line card: `fpc run` connects to the RE and
// drives a PFE driver, `fpc vty` talks to a running card.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

type app struct{}

func main() {
	a := &app{}
	root := &cobra.Command{
		Use:           "fpc",
		Short:         "mxfwd line card: IPC client, HAL, PFE driver, vty",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(a.runCmd(), a.vtyCmd(), a.driversCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fpc:", err)
		os.Exit(1)
	}
}
