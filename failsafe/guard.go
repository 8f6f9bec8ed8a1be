package failsafe

import "github.com/p2kit/p2kit/kv"

// Guard is a middleware: it wraps a watch source and returns one of the
// same type, so guards stack like http.Handler wrappers.
type Guard[T any] func(kv.Source[T]) kv.Source[T]

// Chain wraps src in guards. Batches flow through the guards in the order
// given: the first guard is the one closest to src, the last is the one the
// consumer calls.
func Chain[T any](src kv.Source[T], guards ...Guard[T]) kv.Source[T] {
	for _, g := range guards {
		src = g(src)
	}
	return src
}

// Change is what a guard judges: the net change from the state its
// consumer has seen (Before) to the current state (After).
//
// For a batch that arrives while nothing is held, Change describes the
// batch itself. While a hold is in effect (Held), it describes the net
// change since the hold began, per key and not per batch: a key deleted
// and restored with the same value is no change at all.
type Change[T any] struct {
	// Before is the consumer's view; After is the current state. Both are
	// valid only during the call to the Judge.
	Before kv.View[T]
	After  kv.View[T]
	// Deletes, Creates and Mutates count the keys the change removes
	// from, adds to and changes in Before. Undecodable values count as
	// none of them.
	Deletes, Creates, Mutates int
	// Held is true while this guard holds: the judge decides whether the
	// hold goes on.
	Held bool
	// Initial is true until the consumer has received its first batch.
	Initial bool
}

// Judge decides whether a change must be held. It returns the reason to
// hold it, or "" to pass it. It must not retain the views.
type Judge[T any] func(c Change[T]) string

// HoldIf returns a guard named guard that holds every change for which
// judge returns a reason, with the hold recorded, logged and counted
// through h. The built-in guards (RequireKey, NotEmpty, MaxDeletes) are
// HoldIf with a judge; use it to build others.
//
// The consumer of a held source sees nothing while the hold lasts. The
// hold ends when judge passes the net change (the consumer then receives
// the net change as one batch, or nothing when there is none) or when an
// operator releases it (the net change is delivered whatever judge says,
// and Released reports true for that batch).
func HoldIf[T any](h *Holds, guard string, judge Judge[T]) Guard[T] {
	return func(src kv.Source[T]) kv.Source[T] {
		return &holder[T]{h: h, guard: guard, judge: judge, inner: src}
	}
}
