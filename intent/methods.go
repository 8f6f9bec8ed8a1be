package intent

import (
	"context"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Set writes m as the manifest of pod m.ID on node, whatever is there.
func (s *Store) Set(ctx context.Context, node string, m *manifest.Manifest) (*Object, error) {
	return s.t.Set(ctx, node, m)
}

// Create writes m on node only if the node has no pod m.ID yet
// (kv.ErrExists otherwise).
func (s *Store) Create(ctx context.Context, node string, m *manifest.Manifest) (*Object, error) {
	return s.t.Create(ctx, node, m)
}

// Update writes m over prev if it has not changed since prev was read
// (compare-and-swap; kv.ErrConflict otherwise). prev may come from any read,
// a node's watch included.
func (s *Store) Update(ctx context.Context, prev *Object, m *manifest.Manifest) (*Object, error) {
	return s.t.Update(ctx, prev, m)
}

// Get reads the manifest of pod on node: kv.ErrNotFound when missing, a
// *kv.DecodeError naming the key when the stored value is bad.
func (s *Store) Get(ctx context.Context, node, pod string) (*Object, error) {
	return s.t.Get(ctx, node, pod)
}

// Delete removes pod from node: kv.ErrNotFound when missing. With
// kv.IfModRevision it deletes only the version that was read.
func (s *Store) Delete(ctx context.Context, node, pod string, opts ...kv.DeleteOption) error {
	return s.t.Delete(ctx, node, pod, opts...)
}

// List reads every pod of one node; names are "<node>/<pod-id>".
func (s *Store) List(ctx context.Context, node string) (*kv.Listing[manifest.Manifest], error) {
	return s.t.List(ctx, node)
}

// ListAll reads every pod of every node at one revision.
func (s *Store) ListAll(ctx context.Context) (*kv.Listing[manifest.Manifest], error) {
	return s.t.ListAll(ctx)
}

// WatchNode follows the pods of one node, under a prefix ending in "/" so
// that node "web1" never sees "web10". Names in its events are pod ids.
func (s *Store) WatchNode(ctx context.Context, node string, opts ...kv.WatchOption) (*kv.Watcher[manifest.Manifest], error) {
	return s.t.WatchNode(ctx, node, opts...)
}

// WatchAll follows the pods of every node; names are "<node>/<pod-id>".
func (s *Store) WatchAll(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[manifest.Manifest] {
	return s.t.WatchAll(ctx, opts...)
}

// Schedule writes m onto every node in transactions of at most
// kv.MaxTxnOps writes, each applied only while every compare of guard holds
// (a controller's lock). The chunks are not atomic together: it returns how
// many nodes were written before a failure; a failed guard is
// kv.ErrConflict. Writing the same manifest again is harmless, so a caller
// retries by scheduling again.
func (s *Store) Schedule(ctx context.Context, guard []clientv3.Cmp, nodes []string, m *manifest.Manifest) (int, error) {
	return s.t.Schedule(ctx, guard, nodes, m)
}

// Unschedule deletes pod from every node, chunked and guarded like
// Schedule. A node without the pod is not an error.
func (s *Store) Unschedule(ctx context.Context, guard []clientv3.Cmp, nodes []string, pod string) (int, error) {
	return s.t.Unschedule(ctx, guard, nodes, pod)
}

// SetOp returns the write of m on node, validated, for a caller's own
// transaction.
func (s *Store) SetOp(node string, m *manifest.Manifest) (clientv3.Op, error) {
	return s.t.SetOp(node, m)
}

// DeleteOp returns the delete of pod on node, for a caller's own
// transaction.
func (s *Store) DeleteOp(node, pod string) (clientv3.Op, error) { return s.t.DeleteOp(node, pod) }

// ScheduleOps returns the writes of m onto every node, validated; the first
// bad node or manifest fails them all.
func (s *Store) ScheduleOps(nodes []string, m *manifest.Manifest) ([]clientv3.Op, error) {
	return s.t.ScheduleOps(nodes, m)
}

// UnscheduleOps returns the deletes of pod from every node.
func (s *Store) UnscheduleOps(nodes []string, pod string) ([]clientv3.Op, error) {
	return s.t.UnscheduleOps(nodes, pod)
}

// Key returns the full etcd key of a node's pod, or an error naming a bad
// id.
func (s *Store) Key(node, pod string) (string, error) { return s.t.Key(node, pod) }

// KV is the typed store underneath (names "<node>/<pod-id>"), for compares
// such as Exists and Unchanged in a caller's own transactions.
func (s *Store) KV() *kv.Store[manifest.Manifest] { return s.t.Store() }
