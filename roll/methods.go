package roll

import (
	"context"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/kv"
)

// Create writes a new roll at the id it carries, with its audit record,
// in one transaction. An existing id is kv.ErrExists; a failed Guard is
// kv.ErrConflict.
func (s *Store) Create(ctx context.Context, actor string, v *Roll, opts ...WriteOption) (*Object, error) {
	return s.e.Create(ctx, actor, v, opts...)
}

// Get reads one roll: kv.ErrNotFound when missing, a *kv.DecodeError
// naming the key when the stored value is bad.
func (s *Store) Get(ctx context.Context, id string) (*Object, error) { return s.e.Get(ctx, id) }

// List reads every roll at one revision; bad stored values are reported
// in Invalid and do not hide the others.
func (s *Store) List(ctx context.Context) (*kv.Listing[Roll], error) { return s.e.List(ctx) }

// Watch follows every roll; a bad stored value arrives as an event with
// Err set, naming its key, and never as a delete.
func (s *Store) Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[Roll] {
	return s.e.Watch(ctx, opts...)
}

// Key returns the full etcd key of id, or an error naming a bad id.
func (s *Store) Key(id string) (string, error) { return s.e.Key(id) }

// KV is the typed store underneath, for building transactions; writes made
// through it directly are not audited.
func (s *Store) KV() *kv.Store[Roll] { return s.e.KV() }

// Audit is the audit log every change is recorded in.
func (s *Store) Audit() *audit.Log { return s.e.Audit() }
