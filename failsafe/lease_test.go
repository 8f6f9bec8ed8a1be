package failsafe_test

import (
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Should the records' lease be lost while a hold lasts (revoked, or
// expired while etcd was unreachable), the next keep-alive finds out and
// the record is written again under a new lease.
func TestHoldRecordWrittenAgainAfterLeaseLost(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/lost"
	h := failsafe.NewHolds(cli, "lost", failsafe.WithPrefix(root), failsafe.WithRecordTTL(time.Second))
	t.Cleanup(h.Close)
	hd := beginHold(t, h)
	key := failsafe.HoldKey(root, hd.ID())
	resp, err := cli.Get(ctxT(t), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	lease := clientv3.LeaseID(resp.Kvs[0].Lease)
	require.NotZero(t, lease)

	_, err = cli.Revoke(ctxT(t), lease)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := cli.Get(ctxT(t), key)
		return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) != lease
	}, waitFor, pollEvery, "record not written again under a new lease")
	// And the hold still ends as usual, giving the new lease back.
	hd.End(false)
	waitNoHolds(t, cli, root)
	require.Eventually(t, func() bool {
		leases, err := cli.Leases(ctxT(t))
		return err == nil && len(leases.Leases) == 0
	}, waitFor, pollEvery, "lease not given back")
}
