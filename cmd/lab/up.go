package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/lab"
	"github.com/mxfwd/mxfwd/lab/topo"
)

func (a *app) upCmd() *cobra.Command {
	var name string
	var keep bool
	c := &cobra.Command{
		Use:   "up FILE",
		Short: "Bring a lab up from a topology file (Ctrl-C during start-up removes what was created)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := topo.Load(args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o := a.options()
			o.Name, o.KeepOnError = name, keep
			l, err := lab.Up(ctx, t, args[0], o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			st := l.Status()
			st.WriteText(out)
			fmt.Fprintf(out, "\nInspect: lab cli NODE 'COMMAND', lab vty NODE SLOT 'COMMAND', lab exec NODE -- CMD, lab status\nStop:    lab down %s\n", l.Name())
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "lab name (default: the topology's name)")
	c.Flags().BoolVar(&keep, "keep-on-error", false, "leave a lab that failed to start in place, for inspection (lab down removes it)")
	return c
}

func (a *app) downCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down [NAME]",
		Short: "Stop every process of a lab and remove its namespaces and run directory (also after a crash)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			name, err := a.pick(name)
			if err != nil {
				return err
			}
			if err := lab.Destroy(a.options(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s down\n", name)
			return nil
		},
	}
}
