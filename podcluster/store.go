package podcluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names pod clusters: it is the entity field of their audit records,
// their key directory under the root prefix and their farm's kind.
const Kind = "pod_clusters"

// Dir is the key directory of pod clusters under the root prefix: Kind.
const Dir = Kind

// ErrDuplicate refuses a cluster whose (pod_id, availability_zone, name)
// another cluster already has.
var ErrDuplicate = errors.New("pod cluster already exists for this pod, zone and name")

// Object is a pod cluster read from the store with its revisions.
type Object = kv.Object[PodCluster]

// WriteOption configures one create, update or delete.
type WriteOption = entity.WriteOption

// Guard makes a write apply only while every compare holds (a controller's
// lock); otherwise kv.ErrConflict.
func Guard(cmps ...clientv3.Cmp) WriteOption { return entity.Guard(cmps...) }

// Store holds every pod cluster. Each create, update and delete writes an
// audit record naming the actor in the same transaction.
//
// Create and Update refuse a cluster whose (pod_id, availability_zone,
// name) another has (ErrDuplicate); the check holds at the revision of the
// write.
type Store struct {
	e *entity.Store[PodCluster]
}

// NewStore returns the pod cluster store under the root prefix.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	return &Store{entity.New(client, entity.Spec[PodCluster]{
		Dir:      Dir,
		ID:       func(c *PodCluster) string { return c.ID },
		Validate: (*PodCluster).Validate,
		Unique:   distinct,
	}, opts...)}
}

// distinct refuses two clusters with the same pod, zone and name.
func distinct(c, other *PodCluster) error {
	if c.PodID == other.PodID && c.AvailabilityZone == other.AvailabilityZone && c.Name == other.Name {
		return fmt.Errorf("%w: %s/%s/%s is cluster %q", ErrDuplicate, c.PodID, c.AvailabilityZone, c.Name, other.ID)
	}
	return nil
}

// Delete removes a pod cluster.
func (s *Store) Delete(ctx context.Context, actor, id string, opts ...WriteOption) error {
	return s.e.Delete(ctx, actor, id, nil, opts...)
}
