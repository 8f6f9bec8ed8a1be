package status

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// PodStatusStore holds the preparer's pod records at
// <root>/status/pods/<node>/<pod-id>/preparer.
type PodStatusStore struct {
	s *Store[PodStatus]
}

// NewPodStatusStore returns the store of the preparer's pod records.
func NewPodStatusStore(client *clientv3.Client, opts ...keyspace.Option) *PodStatusStore {
	return &PodStatusStore{s: newStore[PodStatus](client, PreparerNamespace, keyspace.Resolve(opts))}
}

// Records is the generic store underneath.
func (p *PodStatusStore) Records() *Store[PodStatus] { return p.s }

// Key returns the full key of a pod's record.
func (p *PodStatusStore) Key(node, pod string) (string, error) {
	return p.s.Key(Pods, PodID(node, pod))
}

// Get reads the record of pod on node: kv.ErrNotFound when missing.
func (p *PodStatusStore) Get(ctx context.Context, node, pod string) (*kv.Object[PodStatus], error) {
	return p.s.Get(ctx, Pods, PodID(node, pod))
}

// Set writes the record of pod on node, whatever is there.
func (p *PodStatusStore) Set(ctx context.Context, node, pod string, v *PodStatus) (*kv.Object[PodStatus], error) {
	return p.s.Put(ctx, Pods, PodID(node, pod), v)
}

// Create writes the record of pod on node only if there is none.
func (p *PodStatusStore) Create(ctx context.Context, node, pod string, v *PodStatus) (*kv.Object[PodStatus], error) {
	return p.s.Create(ctx, Pods, PodID(node, pod), v)
}

// Update writes v over prev with compare-and-swap (kv.ErrConflict).
func (p *PodStatusStore) Update(ctx context.Context, prev *kv.Object[PodStatus], v *PodStatus) (*kv.Object[PodStatus], error) {
	return p.s.Update(ctx, prev, v)
}

// SetOp returns the write of a pod's record, for a caller's transaction
// (the preparer writes reality and status together).
func (p *PodStatusStore) SetOp(node, pod string, v *PodStatus) (clientv3.Op, error) {
	return p.s.PutOp(Pods, PodID(node, pod), v)
}

// Delete removes the record of pod on node: kv.ErrNotFound when missing.
func (p *PodStatusStore) Delete(ctx context.Context, node, pod string, opts ...kv.DeleteOption) error {
	return p.s.Delete(ctx, Pods, PodID(node, pod), opts...)
}

// List reads the records of every pod of every node; names are
// "<node>/<pod-id>/preparer".
func (p *PodStatusStore) List(ctx context.Context) (*kv.Listing[PodStatus], error) {
	return p.s.List(ctx, Pods)
}

// ListNode reads the records of one node's pods; names are
// "<pod-id>/preparer". Node "web1" never sees "web10".
func (p *PodStatusStore) ListNode(ctx context.Context, node string) (*kv.Listing[PodStatus], error) {
	if err := keyspace.CheckID("node", node); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	sub, err := p.s.sub(Pods, node)
	if err != nil {
		return nil, err
	}
	return sub.List(ctx)
}

// WatchNode follows the records of one node's pods; names are
// "<pod-id>/preparer". Node "web1" never sees "web10".
func (p *PodStatusStore) WatchNode(ctx context.Context, node string, opts ...kv.WatchOption) (*Watcher[PodStatus], error) {
	if err := keyspace.CheckID("node", node); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return p.s.WatchID(ctx, Pods, node, opts...)
}

// WatchAll follows the records of every node; names are
// "<node>/<pod-id>/preparer".
func (p *PodStatusStore) WatchAll(ctx context.Context, opts ...kv.WatchOption) (*Watcher[PodStatus], error) {
	return p.s.Watch(ctx, Pods, opts...)
}
