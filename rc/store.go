package rc

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names RCs: it is the entity field of their audit records,
// their key directory under the root prefix and their farm's kind.
const Kind = "replication_controllers"

// Dir is the key directory of RCs under the root prefix: Kind.
const Dir = Kind

// ErrNotScaledDown refuses to delete an RC whose replicas_desired is not 0;
// scale it down first, or delete with Force.
var ErrNotScaledDown = errors.New("replication controller not scaled down to 0 replicas")

// Object is an RC read from the store with its revisions.
type Object = kv.Object[RC]

// WriteOption configures one create, update or delete.
type WriteOption = entity.WriteOption

// Guard makes a write apply only while every compare holds (a controller's
// lock: concurrency.Mutex.IsOwner); otherwise kv.ErrConflict.
func Guard(cmps ...clientv3.Cmp) WriteOption { return entity.Guard(cmps...) }

// Force lets Delete remove an RC that is not scaled down.
func Force() WriteOption { return entity.Force() }

// Store holds every RC. Each create, update and delete writes an audit
// record naming the actor in the same transaction.
type Store struct {
	e *entity.Store[RC]
}

// NewStore returns the RC store under the root prefix.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	return &Store{entity.New(client, entity.Spec[RC]{
		Dir:      Dir,
		ID:       func(r *RC) string { return r.ID },
		Validate: (*RC).Validate,
	}, opts...)}
}

// Delete removes an RC, refused with ErrNotScaledDown while its
// replicas_desired is not 0 unless Force is given. The check and the delete
// are one compare-and-swap, so a concurrent scale-up cannot slip between
// them. A stored value that cannot be decoded is deleted only with Force.
func (s *Store) Delete(ctx context.Context, actor, id string, opts ...WriteOption) error {
	return s.e.Delete(ctx, actor, id, func(cur *Object, w entity.WriteOptions) error {
		if cur.Value.ReplicasDesired != 0 && !w.Force {
			return fmt.Errorf("%w: replicas_desired is %d", ErrNotScaledDown, cur.Value.ReplicasDesired)
		}
		return nil
	}, opts...)
}

// Scale sets an RC's replicas_desired, retrying while the RC changes
// underneath.
func (s *Store) Scale(ctx context.Context, actor, id string, replicas int, opts ...WriteOption) (*Object, error) {
	return s.Modify(ctx, actor, id, func(r *RC) error {
		r.ReplicasDesired = replicas
		return nil
	}, opts...)
}
