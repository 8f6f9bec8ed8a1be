package storetest

import (
	"context"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/kv"
)

// EntityStore is the part of an audited entity store the suite uses:
// entity.Store of any kind, and the daemon set, RC, roll and pod cluster
// stores.
type EntityStore[T any] interface {
	Create(ctx context.Context, actor string, v *T, opts ...entity.WriteOption) (*kv.Object[T], error)
	Get(ctx context.Context, id string) (*kv.Object[T], error)
	List(ctx context.Context) (*kv.Listing[T], error)
	Update(ctx context.Context, actor string, prev *kv.Object[T], v *T, opts ...entity.WriteOption) (*kv.Object[T], error)
	Delete(ctx context.Context, actor, id string, opts ...entity.WriteOption) error
	Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[T]
}

// Actor is the actor the suite's writes are audited under.
const Actor = "storetest"

// Entity adapts an audited entity store; deleteOpts are passed to every
// Delete (rc.Force, so the suite can delete RCs that have replicas).
func Entity[T any](s EntityStore[T], deleteOpts ...entity.WriteOption) Store[T] {
	return Store[T]{
		Create: func(ctx context.Context, _ string, v *T) (*kv.Object[T], error) {
			return s.Create(ctx, Actor, v)
		},
		Get:  s.Get,
		List: s.List,
		Update: func(ctx context.Context, prev *kv.Object[T], v *T) (*kv.Object[T], error) {
			return s.Update(ctx, Actor, prev, v)
		},
		Delete: func(ctx context.Context, id string) error {
			return s.Delete(ctx, Actor, id, deleteOpts...)
		},
		Watch: func(ctx context.Context) (kv.Source[T], error) { return s.Watch(ctx), nil },
	}
}
