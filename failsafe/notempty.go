package failsafe

import "fmt"

// NotEmpty holds a change that empties a non-empty state. The hold ends
// by itself only when every key it deleted is back; short of that, an
// operator releases it.
func NotEmpty[T any](h *Holds) Guard[T] {
	return HoldIf(h, "not-empty", func(c Change[T]) string {
		if c.Held {
			return waitingFor(c)
		}
		if n := c.Before.Len(); n > 0 && c.After.Len() == 0 {
			return fmt.Sprintf("change deletes all %d keys", n)
		}
		return ""
	})
}

// waitingFor is the reason a mass-delete hold goes on: it ends by itself
// when the deleted keys are back, so that a wipe restored key by key never
// leaks the keys not yet restored as deletes.
func waitingFor[T any](c Change[T]) string {
	if c.Deletes > 0 {
		return fmt.Sprintf("waiting for %d deleted of %d keys to come back", c.Deletes, c.Before.Len())
	}
	return ""
}
