package entity

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Store is an audited store of one entity type at <root>/<dir>/<id>.
type Store[T any] struct {
	kv    *kv.Store[T]
	audit *audit.Log
	spec  Spec[T]
}

// New returns the store of spec's entity under the options' root prefix.
func New[T any](client *clientv3.Client, spec Spec[T], opts ...keyspace.Option) *Store[T] {
	o := keyspace.Resolve(opts)
	validate := func(name string, v *T) error {
		if id := spec.ID(v); id != name {
			return fmt.Errorf("id %q does not match the id %q of its key", id, name)
		}
		return spec.Validate(v)
	}
	return &Store[T]{
		kv: kv.New(client, o.Dir(spec.Dir),
			kv.WithNameCheck[T](keyspace.IDs("id")),
			kv.WithValidate(validate),
			kv.WithLogger[T](o.Log)),
		audit: audit.NewLog(client, opts...),
		spec:  spec,
	}
}

// KV is the typed store underneath, for building transactions.
func (s *Store[T]) KV() *kv.Store[T] { return s.kv }

// Audit is the audit log the store writes to.
func (s *Store[T]) Audit() *audit.Log { return s.audit }

// Key returns the full key of id, or an error naming a bad id.
func (s *Store[T]) Key(id string) (string, error) { return s.kv.Key(id) }

// Get reads one entity: kv.ErrNotFound when missing, a *kv.DecodeError
// naming the key when the stored value is bad.
func (s *Store[T]) Get(ctx context.Context, id string) (*kv.Object[T], error) {
	return s.kv.Get(ctx, id)
}

// List reads every entity at one revision; bad values are reported in
// Invalid and do not hide the others.
func (s *Store[T]) List(ctx context.Context) (*kv.Listing[T], error) { return s.kv.List(ctx) }

// Watch follows every entity; a bad stored value arrives as an event with
// Err set, naming its key.
func (s *Store[T]) Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[T] {
	return s.kv.Watch(ctx, opts...)
}

// Create writes a new entity at the id it carries, with its audit record,
// in one transaction. An existing id is kv.ErrExists; a failed guard is
// kv.ErrConflict; the entity's own rules (Spec.Unique, Spec.Needs) fail
// with their errors.
func (s *Store[T]) Create(ctx context.Context, actor string, v *T, opts ...WriteOption) (*kv.Object[T], error) {
	if v == nil {
		return nil, fmt.Errorf("create %s: nil value", s.spec.Dir)
	}
	id := s.spec.ID(v)
	cmp, op, err := s.kv.CreateOp(id, v)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	key := s.kv.Prefix() + id
	w := ResolveWrite(opts)
	for {
		t := txn{cmps: append([]clientv3.Cmp{cmp}, w.Guard...), ops: []clientv3.Op{op}}
		t.probe(key)
		if err := s.checkUnique(ctx, &t, id, v); err != nil {
			return nil, fmt.Errorf("create %s: %w", key, err)
		}
		var needs []string
		first := len(t.probes)
		if s.spec.Needs != nil {
			needs = s.spec.Needs(v)
			for _, k := range needs {
				t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), ">", 0))
				t.probe(k)
			}
		}
		resp, err := s.commit(ctx, &t, audit.Created, id, actor, v)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", key, err)
		}
		if resp.Succeeded {
			rev := resp.Header.Revision
			return &kv.Object[T]{Name: id, Key: key, Value: *v, CreateRevision: rev, ModRevision: rev, Version: 1}, nil
		}
		if t.exists(resp, 0) {
			return nil, fmt.Errorf("create %s: %w", key, kv.ErrExists)
		}
		for i, k := range needs {
			if !t.exists(resp, first+i) {
				return nil, fmt.Errorf("create %s: %s: %w", key, k, kv.ErrNotFound)
			}
		}
		if t.siblingsChanged(resp) {
			continue
		}
		return nil, fmt.Errorf("create %s: guard failed: %w", key, kv.ErrConflict)
	}
}

// Update writes v over prev, with its audit record, if the entity has not
// changed since prev was read (compare-and-swap); otherwise kv.ErrConflict.
// Spec.CanUpdate, when set, may refuse it.
func (s *Store[T]) Update(ctx context.Context, actor string, prev *kv.Object[T], v *T, opts ...WriteOption) (*kv.Object[T], error) {
	obj, _, err := s.update(ctx, actor, prev, v, ResolveWrite(opts))
	return obj, err
}

// update is Update that also says whether a conflict came from the entity
// itself changing, so that Modify knows a retry can succeed.
func (s *Store[T]) update(ctx context.Context, actor string, prev *kv.Object[T], v *T, w WriteOptions) (*kv.Object[T], bool, error) {
	cmp, op, err := s.kv.UpdateOp(prev, v)
	if err != nil {
		return nil, false, fmt.Errorf("update: %w", err)
	}
	if s.spec.CanUpdate != nil {
		if err := s.spec.CanUpdate(prev, v); err != nil {
			return nil, false, fmt.Errorf("update %s: %w", prev.Key, err)
		}
	}
	for {
		t := txn{cmps: append([]clientv3.Cmp{cmp}, w.Guard...), ops: []clientv3.Op{op}}
		t.probe(prev.Key)
		if err := s.checkUnique(ctx, &t, prev.Name, v); err != nil {
			return nil, false, fmt.Errorf("update %s: %w", prev.Key, err)
		}
		resp, err := s.commit(ctx, &t, audit.Updated, prev.Name, actor, v)
		if err != nil {
			return nil, false, fmt.Errorf("update %s: %w", prev.Key, err)
		}
		if resp.Succeeded {
			rev := resp.Header.Revision
			return &kv.Object[T]{Name: prev.Name, Key: prev.Key, Value: *v, CreateRevision: prev.CreateRevision,
				ModRevision: rev, Version: prev.Version + 1}, false, nil
		}
		if t.modRevision(resp, 0) != prev.ModRevision {
			return nil, true, fmt.Errorf("update %s at revision %d: %w", prev.Key, prev.ModRevision, kv.ErrConflict)
		}
		if t.siblingsChanged(resp) {
			continue
		}
		return nil, false, fmt.Errorf("update %s: guard failed: %w", prev.Key, kv.ErrConflict)
	}
}

