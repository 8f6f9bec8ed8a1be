package roll

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names rolls: it is the entity field of their audit records,
// their key directory under the root prefix and their farm's kind.
const Kind = "rolls"

// Dir is the key directory of rolls under the root prefix: Kind.
const Dir = Kind

var (
	// ErrSameRC refuses a roll whose old and new RC are the same.
	ErrSameRC = errors.New("old and new RC are the same")
	// ErrRCInRoll refuses a roll over an RC that another roll already
	// moves.
	ErrRCInRoll = errors.New("RC already in another roll")
	// ErrRCsChanged refuses an update that changes a roll's RCs: delete
	// the roll and create another.
	ErrRCsChanged = errors.New("a roll's RCs cannot change")
)

// Object is a roll read from the store with its revisions.
type Object = kv.Object[Roll]

// WriteOption configures one create, update or delete.
type WriteOption = entity.WriteOption

// Guard makes a write apply only while every compare holds (a controller's
// lock); otherwise kv.ErrConflict.
func Guard(cmps ...clientv3.Cmp) WriteOption { return entity.Guard(cmps...) }

// Store holds every roll. Each create, update and delete writes an audit
// record naming the actor in the same transaction.
//
// Create refuses a roll whose RCs are the same (ErrSameRC), missing
// (kv.ErrNotFound naming the RC's key) or in another roll (ErrRCInRoll);
// all three hold at the revision the roll is written. Update and Modify
// refuse to change a roll's RCs (ErrRCsChanged).
type Store struct {
	e        *entity.Store[Roll]
	o        keyspace.Options
	statuses *status.Store[Status]
}

// NewStore returns the roll store under the root prefix.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *Store {
	o := keyspace.Resolve(opts)
	return &Store{o: o, statuses: NewStatusStore(client, opts...), e: entity.New(client, entity.Spec[Roll]{
		Dir:      Dir,
		ID:       func(r *Roll) string { return r.ID },
		Validate: (*Roll).Validate,
		Unique:   disjoint,
		Needs: func(r *Roll) []string {
			return []string{
				o.Dir(rc.Dir, r.OldRC),
				o.Dir(rc.Dir, r.NewRC),
			}
		},
	}, opts...)}
}

// disjoint refuses a roll that shares an RC with another.
func disjoint(r, other *Roll) error {
	for _, id := range []string{r.OldRC, r.NewRC} {
		if id == other.OldRC || id == other.NewRC {
			return fmt.Errorf("%w: rc %q is in roll %q", ErrRCInRoll, id, other.ID)
		}
	}
	return nil
}

// Update writes next over prev with compare-and-swap. A roll's RCs cannot
// change (ErrRCsChanged).
func (s *Store) Update(ctx context.Context, actor string, prev *Object, next *Roll, opts ...WriteOption) (*Object, error) {
	if prev != nil && next != nil && (prev.Value.OldRC != next.OldRC || prev.Value.NewRC != next.NewRC) {
		return nil, fmt.Errorf("update %s: %w", prev.Key, ErrRCsChanged)
	}
	return s.e.Update(ctx, actor, prev, next, opts...)
}

// Modify reads a roll, lets fn change a copy and writes it back with
// compare-and-swap, retrying while it changes underneath. fn may not change
// the RCs (ErrRCsChanged).
func (s *Store) Modify(ctx context.Context, actor, id string, fn func(r *Roll) error, opts ...WriteOption) (*Object, error) {
	return s.e.Modify(ctx, actor, id, func(r *Roll) error {
		old, oldNew := r.OldRC, r.NewRC
		if err := fn(r); err != nil {
			return err
		}
		if r.OldRC != old || r.NewRC != oldNew {
			return fmt.Errorf("roll %s: %w", id, ErrRCsChanged)
		}
		return nil
	}, opts...)
}

// Delete removes a roll. A deleted roll halts where it is; both RCs stay as
// they are.
func (s *Store) Delete(ctx context.Context, actor, id string, opts ...WriteOption) error {
	return s.e.Delete(ctx, actor, id, nil, opts...)
}
