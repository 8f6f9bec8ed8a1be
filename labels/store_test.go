package labels_test

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestStorePutGetListPerType(t *testing.T) {
	st, cli, ctx := setup(t)
	for _, typ := range labels.Types() {
		for _, base := range []string{"a1", "b2"} {
			_, err := st.Put(ctx, typ, idOf(typ, base), labels.Set{"type": string(typ), "name": base})
			require.NoError(t, err)
		}
	}
	for _, typ := range labels.Types() {
		id := idOf(typ, "a1")
		obj, err := st.Get(ctx, typ, id)
		require.NoError(t, err)
		require.Equal(t, id, obj.Name)
		require.Equal(t, "/p2/labels/"+string(typ)+"/"+id, obj.Key)
		require.Equal(t, labels.Set{"type": string(typ), "name": "a1"}, obj.Value)

		raw, err := cli.Get(ctx, obj.Key)
		require.NoError(t, err)
		require.Len(t, raw.Kvs, 1)
		require.JSONEq(t, fmt.Sprintf(`{"type":%q,"name":"a1"}`, typ), string(raw.Kvs[0].Value))

		// Each type's listing holds its own sets only: "pod" does not
		// include "pod_cluster".
		l, err := st.List(ctx, typ)
		require.NoError(t, err)
		require.Empty(t, l.Invalid)
		require.Len(t, l.Items, 2)
		require.Equal(t, []string{idOf(typ, "a1"), idOf(typ, "b2")}, []string{l.Items[0].Name, l.Items[1].Name})
		for _, o := range l.Items {
			require.Equal(t, string(typ), o.Value["type"])
		}
	}

	_, err := st.Get(ctx, labels.Node, "nope")
	require.ErrorIs(t, err, kv.ErrNotFound)

	require.NoError(t, st.Delete(ctx, labels.Node, "a1"))
	_, err = st.Get(ctx, labels.Node, "a1")
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.ErrorIs(t, st.Delete(ctx, labels.Node, "a1"), kv.ErrNotFound)

	_, err = st.Create(ctx, labels.Node, "b2", labels.Set{})
	require.ErrorIs(t, err, kv.ErrExists)
	obj, err := st.Create(ctx, labels.Node, "c3", nil)
	require.NoError(t, err)
	require.Equal(t, labels.Set{}, obj.Value)
	raw, err := cli.Get(ctx, "/p2/labels/node/c3")
	require.NoError(t, err)
	require.Equal(t, "{}", string(raw.Kvs[0].Value), "a nil set is stored as an empty object")
}

func TestStorePrefix(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := testContext(t)
	st := labels.New(cli, keyspace.WithPrefix("/other/"))
	require.Equal(t, "/other/labels/", st.Prefix())
	_, err := st.Put(ctx, labels.Node, "web1", labels.Set{"env": "prod"})
	require.NoError(t, err)
	key, err := st.Key(labels.Node, "web1")
	require.NoError(t, err)
	require.Equal(t, "/other/labels/node/web1", key)
	raw, err := cli.Get(ctx, key)
	require.NoError(t, err)
	require.Len(t, raw.Kvs, 1)
}

func TestStoreUpdateConflict(t *testing.T) {
	st, _, ctx := setup(t)
	_, err := st.Put(ctx, labels.Pod, "web1/hello", labels.Set{"v": "1"})
	require.NoError(t, err)
	stale, err := st.Get(ctx, labels.Pod, "web1/hello")
	require.NoError(t, err)

	fresh, err := st.Update(ctx, stale, labels.Set{"v": "2"})
	require.NoError(t, err)
	require.Greater(t, fresh.ModRevision, stale.ModRevision)
	require.Equal(t, "web1/hello", fresh.Name)

	_, err = st.Update(ctx, stale, labels.Set{"v": "3"})
	require.ErrorIs(t, err, kv.ErrConflict)

	got, err := st.Get(ctx, labels.Pod, "web1/hello")
	require.NoError(t, err)
	require.Equal(t, labels.Set{"v": "2"}, got.Value)

	// A conditional delete at the stale revision fails too.
	require.ErrorIs(t, st.Delete(ctx, labels.Pod, "web1/hello", kv.IfModRevision(stale.ModRevision)), kv.ErrConflict)
	require.NoError(t, st.Delete(ctx, labels.Pod, "web1/hello", kv.IfModRevision(got.ModRevision)))
}

