package roll_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// observer counts, every few milliseconds, the pods that run pod with one
// of the digests and pass their health check, and records the fewest seen
// once all `full` were healthy.
type observer struct {
	mu      sync.Mutex
	full    bool
	minimum int
	last    int
	samples int
}

func observe(t *testing.T, e *fleetEnv, pod string, full int, digests ...string) *observer {
	v := fleet.New(e.cli, "/p2", failsafe.NewHolds(nil, "observer"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = v.Run(ctx); done <- struct{}{} }()
	require.NoError(t, v.WaitSynced(e.ctx))
	o := &observer{minimum: -1}
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			n := 0
			v.NodeLabels.Range(func(node *kv.Object[labels.Set]) bool {
				for _, d := range digests {
					if v.Healthy(node.Name, pod, d) {
						n++
						break
					}
				}
				return true
			})
			o.mu.Lock()
			o.samples++
			o.last = n
			if n >= full {
				o.full = true
			}
			if o.full && (o.minimum < 0 || n < o.minimum) {
				o.minimum = n
			}
			o.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return o
}

func (o *observer) get() (full bool, minimum, last, samples int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full, o.minimum, o.last, o.samples
}

func TestRollKeepsTheMinimumHealthyAndDeletesTheOldRC(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 4)...)
	// One fleet view for both farms, as the controller binary runs them.
	v := fleet.New(e.cli, "/p2", failsafe.NewHolds(e.cli, "controller"), quiet(t))
	e.Run(v.Run)
	e.runRCFarm(farm.WithFleet(v))
	e.runRollFarm(farm.WithFleet(v))

	v1, v2 := testManifest("hello", 1), testManifest("hello", 2)
	d1, d2 := digest(t, v1), digest(t, v2)
	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", v1, 4))
	require.NoError(t, err)
	obs := observe(t, e, "hello", 4, d1, d2)
	require.Eventually(t, func() bool {
		full, _, _, _ := obs.get()
		return full
	}, waitFor, 10*time.Millisecond, "v1 runs healthy on 4 nodes")

	_, err = e.rcs.Create(e.ctx, "alice", versionRC("hello-v2", v2, 0))
	require.NoError(t, err)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 4, MinimumReplicas: 3, Deadline: roll.Duration(time.Minute)})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Done
	}, waitFor, 20*time.Millisecond, "roll done; status %+v", e.rollStatus("hello-v2"))
	require.Equal(t, -1, e.replicas("hello-v1"), "the old RC is deleted")
	require.Equal(t, 4, e.replicas("hello-v2"))
	st := e.rollStatus("hello-v2")
	require.Equal(t, 4, st.NewHealthy)
	require.Contains(t, st.Message, "old rc hello-v1 deleted")
	for _, n := range nodeNames("node", 4) {
		o, err := e.intent.Get(e.ctx, n, "hello")
		require.NoError(t, err)
		require.Equal(t, d2, digest(t, &o.Value), "node %s runs v2", n)
	}
	require.Eventually(t, func() bool {
		_, _, last, _ := obs.get()
		return last == 4
	}, waitFor, 10*time.Millisecond)
	_, minimum, _, samples := obs.get()
	t.Logf("fewest healthy seen during the roll: %d (%d samples)", minimum, samples)
	require.GreaterOrEqual(t, minimum, 3, "at no observed moment fewer than minimum_replicas healthy")
}

func TestRollStopsAtItsDeadline(t *testing.T) {
	e := newFleet(t)
	v1, v2 := testManifest("hello", 1), testManifest("hello", 2)
	d1, d2 := digest(t, v1), digest(t, v2)
	e.startNodesWith(func(d string) bool { return d == d2 }, labels.Set{"env": "prod"}, nodeNames("node", 5)...)
	e.runRCFarm()

	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", v1, 4))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.rcStatus("hello-v1")
		return st != nil && st.Healthy == 4
	}, waitFor, 10*time.Millisecond)
	// The roll farm starts once the old pods are healthy, so that its
	// first view holds them: a view that has not yet seen them healthy
	// leaves no old pod to take, and the roll surges a new one instead
	// (safe, but it is not the one step this test counts).
	e.runRollFarm()
	_, err = e.rcs.Create(e.ctx, "alice", versionRC("hello-v2", v2, 0))
	require.NoError(t, err)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 4, MinimumReplicas: 3, Deadline: roll.Duration(2 * time.Second)})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Failed
	}, waitFor, 20*time.Millisecond)
	st := e.rollStatus("hello-v2")
	require.Contains(t, st.Message, "deadline 2s passed")
	require.Contains(t, st.Message, "nothing reverted")
	old, neu := e.replicas("hello-v1"), e.replicas("hello-v2")
	require.Equal(t, 3, old, "one replica moved before the new version proved unhealthy")
	require.Equal(t, 1, neu)

	// Nothing moves or reverts after the deadline, and the old pods serve.
	require.Never(t, func() bool {
		return e.replicas("hello-v1") != old || e.replicas("hello-v2") != neu
	}, time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		rs := e.rcStatus("hello-v1")
		return rs != nil && rs.Current == 3 && rs.Healthy == 3
	}, waitFor, 10*time.Millisecond, "old pods still launched and healthy")
	require.Equal(t, roll.Failed, e.rollStatus("hello-v2").Phase)
	_ = d1
}

