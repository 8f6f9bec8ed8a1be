package labels

import (
	"context"
	"slices"

	"github.com/p2kit/p2kit/kv"
	"go.uber.org/zap"
)

// Matching lists the label sets of one type and returns the ids whose sets
// sel matches, sorted. A stored value that is not a valid label set matches
// nothing: it is logged with its key at warn level and skipped, so one bad
// key does not blind every selector. An empty answer from a one-off listing
// is the answer at that revision; code that acts on it continuously should
// watch and guard instead (see Watch).
func (s *Store) Matching(ctx context.Context, typ Type, sel Selector) ([]string, error) {
	l, err := s.List(ctx, typ)
	if err != nil {
		return nil, err
	}
	for _, bad := range l.Invalid {
		s.log.Warn("skipping undecodable label set", zap.String("key", bad.Key), zap.Error(bad.Err))
	}
	ids := make([]string, 0, len(l.Items))
	for _, o := range l.Items {
		if sel.Matches(o.Value) {
			ids = append(ids, o.Name)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// MatchingIn returns the names in view (the ids, for a view of a Watch)
// whose label sets sel matches, sorted. It reads nothing from etcd: a farm
// calls it on the After view of each batch of a guarded label watch.
func MatchingIn(view kv.View[Set], sel Selector) []string {
	var ids []string
	view.Range(func(o *kv.Object[Set]) bool {
		if sel.Matches(o.Value) {
			ids = append(ids, o.Name)
		}
		return true
	})
	slices.Sort(ids)
	return ids
}
