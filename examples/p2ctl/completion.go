package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completionTimeout bounds how long completing an id may wait for etcd:
// a shell must not hang on an unreachable cluster.
const completionTimeout = 2 * time.Second

// completeIDs completes the ids of kind k from etcd for get, describe,
// delete and edit: entity ids, or for pod manifests the node, then the
// pod ids of that node.
func (a *app) completeIDs(k *kind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(k.idArgs) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if a.log == nil {
			if err := a.setup(); err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		r, err := a.resource(ctx, k)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		node := ""
		if k.perNode && len(args) == 1 {
			node = args[0]
		}
		rows, _, err := r.list(ctx, node)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		seen := map[string]bool{}
		var out []cobra.Completion
		for _, row := range rows {
			id := labelID(k, row.env.Key)
			if k.perNode {
				n, pod, _ := strings.Cut(id, "/")
				id = n
				if len(args) == 1 {
					id = pod
				}
			}
			if !seen[id] && strings.HasPrefix(id, toComplete) {
				seen[id] = true
				out = append(out, id)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
