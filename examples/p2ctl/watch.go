package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) watchCommand() *cobra.Command {
	return verbCommand("watch", "Print every change to a kind of entity until interrupted", a.watchKind)
}

// watchKind is "watch <kind>": first the current entities (type
// "initial"), then one line per change, until SIGINT or SIGTERM.
func (a *app) watchKind(k *kind) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:  k.use(false),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			err = r.watch(ctx, node, a.printChange)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil // interrupted: a clean stop
			}
			if err != nil {
				return fmt.Errorf("watch %s: %w", k.name, err)
			}
			return nil
		},
	}
	if k.perNode {
		cmd.Flags().StringVar(&node, "node", "", "only this node's pods")
	}
	return cmd
}

// printChange prints one event: a line of type, key and summary, or with -o
// json|yaml the event as a document.
func (a *app) printChange(c *change) error {
	if c.Type == typeSynced {
		return nil
	}
	if a.structured() {
		return a.printLine(c)
	}
	_, err := fmt.Fprintf(a.stdout, "%-8s %s %s\n", c.Type, c.Key, c.summary)
	return err
}
