package reliability_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/preparer"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPreparerRelistAfterCutOffIsGuarded wipes a node's intent, its own pod
// with it, while the preparer is cut off and the intent watch's stream
// loses the deletes (the lose-events cut). When the network comes back the
// lost lease makes the preparer relist intent. The relist finds nothing
// and is judged like any batch: it is held, and nothing is uninstalled.
// When intent is restored the hold ends and the node runs on unchanged.
// Without the relist the wipe is never seen and no hold is recorded; a
// relist that skipped the failsafe chain would uninstall both apps.
func TestPreparerRelistAfterCutOffIsGuarded(t *testing.T) {
	w := newWorld(t, 3)
	f := loseWhatEtcdSends(w, "/p2/intent/n1/a")
	n := w.proxiedNode("n1", f.endpoints, nodeTTL, kv.DefaultStallTimeout)
	a1, b1 := version("a", 1), version("b", 1)
	_, err := w.intent.Set(w.ctx, "n1", a1)
	require.NoError(t, err)
	_, err = w.intent.Set(w.ctx, "n1", b1)
	require.NoError(t, err)
	want := map[string]string{"a": digest(t, a1), "b": digest(t, b1)}
	require.Eventually(t, func() bool { return runs(n, want) && w.nodeRecord("n1") }, waitFor, 10*time.Millisecond)
	pidA, pidB := n.PID("a"), n.PID("b")
	unchanged := func() bool {
		return runs(n, want) && n.PID("a") == pidA && n.PID("b") == pidB && n.Removes() == 0
	}

	f.cut()
	require.Eventually(t, func() bool { return !w.nodeRecord("n1") }, waitFor, 10*time.Millisecond,
		"the node record expires with its lease")
	_, err = w.cli.Delete(w.ctx, "/p2/intent/n1/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Never(t, func() bool { return !unchanged() }, 2*nodeTTL, 20*time.Millisecond, "changed while cut off")
	f.heal()

	require.Eventually(t, func() bool {
		for _, h := range w.holds() {
			if h.Component == "preparer/n1" {
				return true
			}
		}
		return false
	}, waitFor, 10*time.Millisecond, "the relist of a wiped intent is held; holds %v", components(w.holds()))
	require.True(t, unchanged(), "the node changed under a hold: runs %s, %d removed", describe(n), n.Removes())

	_, err = w.intent.Set(w.ctx, "n1", version(preparer.DefaultSelfPodID, 1))
	require.NoError(t, err)
	_, err = w.intent.Set(w.ctx, "n1", a1)
	require.NoError(t, err)
	_, err = w.intent.Set(w.ctx, "n1", b1)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(w.holds()) == 0 && w.nodeRecord("n1") }, waitFor, 10*time.Millisecond,
		"the hold ends when intent is restored; holds %v", components(w.holds()))
	require.True(t, unchanged(), "runs %s, %d removed", describe(n), n.Removes())
}
