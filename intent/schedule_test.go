package intent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func setup(t *testing.T) (context.Context, *clientv3.Client, *intent.Store) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, cli, intent.NewStore(cli)
}

func TestScheduleChunked(t *testing.T) {
	ctx, _, s := setup(t)
	nodes := make([]string, 300)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node%03d", i)
	}
	m := storetest.Manifest("hello")
	n, err := s.Schedule(ctx, nil, nodes, m)
	require.NoError(t, err)
	require.Equal(t, 300, n)
	all, err := s.ListAll(ctx)
	require.NoError(t, err)
	require.Len(t, all.Items, 300)
	require.Equal(t, "node000/hello", all.Items[0].Name)

	n, err = s.Unschedule(ctx, nil, nodes[:200], "hello")
	require.NoError(t, err)
	require.Equal(t, 200, n)
	all, err = s.ListAll(ctx)
	require.NoError(t, err)
	require.Len(t, all.Items, 100)
}

func TestScheduleGuarded(t *testing.T) {
	ctx, cli, s := setup(t)
	lost := clientv3.Compare(clientv3.Value("/lock/rc-farm"), "=", "me")
	n, err := s.Schedule(ctx, []clientv3.Cmp{lost}, []string{"web1", "web2"}, storetest.Manifest("hello"))
	require.ErrorIs(t, err, kv.ErrConflict)
	require.Zero(t, n)
	resp, err := cli.Get(ctx, "/p2/intent/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, resp.Count)

	_, err = s.Schedule(ctx, nil, []string{"web1", "Web2"}, storetest.Manifest("hello"))
	require.ErrorContains(t, err, `"Web2"`, "a bad node fails the whole schedule before any write")
	_, err = s.Get(ctx, "web1", "hello")
	require.ErrorIs(t, err, kv.ErrNotFound)
}

func TestWatchNodeSeesOnlyItsNode(t *testing.T) {
	ctx, _, s := setup(t)
	_, err := s.Set(ctx, "web1", storetest.Manifest("a"))
	require.NoError(t, err)
	_, err = s.Set(ctx, "web10", storetest.Manifest("a"))
	require.NoError(t, err)
	w, err := s.WatchNode(ctx, "web1")
	require.NoError(t, err)
	b, err := w.Next(ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	require.Equal(t, "a", b.Events[0].Name)
	require.Equal(t, "/p2/intent/web1/a", b.Events[0].Key)

	_, err = s.Set(ctx, "web10", storetest.Manifest("b"))
	require.NoError(t, err)
	_, err = s.Set(ctx, "web1", storetest.Manifest("c"))
	require.NoError(t, err)
	b, err = w.Next(ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	require.Equal(t, "/p2/intent/web1/c", b.Events[0].Key)

	// An object from a node's watch updates with compare-and-swap.
	upd, err := s.Update(ctx, b.Events[0].New, storetest.MutateManifest(&b.Events[0].New.Value))
	require.NoError(t, err)
	require.Equal(t, "web1/c", upd.Name)
	_, err = s.Update(ctx, b.Events[0].New, storetest.Manifest("c"))
	require.ErrorIs(t, err, kv.ErrConflict)

	l, err := s.List(ctx, "web1")
	require.NoError(t, err)
	require.Len(t, l.Items, 2)
	require.Equal(t, "web1/a", l.Items[0].Name)

	_, err = s.WatchNode(ctx, "web1/")
	require.Error(t, err)
}

func TestManifestIDMustMatchKey(t *testing.T) {
	ctx, cli, s := setup(t)
	_, err := cli.Put(ctx, "/p2/intent/web1/b", storetest.ManifestJSON("a"))
	require.NoError(t, err)
	_, err = s.Get(ctx, "web1", "b")
	require.ErrorIs(t, err, kv.ErrDecode)
	require.ErrorContains(t, err, `manifest id "a" does not match the pod id "b"`)

	// Writes go through the same check.
	op, err := s.SetOp("web1", storetest.Manifest("Bad"))
	require.ErrorContains(t, err, `"Bad"`)
	require.Zero(t, op)
}
