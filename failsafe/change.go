package failsafe

import (
	"iter"

	"github.com/p2kit/p2kit/kv"
)

// Change is what a judge judges: the net change from the state its
// consumer has seen (Before) to the current state (After).
//
// For a batch that arrives while nothing is held, Change describes the
// batch itself. While a hold is in effect (Held), it describes the net
// change since the hold began, per key and not per batch: a key deleted
// and written back with the same value is no change at all.
type Change[T any] struct {
	// Before is the consumer's view; After is the current state. Both are
	// valid only during the call to the Judge.
	Before kv.View[T]
	After  kv.View[T]
	// Deletes, Creates and Mutates count the keys the change removes
	// from, adds to and changes in Before. Undecodable values count as
	// none of them: the watcher keeps the last good value.
	Deletes, Creates, Mutates int
	// Revision is the etcd revision of the latest batch in the change.
	Revision int64
	// Held is true while the stage holds: the judges decide whether the
	// hold goes on.
	Held bool
	// Initial is true until the consumer has received its first batch.
	Initial bool

	// The changed keys: the events of a batch, or the net change of a
	// hold. Plain fields, not a closure, so that judging allocates
	// nothing.
	events []kv.Event[T]
	net    *netChange[T]
}

// Each calls fn for every key the change deletes, creates or mutates,
// until fn returns false. It costs O(keys changed), never O(state), and
// allocates nothing.
func (c Change[T]) Each(fn func(name string, t kv.EventType) bool) {
	if c.net != nil {
		c.net.each(fn)
		return
	}
	for i := range c.events {
		if ev := &c.events[i]; ev.Err == nil && !fn(ev.Name, ev.Type) {
			return
		}
	}
}

// Deleted yields the names of the keys the change deletes.
func (c Change[T]) Deleted() iter.Seq[string] { return c.only(kv.Delete) }

// Created yields the names of the keys the change creates.
func (c Change[T]) Created() iter.Seq[string] { return c.only(kv.Create) }

// Mutated yields the names of the keys whose values the change changes.
func (c Change[T]) Mutated() iter.Seq[string] { return c.only(kv.Mutate) }

func (c Change[T]) only(t kv.EventType) iter.Seq[string] {
	return func(yield func(string) bool) {
		c.Each(func(name string, et kv.EventType) bool {
			return et != t || yield(name)
		})
	}
}

// BatchChange describes one batch as a Change, for a guard that judges
// batches itself instead of through HoldIf. Initial is set for a batch of
// kind kv.Initial.
func BatchChange[T any](b *kv.Batch[T]) Change[T] {
	c := Change[T]{Before: b.Before, After: b.After, Revision: b.Revision, Initial: b.Kind == kv.Initial}
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Err != nil {
			continue
		}
		switch ev.Type {
		case kv.Delete:
			c.Deletes++
		case kv.Create:
			c.Creates++
		case kv.Mutate:
			c.Mutates++
		}
	}
	c.events = b.Events
	return c
}
