// Package leasegrant grants etcd leases under an id the caller picks. A
// grant whose answer was lost (a timeout while etcd was busy) may have been
// applied all the same; retried under the same id it finds that lease
// ("lease already exists") and uses it, where a grant under an id etcd
// picks would leave the first lease behind, one more raft entry to revoke
// when its TTL ends, on an etcd that is already behind.
package leasegrant

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Granter grants one lease at a time. It keeps the id of a grant that
// failed for the next attempt, and picks a new id once a grant succeeded.
// It is not safe for concurrent use.
type Granter struct {
	next clientv3.LeaseID
}

// Grant grants a lease of ttl seconds.
func (g *Granter) Grant(ctx context.Context, client *clientv3.Client, ttl int64) (clientv3.LeaseID, error) {
	if g.next == clientv3.NoLease {
		g.next = clientv3.LeaseID(1 + rand.Int64N(math.MaxInt64-1))
	}
	id := g.next
	resp, err := pb.NewLeaseClient(client.ActiveConnection()).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttl, ID: int64(id)})
	switch {
	case err == nil && resp.Error != "":
		return clientv3.NoLease, errors.New(resp.Error)
	case err == nil:
	case errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseExist):
		// An earlier attempt's, applied though its answer was lost.
	default:
		return clientv3.NoLease, rpctypes.Error(err)
	}
	g.next = clientv3.NoLease
	return id, nil
}
