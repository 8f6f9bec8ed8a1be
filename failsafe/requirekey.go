package failsafe

import (
	"context"
	"fmt"
)

// RequireKey holds every change while name is absent from the watched
// state, such as the preparer's own pod under its node's intent. name is
// relative to the watched prefix, as in kv.View.Get. A watch that starts
// without name delivers nothing, not even its initial listing, until name
// appears. Like every hold, one that deleted keys ends by itself only
// when every deleted key is back, not merely name.
func RequireKey[T any](h *Holds, name string) Guard[T] {
	return HoldIf(h, "require-key", func(_ context.Context, c Change[T]) Verdict {
		if _, ok := c.After.Get(name); !ok {
			return HoldFor(fmt.Sprintf("required key %q is absent", name))
		}
		return Pass
	})
}
