package farm

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/kv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fence proves ownership of one entity inside a transaction.
type Fence struct {
	// cmp is taken when the reconcile starts: the lock may be released
	// (Forget) while the reconcile still runs, and then the compare fails
	// as it should.
	cmp clientv3.Cmp
	key string // the lock's key
	rev int64  // its create revision while the farm owns it
}

func newFence(key string, rev int64) Fence {
	return Fence{cmp: clientv3.Compare(clientv3.CreateRevision(key), "=", rev), key: key, rev: rev}
}

// Commit applies ops in one transaction if the fence and cmps hold. When
// the fence fails, the error is ErrNotOwner (and kv.ErrConflict); when
// only another compare fails, kv.ErrConflict.
func (f Fence) Commit(ctx context.Context, c clientv3.KV, cmps []clientv3.Cmp, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	all := append([]clientv3.Cmp{f.cmp}, cmps...)
	resp, err := c.Txn(ctx).If(all...).Then(ops...).Else(clientv3.OpGet(f.key)).Commit()
	if err != nil {
		return nil, fmt.Errorf("commit %d ops: %w", len(ops), err)
	}
	if resp.Succeeded {
		return resp, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) != 1 || kvs[0].CreateRevision != f.rev {
		return resp, fmt.Errorf("commit %d ops: %w: %w", len(ops), ErrNotOwner, kv.ErrConflict)
	}
	return resp, fmt.Errorf("commit %d ops: %w", len(ops), kv.ErrConflict)
}

// Cmp is the compare that holds only while this farm owns the entity. Put
// it in every transaction that acts for the entity.
func (f Fence) Cmp() clientv3.Cmp { return f.cmp }

// Key is the etcd key of the lock the fence stands for.
func (f Fence) Key() string { return f.key }

// Cmps is Cmp as a slice, to which a transaction appends its own compares.
func (f Fence) Cmps() []clientv3.Cmp { return []clientv3.Cmp{f.cmp} }

type fenceKey struct{}

func withFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence of the entity being reconciled: the farm
// puts it in the context it gives the reconciler. ok is false outside a
// reconcile.
func FenceFrom(ctx context.Context) (f Fence, ok bool) {
	f, ok = ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
