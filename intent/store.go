package intent

import (
	"github.com/p2kit/p2kit/internal/podtree"
	"github.com/p2kit/p2kit/keyspace"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Dir is the key directory of intent under the root prefix.
const Dir = "intent"

// Object is a manifest read from the store with its revisions.
type Object = podtree.Object

// Option configures a Store.
type Option = keyspace.Option

// WithPrefix sets the root prefix (default "/p2").
func WithPrefix(root string) Option { return keyspace.WithPrefix(root) }

// WithLogger sets the logger watches use.
func WithLogger(l *zap.Logger) Option { return keyspace.WithLogger(l) }

// Store is the intent of every node. Every manifest is validated when
// written and when read, and its id must be the pod id of its key.
type Store struct {
	t *podtree.Tree
}

// NewStore returns the intent store under the root prefix.
func NewStore(client *clientv3.Client, opts ...Option) *Store {
	return &Store{podtree.New(client, Dir, opts...)}
}
