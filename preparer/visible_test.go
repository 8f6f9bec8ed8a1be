package preparer_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/p2kit/p2kit/etcdtest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodeRecord reads the node's record and the lease it is under; ok is
// false when there is none.
func (e *env) nodeRecord() (rec status.NodeRecord, lease clientv3.LeaseID, ok bool) {
	e.t.Helper()
	resp, err := e.cli.Get(e.ctx(), "/p2/status/nodes/"+e.node+"/preparer")
	require.NoError(e.t, err)
	if len(resp.Kvs) == 0 {
		return rec, 0, false
	}
	require.NoError(e.t, json.Unmarshal(resp.Kvs[0].Value, &rec))
	return rec, clientv3.LeaseID(resp.Kvs[0].Lease), true
}

// The node record appears under a lease with the pods of reality, is
// rewritten (last_seen moves on), comes back under a new lease when its
// lease is lost, and goes at once on a clean stop.
func TestNodeRecordLifecycle(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	e.setIntent(testManifest("hello", 1))
	stop := e.run(n, n, preparer.WithHealthChecker(n), preparer.WithNodeTTL(2*time.Second), preparer.WithVersion("v1.2.3"),
		preparer.WithNodeRecordRefresh(time.Second))

	var first status.NodeRecord
	var lease clientv3.LeaseID
	require.Eventually(t, func() bool {
		var ok bool
		first, lease, ok = e.nodeRecord()
		return ok && first.Pods == 1
	}, waitFor, 20*time.Millisecond, "no node record with one pod")
	require.NotZero(t, lease, "the record is under a lease")
	require.Equal(t, "v1.2.3", first.Version)
	require.EqualValues(t, 2, first.TTLSeconds)
	require.False(t, first.StartedAt.After(first.LastSeen))
	ttl, err := e.cli.TimeToLive(e.ctx(), lease)
	require.NoError(t, err)
	require.EqualValues(t, 2, ttl.GrantedTTL)

	require.Eventually(t, func() bool {
		rec, _, ok := e.nodeRecord()
		return ok && rec.LastSeen.After(first.LastSeen) && rec.StartedAt.Equal(first.StartedAt)
	}, waitFor, 20*time.Millisecond, "the record is never refreshed")

	// Lose the lease (as after a long partition): the record is written
	// again under a new one.
	_, err = e.cli.Revoke(e.ctx(), lease)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, l, ok := e.nodeRecord()
		return ok && l != lease && l != 0
	}, waitFor, 20*time.Millisecond, "the record never came back under a new lease")

	stop()
	_, _, ok := e.nodeRecord()
	require.False(t, ok, "a clean stop revokes the record's lease")
}

func TestNodeTTLTooShort(t *testing.T) {
	n := memory.NewNode()
	cli := etcdtest.New(t).Client(t)
	_, err := preparer.New(cli, "web1", n, n, preparer.WithNodeTTL(100*time.Millisecond))
	require.ErrorContains(t, err, "node TTL 100ms")
}

// A preparer killed with SIGKILL revokes nothing: its record vanishes when
// the lease expires, within the TTL of its last renewal.
func TestNodeRecordVanishesAfterKill(t *testing.T) {
	n := newRealNode(t)
	n.self()
	const ttl = 2 * time.Second
	args, err := json.Marshal(childArgs{Endpoints: n.cli.Endpoints(), Node: n.node, PodRoot: n.root, NodeTTL: ttl})
	require.NoError(t, err)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envChild+"="+string(args))
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	require.Eventually(t, func() bool {
		_, _, ok := n.nodeRecord()
		return ok
	}, waitFor, 20*time.Millisecond, "the child preparer never wrote its node record")
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	// The lease was renewed at most TTL/3 before the kill; etcd's lessor
	// revokes expired leases every 500ms. Poll up to TTL and a margin.
	require.Eventually(t, func() bool {
		_, _, ok := n.nodeRecord()
		return !ok
	}, ttl+2*time.Second, 20*time.Millisecond, "the killed preparer's node record is still there")
}

