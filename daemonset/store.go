package daemonset

import (
	"context"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names daemon sets: it is the entity field of their audit records,
// their key directory under the root prefix and their farm's kind.
const Kind = "daemon_sets"

// Dir is the key directory of daemon sets under the root prefix: Kind.
const Dir = Kind

// Object is a daemon set read from the store with its revisions.
type Object = kv.Object[DaemonSet]

// WriteOption configures one create, update or delete.
type WriteOption = entity.WriteOption

// Guard makes a write apply only while every compare holds (a controller's
// lock); otherwise kv.ErrConflict.
func Guard(cmps ...clientv3.Cmp) WriteOption { return entity.Guard(cmps...) }

// Store holds every daemon set. Each create, update and delete writes an
// audit record naming the actor in the same transaction.
type Store struct {
	e *entity.Store[DaemonSet]
}

// NewStore returns the daemon set store under the root prefix.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	return &Store{entity.New(client, entity.Spec[DaemonSet]{
		Dir:      Dir,
		ID:       func(d *DaemonSet) string { return d.ID },
		Validate: (*DaemonSet).Validate,
	}, opts...)}
}

// Delete removes a daemon set. Deleting a daemon set removes no intent: its
// pods stay where they run until an operator unschedules them.
func (s *Store) Delete(ctx context.Context, actor, id string, opts ...WriteOption) error {
	return s.e.Delete(ctx, actor, id, nil, opts...)
}
