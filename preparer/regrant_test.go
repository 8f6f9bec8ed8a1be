package preparer_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A node record whose lease keeps being lost (here revoked as soon as the
// record is written under it, as leases lapse on an etcd too slow to
// renew them) is written under a new lease after a backoff that doubles,
// not at once: a fleet whose leases lapse together must not answer a slow
// etcd with a storm of grants. Once the leases hold again the record
// stays.
func TestLostNodeLeaseRegrantBacksOff(t *testing.T) {
	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	// Re-grants wait at least 100, 200, 400, 800, 1,600 and 3,200ms
	// (each delay doubles and loses up to half to jitter): the sixth
	// comes 6.3s after the first loss at the earliest, so at most five
	// fit in the six seconds below. Granting at once, the preparer grants
	// again as soon as it notices each loss, a keep-alive or a record
	// write later (about half a second here), a dozen times.
	const window, maxRegrants = 6 * time.Second, 5
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithNodeTTL(time.Second),
		preparer.WithBackoff(200*time.Millisecond, 10*time.Second))
	key := "/p2/status/nodes/" + e.node + "/preparer"

	ctx, cancel := context.WithCancel(e.ctx())
	defer cancel()
	wch := e.cli.Watch(ctx, key)
	var first clientv3.LeaseID
	require.Eventually(t, func() bool {
		var ok bool
		_, first, ok = e.nodeRecord()
		return ok && first != 0
	}, waitFor, 20*time.Millisecond)

	// Revoke every lease the record is written under, for the window
	// after the first revocation.
	seen := map[clientv3.LeaseID]bool{first: true}
	_, err := e.cli.Revoke(e.ctx(), first)
	require.NoError(t, err)
	end := time.After(window)
	regrants := 0
revoking:
	for {
		select {
		case <-end:
			break revoking
		case resp, ok := <-wch:
			require.True(t, ok, "watch of %s ended", key)
			require.NoError(t, resp.Err())
			for _, ev := range resp.Events {
				id := clientv3.LeaseID(ev.Kv.Lease)
				if ev.Type != clientv3.EventTypePut || id == 0 || seen[id] {
					continue
				}
				seen[id] = true
				regrants++
				if _, err := e.cli.Revoke(e.ctx(), id); err != nil {
					t.Logf("revoke %x: %v", id, err)
				}
			}
		}
	}
	t.Logf("%d re-grants in %s", regrants, window)
	require.LessOrEqual(t, regrants, maxRegrants, "the node record's lease was granted again without backing off")

	// Left alone, the record is written under a lease that holds.
	require.Eventually(t, func() bool {
		_, l, ok := e.nodeRecord()
		if !ok || l == 0 || seen[l] {
			return false
		}
		ttl, err := e.cli.TimeToLive(e.ctx(), l)
		return err == nil && ttl.TTL >= 0 // -1: revoked or expired
	}, waitFor, 20*time.Millisecond, "the node record never came back under a live lease")
}
