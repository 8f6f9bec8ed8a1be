package labels_test

import (
	"testing"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

func TestMatching(t *testing.T) {
	st, _, ctx := setup(t)
	nodes := map[string]labels.Set{
		"web1":  {"env": "prod", "tier": "web"},
		"web10": {"env": "prod", "tier": "web", "zone": "b"},
		"web2":  {"env": "prod", "tier": "api"},
		"db1":   {"env": "prod", "tier": "db"},
		"stg1":  {"env": "staging", "tier": "web"},
		"bare":  {},
	}
	for id, set := range nodes {
		_, err := st.Put(ctx, labels.Node, id, set)
		require.NoError(t, err)
	}
	// Pods with the same labels are another type and never match node queries.
	_, err := st.Put(ctx, labels.Pod, "web1/hello", labels.Set{"env": "prod", "tier": "web"})
	require.NoError(t, err)

	sel := labels.MustParse("env=prod,tier in (web,api)")
	ids, err := st.Matching(ctx, labels.Node, sel)
	require.NoError(t, err)
	require.Equal(t, []string{"web1", "web10", "web2"}, ids)

	ids, err = st.Matching(ctx, labels.Node, labels.MustParse("!tier"))
	require.NoError(t, err)
	require.Equal(t, []string{"bare"}, ids)

	ids, err = st.Matching(ctx, labels.Node, labels.Everything())
	require.NoError(t, err)
	require.Equal(t, []string{"bare", "db1", "stg1", "web1", "web10", "web2"}, ids)

	ids, err = st.Matching(ctx, labels.Pod, sel)
	require.NoError(t, err)
	require.Equal(t, []string{"web1/hello"}, ids)

	ids, err = st.Matching(ctx, labels.ReplicationController, sel)
	require.NoError(t, err)
	require.Empty(t, ids)

	// The same answer from a view, as a farm gets it from a watch.
	l, err := st.List(ctx, labels.Node)
	require.NoError(t, err)
	view := kv.MapView[labels.Set]{}
	for _, o := range l.Items {
		view[o.Name] = o
	}
	require.Equal(t, []string{"web1", "web10", "web2"}, labels.MatchingIn(view, sel))
	require.Empty(t, labels.MatchingIn(kv.MapView[labels.Set]{}, sel))
}
