package roll_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startV1 runs the RC and roll farms on nodes memory nodes labelled
// env=prod and waits until hello-v1 runs replicas healthy pods. unhealthy
// marks versions whose pods never pass (nil: all pass).
func startV1(t *testing.T, nodes, replicas int, unhealthy func(string) bool) *fleetEnv {
	e := newFleet(t)
	e.startNodesWith(unhealthy, labels.Set{"env": "prod"}, nodeNames("node", nodes)...)
	e.runRCFarm()
	_, err := e.rcs.Create(e.ctx, "alice", versionRC("hello-v1", testManifest("hello", 1), replicas))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.rcStatus("hello-v1")
		return st != nil && st.Healthy == replicas
	}, waitFor, 10*time.Millisecond, "v1 healthy on %d nodes", replicas)
	// Started now, the roll farm's first view holds the healthy old pods
	// (see TestRollStopsAtItsDeadline).
	e.runRollFarm()
	return e
}

// addRC creates hello-v<version> at 0 replicas.
func (e *fleetEnv) addRC(id string, version int) {
	e.t.Helper()
	_, err := e.rcs.Create(e.ctx, "alice", versionRC(id, testManifest("hello", version), 0))
	require.NoError(e.t, err)
}

// waitPhase waits until roll id's status record says phase.
func (e *fleetEnv) waitPhase(id string, phase roll.Phase) *roll.Status {
	e.t.Helper()
	return e.waitStatus(id, string(phase), func(st *roll.Status) bool { return st.Phase == phase })
}

// waitStatus waits until roll id's status record satisfies cond, and
// shows the last record seen when it never does.
func (e *fleetEnv) waitStatus(id, what string, cond func(st *roll.Status) bool) *roll.Status {
	e.t.Helper()
	var last *roll.Status
	if !assert.Eventually(e.t, func() bool {
		last = e.rollStatus(id)
		return last != nil && cond(last)
	}, waitFor, 10*time.Millisecond) {
		e.t.Fatalf("roll %s: %s: never; last status %+v", id, what, last)
	}
	return last
}

// rollGone requires that roll id no longer exists.
func (e *fleetEnv) rollGone(id string) {
	e.t.Helper()
	_, err := e.rolls.Get(e.ctx, id)
	require.ErrorIs(e.t, err, kv.ErrNotFound, "roll %s is deleted", id)
}

func TestTwoRollsInARowOnOneChain(t *testing.T) {
	e := startV1(t, 3, 3, nil)

	e.addRC("hello-v2", 2)
	_, err := e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err)
	st := e.waitPhase("hello-v2", roll.Done)
	require.Equal(t, "3/3", st.Progress())
	e.rollGone("hello-v2")
	require.Equal(t, -1, e.replicas("hello-v1"), "old RC deleted")

	// The next roll from the new RC is not blocked by the finished one.
	e.addRC("hello-v3", 3)
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v3", OldRC: "hello-v2", NewRC: "hello-v3",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err, "a finished roll blocks no new roll of its RCs")
	e.waitPhase("hello-v3", roll.Done)
	e.rollGone("hello-v3")
	require.Equal(t, -1, e.replicas("hello-v2"))
	require.Equal(t, 3, e.replicas("hello-v3"))
	require.Equal(t, roll.Done, e.rollStatus("hello-v2").Phase, "the first roll's record stays as history")

	// The audit log names the farm as the actor of each roll's delete.
	recs, err := e.rolls.Audit().List(e.ctx, time.Time{}, 0)
	require.NoError(t, err)
	deleted := 0
	for _, o := range recs.Items {
		if r := o.Value; r.Entity == roll.Dir && r.EventType == audit.Deleted && r.Actor == roll.DefaultActor {
			deleted++
		}
	}
	require.Equal(t, 2, deleted, "two audited roll deletes by the farm")
}

func TestPausedRollTakesNoStepUntilResumed(t *testing.T) {
	e := startV1(t, 3, 3, nil)
	e.addRC("hello-v2", 2)
	_, err := e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2, Paused: true})
	require.NoError(t, err)
	st := e.waitPhase("hello-v2", roll.Paused)
	require.Contains(t, st.Message, "paused")
	require.Never(t, func() bool { return e.replicas("hello-v1") != 3 || e.replicas("hello-v2") != 0 },
		time.Second, 50*time.Millisecond, "a paused roll takes no step")

	_, err = e.rolls.SetPaused(e.ctx, "alice", "hello-v2", false)
	require.NoError(t, err)
	e.waitPhase("hello-v2", roll.Done)
	require.Equal(t, 3, e.replicas("hello-v2"))

	_, err = e.rolls.SetPaused(e.ctx, "alice", "hello-v2", true)
	require.ErrorIs(t, err, roll.ErrFinished, "a finished roll cannot be paused")
	require.ErrorContains(t, err, "done")
}

