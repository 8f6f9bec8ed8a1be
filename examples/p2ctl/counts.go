package main

import (
	"context"
	"path"
	"strconv"

	"github.com/p2kit/p2kit/daemonset"
)

// addCounts fills the DESIRED (daemon sets: the nodes their selector
// matches), CURRENT (pods in intent) and HEALTHY (of those, pods whose
// status says passing) cells of a controller kind's rows.
func (a *app) addCounts(ctx context.Context, k *kind, rows []*row) error {
	if k.owner == "" || len(rows) == 0 {
		return nil
	}
	cli, err := a.client(ctx)
	if err != nil {
		return err
	}
	v, err := a.loadPods(ctx, cli)
	if err != nil {
		return err
	}
	a.warnInvalid(v.bad)
	for _, r := range rows {
		current, healthy := v.counts(k.owner, path.Base(r.env.Key))
		if d, ok := r.env.Value.(daemonset.DaemonSet); ok {
			if n, err := v.matchingNodes(d.NodeSelector); err == nil {
				r.cells[k.countAt] = strconv.Itoa(n)
			}
		}
		r.cells[k.countAt+1], r.cells[k.countAt+2] = strconv.Itoa(current), strconv.Itoa(healthy)
	}
	return nil
}
