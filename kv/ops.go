package kv

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxTxnOps is the most operations CommitChunked puts in one transaction:
// etcd's default --max-txn-ops.
const MaxTxnOps = 128

// The methods below are building blocks: each returns the compare or the
// operation a Store method would use, so that callers can write several keys
// (an entity and its audit record, one manifest onto many nodes) in one
// transaction, guarded by their own compares (an ownership lock).

// PutOp returns the operation that writes v at name, after validation.
func (s *Store[T]) PutOp(name string, v *T) (clientv3.Op, error) {
	key, data, err := s.encode(name, v)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(key, data), nil
}

// CreateOp returns the compare that name does not exist and the put.
func (s *Store[T]) CreateOp(name string, v *T) (clientv3.Cmp, clientv3.Op, error) {
	key, data, err := s.encode(name, v)
	if err != nil {
		return clientv3.Cmp{}, clientv3.Op{}, err
	}
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0), clientv3.OpPut(key, data), nil
}

// UpdateOp returns the compare that prev is unchanged and the put of v.
func (s *Store[T]) UpdateOp(prev *Object[T], v *T) (clientv3.Cmp, clientv3.Op, error) {
	if prev == nil {
		return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("update under %s: nil previous object", s.prefix)
	}
	key, data, err := s.encode(prev.Name, v)
	if err != nil {
		return clientv3.Cmp{}, clientv3.Op{}, err
	}
	return clientv3.Compare(clientv3.ModRevision(key), "=", prev.ModRevision), clientv3.OpPut(key, data), nil
}

// DeleteOp returns the operation that deletes name.
func (s *Store[T]) DeleteOp(name string) (clientv3.Op, error) {
	key, err := s.Key(name)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpDelete(key), nil
}

// Missing is the compare that name does not exist.
func (s *Store[T]) Missing(name string) (clientv3.Cmp, error) {
	key, err := s.Key(name)
	if err != nil {
		return clientv3.Cmp{}, err
	}
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0), nil
}

// Exists is the compare that name exists.
func (s *Store[T]) Exists(name string) (clientv3.Cmp, error) {
	key, err := s.Key(name)
	if err != nil {
		return clientv3.Cmp{}, err
	}
	return clientv3.Compare(clientv3.CreateRevision(key), ">", 0), nil
}

// Unchanged is the compare that obj has not been written since it was read.
func (s *Store[T]) Unchanged(obj *Object[T]) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(obj.Key), "=", obj.ModRevision)
}

// Commit runs one transaction: if every compare holds, the operations are
// applied; otherwise nothing is and the error is ErrConflict.
func Commit(ctx context.Context, kv clientv3.KV, cmps []clientv3.Cmp, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	resp, err := kv.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("commit %d ops: %w", len(ops), EtcdError(err))
	}
	if !resp.Succeeded {
		return resp, fmt.Errorf("commit %d ops: %w", len(ops), ErrConflict)
	}
	return resp, nil
}

// CommitChunked applies ops in transactions of at most MaxTxnOps operations,
// each guarded by the same compares (a fence such as an ownership lock).
// The chunks are not atomic with each other: it returns how many operations
// were committed before the first failure, so a caller can resume. A failed
// guard is ErrConflict.
func CommitChunked(ctx context.Context, kv clientv3.KV, guard []clientv3.Cmp, ops []clientv3.Op) (int, error) {
	done := 0
	for done < len(ops) {
		end := min(done+MaxTxnOps, len(ops))
		if _, err := Commit(ctx, kv, guard, ops[done:end]...); err != nil {
			return done, fmt.Errorf("after %d of %d ops: %w", done, len(ops), err)
		}
		done = end
	}
	return done, nil
}
