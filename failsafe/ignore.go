package failsafe

import (
	"context"

	"github.com/p2kit/p2kit/kv"
)

// IgnoreDeletes drops delete events and passes the rest, as a daemon set
// farm wants: a deleted daemon set removes no intent. The consumer's views
// keep every deleted key with its last value, and a key created again
// arrives as a Mutate of that value. It holds nothing, and its memory grows
// with the deleted keys that have not come back.
func IgnoreDeletes[T any]() Guard[T] {
	return func(src kv.Source[T]) kv.Source[T] {
		return &ignoreDeletes[T]{wrapped: wrapped[T]{src}, kept: make(map[string]*kv.Object[T])}
	}
}

type ignoreDeletes[T any] struct {
	wrapped[T]
	// kept holds the deleted keys the consumer still has. None of them
	// is in the upstream state.
	kept map[string]*kv.Object[T]
}

// Next implements kv.Source.
func (s *ignoreDeletes[T]) Next(ctx context.Context) (*kv.Batch[T], error) {
	for {
		b, err := s.inner.Next(ctx)
		if err != nil {
			return nil, err
		}
		if len(s.kept) == 0 && b.Deletes() == 0 {
			return b, nil // nothing to hide
		}
		events := make([]kv.Event[T], 0, len(b.Events))
		for _, ev := range b.Events {
			old, had := s.kept[ev.Name]
			switch {
			case ev.Type == kv.Delete:
				if ev.Old != nil {
					s.kept[ev.Name] = ev.Old
				}
				continue
			case had:
				// The consumer still has the key: it changes.
				ev.Type, ev.Old = kv.Mutate, old
				if ev.Err == nil {
					delete(s.kept, ev.Name)
				}
			}
			events = append(events, ev)
		}
		if len(events) == 0 {
			continue
		}
		after := &keptView[T]{up: b.After, kept: s.kept}
		return &kv.Batch[T]{
			Kind:     b.Kind,
			Revision: b.Revision,
			Events:   events,
			Before:   kv.ViewBefore[T](after, events),
			After:    after,
			Released: b.Released,
		}, nil
	}
}

// keptView is the upstream state plus the deleted keys the consumer keeps.
type keptView[T any] struct {
	up   kv.View[T]
	kept map[string]*kv.Object[T]
}

func (v *keptView[T]) Get(name string) (*kv.Object[T], bool) {
	if o, ok := v.up.Get(name); ok {
		return o, true
	}
	o, ok := v.kept[name]
	return o, ok
}

func (v *keptView[T]) Len() int { return v.up.Len() + len(v.kept) }

func (v *keptView[T]) Range(fn func(*kv.Object[T]) bool) {
	stopped := false
	v.up.Range(func(o *kv.Object[T]) bool {
		stopped = !fn(o)
		return !stopped
	})
	if stopped {
		return
	}
	for _, o := range v.kept {
		if !fn(o) {
			return
		}
	}
}
