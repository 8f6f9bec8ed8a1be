package failsafe

import (
	"context"
	"time"

	"github.com/p2kit/p2kit/kv"
)

// Guard is a middleware: it wraps a watch source and returns one of the
// same type, so guards stack like http.Handler wrappers.
type Guard[T any] func(kv.Source[T]) kv.Source[T]

// Chain wraps src in guards. Batches flow through the guards in the order
// given: the first guard is the one closest to src, the last is the one the
// consumer calls. Guards made by HoldIf over one Holds that follow one
// another join into one stage (see HoldIf), so their order does not change
// what the consumer receives.
func Chain[T any](src kv.Source[T], guards ...Guard[T]) kv.Source[T] {
	for _, g := range guards {
		src = g(src)
	}
	return src
}

// Verdict is a judge's answer about one change.
type Verdict struct {
	// Hold is the reason to hold the change; "" passes it.
	Hold string
	// RecheckAfter, when positive, asks to be judged again after this
	// long even if no new batch arrives: a guard that holds for a time
	// window ("more than 3 changes in 10s") ends its hold when the window
	// has passed, without waiting for an unrelated write.
	RecheckAfter time.Duration
}

// Pass is the verdict that lets a change through.
var Pass = Verdict{}

// HoldFor is the verdict that holds a change for reason.
func HoldFor(reason string) Verdict { return Verdict{Hold: reason} }

// Judge decides whether a change must be held. It must not retain the
// change's views, and it should return quickly: it runs on the consumer's
// goroutine, once for each batch.
type Judge[T any] func(ctx context.Context, c Change[T]) Verdict

// HoldIf returns a guard named guard that holds every change its judge
// holds, with the hold recorded, logged and counted through h. The
// built-in guards (RequireKey, NotEmpty, MaxDeletes) are HoldIf with a
// judge; use it to build others.
//
// HoldIf guards over the same Holds that wrap one another directly join
// into one stage: the stage judges every batch with all their judges
// against one consumer view, holds while any of them holds, and writes one
// hold record whose guard lists the guards that held. So the order of such
// guards in a chain never changes what the consumer receives.
//
// The consumer of a held source sees nothing while the hold lasts. After
// each new batch the stage judges the net change from the consumer's view
// to the current state. The hold ends by itself only when no judge holds
// and the net change deletes no key: every key deleted while held is back,
// whichever guard began the hold and in whatever order the keys came back.
// The consumer then receives the net change as one batch of kind kv.Net
// (creates and mutations made during the hold included), or nothing when
// there is none. Any other ending is an operator's release (Release, or
// `p2ctl failsafe release`): the stage reads its source up to the
// revision of the release, then delivers the net change once with
// Released set, and later stages pass it without judging it again.
func HoldIf[T any](h *Holds, guard string, judge Judge[T]) Guard[T] {
	return func(src kv.Source[T]) kv.Source[T] {
		if st, ok := src.(*stage[T]); ok && st.h == h && !st.used {
			return st.join(guard, judge)
		}
		return newStage(h, src, guard, judge)
	}
}
