package labels_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

// next returns the watcher's next batch, failing the test at the deadline.
func next(ctx context.Context, t *testing.T, w *kv.Watcher[labels.Set]) *kv.Batch[labels.Set] {
	t.Helper()
	b, err := w.Next(ctx)
	require.NoError(t, err)
	return b
}

func TestWatchRelabel(t *testing.T) {
	st, cli, ctx := setup(t)
	_, err := st.Put(ctx, labels.Node, "web1", labels.Set{"env": "staging", "tier": "web"})
	require.NoError(t, err)
	_, err = st.Put(ctx, labels.Node, "web2", labels.Set{"env": "prod", "tier": "web"})
	require.NoError(t, err)

	w, err := st.Watch(ctx, labels.Node)
	require.NoError(t, err)
	defer w.Close()
	sel := labels.MustParse("env=prod,tier in (web,api)")

	b := next(ctx, t, w)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 2)
	require.Equal(t, []string{"web2"}, labels.MatchingIn(b.After, sel))

	_, err = st.Apply(ctx, labels.Node, "web1", labels.Set{"env": "prod"}, nil)
	require.NoError(t, err)
	b = next(ctx, t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Len(t, b.Events, 1)
	ev := b.Events[0]
	require.Equal(t, kv.Mutate, ev.Type)
	require.Equal(t, "web1", ev.Name)
	require.NoError(t, ev.Err)
	require.Equal(t, labels.Set{"env": "staging", "tier": "web"}, ev.Old.Value)
	require.Equal(t, labels.Set{"env": "prod", "tier": "web"}, ev.New.Value)
	require.Equal(t, []string{"web2"}, labels.MatchingIn(b.Before, sel))
	require.Equal(t, []string{"web1", "web2"}, labels.MatchingIn(b.After, sel))

	// A garbage value is an event with an error naming the key; the state
	// keeps the last good labels, so web1 still matches.
	_, err = cli.Put(ctx, "/p2/labels/node/web1", "garbage{")
	require.NoError(t, err)
	b = next(ctx, t, w)
	require.Len(t, b.Events, 1)
	ev = b.Events[0]
	require.ErrorIs(t, ev.Err, kv.ErrDecode)
	require.Contains(t, ev.Err.Error(), "/p2/labels/node/web1")
	require.Nil(t, ev.New)
	require.Equal(t, []string{"web1", "web2"}, labels.MatchingIn(b.After, sel))

	require.NoError(t, st.Delete(ctx, labels.Node, "web2"))
	b = next(ctx, t, w)
	require.Equal(t, kv.Delete, b.Events[0].Type)
	require.Equal(t, "web2", b.Events[0].Name)
	require.Equal(t, labels.Set{"env": "prod", "tier": "web"}, b.Events[0].Old.Value)
	require.Equal(t, []string{"web1"}, labels.MatchingIn(b.After, sel))
}

func TestWatchSeesOnlyItsType(t *testing.T) {
	st, cli, ctx := setup(t)
	w, err := st.Watch(ctx, labels.Node)
	require.NoError(t, err)
	defer w.Close()
	b := next(ctx, t, w)
	require.Equal(t, kv.Initial, b.Kind)
	require.Empty(t, b.Events)

	// Labels of every other type, including a pod on node "web1" and keys
	// that share the "node" prefix without its slash, come first...
	for _, typ := range labels.Types() {
		if typ == labels.Node {
			continue
		}
		_, err := st.Put(ctx, typ, idOf(typ, "web1"), labels.Set{"env": "prod"})
		require.NoError(t, err)
	}
	_, err = cli.Put(ctx, "/p2/labels/nodes/web1", `{"env":"prod"}`)
	require.NoError(t, err)
	// ...then one node label set: it is the watch's next batch.
	_, err = st.Put(ctx, labels.Node, "web2", labels.Set{"env": "prod"})
	require.NoError(t, err)

	b = next(ctx, t, w)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, "web2", b.Events[0].Name)
	require.Equal(t, "/p2/labels/node/web2", b.Events[0].Key)
	require.Equal(t, 1, b.After.Len())

	// A pod watch, in turn, sees the pod's id as <node>/<pod-id> and nothing
	// of pod_cluster.
	pw, err := st.Watch(ctx, labels.Pod)
	require.NoError(t, err)
	defer pw.Close()
	b = next(ctx, t, pw)
	require.Equal(t, kv.Initial, b.Kind)
	require.Equal(t, 1, b.After.Len())
	_, ok := b.After.Get("node1/web1")
	require.True(t, ok)
}
