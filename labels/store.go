package labels

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Store reads and writes label sets under <root>/labels/<type>/<id>, for
// the built-in types and any other valid type name (Type.Validate). Every
// id is validated (ValidateID) and every set written or read is validated
// (Set.Validate); a bad stored value surfaces as a *kv.DecodeError naming
// its key. Objects the store returns have Name set to the id ("web1", or
// "web1/hello" for a pod), never to the type.
type Store struct {
	root *kv.Store[Set]
	log  *zap.Logger
}

// New returns a label store over client; keyspace.WithPrefix sets the root
// prefix (labels live under <root>/labels/) and keyspace.WithLogger the
// logger of watches and of undecodable values skipped by Matching.
func New(client *clientv3.Client, opts ...keyspace.Option) *Store {
	o := keyspace.Resolve(opts)
	var c kv.Codec[Set] = codec{}
	if o.SharedValues {
		c = kv.Shared(c, sharedSets)
	}
	root := kv.New(client, o.Dir("labels")+"/",
		kv.WithCodec(c),
		kv.WithNameCheck[Set](checkName),
		kv.WithValidate(func(_ string, v *Set) error { return v.Validate() }),
		kv.WithLogger[Set](o.Log),
	)
	return &Store{root: root, log: o.Log}
}

// sharedSets is how many distinct label sets a store made with
// keyspace.WithSharedValues keeps decoded: the pod labels of a few daemon
// sets and replication controllers, and node labels that many nodes share.
const sharedSets = 4096

// checkName accepts "<type>/<id>" names relative to the labels prefix.
func checkName(name string) error {
	typ, id, ok := strings.Cut(name, "/")
	if !ok {
		return fmt.Errorf("%w: %q is not <type>/<id>", kv.ErrInvalidName, name)
	}
	if err := ValidateID(Type(typ), id); err != nil {
		return fmt.Errorf("%w: %w", kv.ErrInvalidName, err)
	}
	return nil
}

// Prefix is the key prefix of all label sets ("/p2/labels/").
func (s *Store) Prefix() string { return s.root.Prefix() }

// Of returns the typed store of one label type. Its names are ids, and its
// building blocks (PutOp, UpdateOp, Missing, ...) let a controller write
// labels in the same transaction as other keys: an RC farm scheduling a pod
// writes its intent and its pod labels at once.
// A type whose name is not valid is an error wrapping ErrInvalidType.
func (s *Store) Of(typ Type) (*kv.Store[Set], error) {
	if err := typ.Validate(); err != nil {
		return nil, err
	}
	return s.root.Sub(string(typ))
}

// Key returns the etcd key of the label set of id.
func (s *Store) Key(typ Type, id string) (string, error) {
	st, err := s.Of(typ)
	if err != nil {
		return "", err
	}
	return st.Key(id)
}

// Get reads the label set of id. A missing set is kv.ErrNotFound; a stored
// value that is not a valid label set is a *kv.DecodeError.
func (s *Store) Get(ctx context.Context, typ Type, id string) (*kv.Object[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, id)
}

// Create writes the label set of id only if it has none (kv.ErrExists
// otherwise).
func (s *Store) Create(ctx context.Context, typ Type, id string, set Set) (*kv.Object[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	set = set.Clone()
	return st.Create(ctx, id, &set)
}

// Put replaces the label set of id, whatever it holds now.
func (s *Store) Put(ctx context.Context, typ Type, id string, set Set) (*kv.Object[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	set = set.Clone()
	return st.Put(ctx, id, &set)
}

// Update replaces the label set prev was read from with set, only if it has
// not been written since (compare-and-swap on prev.ModRevision); otherwise
// kv.ErrConflict. prev may come from Get, List or a Watch.
func (s *Store) Update(ctx context.Context, prev *kv.Object[Set], set Set) (*kv.Object[Set], error) {
	if prev == nil {
		return nil, fmt.Errorf("update labels: nil previous object")
	}
	typ, err := s.typeOf(prev.Key)
	if err != nil {
		return nil, err
	}
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	set = set.Clone()
	return st.Update(ctx, prev, &set)
}

// typeOf returns the label type of a full key under the store's prefix.
func (s *Store) typeOf(key string) (Type, error) {
	rest, ok := strings.CutPrefix(key, s.root.Prefix())
	if !ok {
		return "", fmt.Errorf("key %s is not under %s", key, s.root.Prefix())
	}
	typ, _, _ := strings.Cut(rest, "/")
	t, err := ParseType(typ)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", key, err)
	}
	return t, nil
}

// Modify reads the label set of id, lets fn change a private copy of it,
// and writes it back with compare-and-swap, retrying on conflict; fn may
// run more than once. A missing set is kv.ErrNotFound (Apply creates).
func (s *Store) Modify(ctx context.Context, typ Type, id string, fn func(Set) error) (*kv.Object[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	return st.Modify(ctx, id, func(v *Set) error {
		c := v.Clone() // v shares its map with the object read: never write into it
		if err := fn(c); err != nil {
			return err
		}
		*v = c
		return nil
	})
}

// Delete removes the label set of id; a missing one is kv.ErrNotFound.
// kv.IfModRevision makes the delete conditional.
func (s *Store) Delete(ctx context.Context, typ Type, id string, opts ...kv.DeleteOption) error {
	st, err := s.Of(typ)
	if err != nil {
		return err
	}
	return st.Delete(ctx, id, opts...)
}

// List reads every label set of one type at one revision, in id order.
// Values that are not valid label sets do not fail the listing: they are in
// Invalid, each naming its key.
func (s *Store) List(ctx context.Context, typ Type) (*kv.Listing[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	return st.List(ctx)
}
