package labels_test

import (
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// canary is a label type no built-in constant names: a user's own kind.
const canary = labels.Type("canary")

// A custom type works like a built-in one: set, get, list, apply, match and
// watch, under its own directory, never mixed with another type's sets.
func TestCustomType(t *testing.T) {
	st, cli, ctx := setup(t)
	_, err := st.Put(ctx, canary, "c1", labels.Set{"track": "canary", "app": "hello"})
	require.NoError(t, err)
	_, err = st.Put(ctx, labels.Node, "c1", labels.Set{"track": "stable"})
	require.NoError(t, err)

	raw, err := cli.Get(ctx, "/p2/labels/canary/c1")
	require.NoError(t, err)
	require.Len(t, raw.Kvs, 1)

	o, err := st.Get(ctx, canary, "c1")
	require.NoError(t, err)
	require.Equal(t, "c1", o.Name)
	require.Equal(t, "canary", o.Value["track"])

	w, err := st.Watch(ctx, canary)
	require.NoError(t, err)
	defer w.Close()
	b := next(ctx, t, w)
	require.Equal(t, kv.Initial, b.Kind)
	require.Equal(t, 1, b.After.Len(), "the node set of the same id is not the canary's")

	_, err = st.Apply(ctx, canary, "c2", labels.Set{"track": "canary"}, nil)
	require.NoError(t, err)
	b = next(ctx, t, w)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, "c2", b.Events[0].Name)

	_, err = st.Modify(ctx, canary, "c1", func(s labels.Set) error { s["track"] = "done"; return nil })
	require.NoError(t, err)
	b = next(ctx, t, w)
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	upd, err := st.Update(ctx, b.Events[0].New, labels.Set{"track": "canary"})
	require.NoError(t, err)
	require.Equal(t, "/p2/labels/canary/c1", upd.Key)
	b = next(ctx, t, w)
	require.Equal(t, kv.Mutate, b.Events[0].Type)

	got, err := st.Matching(ctx, canary, labels.MustParse("track=canary"))
	require.NoError(t, err)
	require.Equal(t, []string{"c1", "c2"}, got)
	l, err := st.List(ctx, canary)
	require.NoError(t, err)
	require.Len(t, l.Items, 2)

	require.NoError(t, st.Delete(ctx, canary, "c2"))
	b = next(ctx, t, w)
	require.Equal(t, kv.Delete, b.Events[0].Type)

	// A custom type's id is one id, like every type but Pod.
	_, err = st.Put(ctx, canary, "web1/c3", labels.Set{})
	require.ErrorIs(t, err, kv.ErrInvalidName)
	require.Contains(t, err.Error(), `"web1/c3"`)
}

// A type name that is not a valid id is an error naming it from every
// call, Watch included: never a panic, never a write.
func TestInvalidTypeName(t *testing.T) {
	st, cli, ctx := setup(t)
	for _, typ := range []labels.Type{"Canary", "", "can/ary", "-canary", "canary "} {
		name := `"` + string(typ) + `"`
		_, err := st.Put(ctx, typ, "c1", labels.Set{"a": "b"})
		require.ErrorIs(t, err, labels.ErrInvalidType, "%s", name)
		require.Contains(t, err.Error(), name)
		_, err = st.Get(ctx, typ, "c1")
		require.ErrorIs(t, err, labels.ErrInvalidType)
		_, err = st.List(ctx, typ)
		require.ErrorIs(t, err, labels.ErrInvalidType)
		_, err = st.Apply(ctx, typ, "c1", labels.Set{"a": "b"}, nil)
		require.ErrorIs(t, err, labels.ErrInvalidType)
		_, err = st.Matching(ctx, typ, labels.Everything())
		require.ErrorIs(t, err, labels.ErrInvalidType)
		require.NotPanics(t, func() {
			w, err := st.Watch(ctx, typ)
			require.Nil(t, w)
			require.ErrorIs(t, err, labels.ErrInvalidType)
			require.Contains(t, err.Error(), name)
		})
	}
	raw, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, raw.Count)
}
