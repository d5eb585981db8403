package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
)

func (a *app) vtyCmd() *cobra.Command {
	var (
		slot    int
		socket  string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "vty --slot N ['COMMAND']",
		Short: "Run a vty command on a running FPC, or an interactive vty without one",
		RunE: func(cmd *cobra.Command, args []string) error {
			if socket == "" {
				socket = vtySocket(slot)
			}
			if len(args) == 0 {
				host := cli.HostName(context.Background(), socket, "mxfwd")
				return cli.Interactive(context.Background(), socket, fmt.Sprintf("NPC%d(%s vty)# ", slot, host), os.Stdin, os.Stdout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := cli.Exec(ctx, socket, strings.Join(args, " "), os.Stdout)
			if errors.Is(err, cli.ErrCommandFailed) {
				os.Exit(1)
			}
			return err
		},
	}
	c.Flags().IntVar(&slot, "slot", 0, "FPC slot")
	c.Flags().StringVar(&socket, "vty-socket", "", "vty socket (default from --slot)")
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "command timeout")
	return c
}
