package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// labelTypeAliases lets the entity names of p2ctl name label types too.
var labelTypeAliases = map[string]labels.Type{
	"rc": labels.ReplicationController, "ds": labels.DaemonSet, "daemonset": labels.DaemonSet,
	"pc": labels.PodCluster, "podcluster": labels.PodCluster,
}

// parseLabelType returns the label type spelled s or aliased by it.
func parseLabelType(s string) (labels.Type, error) {
	if t, ok := labelTypeAliases[s]; ok {
		return t, nil
	}
	return labels.ParseType(s)
}

func (a *app) labelsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labels",
		Short: "Read and change the labels of nodes, pods and controllers",
		Long: "Label types: node, pod (id <node>/<pod-id>), replication_controller (rc), daemon_set (ds), " +
			"pod_cluster (pc), roll, or any other valid type name (a custom kind's).",
	}
	cmd.AddCommand(a.labelsSetCommand(), a.labelsDeleteCommand(), a.labelsGetCommand(), a.labelsListCommand())
	return cmd
}

// labelStore dials etcd and returns the label store.
func (a *app) labelStore(ctx context.Context) (*labels.Store, error) {
	cli, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return labels.New(cli, keyspace.WithPrefix(a.prefix)), nil
}

// labelsSetCommand is "labels set <type> <id> k=v ... [-k key]": audited
// in the same transaction. A node with neither intent nor labels is
// refused without --force: it is most likely a typo.
func (a *app) labelsSetCommand() *cobra.Command {
	var remove []string
	var force bool
	cmd := &cobra.Command{
		Use:   "set <type> <id> [key=value ...]",
		Short: "Set labels (key=value) and remove keys (-k key); creates the label set when missing",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "labels set " + args[0] + " " + args[1]
			typ, err := parseLabelType(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			add, err := parseLabels(args[2:])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if len(add) == 0 && len(remove) == 0 {
				return fmt.Errorf("%s: nothing to change: give key=value or -k key", what)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			s, err := a.labelStore(ctx)
			if err != nil {
				return err
			}
			if typ == labels.Node && !force {
				if err := a.requireKnownNode(ctx, s, args[1]); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
			log := a.auditLog(a.cli)
			id := string(typ) + "/" + args[1]
			obj, err := s.Apply(ctx, typ, args[1], add, remove, labels.WithOps(
				func(prev *kv.Object[labels.Set], next labels.Set) ([]clientv3.Op, error) {
					event := audit.Updated
					if prev == nil {
						event = audit.Created
					}
					op, err := log.Op(event, labels.Kind, id, a.actor, next)
					return []clientv3.Op{op}, err
				}))
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return a.printLabels(obj)
		},
	}
	cmd.Flags().StringArrayVarP(&remove, "remove", "k", nil, "label key to remove (repeatable)")
	cmd.Flags().BoolVar(&force, "force", false, "label a node that has neither intent nor labels yet")
	return cmd
}

// requireKnownNode refuses a node p2kit has never heard of: no label set,
// no intent and no preparer's node record.
func (a *app) requireKnownNode(ctx context.Context, s *labels.Store, node string) error {
	_, err := s.Get(ctx, labels.Node, node)
	if err == nil || !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	in, err := intent.NewStore(a.cli, keyspace.WithPrefix(a.prefix)).List(ctx, node)
	if err != nil {
		return err
	}
	if len(in.Items) > 0 || len(in.Invalid) > 0 {
		return nil
	}
	_, err = status.NewNodeStore(a.cli, keyspace.WithPrefix(a.prefix)).Get(ctx, node)
	if err == nil || !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return fmt.Errorf("node %q has no intent and no labels, and no preparer reports it: is the name right? --force labels it anyway", node)
}

// labelsDeleteCommand is "labels delete <type> <id>": removes the whole
// label set, with its audit record in the same transaction.
func (a *app) labelsDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete <type> <id>",
		Short: "Delete the label set of one node, pod or controller",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "labels delete " + args[0] + " " + args[1]
			typ, err := parseLabelType(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			s, err := a.labelStore(ctx)
			if err != nil {
				return err
			}
			st, err := s.Of(typ)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			cur, err := st.Get(ctx, args[1])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			rec, err := a.auditLog(a.cli).Op(audit.Deleted, labels.Kind, string(typ)+"/"+args[1], a.actor, cur.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := deleteAudited(ctx, st, cur, rec); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			_, err = fmt.Fprintf(a.stdout, "%s deleted\n", cur.Key)
			return err
		},
	}
}

// parseLabels reads key=value arguments.
func parseLabels(args []string) (labels.Set, error) {
	set := labels.Set{}
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", arg)
		}
		set[k] = v
	}
	return set, set.Validate()
}

// labelsGetCommand is "labels get <type> <id>".
func (a *app) labelsGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get <type> <id>",
		Short: "Show the labels of one node, pod or controller",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "labels get " + args[0] + " " + args[1]
			typ, err := parseLabelType(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			s, err := a.labelStore(ctx)
			if err != nil {
				return err
			}
			obj, err := s.Get(ctx, typ, args[1])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return a.printLabels(obj)
		},
	}
}

// labelsListCommand is "labels list <type>".
func (a *app) labelsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list <type>",
		Short: "List every label set of one type",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, err := parseLabelType(args[0])
			if err != nil {
				return fmt.Errorf("labels list %s: %w", args[0], err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			s, err := a.labelStore(ctx)
			if err != nil {
				return err
			}
			l, err := s.List(ctx, typ)
			if err != nil {
				return fmt.Errorf("labels list %s: %w", typ, err)
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
				rows = append(rows, []string{o.Name, orDash(o.Value.String())})
			}
			return printTable(a.stdout, []string{"ID", "LABELS"}, rows)
		},
	}
}

// printLabels prints one label set: KEY VALUE rows, or the set with its key
// and revisions.
func (a *app) printLabels(obj *kv.Object[labels.Set]) error {
	if a.structured() {
		return a.printValue(envelopeOf(obj))
	}
	rows := make([][]string, 0, len(obj.Value))
	for _, k := range obj.Value.Keys() {
		rows = append(rows, []string{k, obj.Value[k]})
	}
	return printTable(a.stdout, []string{"KEY", "VALUE"}, rows)
}
