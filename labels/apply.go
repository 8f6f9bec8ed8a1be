package labels

import (
	"context"
	"errors"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ApplyOption changes how Apply writes.
type ApplyOption func(*applyConfig)

// OpsFunc returns operations to write in the same transaction as a label
// set: prev is the set read before the change (nil when there was none),
// next the set written.
type OpsFunc func(prev *kv.Object[Set], next Set) ([]clientv3.Op, error)

// WithOps adds the operations fn returns to the transaction that writes the
// label set, so that a record of the change (an audit record) is written
// exactly when the change is. fn runs again on every retry.
func WithOps(fn OpsFunc) ApplyOption { return func(c *applyConfig) { c.ops = fn } }

type applyConfig struct{ ops OpsFunc }

// create writes a new set with the caller's operations.
func (c *applyConfig) create(ctx context.Context, st *kv.Store[Set], id string, next Set) (*kv.Object[Set], error) {
	if c.ops == nil {
		return st.Create(ctx, id, &next)
	}
	cmp, put, err := st.CreateOp(id, &next)
	if err != nil {
		return nil, err
	}
	return c.commit(ctx, st, cmp, put, nil, id, next)
}

// update writes next over cur with the caller's operations.
func (c *applyConfig) update(ctx context.Context, st *kv.Store[Set], cur *kv.Object[Set], next Set) (*kv.Object[Set], error) {
	if c.ops == nil {
		return st.Update(ctx, cur, &next)
	}
	cmp, put, err := st.UpdateOp(cur, &next)
	if err != nil {
		return nil, err
	}
	return c.commit(ctx, st, cmp, put, cur, cur.Name, next)
}

// commit writes put and the caller's operations if cmp holds; a failed
// compare is kv.ErrConflict.
func (c *applyConfig) commit(ctx context.Context, st *kv.Store[Set], cmp clientv3.Cmp, put clientv3.Op,
	prev *kv.Object[Set], id string, next Set) (*kv.Object[Set], error) {
	extra, err := c.ops(prev, next)
	if err != nil {
		return nil, err
	}
	resp, err := kv.Commit(ctx, st.Client(), []clientv3.Cmp{cmp}, append([]clientv3.Op{put}, extra...)...)
	if err != nil {
		return nil, err
	}
	key, err := st.Key(id)
	if err != nil {
		return nil, err
	}
	rev := resp.Header.Revision
	obj := &kv.Object[Set]{Name: id, Key: key, Value: next, CreateRevision: rev, ModRevision: rev, Version: 1}
	if prev != nil {
		obj.CreateRevision, obj.Version = prev.CreateRevision, prev.Version+1
	}
	return obj, nil
}

// Apply sets the labels of add and deletes the keys in remove on the label
// set of id, creating the set when it does not exist: what "label node web1
// env=prod" does. It reads, merges (Set.With) and writes with
// compare-and-swap, retrying when another writer got there first, so
// concurrent Applys of different keys never lose each other's labels.
//
// Labels and keys are validated before anything is read. When the merge
// changes nothing the current object is returned and nothing is written.
// A stored value that is not a valid label set is returned as its
// *kv.DecodeError: overwrite it with Put.
//
// WithOps adds operations of the caller's (an audit record) to the
// transaction that writes the set.
func (s *Store) Apply(ctx context.Context, typ Type, id string, add Set, remove []string, opts ...ApplyOption) (*kv.Object[Set], error) {
	var cfg applyConfig
	for _, o := range opts {
		o(&cfg)
	}
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	if err := add.Validate(); err != nil {
		return nil, err
	}
	for _, k := range remove {
		if err := ValidateKey(k); err != nil {
			return nil, err
		}
	}
	if _, err := st.Key(id); err != nil {
		return nil, err
	}
	for {
		cur, err := st.Get(ctx, id)
		var obj *kv.Object[Set]
		switch {
		case errors.Is(err, kv.ErrNotFound):
			next := Set(nil).With(add, remove)
			obj, err = cfg.create(ctx, st, id, next)
		case err != nil:
			return nil, err
		default:
			next := cur.Value.With(add, remove)
			if next.Equal(cur.Value) {
				return cur, nil
			}
			obj, err = cfg.update(ctx, st, cur, next)
		}
		if errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrConflict) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return obj, err
	}
}
