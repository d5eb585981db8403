// Command re is the mxfwd routing engine: `re run` starts the daemon,
// `re cli` talks to a running one, `re ipc decode` prints IPC captures.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

type app struct {
	socket string
}

func main() {
	a := &app{}
	root := &cobra.Command{
		Use:           "re",
		Short:         "mxfwd routing engine: kernel multicast NH allocation, FPC IPC, CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.socket, "cli-socket", defaultSocket(), "Unix socket of the RE CLI")
	root.AddCommand(a.runCmd(), a.cliCmd(), a.ipcCmd(), a.configCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "re:", err)
		os.Exit(1)
	}
}
