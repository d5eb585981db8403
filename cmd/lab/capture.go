package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) captureCmd() *cobra.Command {
	var stop, background bool
	c := &cobra.Command{
		Use:   "capture NODE IFACE FILE [-- FILTER...] | capture --stop [NODE [FILE]]",
		Short: "Capture packets on a node's interface with tcpdump into a pcap file, until Ctrl-C (or in the background until capture --stop)",
		Long: "Capture packets on a node's interface (xe-3/0/0 on mxfwd nodes, the Linux name elsewhere) into FILE.\n" +
			"Runs until Ctrl-C; with --background it returns once tcpdump listens and runs until `lab capture --stop [NODE [FILE]]` or `lab down`.",
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if stop {
				if len(args) > 2 {
					return fmt.Errorf("capture --stop takes [NODE [FILE]]")
				}
				node, file := "", ""
				if len(args) > 0 {
					node = args[0]
				}
				if len(args) > 1 {
					file = args[1]
				}
				rep, err := l.StopCaptures(node, file)
				fmt.Fprint(out, rep)
				return err
			}
			if len(args) < 3 {
				return fmt.Errorf("capture needs NODE IFACE FILE")
			}
			ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			p, err := l.StartCapture(ctx, args[0], args[1], args[2], args[3:]...)
			if err != nil {
				return err
			}
			if background {
				fmt.Fprintf(out, "capturing %s %s -> %s (tcpdump pid %d); stop with: lab capture --stop %s %s\n", args[0], args[1], p.File, p.Pid, args[0], args[2])
				return nil
			}
			fmt.Fprintf(os.Stderr, "capturing %s %s -> %s; Ctrl-C stops\n", args[0], args[1], p.File)
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for p.Alive() {
				select {
				case <-ctx.Done():
					rep, err := l.StopCaptures(args[0], p.File)
					fmt.Fprint(out, rep)
					return err
				case <-tick.C:
				}
			}
			return fmt.Errorf("tcpdump exited (lab down?); its log: %s", p.Log)
		},
	}
	c.Flags().BoolVar(&stop, "stop", false, "stop background captures (of NODE, or only the one writing FILE)")
	c.Flags().BoolVarP(&background, "background", "b", false, "run in the background")
	return c
}
