package preparer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestConvergeInstallUpgradeRemove(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	e.run(n, n, preparer.WithHealthChecker(n))

	v1 := testManifest("hello", 1)
	e.setIntent(v1)
	self := digest(t, testManifest(preparer.DefaultSelfPodID, 1))
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self, "hello": digest(t, v1)})
	st := e.waitStatus("hello", func(s status.PodStatus) bool { return s.Health == status.Passing })
	require.Equal(t, status.Launched, st.Status)
	require.Equal(t, digest(t, v1), st.ManifestDigest)
	require.Len(t, st.Processes, 1)
	_, running := n.Running(preparer.DefaultSelfPodID)
	require.False(t, running, "the preparer never installs its own pod")
	pid := n.PID("hello")

	v2 := testManifest("hello", 2)
	e.setIntent(v2)
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self, "hello": digest(t, v2)})
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.ManifestDigest == digest(t, v2) })
	require.NotEqual(t, pid, n.PID("hello"), "the upgrade restarted the pod")

	require.NoError(t, e.intent.Delete(e.ctx(), e.node, "hello"))
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self})
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Status == status.Removed })
	_, running = n.Running("hello")
	require.False(t, running)
	pods, _ := n.Pods()
	require.Empty(t, pods)
}

func TestNothingWithoutSelf(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	// A pod on disk that intent does not name: removed only once the
	// preparer sees itself.
	_, err := n.Install(e.ctx(), testManifest("stale", 1))
	require.NoError(t, err)
	e.setIntent(testManifest("hello", 1))
	e.run(n, n)

	holds := e.waitHolds(1)
	require.Equal(t, "require-key", holds[0].Guard)
	never(t, 500*time.Millisecond, func() bool { return n.Installs() > 1 || n.Removes() > 0 },
		"acted without seeing its own pod")
	require.Empty(t, e.realityDigests())

	e.self()
	e.waitReality(map[string]string{
		preparer.DefaultSelfPodID: digest(t, testManifest(preparer.DefaultSelfPodID, 1)),
		"hello":                   digest(t, testManifest("hello", 1)),
	})
	require.Eventually(t, func() bool { return n.Removes() == 1 }, waitFor, 20*time.Millisecond)
	pods, _ := n.Pods()
	require.Equal(t, []string{"hello"}, pods)
	e.waitHolds(0)
}

// fourPods writes the self pod and four pods and waits until all run.
func fourPods(t *testing.T, e *env, n *memory.Node) map[string]int {
	e.self()
	for i := range 4 {
		e.setIntent(testManifest(fmt.Sprintf("pod%d", i), 1))
	}
	pids := map[string]int{}
	require.Eventually(t, func() bool {
		for i := range 4 {
			pod := fmt.Sprintf("pod%d", i)
			if n.PID(pod) == 0 {
				return false
			}
			pids[pod] = n.PID(pod)
		}
		return len(e.realityDigests()) == 5
	}, waitFor, 20*time.Millisecond)
	return pids
}

func TestWipeIsHeldAndRestoreRestartsNothing(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.run(n, n)
	pids := fourPods(t, e, n)

	_, err := e.cli.Delete(e.ctx(), "/p2/intent/web1/", clientv3.WithPrefix())
	require.NoError(t, err)
	holds := e.waitHolds(1)
	require.Equal(t, "preparer/web1", holds[0].Component)
	never(t, 500*time.Millisecond, func() bool { return n.Removes() > 0 }, "uninstalled on a wipe")
	require.Len(t, e.realityDigests(), 5)

	for i := range 4 {
		e.setIntent(testManifest(fmt.Sprintf("pod%d", i), 1))
	}
	e.self()
	e.waitHolds(0)
	never(t, 300*time.Millisecond, func() bool { return n.Removes() > 0 }, "uninstalled after the restore")
	for pod, pid := range pids {
		require.Equal(t, pid, n.PID(pod), "pod %s restarted", pod)
	}
}

