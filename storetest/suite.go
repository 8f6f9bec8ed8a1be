package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// timeout bounds every case.
const timeout = 30 * time.Second

// Run runs the conformance suite against the store h describes, on one
// embedded etcd member, each case under its own root prefix.
func Run[T any](t *testing.T, h Harness[T]) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env[T])
	}{
		{"CreateGet", testCreateGet[T]},
		{"CreateExisting", testCreateExisting[T]},
		{"List", testList[T]},
		{"Update", testUpdate[T]},
		{"Conflict", testConflict[T]},
		{"NotFound", testNotFound[T]},
		{"Delete", testDelete[T]},
		{"Watch", testWatch[T]},
		{"Garbage", testGarbage[T]},
		{"GarbageWatch", testGarbageWatch[T]},
		{"GarbageDelete", testGarbageDelete[T]},
		{"InvalidIDs", testInvalidIDs[T]},
		{"MissingField", testMissingField[T]},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			t.Cleanup(cancel)
			root := fmt.Sprintf("/storetest%d", i)
			e := &env[T]{h: h, cli: cli, ctx: ctx, root: root, s: h.Open(t, cli, root)}
			tc.fn(t, e)
		})
	}
}

// env is what one case works with.
type env[T any] struct {
	h    Harness[T]
	cli  *clientv3.Client
	ctx  context.Context
	root string
	s    Store[T]
}

func (e *env[T]) key(id string) string { return e.h.Key(e.root, id) }

func (e *env[T]) create(t *testing.T, i int) *kv.Object[T] {
	t.Helper()
	id := e.h.ID(i)
	obj, err := e.s.Create(e.ctx, id, e.h.Valid(id))
	require.NoError(t, err, "create %s", id)
	return obj
}

// rawPut writes data at key with a plain client, as an operator's etcdctl
// would.
func (e *env[T]) rawPut(t *testing.T, key, data string) {
	t.Helper()
	_, err := e.cli.Put(e.ctx, key, data)
	require.NoError(t, err)
}

// count is how many keys live under the case's root, outside audit records.
func (e *env[T]) count(t *testing.T) int {
	t.Helper()
	resp, err := e.cli.Get(e.ctx, e.root+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	n := 0
	for _, item := range resp.Kvs {
		if !strings.HasPrefix(string(item.Key), e.root+"/audit/") {
			n++
		}
	}
	return n
}

// requireSame compares values by their JSON, the form they are stored in.
func requireSame[T any](t *testing.T, want, got *T, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g), msgAndArgs...)
}

// events reads batches from src until n events arrived.
func events[T any](t *testing.T, ctx context.Context, src kv.Source[T], n int) []kv.Event[T] {
	t.Helper()
	var out []kv.Event[T]
	for len(out) < n {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := src.Next(nctx)
		cancel()
		require.NoError(t, err, "waiting for event %d of %d", len(out)+1, n)
		out = append(out, b.Events...)
	}
	require.Len(t, out, n)
	return out
}

func testCreateGet[T any](t *testing.T, e *env[T]) {
	id := e.h.ID(0)
	v := e.h.Valid(id)
	obj, err := e.s.Create(e.ctx, id, v)
	require.NoError(t, err)
	require.Equal(t, e.key(id), obj.Key)
	require.Positive(t, obj.ModRevision)
	require.Equal(t, obj.ModRevision, obj.CreateRevision)
	requireSame(t, v, &obj.Value)

	got, err := e.s.Get(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, obj.Key, got.Key)
	require.Equal(t, obj.ModRevision, got.ModRevision)
	require.Equal(t, int64(1), got.Version)
	requireSame(t, v, &got.Value)
}

func testCreateExisting[T any](t *testing.T, e *env[T]) {
	first := e.create(t, 0)
	id := e.h.ID(0)
	_, err := e.s.Create(e.ctx, id, e.h.Mutate(e.h.Valid(id)))
	require.ErrorIs(t, err, kv.ErrExists)
	require.Contains(t, err.Error(), e.key(id))
	got, err := e.s.Get(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, first.ModRevision, got.ModRevision, "a refused create changed the value")
}

func testList[T any](t *testing.T, e *env[T]) {
	l, err := e.s.List(e.ctx)
	require.NoError(t, err)
	require.Empty(t, l.Items)
	want := map[string]*kv.Object[T]{}
	for i := range 3 {
		o := e.create(t, i)
		want[o.Key] = o
	}
	l, err = e.s.List(e.ctx)
	require.NoError(t, err)
	require.Empty(t, l.Invalid)
	require.Len(t, l.Items, 3)
	require.GreaterOrEqual(t, l.Revision, l.Items[len(l.Items)-1].ModRevision)
	for i, o := range l.Items {
		if i > 0 {
			require.Less(t, l.Items[i-1].Key, o.Key, "listing not in key order")
		}
		w, ok := want[o.Key]
		require.True(t, ok, "unexpected key %s", o.Key)
		require.Equal(t, w.ModRevision, o.ModRevision)
		requireSame(t, &w.Value, &o.Value)
	}
}

