package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/lab"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show a lab's nodes, processes, links and captures, and what the kernel offers FRR (IP_MROUTE)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var names []string
			if len(args) == 1 || a.labName != "" {
				n := a.labName
				if len(args) == 1 {
					n = args[0]
				}
				names = []string{n}
			} else {
				var err error
				if names, err = lab.List(a.runRoot); err != nil {
					return err
				}
			}
			if len(names) == 0 {
				m := lab.DetectMroute()
				if asJSON {
					return cli.WriteJSON(out, map[string]any{"labs": []any{}, "mroute": m, "frr_note": m.FRRNote()})
				}
				fmt.Fprintf(out, "no lab is up (under %s)\nkernel: %s\n", a.runRoot, m.FRRNote())
				return nil
			}
			var all []lab.Status
			for i, n := range names {
				l, err := lab.Open(a.options(), n)
				if err != nil {
					return err
				}
				st := l.Status()
				all = append(all, st)
				if !asJSON {
					if i > 0 {
						fmt.Fprintln(out)
					}
					st.WriteText(out)
				}
			}
			if asJSON {
				return cli.WriteJSON(out, map[string]any{"labs": all})
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return c
}
