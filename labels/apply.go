package labels

import (
	"context"
	"errors"

	"github.com/p2kit/p2kit/kv"
)

// Apply sets the labels of add and deletes the keys in remove on the label
// set of id, creating the set when it does not exist: what "label node web1
// env=prod" does. It reads, merges (Set.With) and writes with
// compare-and-swap, retrying when another writer got there first, so
// concurrent Applys of different keys never lose each other's labels.
//
// Labels and keys are validated before anything is read. When the merge
// changes nothing the current object is returned and nothing is written.
// A stored value that is not a valid label set is returned as its
// *kv.DecodeError: overwrite it with Put.
func (s *Store) Apply(ctx context.Context, typ Type, id string, add Set, remove []string) (*kv.Object[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, err
	}
	if err := add.Validate(); err != nil {
		return nil, err
	}
	for _, k := range remove {
		if err := ValidateKey(k); err != nil {
			return nil, err
		}
	}
	if _, err := st.Key(id); err != nil {
		return nil, err
	}
	for {
		cur, err := st.Get(ctx, id)
		var obj *kv.Object[Set]
		switch {
		case errors.Is(err, kv.ErrNotFound):
			next := Set(nil).With(add, remove)
			obj, err = st.Create(ctx, id, &next)
		case err != nil:
			return nil, err
		default:
			next := cur.Value.With(add, remove)
			if next.Equal(cur.Value) {
				return cur, nil
			}
			obj, err = st.Update(ctx, cur, &next)
		}
		if errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrConflict) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return obj, err
	}
}
