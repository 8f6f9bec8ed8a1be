package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// podInfo is one pod as list columns, describe and delete see it: where it
// is, its labels, whether it is in intent and what its preparer says.
type podInfo struct {
	node, pod string
	labels    labels.Set
	scheduled bool
	status    string // launched, removed, failed; "" without a record
	health    string // passing, warning, critical, unknown; "" without a record
}

// podView is the pods of the fleet read at once: intent, pod labels and pod
// status records. Values that cannot be decoded are reported on stderr by
// the caller and left out.
type podView struct {
	pods  map[string]*podInfo // by "<node>/<pod-id>"
	nodes map[string]labels.Set
	bad   []*kv.DecodeError
}

// loadPods reads intent, the label sets of pods and nodes, and the pods'
// status records.
func (a *app) loadPods(ctx context.Context, cli *clientv3.Client) (*podView, error) {
	v := &podView{pods: map[string]*podInfo{}, nodes: map[string]labels.Set{}}
	get := func(node, pod string) *podInfo {
		id := labels.PodID(node, pod)
		p := v.pods[id]
		if p == nil {
			p = &podInfo{node: node, pod: pod}
			v.pods[id] = p
		}
		return p
	}
	in, err := intent.NewStore(cli, keyspace.WithPrefix(a.prefix)).ListAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("list intent: %w", err)
	}
	v.bad = append(v.bad, in.Invalid...)
	for _, o := range in.Items {
		node, pod, _ := strings.Cut(o.Name, "/")
		get(node, pod).scheduled = true
		if _, ok := v.nodes[node]; !ok {
			v.nodes[node] = nil
		}
	}
	ls := labels.New(cli, keyspace.WithPrefix(a.prefix))
	pl, err := ls.List(ctx, labels.Pod)
	if err != nil {
		return nil, fmt.Errorf("list pod labels: %w", err)
	}
	v.bad = append(v.bad, pl.Invalid...)
	for _, o := range pl.Items {
		node, pod, err := labels.SplitPodID(o.Name)
		if err != nil {
			continue
		}
		get(node, pod).labels = o.Value
	}
	nl, err := ls.List(ctx, labels.Node)
	if err != nil {
		return nil, fmt.Errorf("list node labels: %w", err)
	}
	v.bad = append(v.bad, nl.Invalid...)
	for _, o := range nl.Items {
		v.nodes[o.Name] = o.Value
	}
	st, err := status.NewPodStatusStore(cli, keyspace.WithPrefix(a.prefix)).List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pod status: %w", err)
	}
	v.bad = append(v.bad, st.Invalid...)
	for _, o := range st.Items {
		parts := strings.Split(o.Key, "/")
		if len(parts) < 3 {
			continue
		}
		p := get(parts[len(parts)-3], parts[len(parts)-2])
		p.status, p.health = string(o.Value.Status), string(o.Value.Health)
	}
	return v, nil
}

// owned returns the pods whose label key names id, scheduled or not, in
// node order.
func (v *podView) owned(key, id string) []*podInfo {
	var out []*podInfo
	for _, p := range v.pods {
		if p.labels[key] == id {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].node != out[j].node {
			return out[i].node < out[j].node
		}
		return out[i].pod < out[j].pod
	})
	return out
}

// counts returns how many of id's pods are in intent and how many of
// those report health passing.
func (v *podView) counts(key, id string) (current, healthy int) {
	for _, p := range v.owned(key, id) {
		if !p.scheduled {
			continue
		}
		current++
		if p.health == string(status.Passing) {
			healthy++
		}
	}
	return current, healthy
}

// matchingNodes counts the nodes (with labels or intent) a selector
// matches.
func (v *podView) matchingNodes(selector string) (int, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, set := range v.nodes {
		if sel.Matches(set) {
			n++
		}
	}
	return n, nil
}