func TestPauseStopsARunningRoll(t *testing.T) {
	// v2 never turns healthy: the roll moves one replica and waits.
	v2 := digest(t, testManifest("hello", 2))
	e := startV1(t, 3, 3, func(d string) bool { return d == v2 })
	e.addRC("hello-v2", 2)
	_, err := e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err)
	e.waitStatus("hello-v2", "one step taken", func(st *roll.Status) bool {
		return st.Phase == roll.Running && st.NewReplicas == 1
	})
	e.waitStatus("hello-v2", "a stuck roll says why", func(st *roll.Status) bool {
		return strings.HasPrefix(st.Message, "waiting: 0 of 1 new pods healthy, 2 of 2 old; 2 healthy, need minimum 2, so no old pod can go yet")
	})

	_, err = e.rolls.SetPaused(e.ctx, "alice", "hello-v2", true)
	require.NoError(t, err)
	e.waitPhase("hello-v2", roll.Paused)
	_, err = e.rolls.SetPaused(e.ctx, "alice", "hello-v2", false)
	require.NoError(t, err)
	e.waitPhase("hello-v2", roll.Running)
}

func TestAbortHaltsAndLeavesBothRCs(t *testing.T) {
	v2 := digest(t, testManifest("hello", 2))
	e := startV1(t, 3, 3, func(d string) bool { return d == v2 })
	e.addRC("hello-v2", 2)
	_, err := e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err)
	e.waitStatus("hello-v2", "one step taken", func(st *roll.Status) bool {
		return st.Phase == roll.Running && st.NewReplicas == 1
	})

	st, err := e.rolls.Abort(e.ctx, "alice", "hello-v2")
	require.NoError(t, err)
	require.Equal(t, roll.Halted, st.Phase)
	e.rollGone("hello-v2")
	got := e.rollStatus("hello-v2")
	require.Equal(t, roll.Halted, got.Phase)
	require.Contains(t, got.Message, "aborted by alice")
	require.Never(t, func() bool {
		st := e.rollStatus("hello-v2")
		return e.replicas("hello-v1") != 2 || e.replicas("hello-v2") != 1 || st == nil || st.Phase != roll.Halted
	}, time.Second, 50*time.Millisecond, "both RCs stay as they are and the record says halted")

	_, err = e.rolls.Abort(e.ctx, "alice", "hello-v2")
	require.ErrorIs(t, err, roll.ErrFinished)
	_, err = e.rolls.Abort(e.ctx, "alice", "nosuch")
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.False(t, errors.Is(err, roll.ErrFinished))

	// Undo: a new roll back to the old RC, which the abort kept.
	_, err = e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v1", OldRC: "hello-v2", NewRC: "hello-v1",
		DesiredReplicas: 3, MinimumReplicas: 2})
	require.NoError(t, err)
	e.waitPhase("hello-v1", roll.Done)
	require.Equal(t, 3, e.replicas("hello-v1"))
	require.Equal(t, -1, e.replicas("hello-v2"))
	require.Equal(t, roll.Halted, e.rollStatus("hello-v2").Phase)
}

func TestCheckRefusesARollThatCannotProgress(t *testing.T) {
	e := startV1(t, 3, 3, nil)
	e.addRC("hello-v2", 2)
	r := &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2", DesiredReplicas: 3, MinimumReplicas: 3}
	err := e.rolls.Check(e.ctx, r)
	require.ErrorIs(t, err, roll.ErrCannotProgress)
	require.ErrorContains(t, err, "minimum_replicas 3 is not below the 3 nodes that can run pod hello")

	r.DesiredReplicas, r.MinimumReplicas = 4, 2
	require.ErrorContains(t, e.rolls.Check(e.ctx, r), "desired_replicas is 4 but new rc hello-v2 can schedule on only 3 nodes")

	r.DesiredReplicas = 3
	require.NoError(t, e.rolls.Check(e.ctx, r))

	_, err = e.rcs.Modify(e.ctx, "alice", "hello-v2", func(c *rc.RC) error { c.NodeSelector = "env=staging"; return nil })
	require.NoError(t, err)
	err = e.rolls.Check(e.ctx, r)
	require.ErrorIs(t, err, roll.ErrCannotProgress)
	require.ErrorContains(t, err, `node_selector "env=staging" matches no labelled node`)

	r.NewRC = "nosuch"
	require.ErrorIs(t, e.rolls.Check(e.ctx, r), kv.ErrNotFound)
}

func TestStuckRollSaysWhyItCannotStep(t *testing.T) {
	// Started anyway: minimum 3 on the 3 nodes v1 fills.
	e := startV1(t, 3, 3, nil)
	e.addRC("hello-v2", 2)
	_, err := e.rolls.Create(e.ctx, "alice", &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2",
		DesiredReplicas: 3, MinimumReplicas: 3})
	require.NoError(t, err)
	e.waitStatus("hello-v2", "the surge is asked for", func(st *roll.Status) bool {
		return st.Phase == roll.Running && st.NewReplicas == 1 && st.OldReplicas == 3
	})
	e.waitStatus("hello-v2", "the status says why", func(st *roll.Status) bool {
		return st.Message != "" &&
			strings.Contains(st.Message, "waiting: 0 of 1 new pods healthy") &&
			strings.Contains(st.Message, "cannot step: minimum_replicas 3 is not below the 3 nodes")
	})
}
