package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (a *app) deleteCommand() *cobra.Command {
	return verbCommand("delete", "Delete one entity", a.deleteKind)
}

// deleteKind is "delete <kind> <id>". An RC that still has replicas is
// refused unless --force is given. Deleting an RC or a daemon set leaves
// its pods running: they are listed, and --cascade unschedules them from
// intent, paced by a failsafe limiter, each with an audit record.
func (a *app) deleteKind(k *kind) *cobra.Command {
	var force, cascade bool
	var every time.Duration
	var burst int
	cmd := &cobra.Command{
		Use:               k.use(true),
		Args:              cobra.ExactArgs(len(k.idArgs)),
		ValidArgsFunction: a.completeIDs(k),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if cascade && (every <= 0 || burst < 1) {
				return fmt.Errorf("delete %s: --cascade-every must be positive and --cascade-burst at least 1", display(k, ids))
			}
			ctx, cancel := a.oneShot(cmd)
			if cascade {
				// paced by the limiter: may take longer than --command-timeout
				ctx, cancel = context.WithCancel(cmd.Context())
			}
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			var pods []*podInfo
			if k.owner != "" {
				v, err := a.loadPods(ctx, a.cli)
				if err != nil {
					return fmt.Errorf("delete %s: %w", display(k, ids), err)
				}
				for _, p := range v.owned(k.owner, ids[0]) {
					if p.scheduled {
						pods = append(pods, p)
					}
				}
			}
			if err := r.delete(ctx, ids, force); err != nil {
				return fmt.Errorf("delete %s: %w", display(k, ids), err)
			}
			if _, err := fmt.Fprintf(a.stdout, "%s deleted\n", display(k, ids)); err != nil {
				return err
			}
			if !cascade {
				return a.printLeftBehind(k, ids[0], pods)
			}
			lim := failsafe.NewLimiter("unschedule pod of deleted "+display(k, ids), every, burst, a.log)
			for _, p := range pods {
				if err := lim.Wait(ctx); err != nil {
					return fmt.Errorf("delete %s --cascade: %w", display(k, ids), err)
				}
				if err := a.unschedule(ctx, p); err != nil {
					return fmt.Errorf("delete %s --cascade: %s/%s: %w", display(k, ids), p.node, p.pod, err)
				}
				if _, err := fmt.Fprintf(a.stdout, "unscheduled %s/%s\n", p.node, p.pod); err != nil {
					return err
				}
			}
			return nil
		},
	}
	if k.force {
		cmd.Flags().BoolVar(&force, "force", false, "delete even when it is not scaled down to 0 replicas, or its stored value is bad")
	}
	if k.owner != "" {
		cmd.Flags().BoolVar(&cascade, "cascade", false, "also unschedule the pods it leaves behind (removed from intent, audited)")
		cmd.Flags().DurationVar(&every, "cascade-every", 500*time.Millisecond, "with --cascade: the pause between unscheduling two pods")
		cmd.Flags().IntVar(&burst, "cascade-burst", 3, "with --cascade: how many pods are unscheduled before the pauses begin")
	}
	return cmd
}

// printLeftBehind lists the pods a deleted controller leaves running.
func (a *app) printLeftBehind(k *kind, id string, pods []*podInfo) error {
	if len(pods) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(a.stdout, "%d pods of %s/%s stay scheduled (delete with --cascade to unschedule them):\n",
		len(pods), k.name, id); err != nil {
		return err
	}
	for _, p := range pods {
		if _, err := fmt.Fprintf(a.stdout, "  %s/%s\n", p.node, p.pod); err != nil {
			return err
		}
	}
	return nil
}

// unschedule removes one pod from intent, with its pod labels and an audit
// record, in one transaction. A pod already gone is not an error.
func (a *app) unschedule(ctx context.Context, p *podInfo) error {
	st := intent.NewStore(a.cli, keyspace.WithPrefix(a.prefix)).KV()
	name := labels.PodID(p.node, p.pod)
	cur, err := st.Get(ctx, name)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ls, err := labels.New(a.cli, keyspace.WithPrefix(a.prefix)).Of(labels.Pod)
	if err != nil {
		return err
	}
	delLabels, err := ls.DeleteOp(name)
	if err != nil {
		return err
	}
	rec, err := a.auditLog(a.cli).Op(audit.Deleted, intent.Kind, name, a.actor, cur.Value)
	if err != nil {
		return err
	}
	return deleteAudited(ctx, st, cur, []clientv3.Op{delLabels, rec}...)
}
