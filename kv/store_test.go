package kv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestStoreCRUD(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/items")
	require.Equal(t, "/t/items/", s.Prefix())

	_, err := s.Get(ctx, "a")
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.ErrorContains(t, err, "/t/items/a")

	a, err := s.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	require.Equal(t, "/t/items/a", a.Key)
	require.Equal(t, int64(1), a.Version)
	_, err = s.Create(ctx, "a", &item{N: 2})
	require.ErrorIs(t, err, kv.ErrExists)

	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 1, got.Value.N)
	require.Equal(t, a.ModRevision, got.ModRevision)
	require.Equal(t, a.CreateRevision, got.CreateRevision)

	a2, err := s.Update(ctx, got, &item{N: 2})
	require.NoError(t, err)
	require.Equal(t, int64(2), a2.Version)
	_, err = s.Update(ctx, got, &item{N: 3})
	require.ErrorIs(t, err, kv.ErrConflict, "update on a stale revision must fail")
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 2, got.Value.N)
	require.Equal(t, a2.ModRevision, got.ModRevision)

	p, err := s.Put(ctx, "a", &item{N: 7})
	require.NoError(t, err)
	require.Equal(t, a.CreateRevision, p.CreateRevision)
	require.Equal(t, int64(3), p.Version)

	m, err := s.Modify(ctx, "a", func(v *item) error { v.N++; return nil })
	require.NoError(t, err)
	require.Equal(t, 8, m.Value.N)
	stop := errors.New("stop")
	_, err = s.Modify(ctx, "a", func(v *item) error { return stop })
	require.ErrorIs(t, err, stop)

	require.ErrorIs(t, s.Delete(ctx, "a", kv.IfModRevision(a.ModRevision)), kv.ErrConflict)
	require.NoError(t, s.Delete(ctx, "a", kv.IfModRevision(m.ModRevision)))
	require.ErrorIs(t, s.Delete(ctx, "a"), kv.ErrNotFound)
	// Gone already: not found at any revision, not a conflict (a delete
	// applied whose answer was lost is sent again this way).
	require.ErrorIs(t, s.Delete(ctx, "a", kv.IfModRevision(m.ModRevision)), kv.ErrNotFound)

	for _, bad := range []string{"", "/a", "a//b", "a/../b", ".", "a b", "a\nb"} {
		_, err := s.Create(ctx, bad, &item{})
		require.ErrorIs(t, err, kv.ErrInvalidName, "name %q", bad)
	}
}

func TestStoreValidation(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	errNeg := errors.New("n must not be negative")
	s := kv.New(cli, "/t/v/", kv.WithValidate(func(name string, v *item) error {
		if v.N < 0 {
			return errNeg
		}
		return nil
	}))
	_, err := s.Create(ctx, "x", &item{N: -1})
	require.ErrorIs(t, err, errNeg)
	require.ErrorContains(t, err, "/t/v/x")

	// A bad value written behind the store's back is a decode error naming
	// the key, on Get and in List, and the other keys are still listed.
	_, err = cli.Put(ctx, "/t/v/bad", `{"n":-5}`)
	require.NoError(t, err)
	_, err = cli.Put(ctx, "/t/v/garbage", `{not json`)
	require.NoError(t, err)
	_, err = s.Create(ctx, "good", &item{N: 5})
	require.NoError(t, err)

	_, err = s.Get(ctx, "garbage")
	require.ErrorIs(t, err, kv.ErrDecode)
	var de *kv.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "/t/v/garbage", de.Key)

	l, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, "good", l.Items[0].Name)
	require.Len(t, l.Invalid, 2)
	require.Equal(t, "/t/v/bad", l.Invalid[0].Key)
	require.ErrorIs(t, l.Invalid[0], errNeg)
	require.Equal(t, "/t/v/garbage", l.Invalid[1].Key)
}

func TestSubStore(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	var seen []string
	root := kv.New(cli, "/t/nodes", kv.WithValidate(func(name string, v *item) error {
		seen = append(seen, name)
		return nil
	}))
	web1, err := root.Sub("web1")
	require.NoError(t, err)
	web10, err := root.Sub("web10")
	require.NoError(t, err)
	_, err = web1.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	_, err = web10.Create(ctx, "a", &item{N: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"web1/a", "web10/a"}, seen, "the validator sees names relative to the parent")

	l, err := web1.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, 1, l.Items[0].Value.N)
	all, err := root.List(ctx)
	require.NoError(t, err)
	require.Len(t, all.Items, 2)

	_, err = root.Sub("a/../b")
	require.ErrorIs(t, err, kv.ErrInvalidName)
}

