package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/cobra"
)

func (a *app) statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Read status records",
		Long: "Status records live at <prefix>/status/<type>/<id>/<namespace>; types: pods (id <node>/<pod-id>),\n" +
			"daemon_sets, replication_controllers, rolls, pod_clusters, nodes.",
	}
	cmd.AddCommand(a.statusGetCommand(), a.statusPodsCommand())
	return cmd
}

// statusGetCommand is "status get <type> <id> [--namespace preparer]": any
// record, read as generic JSON.
func (a *app) statusGetCommand() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "get <type> <id>",
		Short: "Show one status record as generic JSON",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := fmt.Sprintf("status get %s %s", args[0], args[1])
			typ := status.Type(args[0])
			if err := typ.Validate(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			s, err := status.NewStore[map[string]any](cli, ns, keyspace.WithPrefix(a.prefix))
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			obj, err := s.Get(ctx, typ, args[1])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if a.structured() {
				return a.printValue(envelopeOf(obj))
			}
			return printTable(a.stdout, []string{"FIELD", "VALUE"}, fieldRows(obj.Value))
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", status.PreparerNamespace, "namespace of the record: who wrote it")
	return cmd
}

// fieldRows are FIELD VALUE rows of a JSON object, in key order.
func fieldRows(m map[string]any) [][]string {
	rows := make([][]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		rows = append(rows, []string{k, cell(m[k])})
	}
	return rows
}

// statusPodsCommand is "status pods [--node N]": the preparer's records.
func (a *app) statusPodsCommand() *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "pods",
		Short: "List the preparer's records of pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			l, err := status.NewPodStatusStore(cli, keyspace.WithPrefix(a.prefix)).List(ctx)
			if err != nil {
				return fmt.Errorf("status pods: %w", err)
			}
			a.warnInvalid(l.Invalid)
			var items []*kv.Object[status.PodStatus]
			for _, o := range l.Items {
				if node == "" || strings.HasPrefix(o.Name, node+"/") {
					items = append(items, o)
				}
			}
			recs, err := a.nodeRecords(ctx, cli)
			if err != nil {
				return fmt.Errorf("status pods: %w", err)
			}
			stale := func(o *kv.Object[status.PodStatus]) bool {
				n, _, _ := strings.Cut(o.Name, "/")
				return recs[n] == nil
			}
			if a.structured() {
				envs := make([]podStatusEnvelope, 0, len(items))
				for _, o := range items {
					envs = append(envs, podStatusEnvelope{envelope: envelopeOf(o), Stale: stale(o)})
				}
				return a.printValue(envs)
			}
			now := time.Now()
			rows := make([][]string, 0, len(items))
			for _, o := range items {
				rows = append(rows, podStatusRow(o, stale(o), now))
			}
			return printTable(a.stdout, []string{"NODE", "POD", "STATUS", "HEALTH", "RESTARTS", "LAST EXIT", "DIGEST", "PIDS", "UPDATED", "ERROR"}, rows)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "only this node's pods")
	return cmd
}

// podStatusEnvelope is a pod's record as status pods -o json|yaml prints
// it: stale is true when the node's preparer record is gone, so nobody
// keeps the record up to date.
type podStatusEnvelope struct {
	envelope
	Stale bool `json:"stale"`
}

// podStatusRow is one row of status pods; the name is "<node>/<pod>/preparer".
// A stale row (its node's preparer is gone) shows its status and health as
// stale(...): what they were when the preparer last wrote them.
func podStatusRow(o *kv.Object[status.PodStatus], stale bool, now time.Time) []string {
	parts := strings.Split(o.Name, "/")
	node, pod := parts[0], ""
	if len(parts) > 1 {
		pod = parts[1]
	}
	v := o.Value
	var pids []string
	restarts := 0
	var last *status.Exit
	for _, p := range v.Processes {
		pids = append(pids, fmt.Sprint(p.PID))
		restarts += p.Restarts
		if p.LastExit != nil && (last == nil || p.LastExit.At.After(last.At)) {
			last = p.LastExit
		}
	}
	st, health := string(v.Status), string(v.Health)
	if stale {
		st, health = "stale("+st+")", "stale("+health+")"
	}
	return []string{node, pod, st, health, strconv.Itoa(restarts), exitCell(last, now), orDash(short(v.ManifestDigest, 12)),
		orDash(strings.Join(pids, ",")), v.UpdatedAt.Local().Format(time.DateTime), orDash(v.Error)}
}

// exitCell describes a last exit and its age: "code 3, 5s ago",
// "signal KILL, 2m ago".
func exitCell(e *status.Exit, now time.Time) string {
	if e == nil {
		return "-"
	}
	how := fmt.Sprintf("code %d", e.Code)
	if e.Signal != "" {
		how = "signal " + e.Signal
	}
	return how + ", " + age(now, e.At) + " ago"
}
