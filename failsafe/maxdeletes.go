package failsafe

import (
	"context"
	"fmt"
)

// MaxDeletes holds a change that deletes more than n keys and more than
// fraction (0 to 1) of the keys the consumer has: MaxDeletes(h, 2, 0.5)
// holds losing more than half of the state, and more than 2 keys. Exactly
// n deletes, or exactly the fraction, pass. Like every hold, it ends by
// itself only when every deleted key is back.
//
// Judging costs O(1): the counts come with the change.
func MaxDeletes[T any](h *Holds, n int, fraction float64) Guard[T] {
	return HoldIf(h, "max-deletes", func(_ context.Context, c Change[T]) Verdict {
		if c.Deletes <= n {
			return Pass
		}
		total := c.Before.Len()
		if float64(c.Deletes) <= fraction*float64(total) {
			return Pass
		}
		return HoldFor(fmt.Sprintf("change deletes %d of %d keys: more than %d and more than %g%%",
			c.Deletes, total, n, 100*fraction))
	})
}
