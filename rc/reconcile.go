package rc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// nodesPerTxn bounds the nodes one scheduling transaction writes: two
// operations and two compares each, within etcd's default of 128.
const nodesPerTxn = 60

// reconcile brings one RC to its desired state from the whole current
// state: the RC read from etcd and the fleet view.
func (f *Farm) reconcile(ctx context.Context, id string, obj *Object) (farm.Result, error) {
	if obj == nil {
		return farm.Result{}, nil // deleted: its pods stay
	}
	fence, _ := farm.FenceFrom(ctx)
	obj, err := f.store.Get(ctx, id)
	if errors.Is(err, kv.ErrNotFound) {
		// Deleted (or vanished in a held mass delete): its pods stay.
		return farm.Result{}, nil
	}
	if err != nil {
		return farm.Result{}, err
	}
	r := &obj.Value
	pod := r.Manifest.ID
	f.index(id, pod)
	log := f.log.With(zap.String("rc", id), zap.String("pod", pod))
	digest, err := r.Manifest.Digest()
	if err != nil {
		return farm.Result{}, fmt.Errorf("manifest: %w", err)
	}
	sel, err := labels.Parse(r.NodeSelector)
	if err != nil {
		return farm.Result{}, fmt.Errorf("node_selector: %w", err)
	}
	healthy := func(p podRef) bool { return p.Pod == pod && f.view.Healthy(p.Node, p.Pod, digest) }

	var msg string
	if !r.Disabled {
		pl := f.place(id, r, sel, healthy)
		msg = pl.Message
		if err := f.apply(ctx, log, id, r, digest, pl, fence); err != nil {
			return farm.Result{}, err
		}
	}

	mine := f.podsOf(id)
	st := Status{Desired: r.ReplicasDesired, Current: len(mine), Disabled: r.Disabled, Message: msg}
	for _, p := range mine {
		if healthy(p) {
			st.Healthy++
		}
	}
	return farm.Result{}, f.writeStatus(ctx, id, &st, fence)
}

// place decides the RC's placement from the fleet view: the nodes its
// selector matches, its pods, and the nodes where its pod id is busy.
func (f *Farm) place(id string, r *RC, sel labels.Selector, healthy func(podRef) bool) placement {
	pod := r.Manifest.ID
	return place(r.ReplicasDesired, f.view.MatchingNodes(sel), f.podsOf(id), pod, f.busy(id, pod), healthy)
}

