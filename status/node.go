package status

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/wire"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// NodeRecord is the preparer's record of its node, at
// /p2/status/nodes/<node>/preparer. The preparer keeps it under an etcd
// lease of TTLSeconds and rewrites it every third of that, so a record that
// exists means a preparer that runs; a preparer that stops cleanly revokes
// it, and one that dies loses it when the lease expires.
type NodeRecord struct {
	// Version is the preparer's version.
	Version string `json:"version"`
	// StartedAt is when the preparer process started.
	StartedAt time.Time `json:"started_at"`
	// Pods counts the pods in the node's reality, the preparer's own left out.
	Pods int `json:"pods"`
	// LastSeen is when the preparer last wrote the record.
	LastSeen time.Time `json:"last_seen"`
	// TTLSeconds is the TTL of the lease the record is kept under.
	TTLSeconds int64 `json:"ttl_seconds"`
}

// Validate checks the record's required fields.
func (n *NodeRecord) Validate() error {
	var errs []error
	if n.StartedAt.IsZero() {
		errs = append(errs, errors.New("started_at: required"))
	}
	if n.LastSeen.IsZero() {
		errs = append(errs, errors.New("last_seen: required"))
	}
	if n.Pods < 0 {
		errs = append(errs, errors.New("pods: negative"))
	}
	if n.TTLSeconds <= 0 {
		errs = append(errs, errors.New("ttl_seconds: want more than 0"))
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a record strictly: unknown fields are refused.
func (n *NodeRecord) UnmarshalJSON(data []byte) error {
	type plain NodeRecord
	var v plain
	if err := wire.Strict(data, &v); err != nil {
		return err
	}
	*n = NodeRecord(v)
	return nil
}

// NodeStore holds the preparers' node records at
// <root>/status/nodes/<node>/preparer.
type NodeStore struct {
	s *Store[NodeRecord]
}

// NewNodeStore returns the store of the preparers' node records.
func NewNodeStore(client *clientv3.Client, opts ...keyspace.Option) *NodeStore {
	return &NodeStore{s: newStore[NodeRecord](client, PreparerNamespace, keyspace.Resolve(opts))}
}

// Records is the generic store underneath.
func (n *NodeStore) Records() *Store[NodeRecord] { return n.s }

// Key returns the full key of a node's record.
func (n *NodeStore) Key(node string) (string, error) { return n.s.Key(Nodes, node) }

// Get reads the record of node: kv.ErrNotFound when missing (its preparer
// is gone, or never ran).
func (n *NodeStore) Get(ctx context.Context, node string) (*kv.Object[NodeRecord], error) {
	return n.s.Get(ctx, Nodes, node)
}

// PutOp returns the write of node's record attached to lease (0: none), for
// a caller's transaction.
func (n *NodeStore) PutOp(node string, v *NodeRecord, lease clientv3.LeaseID) (clientv3.Op, error) {
	op, err := n.s.PutOp(Nodes, node, v)
	if err != nil {
		return clientv3.Op{}, err
	}
	if lease == clientv3.NoLease {
		return op, nil
	}
	return clientv3.OpPut(string(op.KeyBytes()), string(op.ValueBytes()), clientv3.WithLease(lease)), nil
}

// Put writes node's record attached to lease (0: none); a lease that has
// expired is an error wrapping rpctypes.ErrLeaseNotFound.
func (n *NodeStore) Put(ctx context.Context, node string, v *NodeRecord, lease clientv3.LeaseID) error {
	op, err := n.PutOp(node, v, lease)
	if err != nil {
		return err
	}
	if _, err := n.s.KV().Client().Do(ctx, op); err != nil {
		return fmt.Errorf("%s: %w", op.KeyBytes(), err)
	}
	return nil
}

// Delete removes node's record: kv.ErrNotFound when missing.
func (n *NodeStore) Delete(ctx context.Context, node string, opts ...kv.DeleteOption) error {
	return n.s.Delete(ctx, Nodes, node, opts...)
}

// List reads every node's record, keyed by node name; records that cannot
// be decoded are in Invalid of the listing.
func (n *NodeStore) List(ctx context.Context) (map[string]*kv.Object[NodeRecord], *kv.Listing[NodeRecord], error) {
	l, err := n.s.List(ctx, Nodes)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*kv.Object[NodeRecord], len(l.Items))
	for _, o := range l.Items {
		node, _, _ := strings.Cut(o.Name, "/")
		out[node] = o
	}
	return out, l, nil
}
