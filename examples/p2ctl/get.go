package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) getCommand() *cobra.Command {
	return verbCommand("get", "Show one entity", a.getKind)
}

// getKind is "get <kind> <id>": a table row, or with -o json|yaml the
// document apply -f takes again: kind, metadata (key, node, revisions) and
// the value's fields.
func (a *app) getKind(k *kind) *cobra.Command {
	return &cobra.Command{
		Use:               k.use(true),
		Args:              cobra.ExactArgs(len(k.idArgs)),
		ValidArgsFunction: a.completeIDs(k),
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			obj, err := r.get(ctx, ids)
			if err != nil {
				return fmt.Errorf("get %s: %w", display(k, ids), err)
			}
			if a.structured() {
				d, err := documentJSON(k, obj.env)
				if err != nil {
					return err
				}
				return a.printDocuments([]json.RawMessage{d}, false)
			}
			if err := a.addCounts(ctx, k, []*row{obj}); err != nil {
				return fmt.Errorf("get %s: %w", display(k, ids), err)
			}
			return printTable(a.stdout, r.headers(), [][]string{obj.cells})
		},
	}
}
