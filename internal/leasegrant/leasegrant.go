// Package leasegrant grants etcd leases under an id the caller picks. A
// grant whose answer was lost (a timeout while etcd was busy) may have been
// applied all the same; the retry asks whether a lease of that id exists
// (a read) and uses it, and a grant sent again under the same id that
// finds it ("lease already exists") uses it too. A grant under an id etcd
// picks would leave the first lease behind, one more raft entry to revoke
// when its TTL ends, on an etcd that is already behind; and each grant
// sent again is a raft entry, refused or not.
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
	sent bool // a grant of next was sent and its answer lost
}

// Grant grants a lease of ttl seconds. When the last grant's answer was
// lost, it first asks etcd whether that lease exists (a read) before
// sending the grant again (a raft entry, applied or refused).
func (g *Granter) Grant(ctx context.Context, client *clientv3.Client, ttl int64) (clientv3.LeaseID, error) {
	if g.next == clientv3.NoLease {
		g.next = newID()
	}
	id := g.next
	if g.sent {
		r, err := client.TimeToLive(ctx, id)
		switch {
		case err == nil && r.TTL > 0:
			// Applied though its answer was lost, as a grant answered
			// "lease already exists" below.
			g.next, g.sent = clientv3.NoLease, false
			return id, nil
		case err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound):
			return clientv3.NoLease, err
		}
		// Not there (TTL -1 or not found): grant it.
	}
	g.sent = true
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
	g.next, g.sent = clientv3.NoLease, false
	return id, nil
}

// newID picks a lease id at random (0 is NoLease).
func newID() clientv3.LeaseID { return clientv3.LeaseID(1 + rand.Int64N(math.MaxInt64-1)) }
