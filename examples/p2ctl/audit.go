package main

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/spf13/cobra"
)

// auditCommand is "audit list [--since DURATION] [--limit N]".
func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log of controller changes"}
	var since time.Duration
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit records, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 || limit < 0 {
				return fmt.Errorf("audit list: --since and --limit must not be negative")
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			l, err := audit.NewLog(cli, audit.WithPrefix(a.prefix)).List(ctx, from, limit)
			if err != nil {
				return fmt.Errorf("audit list: %w", err)
			}
			a.warnInvalid(l.Invalid)
			if a.structured() {
				envs := make([]envelope, 0, len(l.Items))
				for _, o := range l.Items {
					envs = append(envs, envelopeOf(o))
				}
				return a.printValue(envs)
			}
			rows := make([][]string, 0, len(l.Items))
			for _, o := range l.Items {
				r := o.Value
				rows = append(rows, []string{r.Timestamp.Local().Format(time.RFC3339), string(r.EventType), r.Entity, r.ID, r.Actor})
			}
			return printTable(a.stdout, []string{"TIME", "EVENT", "ENTITY", "ID", "ACTOR"}, rows)
		},
	}
	list.Flags().DurationVar(&since, "since", 0, "only records of the last DURATION (default: all)")
	list.Flags().IntVar(&limit, "limit", 0, "at most N records (default: no limit)")
	cmd.AddCommand(list)
	return cmd
}