// Modify reads id, lets fn change a copy of its value and writes it back
// with Update, reading again and retrying while the entity changes
// underneath. fn may run more than once; its error stops Modify.
func (s *Store[T]) Modify(ctx context.Context, actor, id string, fn func(v *T) error, opts ...WriteOption) (*kv.Object[T], error) {
	w := ResolveWrite(opts)
	for {
		cur, err := s.kv.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		v := cur.Value
		if err := fn(&v); err != nil {
			return nil, err
		}
		obj, retry, err := s.update(ctx, actor, cur, &v, w)
		if retry && ctx.Err() == nil {
			continue
		}
		return obj, err
	}
}

// Delete removes id with its audit record, which holds the deleted value.
// Spec.CanDelete, when set, may refuse the delete of the value it is shown;
// the delete is a compare-and-swap on that value, so a concurrent change
// makes Delete read and check again. A missing id is kv.ErrNotFound. A
// stored value that cannot be decoded is deleted too (its record has no
// details), but when CanDelete is set only with Force, since CanDelete
// cannot judge it.
func (s *Store[T]) Delete(ctx context.Context, actor, id string, opts ...WriteOption) error {
	w := ResolveWrite(opts)
	check := s.spec.CanDelete
	for {
		cur, err := s.kv.Get(ctx, id)
		var derr *kv.DecodeError
		if errors.As(err, &derr) {
			err = s.deleteBad(ctx, actor, id, derr, check != nil, w)
			if errors.Is(err, errRetry) && ctx.Err() == nil {
				continue
			}
			return err
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if check != nil {
			if err := check(cur, w); err != nil {
				return fmt.Errorf("delete %s: %w", cur.Key, err)
			}
		}
		t := txn{
			cmps: append([]clientv3.Cmp{s.kv.Unchanged(cur)}, w.Guard...),
			ops:  []clientv3.Op{clientv3.OpDelete(cur.Key)},
		}
		t.probe(cur.Key)
		resp, err := s.commit(ctx, &t, audit.Deleted, id, actor, &cur.Value)
		if err != nil {
			return fmt.Errorf("delete %s: %w", cur.Key, err)
		}
		if resp.Succeeded {
			return nil
		}
		if t.modRevision(resp, 0) != cur.ModRevision {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		return fmt.Errorf("delete %s: guard failed: %w", cur.Key, kv.ErrConflict)
	}
}

// errRetry says the value changed under a delete: read it again.
var errRetry = errors.New("changed; read again")

// deleteBad deletes a stored value that cannot be decoded, so that an
// operator can clear it through the audited path. When the entity has a
// delete check, which cannot judge a bad value, it takes Force.
func (s *Store[T]) deleteBad(ctx context.Context, actor, id string, bad *kv.DecodeError, checked bool, w WriteOptions) error {
	if checked && !w.Force {
		return fmt.Errorf("delete: %w (a bad stored value can only be deleted with Force)", bad)
	}
	t := txn{
		cmps: append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(bad.Key), "=", bad.Revision)}, w.Guard...),
		ops:  []clientv3.Op{clientv3.OpDelete(bad.Key)},
	}
	t.probe(bad.Key)
	resp, err := s.commit(ctx, &t, audit.Deleted, id, actor, nil)
	if err != nil {
		return fmt.Errorf("delete %s: %w", bad.Key, err)
	}
	if resp.Succeeded {
		return nil
	}
	if t.modRevision(resp, 0) != bad.Revision {
		return errRetry
	}
	return fmt.Errorf("delete %s: guard failed: %w", bad.Key, kv.ErrConflict)
}

// checkUnique runs Spec.Unique against every other stored entity and, when
// they pass, guards t with the revision of the listing.
func (s *Store[T]) checkUnique(ctx context.Context, t *txn, id string, v *T) error {
	if s.spec.Unique == nil {
		return nil
	}
	all, err := s.kv.List(ctx)
	if err != nil {
		return err
	}
	for _, other := range all.Items {
		if other.Name == id {
			continue
		}
		if err := s.spec.Unique(v, &other.Value); err != nil {
			return err
		}
	}
	t.guardSiblings(s.kv.Prefix(), all.Revision)
	return nil
}

// commit adds the audit record to t and runs it.
func (s *Store[T]) commit(ctx context.Context, t *txn, event audit.EventType, id, actor string, v *T) (*clientv3.TxnResponse, error) {
	if actor == "" {
		return nil, errors.New("actor: required")
	}
	var details any
	if v != nil {
		details = v
	}
	rec, err := s.audit.Op(event, s.spec.Dir, id, actor, details)
	if err != nil {
		return nil, err
	}
	t.ops = append(t.ops, rec)
	resp, err := s.kv.Client().Txn(ctx).If(t.cmps...).Then(t.ops...).Else(t.probes...).Commit()
	return resp, kv.EtcdError(err)
}