func testUpdate[T any](t *testing.T, e *env[T]) {
	obj := e.create(t, 0)
	next := e.h.Mutate(&obj.Value)
	upd, err := e.s.Update(e.ctx, obj, next)
	require.NoError(t, err)
	require.Greater(t, upd.ModRevision, obj.ModRevision)
	require.Equal(t, obj.CreateRevision, upd.CreateRevision)
	got, err := e.s.Get(e.ctx, e.h.ID(0))
	require.NoError(t, err)
	require.Equal(t, upd.ModRevision, got.ModRevision)
	require.Equal(t, int64(2), got.Version)
	requireSame(t, next, &got.Value)
}

func testConflict[T any](t *testing.T, e *env[T]) {
	stale := e.create(t, 0)
	first := e.h.Mutate(&stale.Value)
	upd, err := e.s.Update(e.ctx, stale, first)
	require.NoError(t, err)
	_, err = e.s.Update(e.ctx, stale, e.h.Mutate(first))
	require.ErrorIs(t, err, kv.ErrConflict)
	require.Contains(t, err.Error(), e.key(e.h.ID(0)))
	got, err := e.s.Get(e.ctx, e.h.ID(0))
	require.NoError(t, err)
	require.Equal(t, upd.ModRevision, got.ModRevision)
	requireSame(t, first, &got.Value)
}

func testNotFound[T any](t *testing.T, e *env[T]) {
	id := e.h.ID(0)
	obj, err := e.s.Get(e.ctx, id)
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.Nil(t, obj)
	require.Contains(t, err.Error(), e.key(id))
	err = e.s.Delete(e.ctx, id)
	require.ErrorIs(t, err, kv.ErrNotFound)
}

func testDelete[T any](t *testing.T, e *env[T]) {
	e.create(t, 0)
	keep := e.create(t, 1)
	require.NoError(t, e.s.Delete(e.ctx, e.h.ID(0)))
	_, err := e.s.Get(e.ctx, e.h.ID(0))
	require.ErrorIs(t, err, kv.ErrNotFound)
	l, err := e.s.List(e.ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, keep.Key, l.Items[0].Key)
	require.ErrorIs(t, e.s.Delete(e.ctx, e.h.ID(0)), kv.ErrNotFound)
}

func testWatch[T any](t *testing.T, e *env[T]) {
	a := e.create(t, 0)
	w, err := e.s.Watch(e.ctx)
	require.NoError(t, err)

	b, err := w.Next(e.ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, a.Key, b.Events[0].Key)
	requireSame(t, &a.Value, &b.Events[0].New.Value)

	created := e.create(t, 1)
	ev := events(t, e.ctx, w, 1)[0]
	require.Equal(t, kv.Create, ev.Type)
	require.Equal(t, created.Key, ev.Key)
	require.Nil(t, ev.Old)
	require.NoError(t, ev.Err)
	requireSame(t, &created.Value, &ev.New.Value)

	next := e.h.Mutate(&a.Value)
	upd, err := e.s.Update(e.ctx, a, next)
	require.NoError(t, err)
	ev = events(t, e.ctx, w, 1)[0]
	require.Equal(t, kv.Mutate, ev.Type)
	require.Equal(t, a.Key, ev.Key)
	require.Equal(t, upd.ModRevision, ev.Revision)
	requireSame(t, &a.Value, &ev.Old.Value)
	requireSame(t, next, &ev.New.Value)

	require.NoError(t, e.s.Delete(e.ctx, e.h.ID(0)))
	ev = events(t, e.ctx, w, 1)[0]
	require.Equal(t, kv.Delete, ev.Type)
	require.Equal(t, a.Key, ev.Key)
	require.Nil(t, ev.New)
	requireSame(t, next, &ev.Old.Value)
}

// garbage is a stored value no entity decodes.
const garbage = `{"this is": not json`

