package preparer_test

import (
	"github.com/p2kit/p2kit/etcdtest"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// wipePods are the apps of the wiped node, beside its own preparer.
var wipePods = []string{"api", "cron", "web", "worker", "zipkin"}

// wipeNode is a real node running wipePods, with what it ran before a
// wipe: the intent values (as a backup script saves them), the apps' pids
// and a watch of reality from a revision taken before the wipe.
type wipeNode struct {
	*realNode
	apps    map[string]*manifest.Manifest
	backup  []*mvccpb.KeyValue // the node's intent, sorted by key
	pids    map[string]int
	deletes *etcdtest.Deletes
	// restored counts the saved keys written back so far.
	restored int
}

func newWipeNode(t *testing.T) *wipeNode {
	n := &wipeNode{realNode: newRealNode(t), apps: map[string]*manifest.Manifest{}, pids: map[string]int{}}
	n.self()
	return n
}

// launchAll writes every app's intent and waits until each runs.
func (n *wipeNode) launchAll() {
	for _, pod := range wipePods {
		n.apps[pod] = sleeper(n.t, pod, "1")
		n.setIntent(n.apps[pod])
	}
	for _, pod := range wipePods {
		n.launched(pod, n.apps[pod])
		n.pids[pod] = n.appPID(pod)
	}
}

// wipe saves the node's intent, starts watching reality from the
// revision of that read, and deletes the whole intent with one
// delete-prefix; it waits until the preparer holds the wipe.
func (n *wipeNode) wipe() {
	n.t.Helper()
	prefix := "/p2/intent/" + n.node + "/"
	resp, err := n.cli.Get(n.ctx(), prefix, clientv3.WithPrefix())
	require.NoError(n.t, err)
	require.Len(n.t, resp.Kvs, len(wipePods)+1)
	n.backup = resp.Kvs
	n.deletes = etcdtest.WatchDeletes(n.t, n.cli, "/p2/reality/"+n.node+"/", resp.Header.Revision)
	del, err := n.cli.Delete(n.ctx(), prefix, clientv3.WithPrefix())
	require.NoError(n.t, err)
	require.EqualValues(n.t, len(wipePods)+1, del.Deleted)
	n.waitHolds(1)
}

// restore writes saved keys back one at a time, in the given order,
// each once the preparer has judged the one before.
func (n *wipeNode) restore(kvs []*mvccpb.KeyValue) {
	n.t.Helper()
	for i, kvp := range kvs {
		_, err := n.cli.Put(n.ctx(), string(kvp.Key), string(kvp.Value))
		require.NoError(n.t, err)
		n.waitMissing(len(n.backup) - n.restored - i - 1)
	}
	n.restored += len(kvs)
}

// waitMissing waits until the hold record counts missing deleted keys,
// that is until the preparer has judged the last key written back: a
// hold ends by itself only once no key is missing, so while one is the
// hold must still be there.
func (n *wipeNode) waitMissing(missing int) {
	n.t.Helper()
	if missing == 0 {
		return
	}
	var last []failsafe.Record
	require.Eventually(n.t, func() bool {
		var err error
		last, err = failsafe.ListHolds(n.ctx(), n.cli, "/p2")
		return err == nil && len(last) == 1 && last[0].Deletes == missing
	}, waitFor, 20*time.Millisecond, "no hold counts %d missing keys: %+v", missing, last)
}

// requireUntouched asserts that nothing was uninstalled or restarted, that
// no hold is left and that the preparer acts on intent again.
func (n *wipeNode) requireUntouched() {
	t := n.t
	t.Helper()
	n.waitHolds(0)
	// The consumer is back to normal: a pod written now is installed. Its
	// batch comes after whatever the restore delivered, so every action
	// the restore caused has been taken once it runs.
	later := sleeper(t, "later", "1")
	n.setIntent(later)
	n.launched("later", later)
	n.waitHolds(0)

	require.Empty(t, n.deletes.Since(), "reality lost a key")
	for _, pod := range wipePods {
		require.Equal(t, n.pids[pod], n.appPID(pod), "%s was restarted", pod)
		digest, running := n.launch.Running(pod)
		require.True(t, running, pod)
		require.Equal(t, digest, n.realityDigests()[pod], pod)
	}
}

// restoreOrders are the orders a person or a backup script writes a
// node's saved intent back in.
func restoreOrders(t *testing.T) map[string]func([]*mvccpb.KeyValue) []*mvccpb.KeyValue {
	return map[string]func([]*mvccpb.KeyValue) []*mvccpb.KeyValue{
		"sorted": slices.Clone[[]*mvccpb.KeyValue],
		"reverse": func(kvs []*mvccpb.KeyValue) []*mvccpb.KeyValue {
			out := slices.Clone(kvs)
			slices.Reverse(out)
			return out
		},
		"random": func(kvs []*mvccpb.KeyValue) []*mvccpb.KeyValue {
			seed := uint64(time.Now().UnixNano())
			t.Logf("random restore order: seed %d", seed)
			out := slices.Clone(kvs)
			rand.New(rand.NewPCG(seed, seed)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			keys := make([]string, len(out))
			for i, kvp := range out {
				keys[i] = string(kvp.Key)
			}
			t.Logf("order: %v", keys)
			return out
		},
	}
}

// TestRealWipeRestoredKeyByKey is issue 12's scenario: a node's whole
// intent deleted at once, then written back one key at a time in any
// order, uninstalls and restarts nothing.
func TestRealWipeRestoredKeyByKey(t *testing.T) {
	for _, name := range []string{"sorted", "reverse", "random"} {
		t.Run(name, func(t *testing.T) {
			n := newWipeNode(t)
			n.start()
			n.launchAll()
			n.wipe()
			n.restore(restoreOrders(t)[name](n.backup))
			n.requireUntouched()
		})
	}
}

// TestRealRestartMidRestoreRemovesNothing stops the preparer half way
// through a restore: the new one takes up the hold its earlier run left
// and ends it when the rest comes back.
func TestRealRestartMidRestoreRemovesNothing(t *testing.T) {
	n := newWipeNode(t)
	stop := n.start()
	n.launchAll()
	n.wipe()
	half := len(n.backup) / 2
	n.restore(n.backup[:half])
	stop()
	held := n.waitHolds(1)

	n.start()
	// The new preparer takes the hold up instead of reading the missing
	// pods as uninstalled.
	require.Eventually(t, func() bool {
		holds, err := failsafe.ListHolds(n.ctx(), n.cli, "/p2")
		return err == nil && len(holds) == 1 && holds[0].ID != "" && holds[0].Component == held[0].Component
	}, waitFor, 20*time.Millisecond)
	never(t, 500*time.Millisecond, func() bool {
		digests := n.realityDigests()
		for _, pod := range wipePods {
			if _, ok := digests[pod]; !ok {
				return true
			}
		}
		return false
	}, "a pod left reality while the restore was half done")
	n.restore(n.backup[half:])
	n.requireUntouched()
}
