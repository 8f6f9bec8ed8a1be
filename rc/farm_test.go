package rc_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestFarmScalesUpAndDown(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 5)...)
	e.runFarm(e.cli)

	_, err := e.rcs.Create(e.ctx, "alice", newRC("hello-v1", "hello", "env=prod", 3))
	require.NoError(t, err)
	e.eventually("hello-v1", "hello", []string{"node1", "node2", "node3"})

	_, err = e.rcs.Scale(e.ctx, "alice", "hello-v1", 5)
	require.NoError(t, err)
	e.eventually("hello-v1", "hello", nodeNames("node", 5))

	_, err = e.rcs.Scale(e.ctx, "alice", "hello-v1", 1)
	require.NoError(t, err)
	e.eventually("hello-v1", "hello", []string{"node1"})
	require.Equal(t, []string{"node1/hello"}, e.podsOf("hello-v1"), "pod labels follow intent")
	lbl, err := e.labels.Get(e.ctx, labels.Pod, "node1/hello")
	require.NoError(t, err)
	require.Equal(t, labels.Set{"app": "hello", rc.IDLabel: "hello-v1", rc.PodIDLabel: "hello"}, lbl.Value)

	st := e.status("hello-v1")
	require.Equal(t, 1, st.Desired)
	require.Empty(t, st.Message)
}

func TestFarmMigratesWhenTheSelectorOrLabelsChange(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"tier": "a"}, "n1", "n2", "n3")
	e.startNodes(labels.Set{"tier": "b"}, "n4", "n5")
	e.runFarm(e.cli)

	_, err := e.rcs.Create(e.ctx, "alice", newRC("web", "web", "tier=a", 2))
	require.NoError(t, err)
	e.eventually("web", "web", []string{"n1", "n2"})

	// A node that stops matching: its pod is replaced on the next free
	// matching node.
	_, err = e.labels.Put(e.ctx, labels.Node, "n1", labels.Set{"tier": "c"})
	require.NoError(t, err)
	e.eventually("web", "web", []string{"n2", "n3"})

	// A selector change moves every pod.
	_, err = e.rcs.Modify(e.ctx, "alice", "web", func(r *rc.RC) error {
		r.NodeSelector = "tier=b"
		return nil
	})
	require.NoError(t, err)
	e.eventually("web", "web", []string{"n4", "n5"})

	// With no free matching node, a pod on a node that stopped matching
	// stays until it can be replaced.
	_, err = e.labels.Put(e.ctx, labels.Node, "n5", labels.Set{"tier": "c"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.status("web")
		return st != nil && st.Message != ""
	}, waitFor, 20*time.Millisecond)
	require.Equal(t, []string{"n4", "n5"}, e.scheduled("web"))
	require.Contains(t, e.status("web").Message, "no longer match")
}

func TestFarmUpdatesTheManifestInPlace(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	e.runFarm(e.cli)
	_, err := e.rcs.Create(e.ctx, "alice", newRC("api", "api", "", 2))
	require.NoError(t, err)
	e.eventually("api", "api", []string{"node1", "node2"})

	v2 := testManifest("api", 2)
	_, err = e.rcs.Modify(e.ctx, "alice", "api", func(r *rc.RC) error {
		r.Manifest = *v2
		r.PodLabels = map[string]string{"app": "api", "track": "stable"}
		return nil
	})
	require.NoError(t, err)
	d2, err := v2.Digest()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, n := range []string{"node1", "node2"} {
			o, err := e.intent.Get(e.ctx, n, "api")
			if err != nil {
				return false
			}
			if d, _ := o.Value.Digest(); d != d2 {
				return false
			}
			l, err := e.labels.Get(e.ctx, labels.Pod, n+"/api")
			if err != nil || l.Value["track"] != "stable" {
				return false
			}
		}
		st := e.status("api")
		return st != nil && st.Healthy == 2
	}, waitFor, 20*time.Millisecond)
}

func TestFarmDisabledChangesNothing(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	e.runFarm(e.cli)

	r := newRC("web", "web", "env=prod", 2)
	r.Disabled = true
	_, err := e.rcs.Create(e.ctx, "alice", r)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.status("web")
		return st != nil && st.Disabled && st.Desired == 2 && st.Current == 0
	}, waitFor, 20*time.Millisecond)
	require.Empty(t, e.scheduled("web"))

	_, err = e.rcs.Modify(e.ctx, "alice", "web", func(r *rc.RC) error { r.Disabled = false; return nil })
	require.NoError(t, err)
	e.eventually("web", "web", []string{"node1", "node2"})

	_, err = e.rcs.Modify(e.ctx, "alice", "web", func(r *rc.RC) error {
		r.Disabled = true
		r.ReplicasDesired = 0
		return nil
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := e.status("web")
		return st != nil && st.Disabled && st.Desired == 0
	}, waitFor, 20*time.Millisecond)
	require.Equal(t, []string{"node1", "node2"}, e.scheduled("web"), "a disabled RC does not scale down")
}

