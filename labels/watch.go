package labels

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/kv"
)

// Watch follows the label sets of one type: names in its batches and views
// are ids, and keys of other types (pod labels for a node watch) are never
// seen. A relabel arrives as a kv.Mutate event with the old and new sets; a
// value that is not a valid label set arrives as an event with Err set and
// leaves the last good set in the state.
//
// Guard it before acting on it: stack failsafe.NotEmpty on the watcher, so
// an empty label tree where labels existed is held instead of read as "no
// node matches". A type whose name is not valid is an error wrapping
// ErrInvalidType that quotes it.
func (s *Store) Watch(ctx context.Context, typ Type, opts ...kv.WatchOption) (*kv.Watcher[Set], error) {
	st, err := s.Of(typ)
	if err != nil {
		return nil, fmt.Errorf("labels: watch: %w", err)
	}
	return st.Watch(ctx, opts...), nil
}
