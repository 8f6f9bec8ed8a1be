package status_test

import (
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// CanaryStatus is the record a user's own farm keeps per canary.
type CanaryStatus struct {
	Node string `json:"node"`
}

// A type no constant names (a user's own kind) holds records like a
// built-in one: set, get, list and watch, one id segment per record.
func TestCustomType(t *testing.T) {
	ctx, cli := setup(t)
	const canaries = status.Type("canaries")
	s, err := status.NewStore[CanaryStatus](cli, "canary-farm")
	require.NoError(t, err)

	w, err := s.Watch(ctx, canaries)
	require.NoError(t, err)
	defer w.Close()
	b, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Initial, b.Kind)

	obj, err := s.Put(ctx, canaries, "c1", &CanaryStatus{Node: "web1"})
	require.NoError(t, err)
	require.Equal(t, "/p2/status/canaries/c1/canary-farm", obj.Key)
	_, err = s.Put(ctx, status.Nodes, "c1", &CanaryStatus{Node: "elsewhere"})
	require.NoError(t, err)

	b, err = w.Next(ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, "c1/canary-farm", b.Events[0].Name)

	got, err := s.Get(ctx, canaries, "c1")
	require.NoError(t, err)
	require.Equal(t, "web1", got.Value.Node)
	_, err = s.Update(ctx, got, &CanaryStatus{Node: "web2"})
	require.NoError(t, err)
	l, err := s.List(ctx, canaries)
	require.NoError(t, err)
	require.Len(t, l.Items, 1, "the nodes record of the same id is not a canary's")
	require.Equal(t, "web2", l.Items[0].Value.Node)

	wid, err := s.WatchID(ctx, canaries, "c1")
	require.NoError(t, err)
	defer wid.Close()
	b, err = wid.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, b.After.Len())

	_, err = s.Put(ctx, canaries, "web1/c2", &CanaryStatus{})
	require.ErrorIs(t, err, kv.ErrInvalidName, "a custom type's id is one id")
	require.NoError(t, s.Delete(ctx, canaries, "c1"))
}

// A type name that is not a valid id is an error naming it from every
// call; nothing is written.
func TestInvalidTypeName(t *testing.T) {
	ctx, cli := setup(t)
	s, err := status.NewStore[CanaryStatus](cli, "canary-farm")
	require.NoError(t, err)
	for _, typ := range []status.Type{"Canaries", "", "can/aries", "-x", "a b"} {
		name := `"` + string(typ) + `"`
		_, err := s.Put(ctx, typ, "c1", &CanaryStatus{})
		require.ErrorIs(t, err, status.ErrInvalidType, "%s", name)
		require.ErrorContains(t, err, name)
		_, err = s.Get(ctx, typ, "c1")
		require.ErrorIs(t, err, status.ErrInvalidType)
		_, err = s.List(ctx, typ)
		require.ErrorIs(t, err, status.ErrInvalidType)
		_, err = s.Watch(ctx, typ)
		require.ErrorIs(t, err, status.ErrInvalidType)
		require.ErrorContains(t, err, name)
		_, err = s.Key(typ, "c1")
		require.ErrorIs(t, err, status.ErrInvalidType)
	}
	raw, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, raw.Count)
}
