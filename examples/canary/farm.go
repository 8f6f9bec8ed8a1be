package main

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type canaryFarm struct {
	intent   *intent.Store
	pods     *kv.Store[labels.Set]
	statuses *status.Store[Status]
	ctrl     *farm.Controller[Canary]
	ids      sync.Map // id -> true while the canary exists
}

// NewFarm returns the canary farm; pass a farm.Manager's Options to join
// it. Node labels come from the fleet view, which holds a wiped label tree.
func NewFarm(cli *clientv3.Client, opts ...farm.Option) (*farm.Controller[Canary], error) {
	ks := keyspace.WithPrefix(farm.Configure(Kind, opts...).Prefix)
	pods, err := labels.New(cli, ks).Of(labels.Pod)
	if err != nil {
		return nil, err
	}
	f := &canaryFarm{intent: intent.NewStore(cli, ks), pods: pods}
	if f.statuses, err = status.NewStore[Status](cli, StatusNamespace, ks); err != nil {
		return nil, err
	}
	f.ctrl, err = farm.For[Canary](cli, Kind, NewStore(cli, ks), opts...).
		OnEvent(func(ev *kv.Event[Canary]) []string { f.ids.Store(ev.Name, ev.Type != kv.Delete); return nil }).
		WatchesFleet(f.mapFleet).Complete(f)
	return f.ctrl, err
}

// mapFleet: a node label change concerns every canary, a pod's change the
// canary its owner label names, while that canary exists.
func (f *canaryFarm) mapFleet(c fleet.Change) (ids []string) {
	f.ids.Range(func(id, ok any) bool {
		if ok.(bool) && c.Source == fleet.NodeLabels {
			ids = append(ids, id.(string))
		}
		return true
	})
	for _, name := range c.Names {
		if l, ok := f.ctrl.Fleet().PodLabels.Get(name); ok {
			if live, _ := f.ids.Load(l.Value[OwnerLabel]); live == true {
				ids = append(ids, l.Value[OwnerLabel])
			}
		}
	}
	return ids
}

// Reconcile keeps c's pod on one matching node: where it runs while that
// matches, else the first; where it was while none matches. A deleted
// canary leaves its pod and status as they are, as a deleted daemon set
// does. Pod, labels and status change in one fenced transaction.
func (f *canaryFarm) Reconcile(ctx context.Context, id string, c *kv.Object[Canary]) (farm.Result, error) {
	if c == nil {
		return farm.Result{}, nil
	}
	placed := f.ctrl.Fleet().PodsMatching(labels.Set{OwnerLabel: id}.AsSelector())
	nodes, pod := f.ctrl.Fleet().NodesMatching(c.Value.NodeSelector), c.Value.Manifest.ID
	st, target := &Status{Matched: len(nodes), Observed: c.ModRevision}, ""
	if len(nodes) == 0 {
		placed = nil // matching no node moves nothing: the pod stays where it runs
	} else { // the first matching node that runs it, else the first
		i := max(0, slices.IndexFunc(nodes, func(n string) bool { return slices.Contains(placed, labels.PodID(n, pod)) }))
		target, st.Node = labels.PodID(nodes[i], pod), nodes[i]
	}
	var ops []clientv3.Op
	var opErr error
	add := func(op clientv3.Op, err error) { ops, opErr = append(ops, op), cmp.Or(opErr, err) }
	for _, p := range placed {
		if p != target {
			add(f.intent.KV().DeleteOp(p))
			add(f.pods.DeleteOp(p))
		}
	}
	if cur, ok := f.ctrl.Fleet().Intent.Get(target); target != "" && (!ok || !manifest.SameVersion(&cur.Value, &c.Value.Manifest)) {
		add(f.intent.KV().PutOp(target, &c.Value.Manifest))
		add(f.pods.PutOp(target, &labels.Set{OwnerLabel: id, "pod_id": pod}))
	}
	moves := len(ops)
	if cur, err := f.statuses.Get(ctx, Kind, id); moves > 0 || err != nil || cur.Value != *st { // err: none yet, or unreadable
		add(f.statuses.PutOp(Kind, id, st))
	}
	if len(ops) == 0 || opErr != nil {
		return farm.Result{}, opErr
	}
	fence, _ := farm.FenceFrom(ctx)
	resp, err := fence.Commit(ctx, f.pods.Client(), nil, ops...)
	if err != nil || moves == 0 {
		return farm.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // until the view shows the move
	defer cancel()
	return farm.Result{}, f.ctrl.Fleet().WaitFor(ctx, resp.Header.Revision, fleet.PodLabels)
}