func TestFarmLeavesADeletedRCsPods(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	f, _ := e.runFarm(e.cli)
	_, err := e.rcs.Create(e.ctx, "alice", newRC("web", "web", "", 2))
	require.NoError(t, err)
	e.eventually("web", "web", []string{"node1", "node2"})

	require.NoError(t, e.rcs.Delete(e.ctx, "alice", "web", rc.Force()))
	require.Eventually(t, func() bool { return len(f.Owned()) == 0 }, waitFor, 10*time.Millisecond,
		"the farm forgets the RC")
	require.Equal(t, []string{"node1", "node2"}, e.scheduled("web"))
	require.Len(t, e.podsOf("web"), 2)
}

func TestFarmHoldsWhenEveryRCIsWiped(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	f, _ := e.runFarm(e.cli)
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		_, err := e.rcs.Create(e.ctx, "alice", newRC(id, "pod-"+id, "", 2))
		require.NoError(t, err)
	}
	for _, id := range ids {
		e.eventually(id, "pod-"+id, []string{"node1", "node2"})
	}
	before, err := e.intent.ListAll(e.ctx)
	require.NoError(t, err)

	_, err = e.cli.Delete(e.ctx, "/p2/replication_controllers/", clientv3.WithPrefix())
	require.NoError(t, err)
	var holds []failsafe.Record
	require.Eventually(t, func() bool {
		holds, err = failsafe.ListHolds(e.ctx, e.cli, "/p2")
		return err == nil && len(holds) == 1
	}, waitFor, 10*time.Millisecond)
	require.Equal(t, "rc-farm", holds[0].Component)
	require.Equal(t, "max-deletes", holds[0].Guard)
	require.Equal(t, 4, holds[0].Deletes)

	// The farm keeps its RCs (it saw no delete) and, finding them gone,
	// changes nothing through many resyncs.
	require.Equal(t, ids, f.Owned())
	require.Never(t, func() bool { return !sameIntent(e, before.Items) }, time.Second, 50*time.Millisecond,
		"intent untouched")
}

// sameIntent reports whether intent still holds exactly before. A failed
// read (the test ending while a check runs) counts as unchanged: it is no
// evidence of a change.
func sameIntent(e *fleetEnv, before []*kv.Object[manifest.Manifest]) bool {
	after, err := e.intent.ListAll(e.ctx)
	if err != nil {
		return true
	}
	if len(after.Items) != len(before) {
		return false
	}
	for i := range before {
		if before[i].Name != after.Items[i].Name || before[i].ModRevision != after.Items[i].ModRevision {
			return false
		}
	}
	return true
}

func TestTwoFarmsShareTheRCsAndTakeOver(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	clis := []*clientv3.Client{e.c.Client(t), e.c.Client(t)}
	fa, _ := e.runFarm(clis[0], farm.WithIdentity("a"))
	fb, _ := e.runFarm(clis[1], farm.WithIdentity("b"))
	farms := []*rc.Farm{fa, fb}

	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("rc%d", i)
		ids = append(ids, id)
		_, err := e.rcs.Create(e.ctx, "alice", newRC(id, "pod"+id, "", 1))
		require.NoError(t, err)
	}
	for _, id := range ids {
		e.eventually(id, "pod"+id, []string{"node1"})
	}
	require.Eventually(t, func() bool { return len(fa.Owned())+len(fb.Owned()) == len(ids) },
		waitFor, 10*time.Millisecond)
	owned := [][]string{fa.Owned(), fb.Owned()}
	for _, id := range owned[0] {
		require.NotContains(t, owned[1], id, "rc %s owned by both farms", id)
	}
	all := append(append([]string{}, owned[0]...), owned[1]...)
	slices.Sort(all)
	require.Equal(t, ids, all)
	t.Logf("farm a owns %v, farm b owns %v", owned[0], owned[1])

	// The farm that owns something dies without a word: within its lease
	// TTL the other owns everything and acts on the RCs it took over.
	victim := 0
	if len(owned[0]) == 0 {
		victim = 1
	}
	survivor := farms[1-victim]
	require.NoError(t, clis[victim].Close())
	start := time.Now()
	require.Eventually(t, func() bool { return len(survivor.Owned()) == len(ids) }, waitFor, 10*time.Millisecond)
	require.Less(t, time.Since(start), 5*time.Second, "takeover within the 2s TTL and a margin")
	moved := owned[victim][0]
	_, err := e.rcs.Scale(e.ctx, "alice", moved, 3)
	require.NoError(t, err)
	e.eventually(moved, "pod"+moved, nodeNames("node", 3))
}
