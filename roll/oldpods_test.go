package roll_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// A roll is done only once the old RC's pods are unscheduled: while the
// RC farm cannot act on the old RC (another process holds its lock), the
// roll waits with the old RC at 0 replicas instead of deleting it with its
// pods still in intent, where nothing would ever remove them.
func TestDoneWaitsForOldPods(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("n", 4)...)
	v1, v2 := testManifest("hello", 1), testManifest("hello", 2)
	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", v1, 2))
	require.NoError(t, err)
	// Another process owns hello-v1, whose pods run on n1 and n2.
	sess, err := concurrency.NewSession(e.cli)
	require.NoError(t, err)
	defer sess.Close()
	lock := concurrency.NewMutex(sess, "/p2/locks/"+rc.FarmKind+"/hello-v1")
	require.NoError(t, lock.Lock(e.ctx))
	for _, n := range []string{"n1", "n2"} {
		_, err := e.intent.Set(e.ctx, n, v1)
		require.NoError(t, err)
		_, err = e.labels.Put(e.ctx, labels.Pod, n+"/hello", labels.Set{rc.IDLabel: "hello-v1", rc.PodIDLabel: "hello", "app": "hello"})
		require.NoError(t, err)
	}
	e.runRCFarm()
	e.runRollFarm()
	_, err = e.rcs.Create(e.ctx, "alice", versionRC("hello-v2", v2, 0))
	require.NoError(t, err)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 2, MinimumReplicas: 0})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.NewHealthy == 2 && st.OldReplicas == 0
	}, waitFor, 10*time.Millisecond, "the new RC runs on the free nodes")
	require.Never(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st == nil || st.Phase != roll.Running || e.replicas("hello-v1") != 0
	}, time.Second, 20*time.Millisecond, "the roll waits while the old RC's pods are scheduled")
	require.Contains(t, e.rollStatus("hello-v2").Message, "still has 2 pods scheduled")

	require.NoError(t, lock.Unlock(e.ctx))
	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Done && e.replicas("hello-v1") == -1
	}, waitFor, 10*time.Millisecond, "done once the RC farm unscheduled the old pods")
	require.Equal(t, []string{"n3", "n4"}, e.scheduled("hello"))
}