func TestStoreModify(t *testing.T) {
	st, _, ctx := setup(t)
	_, err := st.Modify(ctx, labels.Node, "web1", func(labels.Set) error { return nil })
	require.ErrorIs(t, err, kv.ErrNotFound)

	before, err := st.Put(ctx, labels.Node, "web1", labels.Set{"env": "staging"})
	require.NoError(t, err)
	after, err := st.Modify(ctx, labels.Node, "web1", func(s labels.Set) error {
		s["env"] = "prod"
		s["tier"] = "web"
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, labels.Set{"env": "prod", "tier": "web"}, after.Value)
	require.Equal(t, labels.Set{"env": "staging"}, before.Value, "objects handed out are never changed in place")

	boom := errors.New("boom")
	_, err = st.Modify(ctx, labels.Node, "web1", func(s labels.Set) error { return boom })
	require.ErrorIs(t, err, boom)

	_, err = st.Modify(ctx, labels.Node, "web1", func(s labels.Set) error {
		s["bad key"] = "x"
		return nil
	})
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"bad key"`)
}

func TestStoreApply(t *testing.T) {
	st, _, ctx := setup(t)

	// Creates when missing.
	obj, err := st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "staging", "tier": "web"}, nil)
	require.NoError(t, err)
	require.Equal(t, labels.Set{"env": "staging", "tier": "web"}, obj.Value)
	require.Equal(t, int64(1), obj.Version)

	// Merges and removes.
	obj, err = st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "prod", "zone": "a"}, []string{"tier", "absent"})
	require.NoError(t, err)
	require.Equal(t, labels.Set{"env": "prod", "zone": "a"}, obj.Value)
	got, err := st.Get(ctx, labels.Node, "web1")
	require.NoError(t, err)
	require.Equal(t, obj.Value, got.Value)
	require.Equal(t, obj.ModRevision, got.ModRevision)

	// A change that changes nothing writes nothing.
	same, err := st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "prod"}, []string{"tier"})
	require.NoError(t, err)
	require.Equal(t, got.ModRevision, same.ModRevision)

	// Bad input is refused before anything is written, naming the key or id.
	_, err = st.Apply(ctx, labels.Node, "web1", labels.Set{"bad key": "x"}, nil)
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"bad key"`)
	_, err = st.Apply(ctx, labels.Node, "web1", nil, []string{"-x"})
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"-x"`)
	_, err = st.Apply(ctx, labels.Node, "Web2", labels.Set{"env": "prod"}, nil)
	require.ErrorIs(t, err, manifest.ErrInvalidID)
	require.Contains(t, err.Error(), `"Web2"`)

	// Concurrent Applys of different keys, some racing to create the set,
	// never lose each other's labels.
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for _, id := range []string{"web1", "web2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := st.Apply(ctx, labels.Node, id, labels.Set{fmt.Sprintf("k%d", i): "v"}, nil)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range []string{"web1", "web2"} {
		got, err := st.Get(ctx, labels.Node, id)
		require.NoError(t, err)
		for i := range n {
			require.Equal(t, "v", got.Value[fmt.Sprintf("k%d", i)], "%s lost k%d: %v", id, i, got.Value)
		}
	}
}

func TestStoreRefusesInvalidID(t *testing.T) {
	st, cli, ctx := setup(t)
	for _, tc := range []struct {
		typ      labels.Type
		id, name string
	}{
		{labels.Node, "Web1", `"Web1"`},
		{labels.Node, "web1/extra", `"web1/extra"`},
		{labels.DaemonSet, "ds_", `"ds_"`},
		{labels.Pod, "web1", `"web1"`},
		{labels.Pod, "web1/Hello", `"Hello"`},
		{labels.Pod, "web 1/hello", `"web 1/hello"`},
	} {
		_, err := st.Put(ctx, tc.typ, tc.id, labels.Set{"env": "prod"})
		require.Error(t, err, "%s %q", tc.typ, tc.id)
		require.ErrorIs(t, err, kv.ErrInvalidName)
		require.Contains(t, err.Error(), tc.name)
		_, err = st.Get(ctx, tc.typ, tc.id)
		require.ErrorIs(t, err, kv.ErrInvalidName)
	}
	_, err := st.Put(ctx, labels.Type("Nodes"), "web1", labels.Set{})
	require.ErrorIs(t, err, labels.ErrInvalidType)
	require.Contains(t, err.Error(), `"Nodes"`)

	raw, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, raw.Count, "nothing may be written for a refused id")
}

func TestStoreRefusesInvalidLabels(t *testing.T) {
	st, cli, ctx := setup(t)
	_, err := st.Put(ctx, labels.Node, "web1", labels.Set{"env": "prod", "bad key": "x"})
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"bad key"`)
	_, err = st.Put(ctx, labels.Node, "web1", labels.Set{"env": "prod!"})
	require.ErrorIs(t, err, labels.ErrInvalidLabel)
	require.Contains(t, err.Error(), `"env"`)

	raw, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, raw.Count)
}

