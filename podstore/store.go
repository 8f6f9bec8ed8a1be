package podstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Object is a manifest read from a store with its revisions; its Name is
// "<node>/<pod-id>".
type Object = kv.Object[manifest.Manifest]

// Store holds the pod manifests of every node under one directory: intent
// and reality are each one, and a user's own per-node tree can be another.
type Store struct {
	kind string
	s    *kv.Store[manifest.Manifest]
}

// New returns the store at <root>/<dir>/<node>/<pod-id>; dir names it in
// errors. keyspace.WithPrefix sets the root (default "/p2").
func New(client *clientv3.Client, dir string, opts ...keyspace.Option) *Store {
	o := keyspace.Resolve(opts)
	return &Store{
		kind: dir,
		s: kv.New(client, o.Dir(dir),
			kv.WithNameCheck[manifest.Manifest](keyspace.IDs("node", "pod")),
			kv.WithValidate(validate),
			kv.WithCodec(manifests),
			kv.WithLogger[manifest.Manifest](o.Log)),
	}
}

// validate checks a manifest and that its id is the pod id of its key.
func validate(name string, m *manifest.Manifest) error {
	_, pod := split(name)
	if m.ID != pod {
		return fmt.Errorf("manifest id %q does not match the pod id %q of its key", m.ID, pod)
	}
	return m.Validate()
}

func split(name string) (node, pod string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i], name[i+1:]
		}
	}
	return "", name
}

// Name returns the store name of a node's pod: "<node>/<pod-id>".
func Name(node, pod string) string { return node + "/" + pod }

// Store is the typed store underneath, for building transactions.
func (p *Store) KV() *kv.Store[manifest.Manifest] { return p.s }

// Key returns the full key of a node's pod, or an error naming a bad id.
func (p *Store) Key(node, pod string) (string, error) { return p.s.Key(Name(node, pod)) }

// Set writes m as the manifest of pod m.ID on node, whatever is there.
func (p *Store) Set(ctx context.Context, node string, m *manifest.Manifest) (*Object, error) {
	if m == nil {
		return nil, fmt.Errorf("%s %s: nil manifest", p.kind, node)
	}
	return p.s.Put(ctx, Name(node, m.ID), m)
}

// Create writes m on node only if the node has no pod m.ID yet
// (kv.ErrExists otherwise).
func (p *Store) Create(ctx context.Context, node string, m *manifest.Manifest) (*Object, error) {
	if m == nil {
		return nil, fmt.Errorf("%s %s: nil manifest", p.kind, node)
	}
	return p.s.Create(ctx, Name(node, m.ID), m)
}

// Update writes m over prev if it has not changed since prev was read
// (kv.ErrConflict otherwise). m.ID must stay the pod id. prev may come from
// any read of the store, a node's watch included.
func (p *Store) Update(ctx context.Context, prev *Object, m *manifest.Manifest) (*Object, error) {
	if prev == nil {
		return nil, fmt.Errorf("%s: update of a nil object", p.kind)
	}
	o := *prev
	o.Name = strings.TrimPrefix(prev.Key, p.s.Prefix())
	return p.s.Update(ctx, &o, m)
}

// Get reads the manifest of pod on node: kv.ErrNotFound when missing.
func (p *Store) Get(ctx context.Context, node, pod string) (*Object, error) {
	return p.s.Get(ctx, Name(node, pod))
}

// Delete removes pod from node: kv.ErrNotFound when missing. With
// kv.IfModRevision it deletes only the version that was read.
func (p *Store) Delete(ctx context.Context, node, pod string, opts ...kv.DeleteOption) error {
	return p.s.Delete(ctx, Name(node, pod), opts...)
}

// List reads every pod of one node.
func (p *Store) List(ctx context.Context, node string) (*kv.Listing[manifest.Manifest], error) {
	sub, err := p.node(node)
	if err != nil {
		return nil, err
	}
	l, err := sub.List(ctx)
	if err != nil {
		return nil, err
	}
	// Names in the sub-store are relative to the node; keep them
	// "<node>/<pod-id>" like everywhere else in the tree.
	for _, o := range l.Items {
		o.Name = Name(node, o.Name)
	}
	return l, nil
}

// ListAll reads every pod of every node at one revision.
func (p *Store) ListAll(ctx context.Context) (*kv.Listing[manifest.Manifest], error) {
	return p.s.List(ctx)
}

// WatchNode follows the pods of one node; its prefix ends in "/", so node
// "web1" never sees "web10". Names in its events are pod ids.
func (p *Store) WatchNode(ctx context.Context, node string, opts ...kv.WatchOption) (*kv.Watcher[manifest.Manifest], error) {
	sub, err := p.node(node)
	if err != nil {
		return nil, err
	}
	return sub.Watch(ctx, opts...), nil
}

// WatchAll follows the pods of every node; names are "<node>/<pod-id>".
func (p *Store) WatchAll(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[manifest.Manifest] {
	return p.s.Watch(ctx, opts...)
}

func (p *Store) node(node string) (*kv.Store[manifest.Manifest], error) {
	if err := keyspace.CheckID("node", node); err != nil {
		return nil, fmt.Errorf("%s: %w", p.kind, err)
	}
	return p.s.Sub(node)
}
