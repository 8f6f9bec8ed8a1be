package rc

import (
	"context"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/kv"
)

// Create writes a new RC at the id it carries, with its audit record,
// in one transaction. An existing id is kv.ErrExists; a failed Guard is
// kv.ErrConflict.
func (s *Store) Create(ctx context.Context, actor string, v *RC, opts ...WriteOption) (*Object, error) {
	return s.e.Create(ctx, actor, v, opts...)
}

// Get reads one RC: kv.ErrNotFound when missing, a *kv.DecodeError
// naming the key when the stored value is bad.
func (s *Store) Get(ctx context.Context, id string) (*Object, error) { return s.e.Get(ctx, id) }

// List reads every RC at one revision; bad stored values are reported
// in Invalid and do not hide the others.
func (s *Store) List(ctx context.Context) (*kv.Listing[RC], error) { return s.e.List(ctx) }

// Watch follows every RC; a bad stored value arrives as an event with
// Err set, naming its key, and never as a delete.
func (s *Store) Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[RC] {
	return s.e.Watch(ctx, opts...)
}

// Update writes next over prev, with its audit record, if the RC has not
// changed since prev was read (compare-and-swap); otherwise kv.ErrConflict.
func (s *Store) Update(ctx context.Context, actor string, prev *Object, next *RC, opts ...WriteOption) (*Object, error) {
	return s.e.Update(ctx, actor, prev, next, opts...)
}

// Modify reads an RC, lets fn change a copy and writes it back with Update,
// reading again and retrying while it changes underneath. fn may run more
// than once; its error stops Modify. A failed Guard is kv.ErrConflict.
func (s *Store) Modify(ctx context.Context, actor, id string, fn func(v *RC) error, opts ...WriteOption) (*Object, error) {
	return s.e.Modify(ctx, actor, id, fn, opts...)
}

// Key returns the full etcd key of id, or an error naming a bad id.
func (s *Store) Key(id string) (string, error) { return s.e.Key(id) }

// KV is the typed store underneath, for building transactions; writes made
// through it directly are not audited.
func (s *Store) KV() *kv.Store[RC] { return s.e.KV() }

// Audit is the audit log every change is recorded in.
func (s *Store) Audit() *audit.Log { return s.e.Audit() }
