package fleet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/labels"
	"github.com/stretchr/testify/require"
)

// TestMatchingNodesFollowsNodeLabels checks that the kept answers of
// MatchingNodes change as soon as the node labels do, and that
// NodesMatching hands out copies.
func TestMatchingNodesFollowsNodeLabels(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ls := labels.New(cli)
	for n, env := range map[string]string{"a": "prod", "a-b": "prod", "c": "dev"} {
		_, err := ls.Put(ctx, labels.Node, n, labels.Set{"env": env})
		require.NoError(t, err)
	}
	v := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "test"), nil)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(rctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	require.NoError(t, v.WaitSynced(ctx))

	prod, dev := labels.MustParse("env=prod"), labels.MustParse("env in (dev)")
	l := v.MatchingNodes(prod)
	require.Equal(t, []string{"a", "a-b"}, slices.Collect(l.All()))
	require.True(t, l.Has("a-b"))
	require.False(t, l.Has("c"))
	require.Equal(t, []string{"c"}, v.NodesMatching(dev))
	got := v.NodesMatching(prod)
	got[0] = "changed"
	require.Equal(t, []string{"a", "a-b"}, v.NodesMatching(prod), "NodesMatching returns a copy")

	_, err := ls.Put(ctx, labels.Node, "c", labels.Set{"env": "prod"})
	require.NoError(t, err)
	_, err = ls.Put(ctx, labels.Node, "d", labels.Set{"env": "dev"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return slices.Equal(v.NodesMatching(prod), []string{"a", "a-b", "c"}) &&
			slices.Equal(v.NodesMatching(dev), []string{"d"})
	}, 30*time.Second, 10*time.Millisecond, "prod %v, dev %v", v.NodesMatching(prod), v.NodesMatching(dev))
	require.Equal(t, []string{"a", "a-b"}, slices.Collect(l.All()), "an answer already given never changes")
	require.Equal(t, 3, fleet.NewNodeList("c", "a", "c", "b").Len())
}