func testGarbage[T any](t *testing.T, e *env[T]) {
	e.create(t, 0)
	e.create(t, 2)
	bad := e.key(e.h.ID(1))
	e.rawPut(t, bad, garbage)

	_, err := e.s.Get(e.ctx, e.h.ID(1))
	require.ErrorIs(t, err, kv.ErrDecode)
	require.Contains(t, err.Error(), bad)
	var derr *kv.DecodeError
	require.True(t, errors.As(err, &derr))
	require.Equal(t, bad, derr.Key)

	l, err := e.s.List(e.ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 2, "the good values are still listed")
	require.Len(t, l.Invalid, 1)
	require.Equal(t, bad, l.Invalid[0].Key)
	require.Contains(t, l.Invalid[0].Error(), bad)

	// A watch started now reports the bad key in its first batch and
	// still holds the others.
	w, err := e.s.Watch(e.ctx)
	require.NoError(t, err)
	b, err := w.Next(e.ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 3)
	require.Equal(t, 2, b.After.Len())
	var errs int
	for _, ev := range b.Events {
		if ev.Err != nil {
			errs++
			require.Equal(t, bad, ev.Key)
			require.ErrorIs(t, ev.Err, kv.ErrDecode)
			require.Contains(t, ev.Err.Error(), bad)
		}
	}
	require.Equal(t, 1, errs)
}

func testGarbageWatch[T any](t *testing.T, e *env[T]) {
	a := e.create(t, 0)
	w, err := e.s.Watch(e.ctx)
	require.NoError(t, err)
	b, err := w.Next(e.ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)

	// Garbage over a good value: an event with the error, never a delete.
	e.rawPut(t, a.Key, garbage)
	ev := events(t, e.ctx, w, 1)[0]
	require.Equal(t, a.Key, ev.Key)
	require.NotEqual(t, kv.Delete, ev.Type)
	require.ErrorIs(t, ev.Err, kv.ErrDecode)
	require.Contains(t, ev.Err.Error(), a.Key)
	require.Nil(t, ev.New)

	// The watch goes on for the others.
	c := e.create(t, 2)
	ev = events(t, e.ctx, w, 1)[0]
	require.Equal(t, kv.Create, ev.Type)
	require.Equal(t, c.Key, ev.Key)
	require.NoError(t, ev.Err)
	requireSame(t, &c.Value, &ev.New.Value)
}

func testGarbageDelete[T any](t *testing.T, e *env[T]) {
	keep := e.create(t, 0)
	bad := e.key(e.h.ID(1))
	e.rawPut(t, bad, garbage)
	require.NoError(t, e.s.Delete(e.ctx, e.h.ID(1)), "a bad stored value can be deleted")
	_, err := e.s.Get(e.ctx, e.h.ID(1))
	require.ErrorIs(t, err, kv.ErrNotFound)
	l, err := e.s.List(e.ctx)
	require.NoError(t, err)
	require.Empty(t, l.Invalid)
	require.Len(t, l.Items, 1)
	require.Equal(t, keep.Key, l.Items[0].Key)
}

func testInvalidIDs[T any](t *testing.T, e *env[T]) {
	require.NotEmpty(t, e.h.InvalidIDs)
	for _, id := range e.h.InvalidIDs {
		_, err := e.s.Create(e.ctx, id, e.h.Valid(id))
		require.Error(t, err, "create %q", id)
		requireNames(t, err, id)
		_, err = e.s.Get(e.ctx, id)
		require.Error(t, err, "get %q", id)
		require.NotErrorIs(t, err, kv.ErrNotFound, "get %q", id)
		requireNames(t, err, id)
		require.Error(t, e.s.Delete(e.ctx, id), "delete %q", id)
	}
	require.Zero(t, e.count(t), "nothing was written")
}

func testMissingField[T any](t *testing.T, e *env[T]) {
	id := e.h.ID(0)
	key := e.key(id)
	e.rawPut(t, key, e.h.MissingJSON(id))
	_, err := e.s.Get(e.ctx, id)
	require.ErrorIs(t, err, kv.ErrDecode)
	require.Contains(t, err.Error(), key)
	require.Contains(t, err.Error(), e.h.MissingField)

	if e.h.Incomplete == nil {
		return
	}
	other := e.h.ID(1)
	_, err = e.s.Create(e.ctx, other, e.h.Incomplete(other))
	require.Error(t, err)
	require.Contains(t, err.Error(), e.h.IncompleteField)
	_, err = e.s.Get(e.ctx, other)
	require.ErrorIs(t, err, kv.ErrNotFound, "a refused write stored nothing")
}

// requireNames checks that err names id, plainly or quoted.
func requireNames(t *testing.T, err error, id string) {
	t.Helper()
	msg := err.Error()
	q := strconv.Quote(id)
	if !strings.Contains(msg, id) && !strings.Contains(msg, q[1:len(q)-1]) {
		t.Fatalf("error %q does not name the bad id %s", msg, q)
	}
}