// apply writes a placement: additions first, then manifest and label
// updates of the pods that stay, then removals. After each write it waits
// until the fleet view shows it, so that the next pass never acts on a
// view older than its own writes.
func (f *Farm) apply(ctx context.Context, log *zap.Logger, id string, r *RC, digest string, pl placement, fence farm.Fence) error {
	want := labels.Set{}
	maps.Copy(want, r.PodLabels)
	want[IDLabel] = id
	pod := r.Manifest.ID
	want[PodIDLabel] = pod

	for chunk := range slices.Chunk(pl.Add, nodesPerTxn) {
		cmps := fence.Cmps()
		var ops []clientv3.Op
		for _, node := range chunk {
			name := node + "/" + pod
			ic, err := f.intent.KV().Missing(name)
			if err != nil {
				return fmt.Errorf("schedule on %s: %w", node, err)
			}
			lc, err := f.podLbls.Missing(name)
			if err != nil {
				return fmt.Errorf("schedule on %s: %w", node, err)
			}
			iop, err := f.intent.SetOp(node, &r.Manifest)
			if err != nil {
				return fmt.Errorf("schedule on %s: %w", node, err)
			}
			lop, err := f.podLbls.PutOp(name, &want)
			if err != nil {
				return fmt.Errorf("pod labels on %s: %w", node, err)
			}
			cmps = append(cmps, ic, lc)
			ops = append(ops, iop, lop)
		}
		resp, err := kv.Commit(ctx, f.client, cmps, ops...)
		if err != nil {
			return fmt.Errorf("schedule %s on %s: %w", pod, strings.Join(chunk, ","), err)
		}
		log.Info("scheduled", zap.Strings("nodes", chunk), zap.Int64("revision", resp.Header.Revision))
		if err := f.awaitView(ctx, resp.Header.Revision, fleet.PodLabels, fleet.Intent); err != nil {
			return err
		}
	}

	var updated []string
	var revIntent, revLabels int64
	for _, p := range pl.Keep {
		var ops []clientv3.Op
		var wroteIntent, wroteLabels bool
		cur, ok := f.view.Intent.Get(p.name())
		if !ok || f.view.IntentDigest(cur) != digest {
			op, err := f.intent.SetOp(p.Node, &r.Manifest)
			if err != nil {
				return fmt.Errorf("update %s: %w", p.name(), err)
			}
			ops = append(ops, op)
			wroteIntent = true
		}
		if !maps.Equal(p.Labels.Value, want) {
			op, err := f.podLbls.PutOp(p.name(), &want)
			if err != nil {
				return fmt.Errorf("pod labels of %s: %w", p.name(), err)
			}
			ops = append(ops, op)
			wroteLabels = true
		}
		if len(ops) == 0 {
			continue
		}
		resp, err := kv.Commit(ctx, f.client, append(fence.Cmps(), f.podLbls.Unchanged(p.Labels)), ops...)
		if err != nil {
			return fmt.Errorf("update %s: %w", p.name(), err)
		}
		updated = append(updated, p.Node)
		if wroteIntent {
			revIntent = resp.Header.Revision
		}
		if wroteLabels {
			revLabels = resp.Header.Revision
		}
	}
	if len(updated) > 0 {
		log.Info("updated manifest or pod labels", zap.Strings("nodes", updated))
		if err := f.awaitView(ctx, revIntent, fleet.Intent); err != nil {
			return err
		}
		if err := f.awaitView(ctx, revLabels, fleet.PodLabels); err != nil {
			return err
		}
	}

	for chunk := range slices.Chunk(pl.Remove, nodesPerTxn) {
		cmps := fence.Cmps()
		var ops []clientv3.Op
		var nodes []string
		for _, p := range chunk {
			iop, err := f.intent.DeleteOp(p.Node, p.Pod)
			if err != nil {
				return fmt.Errorf("unschedule %s: %w", p.name(), err)
			}
			lop, err := f.podLbls.DeleteOp(p.name())
			if err != nil {
				return fmt.Errorf("unschedule %s: %w", p.name(), err)
			}
			cmps = append(cmps, f.podLbls.Unchanged(p.Labels))
			ops = append(ops, iop, lop)
			nodes = append(nodes, p.Node)
		}
		resp, err := kv.Commit(ctx, f.client, cmps, ops...)
		if err != nil {
			return fmt.Errorf("unschedule from %s: %w", strings.Join(nodes, ","), err)
		}
		log.Info("unscheduled", zap.Strings("nodes", nodes), zap.Int64("revision", resp.Header.Revision))
		if err := f.awaitView(ctx, resp.Header.Revision, fleet.PodLabels, fleet.Intent); err != nil {
			return err
		}
	}
	return nil
}

// awaitView waits until the fleet view shows the farm's own write at rev
// to srcs, so that the next pass never acts on a view older than its own
// writes; at most the catch-up time.
func (f *Farm) awaitView(ctx context.Context, rev int64, srcs ...fleet.Source) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := f.view.WaitFor(ctx, rev, srcs...); err != nil {
		return fmt.Errorf("fleet view has not caught up with revision %d: %w", rev, err)
	}
	return nil
}

// podsOf lists the pods labelled with the RC's id, in the fleet view: it
// reads the view's index by IDLabel, at the cost of the RC's own pods.
func (f *Farm) podsOf(id string) []podRef {
	objs := f.byRC.Get(id)
	out := make([]podRef, 0, len(objs))
	for _, o := range objs {
		node, pod, _ := strings.Cut(o.Name, "/")
		out = append(out, podRef{Node: node, Pod: pod, Labels: o})
	}
	return out
}

// busy returns the nodes where pod is scheduled, or labelled, by anything
// but RC id: the RC never takes them over. It costs the nodes that have
// the pod, not the fleet.
func (f *Farm) busy(id, pod string) map[string]bool {
	busy := map[string]bool{}
	for _, node := range f.view.NodesWithIntent(pod) {
		o, ok := f.view.PodLabels.Get(node + "/" + pod)
		if !ok || o.Value[IDLabel] != id {
			busy[node] = true
		}
	}
	for _, o := range f.view.PodLabelsOfPod(pod) {
		if o.Value[IDLabel] != id {
			node, _, _ := strings.Cut(o.Name, "/")
			busy[node] = true
		}
	}
	return busy
}

// writeStatus writes the RC's status record when it says something new.
func (f *Farm) writeStatus(ctx context.Context, id string, st *Status, fence farm.Fence) error {
	cur, err := f.statuses.Get(ctx, status.ReplicationControllers, id)
	if err == nil && cur.Value.same(st) {
		return nil
	}
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		var derr *kv.DecodeError
		if !errors.As(err, &derr) {
			return fmt.Errorf("read status: %w", err)
		}
	}
	st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	op, err := f.statuses.PutOp(status.ReplicationControllers, id, st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if _, err := kv.Commit(ctx, f.client, fence.Cmps(), op); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}
