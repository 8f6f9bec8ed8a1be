package podstore

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SetOp returns the write of m on node, for a caller's own transaction.
func (p *Store) SetOp(node string, m *manifest.Manifest) (clientv3.Op, error) {
	if m == nil {
		return clientv3.Op{}, fmt.Errorf("%s %s: nil manifest", p.kind, node)
	}
	return p.s.PutOp(Name(node, m.ID), m)
}

// DeleteOp returns the delete of pod on node, for a caller's own transaction.
func (p *Store) DeleteOp(node, pod string) (clientv3.Op, error) {
	return p.s.DeleteOp(Name(node, pod))
}

// ScheduleOps returns the writes of m onto every node, validated; the first
// bad node or manifest fails them all.
func (p *Store) ScheduleOps(nodes []string, m *manifest.Manifest) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, len(nodes))
	for _, n := range nodes {
		op, err := p.SetOp(n, m)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// UnscheduleOps returns the deletes of pod from every node.
func (p *Store) UnscheduleOps(nodes []string, pod string) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, len(nodes))
	for _, n := range nodes {
		op, err := p.DeleteOp(n, pod)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Schedule writes m onto every node in transactions of at most kv.MaxTxnOps
// writes, each applied only while every compare of guard holds (a
// controller's lock). The chunks are not atomic together: it returns how
// many nodes were written before a failure, and a failed guard is
// kv.ErrConflict. Writing the same manifest again is harmless, so a caller
// retries by scheduling again.
func (p *Store) Schedule(ctx context.Context, guard []clientv3.Cmp, nodes []string, m *manifest.Manifest) (int, error) {
	ops, err := p.ScheduleOps(nodes, m)
	if err != nil {
		return 0, err
	}
	n, err := kv.CommitChunked(ctx, p.s.Client(), guard, ops)
	if err != nil {
		return n, fmt.Errorf("schedule %s on %d nodes: %w", m.ID, len(nodes), err)
	}
	return n, nil
}

// Unschedule deletes pod from every node, chunked and guarded like
// Schedule. A node without the pod is not an error.
func (p *Store) Unschedule(ctx context.Context, guard []clientv3.Cmp, nodes []string, pod string) (int, error) {
	ops, err := p.UnscheduleOps(nodes, pod)
	if err != nil {
		return 0, err
	}
	n, err := kv.CommitChunked(ctx, p.s.Client(), guard, ops)
	if err != nil {
		return n, fmt.Errorf("unschedule %s from %d nodes: %w", pod, len(nodes), err)
	}
	return n, nil
}
