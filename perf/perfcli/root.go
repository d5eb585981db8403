// Package perfcli is the command line of the benchmark harness (`perf run`,
// `perf report`, `perf drivers`), kept out of package main so that its
// tests run the real commands. cmd/perf only executes New().
package perfcli

import (
	"errors"

	"github.com/spf13/cobra"
)

// ErrFailed is returned by Execute when some point or benchmark failed; the
// failures are in the output, so callers exit 1 without another message.
var ErrFailed = errors.New("some points failed")

// app holds what the commands share.
type app struct{}

// New returns the root command.
func New() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "perf",
		Short:         "mxfwd benchmark harness: drivers through the HAL, the kernel, the control plane",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(a.runCmd(), a.reportCmd(), a.driversCmd())
	return root
}
