package failsafe

import (
	"context"
	"fmt"
)

// NotEmpty holds a change that empties a non-empty state. Like every hold,
// it ends by itself only when every key it deleted is back; short of
// that, an operator releases it.
func NotEmpty[T any](h *Holds) Guard[T] {
	return HoldIf(h, "not-empty", func(_ context.Context, c Change[T]) Verdict {
		if n := c.Before.Len(); n > 0 && c.After.Len() == 0 {
			return HoldFor(fmt.Sprintf("change deletes all %d keys", n))
		}
		return Pass
	})
}
