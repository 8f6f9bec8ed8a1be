package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodeView is one row of "list nodes": a node known from its labels, its
// intent or its preparer's record, and whether that preparer is alive.
type nodeView struct {
	Node string `json:"node"`
	// Alive: the node record exists (its lease is kept alive).
	Alive  bool              `json:"alive"`
	Labels map[string]string `json:"labels,omitempty"`
	// Intent counts the pods in the node's intent.
	Intent int                `json:"intent"`
	Record *status.NodeRecord `json:"record,omitempty"`
}

// listNodesCommand is "list nodes".
func (a *app) listNodesCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "nodes",
		Aliases: []string{"node"},
		Short:   "List nodes (from labels, intent and preparer records) and whether their preparer is alive",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			nodes, err := a.nodeViews(ctx, cli)
			if err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			if a.structured() {
				return a.printValue(nodes)
			}
			now := time.Now()
			rows := make([][]string, 0, len(nodes))
			for _, n := range nodes {
				state, version, pods, started, seen := "GONE", "-", "-", "-", "-"
				if r := n.Record; r != nil {
					state, version, pods = "ALIVE", orDash(r.Version), strconv.Itoa(r.Pods)
					started, seen = age(now, r.StartedAt), age(now, r.LastSeen)
				}
				rows = append(rows, []string{n.Node, state, version, pods, strconv.Itoa(n.Intent), started, seen, orDash(labels.Set(n.Labels).String())})
			}
			return printTable(a.stdout, []string{"NODE", "PREPARER", "VERSION", "PODS", "INTENT", "STARTED", "LAST SEEN", "LABELS"}, rows)
		},
	}
}

// nodeViews gathers every node known from node labels, intent keys or node
// records, sorted by name.
func (a *app) nodeViews(ctx context.Context, cli *clientv3.Client) ([]nodeView, error) {
	byName := map[string]*nodeView{}
	get := func(n string) *nodeView {
		v, ok := byName[n]
		if !ok {
			v = &nodeView{Node: n}
			byName[n] = v
		}
		return v
	}
	ls, err := labels.New(cli, keyspace.WithPrefix(a.prefix)).List(ctx, labels.Node)
	if err != nil {
		return nil, fmt.Errorf("node labels: %w", err)
	}
	a.warnInvalid(ls.Invalid)
	for _, o := range ls.Items {
		get(o.Name).Labels = o.Value
	}
	intentDir := a.prefix + "/intent/"
	resp, err := cli.Get(ctx, intentDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("intent: %w", err)
	}
	for _, kv := range resp.Kvs {
		if node, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), intentDir), "/"); ok && node != "" {
			get(node).Intent++
		}
	}
	recs, err := a.nodeRecords(ctx, cli)
	if err != nil {
		return nil, err
	}
	for node, o := range recs {
		v := get(node)
		v.Alive, v.Record = true, &o.Value
	}
	out := make([]nodeView, 0, len(byName))
	for _, v := range byName {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// nodeRecords reads the preparers' node records by node; a node without one
// has no live preparer.
func (a *app) nodeRecords(ctx context.Context, cli *clientv3.Client) (map[string]*kv.Object[status.NodeRecord], error) {
	recs, l, err := status.NewNodeStore(cli, keyspace.WithPrefix(a.prefix)).List(ctx)
	if err != nil {
		return nil, fmt.Errorf("node records: %w", err)
	}
	a.warnInvalid(l.Invalid)
	return recs, nil
}

// age is how long before now t was, rounded for a table: "4s", "3m12s",
// "2h5m"; "-" for a zero time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
