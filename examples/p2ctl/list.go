package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) listCommand() *cobra.Command {
	cmd := verbCommand("list", "List every entity of a kind", a.listKind)
	cmd.AddCommand(a.listNodesCommand())
	return cmd
}

// listKind is "list <kind>": a table, or with -o json|yaml an array of
// values with their keys and revisions. Stored values that cannot be
// decoded are reported on stderr, one line each.
func (a *app) listKind(k *kind) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:  k.use(false),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			rows, bad, err := r.list(ctx, node)
			if err != nil {
				return fmt.Errorf("list %s: %w", k.name, err)
			}
			a.warnInvalid(bad)
			if a.structured() {
				envs := make([]envelope, 0, len(rows))
				for _, row := range rows {
					envs = append(envs, row.env)
				}
				return a.printValue(envs)
			}
			cells := make([][]string, 0, len(rows))
			for _, row := range rows {
				cells = append(cells, row.cells)
			}
			return printTable(a.stdout, r.headers(), cells)
		},
	}
	if k.perNode {
		cmd.Flags().StringVar(&node, "node", "", "only this node's pods")
	}
	return cmd
}
