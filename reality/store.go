package reality

import (
	"github.com/p2kit/p2kit/internal/podtree"
	"github.com/p2kit/p2kit/keyspace"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names reality in audit records ("<node>/<pod-id>" ids) and is its
// key directory under the root prefix.
const Kind = "reality"

// Dir is the key directory of reality under the root prefix: Kind.
const Dir = Kind

// Object is a manifest read from the store with its revisions.
type Object = podtree.Object

// Store is what the preparer of every node has installed and launched.
// Every manifest is validated when written and when read, and its id must be
// the pod id of its key.
type Store struct {
	t *podtree.Tree
}

// NewStore returns the reality store under the root prefix.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	return &Store{podtree.New(client, Dir, opts...)}
}
