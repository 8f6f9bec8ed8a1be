package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

// verbCommand builds a verb (apply, get, ...) with one subcommand per kind,
// made by sub. The verb itself only answers an unknown or missing entity,
// with one line naming the valid ones; it tolerates the flags its
// subcommands take, so "get foo -f x" still says "unknown entity".
func verbCommand(use, short string, sub func(k *kind) *cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:                use + " <entity>",
		Short:              short,
		Long:               short + "\n\nEntities: " + kindList() + ".",
		Args:               cobra.ArbitraryArgs,
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return unknownKind("")
			}
			return unknownKind(args[0])
		},
	}
	for _, k := range kinds {
		c := sub(k)
		c.Aliases = append(c.Aliases, k.aliases...)
		if c.Short == "" {
			c.Short = strings.ToUpper(use[:1]) + use[1:] + " " + k.short
		}
		cmd.AddCommand(c)
	}
	return cmd
}

// resource dials etcd and opens k's store.
func (a *app) resource(ctx context.Context, k *kind) (resource, error) {
	cli, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return k.open(a, cli), nil
}

// display names an object for messages: "rc/hello-v1", "intent/web1/hello".
func display(k *kind, ids []string) string { return k.name + "/" + strings.Join(ids, "/") }
