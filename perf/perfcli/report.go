package perfcli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/perf"
)

func (a *app) reportCmd() *cobra.Command {
	var readme string
	var write bool
	c := &cobra.Command{
		Use:   "report DIR",
		Short: "Render a run again from DIR/results.jsonl (also an interrupted one)",
		Long: `Report reads DIR/results.jsonl, which perf run appends to as points finish,
recomputes ratios and goals and prints the table. With --write it also
rewrites DIR's results.json, table.md, bench.txt and plots.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			f, err := os.Open(filepath.Join(dir, "results.jsonl"))
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := perf.ReadJournal(f)
			if err != nil {
				return err
			}
			perf.Finish(res)
			if write {
				if err := perf.WriteAll(dir, res); err != nil {
					return err
				}
			}
			if readme != "" {
				if err := perf.UpdateReadme(readme, dir, res); err != nil {
					return err
				}
			}
			perf.WriteTable(cmd.OutOrStdout(), res, perf.TableOptions{})
			if write {
				fmt.Fprintf(cmd.ErrOrStderr(), "perf: rewrote %s\n", dir)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&write, "write", false, "rewrite results.json, table.md, bench.txt and the plots in DIR")
	c.Flags().StringVar(&readme, "readme", "", "update the latest-results section of this README")
	return c
}
