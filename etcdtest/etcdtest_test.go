package etcdtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestClusterSurvivesLeaderStop(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	require.Len(t, c.Endpoints(), 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "k", "v1")
	require.NoError(t, err)

	leader := c.Leader(t)
	leader.Stop(t)
	require.False(t, leader.Running())
	next := c.Leader(t)
	require.NotSame(t, leader, next, "another member takes over")
	_, err = cli.Put(ctx, "k", "v2")
	require.NoError(t, err)

	leader.Restart(t)
	// The restarted member catches up with what it missed.
	one := c.ClientFor(t, leader.Endpoint())
	require.Eventually(t, func() bool {
		resp, err := one.Get(ctx, "k")
		return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "v2"
	}, 20*time.Second, 20*time.Millisecond)
}

func TestCompact(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := t.Context()
	var first int64
	for i := range 5 {
		resp, err := cli.Put(ctx, "k", fmt.Sprint(i))
		require.NoError(t, err)
		if first == 0 {
			first = resp.Header.Revision
		}
	}
	rev := c.Compact(t, 0)
	require.Greater(t, rev, first)
	_, err := cli.Get(ctx, "k", clientv3.WithRev(first))
	require.ErrorIs(t, err, rpctypes.ErrCompacted)
}
