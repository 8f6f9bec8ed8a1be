package failsafe

import "fmt"

// RequireKey holds every change while name is absent from the watched
// state, such as the preparer's own pod under its node's intent. name is
// relative to the watched prefix, as in kv.View.Get. A watch that starts
// without name delivers nothing, not even its initial listing, until name
// appears.
func RequireKey[T any](h *Holds, name string) Guard[T] {
	return HoldIf(h, "require-key", func(c Change[T]) string {
		if _, ok := c.After.Get(name); !ok {
			return fmt.Sprintf("required key %q is absent", name)
		}
		return ""
	})
}
