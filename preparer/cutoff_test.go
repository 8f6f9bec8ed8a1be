package preparer_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// resyncs reads p2kit_preparer_intent_resyncs_total from reg.
func resyncs(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "p2kit_preparer_intent_resyncs_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("p2kit_preparer_intent_resyncs_total is not registered")
	return 0
}

// A preparer whose node record's lease is lost (here revoked, as it
// expires after a long partition) writes the record under a new lease and
// relists intent, once per lost lease. Network faults that lose intent
// events on a live watch are in internal/reliability
// (TestPreparerBlackholedLongerThanItsLeases/lose-events).
func TestLostNodeLeaseRelistsIntent(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	reg := prometheus.NewRegistry()
	e.self()
	e.setIntent(testManifest("hello", 1))
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithNodeTTL(time.Second), preparer.WithRegistry(reg))
	var lease clientv3.LeaseID
	require.Eventually(t, func() bool {
		var ok bool
		_, lease, ok = e.nodeRecord()
		_, running := n.Running("hello")
		return ok && running
	}, waitFor, 20*time.Millisecond)
	require.Zero(t, resyncs(t, reg), "no relist while the lease holds")

	_, err := e.cli.Revoke(e.ctx(), lease)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, l, ok := e.nodeRecord()
		return ok && l != lease && l != 0 && resyncs(t, reg) == 1
	}, waitFor, 20*time.Millisecond, "no relist after the lease was lost")

	// The relist changed nothing: the pod runs on, and a later change
	// still arrives through the watch.
	_, running := n.Running("hello")
	require.True(t, running)
	e.setIntent(testManifest("hello", 2))
	want := digest(t, testManifest("hello", 2))
	require.Eventually(t, func() bool { d, ok := n.Running("hello"); return ok && d == want }, waitFor, 20*time.Millisecond)
	require.Equal(t, float64(1), resyncs(t, reg))
}
