package retention_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/retention"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func keysUnder(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) map[string]bool {
	t.Helper()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	out := map[string]bool{}
	for _, item := range resp.Kvs {
		out[string(item.Key)] = true
	}
	return out
}

// Status records and labels whose resource is gone are deleted once they have been orphans
// for the grace period; records of live resources, of a pod still in
// reality, of pod clusters and nodes stay; an orphan written again or
// whose resource comes back is kept.
func TestOrphansDeletedAfterGrace(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(key string) {
		t.Helper()
		_, err := cli.Put(ctx, key, `{"updated_at":"2026-01-01T00:00:00Z"}`)
		require.NoError(t, err)
	}
	for _, k := range []string{"/p2/intent/n1/web", "/p2/reality/n2/api", "/p2/rolls/app-v3",
		"/p2/replication_controllers/app-v3", "/p2/daemon_sets/edge"} {
		put(k)
	}
	keep := []string{
		"/p2/status/pods/n1/web/preparer",                   // in intent
		"/p2/status/pods/n1/web/health",                     // another namespace of the same pod
		"/p2/status/pods/n2/api/preparer",                   // still installed
		"/p2/status/rolls/app-v3/roll-farm",                 // roll running
		"/p2/status/replication_controllers/app-v3/rc-farm", // RC exists
		"/p2/status/daemon_sets/edge/ds-farm",               // daemon set exists
		"/p2/status/pod_clusters/gone/pc-farm",              // the pod cluster farm's business
		"/p2/status/nodes/gone/preparer",                    // under the preparer's lease
		"/p2/status/pods/n3/back/preparer",                  // its pod comes back in time
		"/p2/status/pods/n3/rewritten/preparer",             // written again: grace restarts
	}
	orphans := []string{
		"/p2/status/pods/n1/removed/preparer",
		"/p2/status/pods/gone/web/preparer",
		"/p2/status/rolls/app-v2/roll-farm",
		"/p2/status/replication_controllers/app-v1/rc-farm",
		"/p2/status/daemon_sets/old/ds-farm",
		"/p2/labels/replication_controller/app-v1",
		"/p2/labels/roll/app-v2",
	}
	for _, k := range append(append([]string{}, keep...), orphans...) {
		put(k)
	}

	const grace = time.Second
	o, err := retention.NewOrphans(cli, "/p2", grace, retention.DefaultRules(), nil)
	require.NoError(t, err)
	n, err := o.Prune(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is deleted before its grace period")
	first := time.Now()
	for time.Since(first) < grace/2 {
		n, err := o.Prune(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "nothing is deleted before its grace period")
		time.Sleep(20 * time.Millisecond) // a pass interval
	}
	put("/p2/intent/n3/back")
	put("/p2/status/pods/n3/rewritten/preparer")
	rewritten := time.Now()
	require.Eventually(t, func() bool {
		n, err := o.Prune(ctx)
		require.NoError(t, err)
		return n > 0
	}, 10*time.Second, 20*time.Millisecond)
	young := time.Since(rewritten) < grace
	got := keysUnder(t, ctx, cli, "/p2/")
	for _, k := range orphans {
		require.False(t, got[k], "%s deleted", k)
	}
	for _, k := range keep {
		if k == "/p2/status/pods/n3/rewritten/preparer" && !young {
			continue // its own grace period has passed too
		}
		require.True(t, got[k], "%s kept", k)
	}
	// The rewritten record's grace restarted; it goes in its turn.
	require.Eventually(t, func() bool {
		_, err := o.Prune(ctx)
		require.NoError(t, err)
		return !keysUnder(t, ctx, cli, "/p2/status/")["/p2/status/pods/n3/rewritten/preparer"]
	}, 10*time.Second, 20*time.Millisecond)
}

// Deletes come in transactions of at most OrphanChunk records, so that no
// consumer's MaxDeletes guard reads a clean-up as a wipe, and a record
// whose pod returns between the listing and the delete is kept (the
// delete's compares fail for it alone).
func TestOrphansDeletedInSmallChunks(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ops []clientv3.Op
	for i := range 45 {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("/p2/status/pods/gone/pod-%02d/preparer", i), `{}`))
	}
	_, err := cli.Txn(ctx).Then(ops...).Commit()
	require.NoError(t, err)
	o, err := retention.NewOrphans(cli, "/p2", 0, retention.DefaultRules(), nil)
	require.NoError(t, err)
	start, err := cli.Get(ctx, "/p2/status/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	n, err := o.Prune(ctx)
	require.NoError(t, err)
	require.Equal(t, 45, n)
	require.Empty(t, keysUnder(t, ctx, cli, "/p2/status/"))

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	perRev := map[int64]int{}
	seen := 0
	for resp := range cli.Watch(wctx, "/p2/status/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1)) {
		require.NoError(t, resp.Err())
		for _, ev := range resp.Events {
			perRev[ev.Kv.ModRevision]++
			seen++
		}
		if seen == 45 {
			break
		}
	}
	for rev, c := range perRev {
		require.LessOrEqual(t, c, retention.OrphanChunk, "revision %d deleted %d records", rev, c)
	}
}
