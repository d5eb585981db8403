// Command lab runs multi-router labs in network namespaces: `lab up FILE`
// brings up a topology (mxfwd routers, FRR routers, hosts), `lab down`
// removes it, and the other commands inspect it, send and measure traffic.
// All the logic is in package lab; this is wiring only.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/lab"
)

type app struct {
	runRoot string
	binDir  string
	labName string
	verbose bool
}

func main() {
	if err := newRoot(&app{}).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "lab",
		Short:         "Multi-router labs in network namespaces: mxfwd, FRR and hosts, with traffic that measures loss",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.runRoot, "run-dir", lab.DefaultRunRoot(), "directory of the labs' run directories ($MXLAB_RUN_DIR)")
	pf.StringVar(&a.binDir, "bin", defaultBinDir(), "directory holding the re and fpc binaries ($MXLAB_BIN)")
	pf.StringVarP(&a.labName, "lab", "l", "", "lab to act on (default: the only lab that is up)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log each step")
	root.AddCommand(a.upCmd(), a.downCmd(), a.statusCmd(), a.execCmd(), a.cliCmd(), a.vtyCmd(), a.killCmd(), a.startCmd(),
		a.captureCmd(), a.trafficCmd())
	return root
}

// defaultBinDir is $MXLAB_BIN, else the directory of this executable (make
// build puts lab, re and fpc side by side in bin/).
func defaultBinDir() string {
	if d := os.Getenv("MXLAB_BIN"); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

func (a *app) options() lab.Options {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelInfo
	}
	return lab.Options{
		RunRoot: a.runRoot,
		BinDir:  a.binDir,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// pick returns the lab named by name, --lab, or the only lab that is up.
func (a *app) pick(name string) (string, error) {
	if name == "" {
		name = a.labName
	}
	if name != "" {
		return name, nil
	}
	names, err := lab.List(a.runRoot)
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("no lab is up (under %s)", a.runRoot)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("several labs are up (%v): name one with --lab NAME", names)
}

// open loads the lab named by --lab (or the only one).
func (a *app) open() (*lab.Lab, error) {
	name, err := a.pick("")
	if err != nil {
		return nil, err
	}
	return lab.Open(a.options(), name)
}
