package status

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Validator is implemented by record types that check themselves; a Store
// calls it on every write and read.
type Validator interface {
	Validate() error
}

// Store holds the records of one namespace, of every type and id, at
// <root>/status/<type>/<id>/<namespace>. One namespace is one writer's
// schema, so the store is typed: records of other namespaces under the same
// id are not its business and its watches and lists skip them.
type Store[T any] struct {
	ns string
	s  *kv.Store[T]
}

// NewStore returns the store of namespace ns. When *T implements
// Validator, every record is validated on write and read.
func NewStore[T any](client *clientv3.Client, ns string, opts ...keyspace.Option) (*Store[T], error) {
	if err := keyspace.CheckID("namespace", ns); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if client == nil {
		return nil, errors.New("status: nil etcd client")
	}
	return newStore[T](client, ns, keyspace.Resolve(opts)), nil
}

// newStore builds a store of a namespace already checked.
func newStore[T any](client *clientv3.Client, ns string, o keyspace.Options) *Store[T] {
	return &Store[T]{
		ns: ns,
		s: kv.New(client, o.Dir("status"),
			kv.WithKeyFilter[T](func(name string) bool { return lastSegment(name) == ns }),
			kv.WithNameCheck[T](nameCheck(ns)),
			kv.WithValidate(func(_ string, v *T) error {
				if val, ok := any(v).(Validator); ok {
					return val.Validate()
				}
				return nil
			}),
			kv.WithLogger[T](o.Log)),
	}
}

// Namespace is the store's namespace.
func (s *Store[T]) Namespace() string { return s.ns }

// KV is the typed store underneath, for building transactions; its names
// are "<type>/<id>/<namespace>".
func (s *Store[T]) KV() *kv.Store[T] { return s.s }

// Name is the store name of a record: "<type>/<id>/<namespace>".
func (s *Store[T]) Name(typ Type, id string) string { return string(typ) + "/" + id + "/" + s.ns }

// checked returns Name(typ, id) once typ is a valid type name: a type
// holding a "/" would otherwise read as a type and an id.
func (s *Store[T]) checked(typ Type, id string) (string, error) {
	if err := typ.Validate(); err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	return s.Name(typ, id), nil
}

// Key returns the full key of a record, or an error naming a bad type or id.
func (s *Store[T]) Key(typ Type, id string) (string, error) {
	name, err := s.checked(typ, id)
	if err != nil {
		return "", err
	}
	return s.s.Key(name)
}

// Get reads the record of id: kv.ErrNotFound when missing.
func (s *Store[T]) Get(ctx context.Context, typ Type, id string) (*kv.Object[T], error) {
	name, err := s.checked(typ, id)
	if err != nil {
		return nil, err
	}
	return s.s.Get(ctx, name)
}

// Put writes the record of id, whatever is there.
func (s *Store[T]) Put(ctx context.Context, typ Type, id string, v *T) (*kv.Object[T], error) {
	name, err := s.checked(typ, id)
	if err != nil {
		return nil, err
	}
	return s.s.Put(ctx, name, v)
}

// Create writes the record of id only if there is none (kv.ErrExists).
func (s *Store[T]) Create(ctx context.Context, typ Type, id string, v *T) (*kv.Object[T], error) {
	name, err := s.checked(typ, id)
	if err != nil {
		return nil, err
	}
	return s.s.Create(ctx, name, v)
}

// Update writes v over prev if the record has not changed since prev was
// read (compare-and-swap); otherwise kv.ErrConflict. prev may come from any
// read of the store, a watch of one type or id included.
func (s *Store[T]) Update(ctx context.Context, prev *kv.Object[T], v *T) (*kv.Object[T], error) {
	if prev == nil {
		return nil, fmt.Errorf("status: update of a nil object")
	}
	p := *prev
	p.Name = strings.TrimPrefix(prev.Key, s.s.Prefix())
	return s.s.Update(ctx, &p, v)
}

// PutOp returns the write of the record of id, for a caller's transaction.
func (s *Store[T]) PutOp(typ Type, id string, v *T) (clientv3.Op, error) {
	name, err := s.checked(typ, id)
	if err != nil {
		return clientv3.Op{}, err
	}
	return s.s.PutOp(name, v)
}

// Delete removes the record of id: kv.ErrNotFound when missing.
func (s *Store[T]) Delete(ctx context.Context, typ Type, id string, opts ...kv.DeleteOption) error {
	name, err := s.checked(typ, id)
	if err != nil {
		return err
	}
	return s.s.Delete(ctx, name, opts...)
}

// List reads the namespace's records of one type; names are
// "<id>/<namespace>". Records of other namespaces are skipped; bad records
// of this one are reported in Invalid.
func (s *Store[T]) List(ctx context.Context, typ Type) (*kv.Listing[T], error) {
	sub, err := s.sub(typ, "")
	if err != nil {
		return nil, err
	}
	return sub.List(ctx)
}

// Watch follows the namespace's records of one type; names are
// "<id>/<namespace>".
func (s *Store[T]) Watch(ctx context.Context, typ Type, opts ...kv.WatchOption) (*Watcher[T], error) {
	sub, err := s.sub(typ, "")
	if err != nil {
		return nil, err
	}
	return sub.Watch(ctx, opts...), nil
}

// WatchID follows the namespace's records under one id prefix of a type:
// for Pods, an id "<node>" follows every pod of the node, "<node>/<pod>"
// one pod. Names are relative to the id.
func (s *Store[T]) WatchID(ctx context.Context, typ Type, id string, opts ...kv.WatchOption) (*Watcher[T], error) {
	sub, err := s.sub(typ, id)
	if err != nil {
		return nil, err
	}
	return sub.Watch(ctx, opts...), nil
}

// sub returns the store under <type>/ or <type>/<id>/.
func (s *Store[T]) sub(typ Type, id string) (*kv.Store[T], error) {
	if err := typ.Validate(); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	name := string(typ)
	if id != "" {
		segs := strings.Split(id, "/")
		want := typ.idSegments()
		if len(segs) > len(want) {
			return nil, fmt.Errorf("status %s: %w: id %q: want %s", typ, kv.ErrInvalidName, id, strings.Join(want, "/"))
		}
		for i, seg := range segs {
			if err := keyspace.CheckID(want[i], seg); err != nil {
				return nil, fmt.Errorf("status %s: %w", typ, err)
			}
		}
		name += "/" + id
	}
	sub := s.s
	for _, seg := range strings.Split(name, "/") {
		var err error
		if sub, err = sub.Sub(seg); err != nil {
			return nil, err
		}
	}
	return sub, nil
}
