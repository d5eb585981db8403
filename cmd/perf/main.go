// Command perf benchmarks the PFE drivers through the HAL, next to the
// Linux kernel, and the control plane: `perf run` measures a workload and
// writes a table, JSON, Go benchmark format and plots; `perf report`
// renders a (possibly interrupted) run again; `perf drivers` lists what can
// be measured. See perf/README.md.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/mxfwd/mxfwd/perf/perfcli"
)

func main() {
	if err := perfcli.New().Execute(); err != nil {
		if !errors.Is(err, perfcli.ErrFailed) {
			fmt.Fprintln(os.Stderr, "perf:", err)
		}
		os.Exit(1)
	}
}
