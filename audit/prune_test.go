package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// putRecords writes n records stamped from start, a minute apart, in
// transactions of 100, and returns their keys oldest first.
func putRecords(t *testing.T, ctx context.Context, cli *clientv3.Client, log *audit.Log, start time.Time, n int) []string {
	t.Helper()
	var keys []string
	var ops []clientv3.Op
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		id := audit.NewID(at)
		op, err := log.Store().PutOp(id, &audit.Record{EventType: audit.Updated, Entity: rc.Kind,
			ID: fmt.Sprintf("rc-%d", i), Actor: "alice", Timestamp: at})
		require.NoError(t, err)
		ops = append(ops, op)
		keys = append(keys, log.Store().Prefix()+id)
	}
	_, err := kv.CommitChunked(ctx, cli, nil, ops)
	require.NoError(t, err)
	return keys
}

func auditKeys(t *testing.T, ctx context.Context, cli *clientv3.Client) []string {
	t.Helper()
	resp, err := cli.Get(ctx, "/p2/audit/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	var out []string
	for _, item := range resp.Kvs {
		out = append(out, string(item.Key))
	}
	return out
}

// Prune deletes by age, then by count, oldest first, in transactions of at
// most PruneChunk deletes, and touches no key outside the audit log.
func TestPruneByAgeAndCount(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := audit.NewLog(cli)
	now := time.Now()
	old := putRecords(t, ctx, cli, log, now.Add(-10*24*time.Hour), 250) // 10 days ago, for 250 minutes
	fresh := putRecords(t, ctx, cli, log, now.Add(-2*time.Hour), 100)   // the last two hours
	_, err := cli.Put(ctx, "/p2/auditx", "a neighbour of the audit log")
	require.NoError(t, err)
	start, err := cli.Get(ctx, "/p2/audit/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	deletes := etcdtest.WatchDeletes(t, cli, "/p2/", start.Header.Revision)

	n, err := log.Prune(ctx, audit.Retention{MaxAge: 24 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, len(old), n)
	require.Equal(t, fresh, auditKeys(t, ctx, cli), "every record older than a day is gone, every newer one kept")

	n, err = log.Prune(ctx, audit.Retention{MaxAge: 24 * time.Hour, MaxRecords: 30})
	require.NoError(t, err)
	require.Equal(t, 70, n)
	require.Equal(t, fresh[70:], auditKeys(t, ctx, cli), "the newest 30 are kept")

	n, err = log.Prune(ctx, audit.Retention{MaxAge: 24 * time.Hour, MaxRecords: 30})
	require.NoError(t, err)
	require.Zero(t, n, "nothing more to do")

	got := deletes.Since()
	require.ElementsMatch(t, append(append([]string{}, old...), fresh[:70]...), got, "only audit records deleted")
	_, err = cli.Get(ctx, "/p2/auditx")
	require.NoError(t, err)

	// Each transaction deleted at most PruneChunk keys: etcd's history
	// holds one revision per transaction.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	perRev := map[int64]int{}
	for resp := range cli.Watch(wctx, "/p2/audit/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1)) {
		require.NoError(t, resp.Err())
		for _, ev := range resp.Events {
			perRev[ev.Kv.ModRevision]++
		}
		total := 0
		for _, c := range perRev {
			total += c
		}
		if total == len(got) {
			break
		}
	}
	require.GreaterOrEqual(t, len(perRev), (len(got)+audit.PruneChunk-1)/audit.PruneChunk)
	for rev, c := range perRev {
		require.LessOrEqual(t, c, audit.PruneChunk, "revision %d deleted %d records in one transaction", rev, c)
	}
}

// A failed guard (a lock no longer held) deletes nothing.
func TestPruneStopsWithoutTheLock(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := audit.NewLog(cli)
	keys := putRecords(t, ctx, cli, log, time.Now().Add(-48*time.Hour), 20)
	notOwner := clientv3.Compare(clientv3.CreateRevision("/p2/locks/retention/gone"), ">", 0)
	n, err := log.Prune(ctx, audit.Retention{MaxAge: time.Hour, MaxRecords: 5}, notOwner)
	require.ErrorIs(t, err, kv.ErrConflict)
	require.Zero(t, n)
	require.Equal(t, keys, auditKeys(t, ctx, cli))
}
