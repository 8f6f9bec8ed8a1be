package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRollHistoryCheck flags a pod scheduled twice in place, more than
// desired plus a step at once, and an end other than desired nodes at the
// new version; a clean history passes.
func TestRollHistoryCheck(t *testing.T) {
	clean := func() *podHistory {
		return &podHistory{pod: "app", most: 11, least: 9, final: map[string]string{"a": "new", "b": "new"}}
	}
	require.NoError(t, clean().check(2, 9, "new"))

	h := clean()
	h.inPlace = []string{"a@7"}
	require.ErrorContains(t, h.check(2, 9, "new"), "overwritten in place with another version (scheduled twice) at a@7")

	require.ErrorContains(t, clean().check(2, 8, "new"), "scheduled on 11 nodes at once, more than 2 desired and a step of 8")

	h = clean()
	h.final["b"] = "old"
	require.ErrorContains(t, h.check(2, 9, "new"), "scheduled on 2 nodes, 1 of them at the new version, want 2")
	h = clean()
	h.final["c"] = "new"
	require.ErrorContains(t, h.check(2, 9, "new"), "scheduled on 3 nodes, 3 of them at the new version, want 2")
}

// TestHistoryIsWhole: the history of a prefix from an old revision holds
// every event up to the revision asked, on every etcd server; etcd 3.4.23
// answers progress requests before the events of a watch replaying
// history (etcd-io/etcd#15220), which read a roll as 0 changes.
func TestHistoryIsWhole(t *testing.T) {
	embedded := func(t *testing.T) *clientv3.Client { return etcdtest.New(t).Client(t) }
	etcdexec.EachVersion(t, embedded, func(t *testing.T, cli *clientv3.Client) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		first, err := cli.Put(ctx, "/h/intent/n0/app", "x")
		require.NoError(t, err)
		for i := range 20 {
			var ops []clientv3.Op
			for n := range 50 {
				ops = append(ops, clientv3.OpPut(fmt.Sprintf("/h/intent/n%d/app", n), fmt.Sprint(i)))
			}
			_, err := cli.Txn(ctx).Then(ops...).Commit()
			require.NoError(t, err)
		}
		_, err = cli.Delete(ctx, "/h/intent/n1/app")
		require.NoError(t, err)
		last, err := cli.Put(ctx, "/h/other", "x")
		require.NoError(t, err)
		events, err := history(ctx, cli, "/h/intent/", first.Header.Revision, last.Header.Revision)
		require.NoError(t, err)
		require.Len(t, events, 1+20*50+1)
	})
}

// TestEtcdBehind: the driver sends again what etcd timed out or refused
// while behind or between leaders, wrapped or not, and nothing else.
func TestEtcdBehind(t *testing.T) {
	ctx := t.Context()
	for _, err := range []error{rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTooManyRequests, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader,
		fmt.Errorf("commit 128 ops: %w", rpctypes.ErrTimeoutDueToConnectionLost)} {
		require.True(t, etcdBehind(ctx, err), "%v", err)
	}
	for _, err := range []error{nil, rpctypes.ErrCompacted, rpctypes.ErrPermissionDenied, context.Canceled} {
		require.False(t, etcdBehind(ctx, err), "%v", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	require.False(t, etcdBehind(done, rpctypes.ErrTimeout), "not once the run's context is done")
}
