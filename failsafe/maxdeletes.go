package failsafe

import "fmt"

// MaxDeletes holds a change that deletes more than n keys and more than
// fraction (0 to 1) of the keys the consumer has: MaxDeletes(h, 2, 0.5)
// holds losing more than half of the state, and more than 2 keys. Like
// NotEmpty, the hold ends by itself only when every deleted key is back.
//
// Judging costs O(events of the batch), whatever the size of the state.
func MaxDeletes[T any](h *Holds, n int, fraction float64) Guard[T] {
	return HoldIf(h, "max-deletes", func(c Change[T]) string {
		if c.Held {
			return waitingFor(c)
		}
		if c.Deletes <= n {
			return ""
		}
		total := c.Before.Len()
		if float64(c.Deletes) <= fraction*float64(total) {
			return ""
		}
		return fmt.Sprintf("change deletes %d of %d keys: more than %d and more than %g%%",
			c.Deletes, total, n, 100*fraction)
	})
}
