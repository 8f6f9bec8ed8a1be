package storetest

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Store adapts one entity store to the suite's uniform calls. Ids are the
// store's names: "web1/hello" for intent, "hello" for an RC.
type Store[T any] struct {
	Create func(ctx context.Context, id string, v *T) (*kv.Object[T], error)
	Get    func(ctx context.Context, id string) (*kv.Object[T], error)
	List   func(ctx context.Context) (*kv.Listing[T], error)
	Update func(ctx context.Context, prev *kv.Object[T], v *T) (*kv.Object[T], error)
	Delete func(ctx context.Context, id string) error
	Watch  func(ctx context.Context) (kv.Source[T], error)
}

// Harness describes an entity store to the suite.
type Harness[T any] struct {
	// Open returns the store under test over client with root prefix root
	// (each case gets its own root).
	Open func(t *testing.T, client *clientv3.Client, root string) Store[T]
	// Key is the full etcd key of id under root.
	Key func(root, id string) string
	// ID returns the i-th valid id; ids for different i differ.
	ID func(i int) string
	// Valid returns a valid value for id. Values for different ids must
	// be able to coexist.
	Valid func(id string) *T
	// Mutate returns a changed, still valid copy of v.
	Mutate func(v *T) *T
	// InvalidIDs are ids the store must refuse; each must appear in the
	// error.
	InvalidIDs []string
	// MissingJSON returns a stored value for id that lacks the required
	// field MissingField; reading it must fail naming the field.
	MissingJSON  func(id string) string
	MissingField string
	// Incomplete, when set, returns a value for id lacking the required
	// field IncompleteField; writing it must be refused naming the field.
	Incomplete      func(id string) *T
	IncompleteField string
}
