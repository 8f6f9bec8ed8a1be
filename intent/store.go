package intent

import (
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/podstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names intent in audit records ("<node>/<pod-id>" ids) and is its
// key directory under the root prefix.
const Kind = "intent"

// Dir is the key directory of intent under the root prefix: Kind.
const Dir = Kind

// Object is a manifest read from the store with its revisions.
type Object = podstore.Object

// Store is the intent of every node: what should run there,
// at <root>/intent/<node>/<pod-id>. Every method is podstore.Store's: every
// manifest is validated when written and when read, and its id must be the
// pod id of its key.
type Store struct {
	*podstore.Store
}

// NewStore returns the intent store under the root prefix
// (keyspace.WithPrefix, default "/p2").
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	return &Store{podstore.New(client, Dir, opts...)}
}
