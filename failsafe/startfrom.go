package failsafe

import (
	"context"
	"sort"

	"github.com/p2kit/p2kit/kv"
)

// StartFrom returns src with its first listing turned into the change from
// seed, the state its consumer acted on before it started (a preparer's
// reality, a farm's records of what it synced), to the listing. The
// guards then judge a restart like any other change: a listing that lacks
// most of what the consumer acted on is held instead of read as "delete
// them all", and a stage whose earlier run left a hold record takes that
// hold up (same component and stage, while the record's lease lasts).
//
// The first batch stays of kind kv.Initial; its Before is seed and its
// events are the keys that differ: creates, mutations, deletes, and the
// undecodable values of the listing. Later batches pass unchanged.
func StartFrom[T any](src kv.Source[T], seed kv.View[T]) kv.Source[T] {
	return &seeded[T]{wrapped: wrapped[T]{src}, seed: seed}
}

type seeded[T any] struct {
	wrapped[T]
	seed kv.View[T]
	done bool
}

// Next implements kv.Source.
func (s *seeded[T]) Next(ctx context.Context) (*kv.Batch[T], error) {
	b, err := s.inner.Next(ctx)
	if err != nil || s.done {
		return b, err
	}
	return s.first(b), nil
}

// first judges the first batch against the seed. A call of its own keeps
// Next's frame small: the consumer's goroutine waits in Next.
func (s *seeded[T]) first(b *kv.Batch[T]) *kv.Batch[T] {
	s.done = true
	seed := s.seed
	// Only the first batch needs the seed: the source keeps it no longer
	// (a preparer's whole reality, decoded).
	s.seed = nil
	if b.Kind != kv.Initial || seed == nil {
		return b
	}
	var events []kv.Event[T]
	bad := make(map[string]bool)
	for _, ev := range b.Events {
		if ev.Err == nil {
			continue
		}
		bad[ev.Name] = true
		ev.Old, _ = seed.Get(ev.Name)
		ev.Type = kv.Create
		if ev.Old != nil {
			ev.Type = kv.Mutate
		}
		events = append(events, ev)
	}
	b.After.Range(func(o *kv.Object[T]) bool {
		old, had := seed.Get(o.Name)
		switch cls := classify(old, o); {
		case cls == created:
			events = append(events, kv.Event[T]{Type: kv.Create, Name: o.Name, Key: o.Key, New: o, Revision: b.Revision})
		case cls == mutated:
			events = append(events, kv.Event[T]{Type: kv.Mutate, Name: o.Name, Key: o.Key, Old: old, New: o, Revision: b.Revision})
		case had:
			// The same value: no event.
		}
		return true
	})
	seed.Range(func(o *kv.Object[T]) bool {
		if _, ok := b.After.Get(o.Name); !ok && !bad[o.Name] {
			events = append(events, kv.Event[T]{Type: kv.Delete, Name: o.Name, Key: o.Key, Old: o, Revision: b.Revision})
		}
		return true
	})
	sort.SliceStable(events, func(i, j int) bool { return events[i].Name < events[j].Name })
	return &kv.Batch[T]{Kind: kv.Initial, Revision: b.Revision, Events: events, Before: seed, After: b.After}
}
