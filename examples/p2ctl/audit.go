package main

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/spf13/cobra"
)

// auditCommand is "audit list [--tail N] [--entity E] [--id ID] [--since D]".
func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log of operator and controller changes"}
	var since time.Duration
	var tail int
	var entity, id string
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit records, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 || tail < 0 {
				return fmt.Errorf("audit list: --since and --tail must not be negative")
			}
			entity = auditEntity(entity)
			if entity != "" {
				if err := audit.ValidateKind(entity); err != nil {
					return fmt.Errorf("audit list: --entity: %w", err)
				}
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
			l, err := a.auditLog(cli).Recent(ctx, tail, func(r *audit.Record) bool {
				return (entity == "" || r.Entity == entity) && (id == "" || r.ID == id) &&
					(from.IsZero() || !r.Timestamp.Before(from))
			})
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
	list.Flags().IntVar(&tail, "tail", 0, "only the newest N records (default: all)")
	list.Flags().IntVar(&tail, "limit", 0, "the same as --tail")
	_ = list.Flags().MarkHidden("limit")
	list.Flags().StringVar(&entity, "entity", "", "only records of this entity kind (replication_controllers or rc, intent, labels, failsafe_holds, a custom kind such as canaries, ...)")
	list.Flags().StringVar(&id, "id", "", "only records of this id (hello-v1, web1/hello, node/web1, a hold id)")
	cmd.AddCommand(list)
	return cmd
}

// auditEntity maps p2ctl's kind names ("rc", "ds") to the entity names
// audit records carry; other names pass as they are.
func auditEntity(e string) string {
	if e == "" {
		return ""
	}
	if k, err := kindOfDocument(e); err == nil {
		return k.dir
	}
	return e
}
