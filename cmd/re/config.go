package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/server"
)

func (a *app) configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Configuration tools"}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Parse and validate a configuration file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err != nil {
				return err
			}
			// The same check `re run` and a reload make: the interfaces
			// and static joins applied to a scratch kernel.
			if _, err := server.Check(cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d statements OK\n", args[0], len(cfg.Statements()))
			return nil
		},
	}, &cobra.Command{
		Use:   "statements",
		Short: "List the configuration statements the RE accepts",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			for _, s := range config.Grammar {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
		},
	})
	return c
}