// An app that keeps exiting is restarted by its supervisor; its status
// record counts the restarts, carries the last exit, and is never passing,
// even though the default check passes while the process runs.
func TestCrashLoopingAppNeverPassing(t *testing.T) {
	n := newRealNode(t)
	n.self()
	n.run(preparer.Hoist(hoist.New(n.root)),
		process.New(n.root, process.WithRestartBackoff(50*time.Millisecond, 100*time.Millisecond)))
	loc, dig, err := artifacttest.Write(t.TempDir()+"/crash.tar.gz", map[string]artifacttest.File{
		"bin/launch": {Body: "#!/bin/sh\nsleep 0.4\nexit 3\n", Exec: true},
	})
	require.NoError(t, err)
	m := &manifest.Manifest{ID: "crash", TerminationGracePeriod: 1, Launchables: map[string]manifest.Launchable{"app": {
		LaunchableType: manifest.LaunchableTypeHoist, Location: loc, Digest: dig, RestartPolicy: manifest.RestartAlways}}}

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	w, err := n.statuses.WatchNode(ctx, n.node)
	require.NoError(t, err)
	n.setIntent(m)
	var last status.PodStatus
	seen := 0
	for {
		b, err := w.Next(ctx)
		require.NoError(t, err, "last record %+v", last)
		for _, ev := range b.Events {
			if ev.Name != "crash/preparer" || ev.New == nil {
				continue
			}
			last = ev.New.Value
			seen++
			if len(last.Processes) == 1 && last.Processes[0].Restarts == 0 && last.Processes[0].LastExit == nil {
				continue // it has not crashed yet: nobody can tell
			}
			require.NotEqual(t, status.Passing, last.Health, "record %d of a crash-looping app: %+v", seen, last)
		}
		if len(last.Processes) == 1 && last.Processes[0].Restarts >= 4 {
			break
		}
	}
	p := last.Processes[0]
	require.NotNil(t, p.LastExit)
	require.Equal(t, 3, p.LastExit.Code)
	require.Equal(t, status.Launched, last.Status)
}

// The record of a pod removed from the node is deleted after the removed
// TTL, and so is one that an earlier run left behind.
func TestRemovedPodRecordDeleted(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	old := &status.PodStatus{Status: status.Removed, Health: status.Unknown, UpdatedAt: time.Now().UTC().Add(-time.Hour)}
	_, err := e.statuses.Set(e.ctx(), e.node, "ghost", old)
	require.NoError(t, err)
	e.setIntent(testManifest("hello", 1))
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithRemovedTTL(300*time.Millisecond))

	gone := func(pod string) func() bool {
		return func() bool {
			_, err := e.statuses.Get(e.ctx(), e.node, pod)
			return errors.Is(err, kv.ErrNotFound)
		}
	}
	require.Eventually(t, gone("ghost"), waitFor, 20*time.Millisecond, "the earlier run's removed record stays")
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Health == status.Passing })
	require.NoError(t, e.intent.Delete(e.ctx(), e.node, "hello"))
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Status == status.Removed })
	require.Eventually(t, gone("hello"), waitFor, 20*time.Millisecond, "the removed pod's record stays")

	// A pod that comes back gets a record again.
	e.setIntent(testManifest("hello", 2))
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Status == status.Launched })
}

// The lease keeps the record alive: while nothing in it changes, renewals
// write nothing (every write is a raft proposal, and a fleet of preparers
// renewing every few seconds would be all an etcd does). A change of the
// pod count is written at once.
func TestNodeRecordWrittenOnlyWhenItChanges(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	e.setIntent(testManifest("hello", 1))
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithNodeTTL(time.Second))

	var lease clientv3.LeaseID
	require.Eventually(t, func() bool {
		var rec status.NodeRecord
		var ok bool
		rec, lease, ok = e.nodeRecord()
		return ok && rec.Pods == 1
	}, waitFor, 20*time.Millisecond, "no node record with one pod")
	first, err := e.cli.Get(e.ctx(), "/p2/status/nodes/web1/preparer")
	require.NoError(t, err)

	// A 1s lease still alive more than 3s after the record was written
	// was renewed at least three times meanwhile.
	since := time.Now()
	require.Eventually(t, func() bool { return time.Since(since) > 3500*time.Millisecond }, waitFor, 100*time.Millisecond)
	ttl, err := e.cli.TimeToLive(e.ctx(), lease)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ttl.TTL, int64(0), "the node record lease expired")
	now, err := e.cli.Get(e.ctx(), "/p2/status/nodes/web1/preparer")
	require.NoError(t, err)
	require.Equal(t, first.Kvs[0].ModRevision, now.Kvs[0].ModRevision, "an unchanged record was written again")

	e.setIntent(testManifest("world", 1))
	require.Eventually(t, func() bool {
		rec, l, ok := e.nodeRecord()
		return ok && rec.Pods == 2 && l == lease
	}, waitFor, 20*time.Millisecond, "the new pod count was never written")
}
