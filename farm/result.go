package farm

import (
	"errors"
	"time"
)

// Result is what a reconcile asks of the farm besides success or failure.
type Result struct {
	// RequeueAfter, when positive, reconciles the entity again after this
	// long (a deadline, a pacing delay), unless a change comes first.
	RequeueAfter time.Duration
}

// ErrNotOwner is returned, wrapped, when a reconcile failed because the
// farm lost the entity's lock while it ran: its fenced writes were refused.
// Another process owns the entity now; the farm does not retry it.
var ErrNotOwner = errors.New("not the owner: the entity's lock was lost")

// terminalError marks an error that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as not worth retrying (a bad spec that only an edit
// fixes): the farm logs it and counts it, and reconciles the entity again
// only when it, or something mapped to it, changes. Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or an error it wraps, was marked with
// Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}