func TestStoreBadStoredValue(t *testing.T) {
	st, cli, ctx := setup(t)
	_, err := st.Put(ctx, labels.Node, "good1", labels.Set{"env": "prod"})
	require.NoError(t, err)
	_, err = st.Put(ctx, labels.Node, "good2", labels.Set{"env": "staging"})
	require.NoError(t, err)
	bad := map[string]string{
		"/p2/labels/node/bad":      "garbage{",
		"/p2/labels/node/badnull":  "null",
		"/p2/labels/node/badnum":   `{"env":1}`,
		"/p2/labels/node/badlabel": `{"bad key":"x"}`,
		"/p2/labels/node/Bad-ID":   `{"env":"prod"}`,
	}
	for k, v := range bad {
		_, err := cli.Put(ctx, k, v)
		require.NoError(t, err)
	}

	l, err := st.List(ctx, labels.Node)
	require.NoError(t, err)
	var names []string
	for _, o := range l.Items {
		names = append(names, o.Name)
	}
	require.Equal(t, []string{"good1", "good2"}, names)
	var badKeys []string
	for _, d := range l.Invalid {
		require.ErrorIs(t, d, kv.ErrDecode)
		require.Contains(t, d.Error(), d.Key)
		badKeys = append(badKeys, d.Key)
	}
	require.ElementsMatch(t, []string{
		"/p2/labels/node/bad", "/p2/labels/node/badnull", "/p2/labels/node/badnum",
		"/p2/labels/node/badlabel", "/p2/labels/node/Bad-ID",
	}, badKeys)

	_, err = st.Get(ctx, labels.Node, "bad")
	var derr *kv.DecodeError
	require.ErrorAs(t, err, &derr)
	require.Equal(t, "/p2/labels/node/bad", derr.Key)

	// Matching skips the bad values and answers for the rest.
	ids, err := st.Matching(ctx, labels.Node, labels.Everything())
	require.NoError(t, err)
	require.Equal(t, []string{"good1", "good2"}, ids)

	// Apply will not merge into a value it cannot read; Put overwrites it.
	_, err = st.Apply(ctx, labels.Node, "bad", labels.Set{"env": "prod"}, nil)
	require.ErrorAs(t, err, &derr)
	_, err = st.Put(ctx, labels.Node, "bad", labels.Set{"env": "prod"})
	require.NoError(t, err)
	ids, err = st.Matching(ctx, labels.Node, labels.MustParse("env=prod"))
	require.NoError(t, err)
	require.Equal(t, []string{"bad", "good1"}, ids)
}

// A store made WithSharedValues reads equal label sets into one map (a
// fleet view holds one daemon set's pod labels for every node); a plain
// store gives every read its own map, which its caller may change.
func TestSharedValues(t *testing.T) {
	plain, cli, ctx := setup(t)
	for _, node := range []string{"n1", "n2"} {
		_, err := plain.Put(ctx, labels.Node, node, labels.Set{"pool": "web"})
		require.NoError(t, err)
	}
	pointers := func(s *labels.Store) (uintptr, uintptr) {
		a, err := s.Get(ctx, labels.Node, "n1")
		require.NoError(t, err)
		b, err := s.Get(ctx, labels.Node, "n2")
		require.NoError(t, err)
		require.Equal(t, a.Value, b.Value)
		return reflect.ValueOf(a.Value).Pointer(), reflect.ValueOf(b.Value).Pointer()
	}
	a, b := pointers(plain)
	require.NotEqual(t, a, b, "a plain store's reads share nothing")
	a, b = pointers(labels.New(cli, keyspace.WithSharedValues()))
	require.Equal(t, a, b, "equal sets share one map")
}
