package preparer_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keyLease is the lease key is written under; it fails the test when the
// key is missing.
func (e *env) keyLease(key string) clientv3.LeaseID {
	e.t.Helper()
	resp, err := e.cli.Get(e.ctx(), key)
	require.NoError(e.t, err)
	require.Len(e.t, resp.Kvs, 1, "%s", key)
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// A preparer's hold records are written under its node record's lease: a
// hold grants no lease of its own (one raft write fewer at its start and
// end, on every node of a mass deletion). A preparer stopped while it
// holds leaves that lease to expire instead of revoking it, so that the
// hold record is there for its restart to take up.
func TestHoldRecordsShareTheNodeRecordLease(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.setIntent(testManifest("hello", 1)) // no self pod: the preparer holds
	stop := e.run(n, n)
	holds := e.waitHolds(1)

	nodeKey, err := status.NewNodeStore(e.cli).Key(e.node)
	require.NoError(t, err)
	var nodeLease clientv3.LeaseID
	require.Eventually(t, func() bool {
		resp, err := e.cli.Get(e.ctx(), nodeKey)
		if err != nil || len(resp.Kvs) != 1 {
			return false
		}
		nodeLease = clientv3.LeaseID(resp.Kvs[0].Lease)
		return true
	}, waitFor, 20*time.Millisecond, "node record")
	holdKey := failsafe.HoldKey("/p2", holds[0].ID)
	require.NotZero(t, nodeLease)
	require.Equal(t, nodeLease, e.keyLease(holdKey), "the hold record is under the node record's lease")
	leases, err := e.cli.Leases(e.ctx())
	require.NoError(t, err)
	require.Len(t, leases.Leases, 1, "one lease for the node record and the hold")

	stop()
	ttl, err := e.cli.TimeToLive(e.ctx(), nodeLease)
	require.NoError(t, err)
	require.Positive(t, ttl.TTL, "the lease is left to expire, not revoked, while a hold is in effect")
	require.Equal(t, nodeLease, e.keyLease(holdKey), "the hold record outlives the preparer")
}

// Without a hold in effect, a stopped preparer revokes its node record's
// lease: the record goes at once.
func TestStoppedPreparerRevokesTheNodeLease(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	stop := e.run(n, n)
	nodeKey, err := status.NewNodeStore(e.cli).Key(e.node)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := e.cli.Get(e.ctx(), nodeKey)
		return err == nil && len(resp.Kvs) == 1
	}, waitFor, 20*time.Millisecond, "node record")
	e.waitHolds(0)
	lease := e.keyLease(nodeKey)

	stop()
	ttl, err := e.cli.TimeToLive(e.ctx(), lease)
	require.NoError(t, err)
	require.Equal(t, int64(-1), ttl.TTL, "the node record's lease is revoked")
	resp, err := e.cli.Get(e.ctx(), nodeKey)
	require.NoError(t, err)
	require.Empty(t, resp.Kvs)
}