// countingKV counts Range requests on their way to etcd.
type countingKV struct {
	clientv3.KV
	gets atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	c.gets.Add(1)
	return c.KV.Get(ctx, key, opts...)
}

func TestListIsPaged(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/many")
	const n = 10_000
	ops := make([]clientv3.Op, 0, n)
	for i := range n {
		op, err := s.PutOp(fmt.Sprintf("k%05d", i), &item{N: i})
		require.NoError(t, err)
		ops = append(ops, op)
	}
	done, err := kv.CommitChunked(ctx, cli, nil, ops)
	require.NoError(t, err)
	require.Equal(t, n, done)

	counter := &countingKV{KV: cli.KV}
	cli.KV = counter
	l, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, n)
	for i, o := range l.Items {
		require.Equal(t, i, o.Value.N)
	}
	require.Equal(t, int64(n/kv.DefaultPageSize), counter.gets.Load(), "one request per page of %d", kv.DefaultPageSize)

	counter.gets.Store(0)
	small := kv.New(cli, "/t/many", kv.WithPageSize[item](3000))
	l, err = small.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, n)
	require.Equal(t, int64(4), counter.gets.Load())
}

func TestCommitChunked(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/chunk")
	lock := "/t/lock"
	_, err := cli.Put(ctx, lock, "owner-1")
	require.NoError(t, err)
	fence := []clientv3.Cmp{clientv3.Compare(clientv3.Value(lock), "=", "owner-1")}

	var ops []clientv3.Op
	for i := range 300 {
		op, err := s.PutOp(fmt.Sprintf("k%03d", i), &item{N: i})
		require.NoError(t, err)
		ops = append(ops, op)
	}
	before, err := cli.Get(ctx, "/")
	require.NoError(t, err)
	done, err := kv.CommitChunked(ctx, cli, fence, ops)
	require.NoError(t, err)
	require.Equal(t, 300, done)
	after, err := cli.Get(ctx, "/")
	require.NoError(t, err)
	require.Equal(t, int64(3), after.Header.Revision-before.Header.Revision, "300 ops in 3 transactions")

	// A lost fence stops the writes: nothing is applied.
	_, err = cli.Put(ctx, lock, "owner-2")
	require.NoError(t, err)
	del, err := s.DeleteOp("k000")
	require.NoError(t, err)
	done, err = kv.CommitChunked(ctx, cli, fence, []clientv3.Op{del})
	require.ErrorIs(t, err, kv.ErrConflict)
	require.Equal(t, 0, done)
	_, err = s.Get(ctx, "k000")
	require.NoError(t, err)

	// Building blocks compose into one transaction.
	cmp, put, err := s.CreateOp("new", &item{N: 1})
	require.NoError(t, err)
	missing, err := s.Missing("other")
	require.NoError(t, err)
	_, err = kv.Commit(ctx, cli, []clientv3.Cmp{cmp, missing}, put)
	require.NoError(t, err)
	_, err = kv.Commit(ctx, cli, []clientv3.Cmp{cmp}, put)
	require.ErrorIs(t, err, kv.ErrConflict)
}

func TestKeyFilter(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	mine := func(name string) bool { return strings.HasSuffix(name, "/mine") }
	s := kv.New(cli, "/t/f", kv.WithKeyFilter[item](mine))
	_, err := cli.Put(ctx, "/t/f/a/theirs", "not json at all")
	require.NoError(t, err)
	_, err = s.Put(ctx, "a/mine", &item{N: 1})
	require.NoError(t, err)

	l, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Empty(t, l.Invalid, "filtered keys are not reported as undecodable")
	_, err = s.Get(ctx, "a/theirs")
	require.ErrorIs(t, err, kv.ErrNotFound)

	sub, err := s.Sub("a")
	require.NoError(t, err)
	w := sub.Watch(ctx)
	b := next[item](t, w)
	require.Len(t, b.Events, 1)
	_, err = cli.Put(ctx, "/t/f/a/theirs", "still not json")
	require.NoError(t, err)
	o, err := s.Put(ctx, "a/mine", &item{N: 2})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, o.ModRevision, b.Revision, "the filtered write is never delivered")
	require.Len(t, b.Events, 1)
	require.NoError(t, b.Events[0].Err)
}
