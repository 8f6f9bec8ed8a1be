package retention_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/retention"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func count(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	return resp.Count
}

func writeAudit(t *testing.T, ctx context.Context, cli *clientv3.Client, n int) {
	t.Helper()
	log := audit.NewLog(cli)
	var ops []clientv3.Op
	for i := range n {
		op, err := log.Op(audit.Updated, rc.Kind, fmt.Sprintf("rc-%d", i), "alice", nil)
		require.NoError(t, err)
		ops = append(ops, op)
	}
	_, err := kv.CommitChunked(ctx, cli, nil, ops)
	require.NoError(t, err)
}

// run runs a cleaner until the returned stop is called or the test ends.
func run(t *testing.T, c *retention.Cleaner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return stop
}

// Only the holder of the retention lock prunes: a second cleaner that
// would prune every 10 ms does nothing while the first holds the lock,
// and takes over when the first stops.
func TestOneCleanerAtATime(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keep := retention.WithAudit(audit.Retention{MaxRecords: 10})
	first, err := retention.New(cli, keep, retention.WithInterval(time.Hour), retention.WithTTL(2),
		retention.WithLogger(fleettest.Quiet(t).Named("first")))
	require.NoError(t, err)
	stopFirst := run(t, first)
	require.Eventually(t, func() bool { return count(t, ctx, cli, "/p2/locks/"+retention.LockName+"/") == 1 },
		10*time.Second, 10*time.Millisecond, "the first cleaner holds the lock")

	second, err := retention.New(cli, keep, retention.WithInterval(10*time.Millisecond), retention.WithTTL(2),
		retention.WithLogger(fleettest.Quiet(t).Named("second")))
	require.NoError(t, err)
	run(t, second)
	require.Eventually(t, func() bool { return count(t, ctx, cli, "/p2/locks/"+retention.LockName+"/") == 2 },
		10*time.Second, 10*time.Millisecond, "the second cleaner waits for the lock")

	writeAudit(t, ctx, cli, 50)
	// Never's last check may still run after Never returned, and after
	// the test ended and cancelled ctx: it fails nothing on a read error
	// (the checks that follow read the same keys and would).
	require.Never(t, func() bool {
		resp, err := cli.Get(ctx, "/p2/audit/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count < 50
	}, time.Second, 10*time.Millisecond,
		"nothing pruned while the first cleaner, whose next pass is an hour away, holds the lock")
	a, _ := second.Deleted()
	require.Zero(t, a)

	stopFirst()
	require.Eventually(t, func() bool { return count(t, ctx, cli, "/p2/audit/") == 10 }, 10*time.Second, 10*time.Millisecond,
		"the second cleaner takes the lock and prunes")
	// The cleaner counts its deletes once their transaction returns,
	// which may be after the test saw them.
	require.Eventually(t, func() bool { a, _ = second.Deleted(); return a == 40 }, 10*time.Second, 10*time.Millisecond,
		"the second cleaner counts the 40 it pruned (counted %d)", a)
}
