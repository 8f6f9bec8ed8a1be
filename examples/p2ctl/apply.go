package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) applyCommand() *cobra.Command {
	return verbCommand("apply", "Create or update an entity from a YAML or JSON file", a.applyKind)
}

// applyKind is "apply <kind> -f FILE": create when missing, otherwise
// update with compare-and-swap on the revision just read.
func (a *app) applyKind(k *kind) *cobra.Command {
	var file, node string
	cmd := &cobra.Command{
		Use:  k.use(false) + " -f FILE",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			what := fmt.Sprintf("apply %s -f %s", k.name, file)
			if k.perNode && node == "" {
				return fmt.Errorf("%s: --node: required", what)
			}
			data, err := a.readFile(file)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			v, err := k.decode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			res, err := r.apply(ctx, v, node)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if a.structured() {
				return a.printValue(res.row.env)
			}
			_, err = fmt.Fprintf(a.stdout, "%s %s (revision %d)\n", res.row.env.Key, res.action, res.row.env.ModRevision)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "YAML or JSON file of the "+k.name+" (- for standard input)")
	_ = cmd.MarkFlagRequired("filename")
	if k.perNode {
		cmd.Flags().StringVar(&node, "node", "", "node whose "+k.name+" the manifest is written to (required)")
	}
	return cmd
}
