package failsafe_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
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

// countingClient is a client of c that counts its unary requests by
// method ("/etcdserverpb.KV/Txn", ...).
func countingClient(t *testing.T, c *etcdtest.Cluster) (*clientv3.Client, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	calls := map[string]int{}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				mu.Lock()
				calls[method]++
				mu.Unlock()
				return invoker(ctx, method, req, reply, cc, opts...)
			})},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(calls)
	}
}

// leaseBox is a lease its test owns and may replace, handed to Holds
// through WithLease.
type leaseBox struct {
	mu sync.Mutex
	id clientv3.LeaseID
}

// ownedLeaseHolds grants a lease for the test to own and returns Holds of
// component under root that write their records under it.
func ownedLeaseHolds(t *testing.T, cli *clientv3.Client, root, component string) (*failsafe.Holds, *leaseBox) {
	t.Helper()
	g, err := cli.Grant(ctxT(t), 60)
	require.NoError(t, err)
	box := &leaseBox{id: g.ID}
	h := failsafe.NewHolds(cli, component, failsafe.WithPrefix(root), failsafe.WithLease(box.get))
	t.Cleanup(h.Close)
	return h, box
}

// replaceOwnersLease has the owner of box's lease grant another and give
// the first up, as a preparer that lost its node lease does (tell is how
// it tells the Holds, if it does), and waits until the hold record at key
// is written again under the new lease.
func replaceOwnersLease(t *testing.T, cli *clientv3.Client, box *leaseBox, key string, tell func()) {
	t.Helper()
	old := box.id
	g2, err := cli.Grant(ctxT(t), 60)
	require.NoError(t, err)
	box.set(g2.ID)
	tell()
	_, err = cli.Revoke(ctxT(t), old)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := cli.Get(ctxT(t), key)
		return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) == g2.ID
	}, waitFor, pollEvery, "record not written again under the owner's new lease")
}

func (b *leaseBox) get(context.Context) (clientv3.LeaseID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.id, nil
}

func (b *leaseBox) set(id clientv3.LeaseID) {
	b.mu.Lock()
	b.id = id
	b.mu.Unlock()
}

// With WithLease, beginning a hold costs its release watch's creation and
// one put: the record is written under the owner's lease (no grant,
// keep-alive or revoke of Holds' own), and no listing of releases is
// needed (the watch is up before the record exists). Ending it costs one
// transaction. A release still reaches the hold.
func TestHoldsUnderAnOwnersLeaseCostOneWriteEach(t *testing.T) {
	c := etcdtest.New(t)
	cli, calls := countingClient(t, c)
	root := "/owned"
	g, err := cli.Grant(ctxT(t), 60)
	require.NoError(t, err)
	box := &leaseBox{id: g.ID}
	h := failsafe.NewHolds(cli, "owned", failsafe.WithPrefix(root), failsafe.WithLease(box.get))
	t.Cleanup(h.Close)

	before := calls()
	hd := beginHold(t, h)
	require.Eventually(t, func() bool { return failsafe.Watching(h) }, waitFor, pollEvery)
	resp, err := cli.Get(ctxT(t), failsafe.HoldKey(root, hd.ID()))
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, g.ID, clientv3.LeaseID(resp.Kvs[0].Lease), "the record is under the owner's lease")
	after := calls()
	require.Equal(t, 1, after["/etcdserverpb.KV/Put"]-before["/etcdserverpb.KV/Put"], "one put: %v", after)
	require.Zero(t, after["/etcdserverpb.KV/Txn"]-before["/etcdserverpb.KV/Txn"], "%v", after)
	require.Equal(t, 1, after["/etcdserverpb.KV/Range"]-before["/etcdserverpb.KV/Range"],
		"the test's own Get only: no listing of releases; %v", after)
	require.Zero(t, after["/etcdserverpb.Lease/LeaseGrant"]-before["/etcdserverpb.Lease/LeaseGrant"], "%v", after)

	require.NoError(t, failsafe.Release(ctxT(t), cli, root, hd.ID(), "alice"))
	select {
	case <-hd.Released():
	case <-time.After(waitFor):
		t.Fatal("the release did not reach the hold")
	}
	hd.End(true)
	waitNoHolds(t, cli, root)
	leases, err := cli.Leases(ctxT(t))
	require.NoError(t, err)
	require.Len(t, leases.Leases, 1, "the owner's lease is not revoked")
	end := calls()
	for _, m := range []string{"/etcdserverpb.Lease/LeaseGrant", "/etcdserverpb.Lease/LeaseRevoke"} {
		require.Zero(t, end[m]-before[m], "%s: %v", m, end)
	}
}

// A release written before a hold is taken up from an earlier run is
// handed out: the releases are listed once the watch is up.
func TestReleaseBeforeATakeOverReachesIt(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/early"
	first, box := ownedLeaseHolds(t, cli, root, "early")
	hd := beginHold(t, first)
	first.Close() // the process stops; the record stays under the lease
	require.NoError(t, failsafe.Release(ctxT(t), cli, root, hd.ID(), "alice"))

	second := failsafe.NewHolds(cli, "early", failsafe.WithPrefix(root), failsafe.WithLease(box.get))
	t.Cleanup(second.Close)
	taken := failsafe.TakeOver(second, hd.Record())
	select {
	case <-taken.Released():
	case <-time.After(waitFor):
		t.Fatal("the release made before the hold was taken up did not reach it")
	}
	require.Equal(t, "alice", taken.ReleasedBy())
}

// When the owner replaces the lease (it lost the old one), the records
// written under the old one are written again under the new one.
func TestHoldRecordFollowsTheOwnersNewLease(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/moved"
	h, box := ownedLeaseHolds(t, cli, root, "moved")
	hd := beginHold(t, h)
	replaceOwnersLease(t, cli, box, failsafe.HoldKey(root, hd.ID()), func() {})
	hd.End(false)
	waitNoHolds(t, cli, root)
}

// An owner that calls LeaseChanged has the records written under its new
// lease, and spares the Holds asking for the lease every second: it asks
// every 30 seconds after that (every held node of a 30,000-node fleet
// asking each second was a tenth of the simulation's CPU).
func TestLeaseChangedSlowsTheLeaseChecks(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/told"
	h, box := ownedLeaseHolds(t, cli, root, "told")
	hd := beginHold(t, h)
	require.Eventually(t, func() bool { return !failsafe.LeaseCheckAt(h).IsZero() }, waitFor, pollEvery)
	require.WithinDuration(t, time.Now(), failsafe.LeaseCheckAt(h), 2*time.Second, "asked every second until told")
	replaceOwnersLease(t, cli, box, failsafe.HoldKey(root, hd.ID()), h.LeaseChanged)
	require.Eventually(t, func() bool { return time.Until(failsafe.LeaseCheckAt(h)) > 20*time.Second }, waitFor, pollEvery,
		"once told, the lease is asked for every 30 s")
	hd.End(false)
	waitNoHolds(t, cli, root)
}
