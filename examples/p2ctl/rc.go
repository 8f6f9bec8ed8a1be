package main

import (
	"fmt"
	"strconv"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/rc"
	"github.com/spf13/cobra"
)

func (a *app) rcCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rc", Short: "Operate replication controllers"}
	cmd.AddCommand(a.rcScaleCommand())
	return cmd
}

// rcScaleCommand is "rc scale <id> <n>": set replicas_desired, retrying
// while the RC changes underneath.
func (a *app) rcScaleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale <id> <replicas>",
		Short: "Set how many nodes an RC runs its pod on",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "rc scale " + args[0]
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return fmt.Errorf("%s: replicas %q: the count must be a non-negative number", what, args[1])
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			obj, err := rc.NewStore(cli, keyspace.WithPrefix(a.prefix)).Scale(ctx, a.actor, args[0], n)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if a.structured() {
				return a.printValue(envelopeOf(obj))
			}
			_, err = fmt.Fprintf(a.stdout, "rc/%s scaled to %d (revision %d)\n", obj.Value.ID, n, obj.ModRevision)
			return err
		},
	}
	// Flags end at the id, so "-1" reaches the count check as an
	// argument instead of failing as an unknown shorthand flag.
	cmd.Flags().SetInterspersed(false)
	return cmd
}
