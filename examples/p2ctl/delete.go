package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) deleteCommand() *cobra.Command {
	return verbCommand("delete", "Delete one entity", a.deleteKind)
}

// deleteKind is "delete <kind> <id>". An RC that still has replicas is
// refused unless --force is given.
func (a *app) deleteKind(k *kind) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:  k.use(true),
		Args: cobra.ExactArgs(len(k.idArgs)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			if err := r.delete(ctx, ids, force); err != nil {
				return fmt.Errorf("delete %s: %w", display(k, ids), err)
			}
			_, err = fmt.Fprintf(a.stdout, "%s deleted\n", display(k, ids))
			return err
		},
	}
	if k.force {
		cmd.Flags().BoolVar(&force, "force", false, "delete even when it is not scaled down to 0 replicas, or its stored value is bad")
	}
	return cmd
}
