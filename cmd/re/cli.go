package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
)

func (a *app) cliCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "cli ['COMMAND']",
		Short: "Run a CLI command on the running RE, or an interactive CLI without one",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				host := cli.HostName(context.Background(), a.socket, "re")
				return cli.Interactive(context.Background(), a.socket, "user@"+host+"> ", os.Stdin, os.Stdout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := cli.Exec(ctx, a.socket, strings.Join(args, " "), os.Stdout)
			if errors.Is(err, cli.ErrCommandFailed) {
				os.Exit(1)
			}
			return err
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "command timeout")
	return c
}
