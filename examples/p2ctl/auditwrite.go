package main

import (
	"context"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// auditLog returns the audit trail under the app's prefix.
func (a *app) auditLog(cli *clientv3.Client) *audit.Log {
	return audit.NewLog(cli, keyspace.WithPrefix(a.prefix))
}

// commitAudited writes op (guarded by cmp) and the audit record rec in one
// transaction and returns the object written: name, v and, for an update,
// prev's creation. A failed compare is kv.ErrConflict and writes nothing.
func commitAudited[T any](ctx context.Context, st *kv.Store[T], cmp clientv3.Cmp, op, rec clientv3.Op,
	name string, v T, prev *kv.Object[T]) (*kv.Object[T], error) {
	resp, err := kv.Commit(ctx, st.Client(), []clientv3.Cmp{cmp}, op, rec)
	if err != nil {
		return nil, err
	}
	key, err := st.Key(name)
	if err != nil {
		return nil, err
	}
	rev := resp.Header.Revision
	obj := &kv.Object[T]{Name: name, Key: key, Value: v, CreateRevision: rev, ModRevision: rev, Version: 1}
	if prev != nil {
		obj.CreateRevision, obj.Version = prev.CreateRevision, prev.Version+1
	}
	return obj, nil
}

// deleteAudited deletes name if it is unchanged since cur was read, with
// the audit record and any other operations in ops, in one transaction.
func deleteAudited[T any](ctx context.Context, st *kv.Store[T], cur *kv.Object[T], ops ...clientv3.Op) error {
	del, err := st.DeleteOp(cur.Name)
	if err != nil {
		return err
	}
	_, err = kv.Commit(ctx, st.Client(), []clientv3.Cmp{st.Unchanged(cur)}, append([]clientv3.Op{del}, ops...)...)
	return err
}