func TestMassDeleteHeldUntilRelease(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.run(n, n)
	fourPods(t, e, n)

	var ops []clientv3.Op
	for i := range 3 {
		op, err := e.intent.DeleteOp(e.node, fmt.Sprintf("pod%d", i))
		require.NoError(t, err)
		ops = append(ops, op)
	}
	_, err := kv.Commit(e.ctx(), e.cli, nil, ops...)
	require.NoError(t, err)
	holds := e.waitHolds(1)
	require.Equal(t, "max-deletes", holds[0].Guard)
	require.Equal(t, 3, holds[0].Deletes)
	never(t, 500*time.Millisecond, func() bool { return n.Removes() > 0 }, "uninstalled while held")

	require.NoError(t, failsafe.Release(e.ctx(), e.cli, "/p2", holds[0].ID, "test"))
	require.Eventually(t, func() bool { return n.Removes() == 3 }, waitFor, 20*time.Millisecond)
	e.waitReality(map[string]string{
		preparer.DefaultSelfPodID: digest(t, testManifest(preparer.DefaultSelfPodID, 1)),
		"pod3":                    digest(t, testManifest("pod3", 1)),
	})
	e.waitHolds(0)
}

func TestCorruptIntentIsReported(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.run(n, n)
	pids := fourPods(t, e, n)

	_, err := e.cli.Put(e.ctx(), "/p2/intent/web1/pod1", "{corrupt")
	require.NoError(t, err)
	_, err = e.cli.Put(e.ctx(), "/p2/intent/web1/newpod", `{"id":"newpod"}`)
	require.NoError(t, err)
	st := e.waitStatus("pod1", func(s status.PodStatus) bool { return s.Status == status.Failed })
	require.Contains(t, st.Error, "/p2/intent/web1/pod1")
	st = e.waitStatus("newpod", func(s status.PodStatus) bool { return s.Status == status.Failed })
	require.Contains(t, st.Error, "/p2/intent/web1/newpod")
	require.Contains(t, st.Error, "launchables")

	// The last good version keeps running; other pods are unaffected.
	e.setIntent(testManifest("pod9", 1))
	require.Eventually(t, func() bool { return n.PID("pod9") != 0 }, waitFor, 20*time.Millisecond)
	for pod, pid := range pids {
		require.Equal(t, pid, n.PID(pod))
	}
	_, running := n.Running("newpod")
	require.False(t, running)
}

// A preparer that starts on a node already running its pods removes
// nothing: the first intent batch is recorded before any worker looks at
// what is on disk.
func TestStartWithPodsOnDiskRemovesNothing(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	for i := range 50 {
		m := testManifest(fmt.Sprintf("pod%02d", i), 1)
		dir, err := n.Install(e.ctx(), m)
		require.NoError(t, err)
		require.NoError(t, n.Launch(e.ctx(), m, dir))
		e.setIntent(m)
		_, err = e.reality.Set(e.ctx(), e.node, m)
		require.NoError(t, err)
	}
	e.run(n, n, preparer.WithWorkers(16))
	e.waitStatus("pod49", func(s status.PodStatus) bool { return s.Status == status.Launched })
	never(t, 300*time.Millisecond, func() bool { return n.Removes() > 0 }, "removed a pod that intent names")
	require.Equal(t, int64(50), n.Installs(), "nothing installed twice")
}

// A pod whose reality record is gone already when the preparer removes it
// (its delete was applied but the answer lost, or another hand removed it)
// is removed once: the record's absence is what the delete wanted. Before,
// the delete at the remembered revision failed as a conflict for good:
// the pod was uninstalled again at every retry and its status stayed
// "launched".
func TestRemoveWhenRealityIsAlreadyGone(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithBackoff(10*time.Millisecond, 50*time.Millisecond))

	v1 := testManifest("hello", 1)
	e.setIntent(v1)
	self := digest(t, testManifest(preparer.DefaultSelfPodID, 1))
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self, "hello": digest(t, v1)})
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Health == status.Passing })

	require.NoError(t, e.reality.Delete(e.ctx(), e.node, "hello"))
	require.NoError(t, e.intent.Delete(e.ctx(), e.node, "hello"))
	e.waitStatus("hello", func(s status.PodStatus) bool { return s.Status == status.Removed })
	never(t, 300*time.Millisecond, func() bool { return n.Removes() > 1 }, "uninstalled again")
	require.Equal(t, int64(1), n.Removes())
}
