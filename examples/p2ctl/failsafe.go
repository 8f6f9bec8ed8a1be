package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (a *app) failsafeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "failsafe",
		Short: "List and release failsafe holds",
		Long: "A failsafe guard holds a watch batch that looks like a wipe or a mass delete: its consumer sees\n" +
			"nothing until the state recovers or an operator releases the hold, which delivers the held change.",
	}
	cmd.AddCommand(a.failsafeListCommand(), a.failsafeReleaseCommand())
	return cmd
}

// heldRecord is a hold with whether an operator has released it already
// (the guard removes both keys once it delivers).
type heldRecord struct {
	failsafe.Record
	Released bool `json:"released"`
}

// failsafeListCommand is "failsafe list".
func (a *app) failsafeListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the holds in effect",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			holds, err := a.listHolds(ctx, cli)
			if err != nil {
				return fmt.Errorf("failsafe list: %w", err)
			}
			if a.structured() {
				return a.printValue(holds)
			}
			rows := make([][]string, 0, len(holds))
			for _, h := range holds {
				rows = append(rows, []string{h.ID, h.Component, h.Guard, fmt.Sprintf("%d/%d", h.Deletes, h.Total),
					fmt.Sprint(h.Revision), h.Time.Local().Format(time.DateTime), yesNo(h.Released), h.Reason})
			}
			return printTable(a.stdout, []string{"ID", "COMPONENT", "GUARD", "DELETES", "REVISION", "SINCE", "RELEASED", "REASON"}, rows)
		},
	}
}

// listHolds reads the holds and the releases not yet acted on.
func (a *app) listHolds(ctx context.Context, cli *clientv3.Client) ([]heldRecord, error) {
	recs, err := failsafe.ListHolds(ctx, cli, a.prefix)
	if err != nil {
		return nil, err
	}
	dir := failsafe.ReleaseKey(a.prefix, "")
	resp, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list releases %s: %w", dir, err)
	}
	released := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		released[strings.TrimPrefix(string(kv.Key), dir)] = true
	}
	out := make([]heldRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, heldRecord{Record: r, Released: released[r.ID]})
	}
	return out, nil
}

// failsafeReleaseCommand is "failsafe release <hold-id>".
func (a *app) failsafeReleaseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "release <hold-id>",
		Short: "Release a hold: its guard delivers the held change as it stands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			if err := failsafe.Release(ctx, cli, a.prefix, args[0], a.actor); err != nil {
				return fmt.Errorf("failsafe release: %w", err)
			}
			_, err = fmt.Fprintf(a.stdout, "hold %s released by %s\n", args[0], a.actor)
			return err
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
