package storetest

import (
	"context"
	"strings"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
)

// PodTreeStore is the part of a podstore.Store (intent.Store,
// reality.Store, a per-node store of a user's own) the suite uses.
type PodTreeStore interface {
	Create(ctx context.Context, node string, m *manifest.Manifest) (*kv.Object[manifest.Manifest], error)
	Get(ctx context.Context, node, pod string) (*kv.Object[manifest.Manifest], error)
	Update(ctx context.Context, prev *kv.Object[manifest.Manifest], m *manifest.Manifest) (*kv.Object[manifest.Manifest], error)
	Delete(ctx context.Context, node, pod string, opts ...kv.DeleteOption) error
	ListAll(ctx context.Context) (*kv.Listing[manifest.Manifest], error)
	WatchAll(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[manifest.Manifest]
}

// PodTree adapts a podstore.Store, such as intent or reality; ids are
// "<node>/<pod-id>".
func PodTree(s PodTreeStore) Store[manifest.Manifest] {
	split := func(id string) (string, string) {
		node, pod, _ := strings.Cut(id, "/")
		return node, pod
	}
	return Store[manifest.Manifest]{
		Create: func(ctx context.Context, id string, m *manifest.Manifest) (*kv.Object[manifest.Manifest], error) {
			node, _ := split(id)
			return s.Create(ctx, node, m)
		},
		Get: func(ctx context.Context, id string) (*kv.Object[manifest.Manifest], error) {
			node, pod := split(id)
			return s.Get(ctx, node, pod)
		},
		List:   s.ListAll,
		Update: s.Update,
		Delete: func(ctx context.Context, id string) error {
			node, pod := split(id)
			return s.Delete(ctx, node, pod)
		},
		Watch: func(ctx context.Context) (kv.Source[manifest.Manifest], error) {
			return s.WatchAll(ctx), nil
		},
	}
}