func TestDeletedRollHaltsAndLeavesBothRCs(t *testing.T) {
	e := newFleet(t)
	v1, v2 := testManifest("hello", 1), testManifest("hello", 2)
	d2 := digest(t, v2)
	e.startNodesWith(func(d string) bool { return d == d2 }, labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	e.runRCFarm()

	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", v1, 3))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.rcStatus("hello-v1")
		return st != nil && st.Healthy == 3
	}, waitFor, 10*time.Millisecond)
	rf := e.runRollFarm() // after the old pods are healthy (see TestRollStopsAtItsDeadline)
	_, err = e.rcs.Create(e.ctx, "alice", versionRC("hello-v2", v2, 0))
	require.NoError(t, err)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Rolling && st.NewReplicas == 1 && st.Message != "" &&
			st.Message[:7] == "waiting"
	}, waitFor, 10*time.Millisecond, "stuck on the unhealthy new version: %+v", e.rollStatus("hello-v2"))

	require.NoError(t, e.rolls.Delete(e.ctx, "alice", "hello-v2"))
	require.Eventually(t, func() bool {
		st := e.rollStatus("hello-v2")
		return st != nil && st.Phase == roll.Halted && len(rf.Owned()) == 0
	}, waitFor, 10*time.Millisecond)
	require.Never(t, func() bool {
		return e.replicas("hello-v1") != 2 || e.replicas("hello-v2") != 1
	}, time.Second, 50*time.Millisecond, "both RCs stay as they are")
}

func TestRollFarmHoldsWhenEveryRollIsWiped(t *testing.T) {
	e := newFleet(t)
	e.runRCFarm()
	rf := e.runRollFarm()
	// No nodes: each roll grows its new RC by one and waits forever.
	for _, app := range []string{"a", "b"} {
		_, err := e.rcs.Create(e.ctx, "alice", versionRC(app+"-v1", testManifest(app, 1), 1))
		require.NoError(t, err)
		_, err = e.rcs.Create(e.ctx, "alice", versionRC(app+"-v2", testManifest(app, 2), 0))
		require.NoError(t, err)
		_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: app + "-v2", OldRC: app + "-v1", NewRC: app + "-v2",
			DesiredReplicas: 1, MinimumReplicas: 1})
		require.NoError(t, err)
	}
	for _, id := range []string{"a-v2", "b-v2"} {
		require.Eventually(t, func() bool {
			st := e.rollStatus(id)
			return st != nil && st.Phase == roll.Rolling && st.NewReplicas == 1
		}, waitFor, 10*time.Millisecond)
	}

	_, err := e.cli.Delete(e.ctx, "/p2/rolls/", clientv3.WithPrefix())
	require.NoError(t, err)
	var holds []failsafe.Record
	require.Eventually(t, func() bool {
		holds, err = failsafe.ListHolds(e.ctx, e.cli, "/p2")
		return err == nil && len(holds) == 1
	}, waitFor, 10*time.Millisecond)
	require.Equal(t, "roll-farm", holds[0].Component)
	require.Equal(t, 2, holds[0].Deletes)
	require.Never(t, func() bool {
		for _, id := range []string{"a-v2", "b-v2"} {
			if st := e.rollStatus(id); st == nil || st.Phase != roll.Rolling {
				return true
			}
		}
		return len(rf.Owned()) != 2
	}, time.Second, 50*time.Millisecond, "held: no roll is halted or forgotten")
	for _, app := range []string{"a", "b"} {
		require.Equal(t, 1, e.replicas(app+"-v1"))
		require.Equal(t, 1, e.replicas(app+"-v2"))
	}
}
