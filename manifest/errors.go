package manifest

import "errors"

// ErrInvalid is wrapped by every error Decode and Validate return, and by the errors of
// decoding a Manifest with encoding/json.
var ErrInvalid = errors.New("invalid manifest")

// FieldError is one problem with one field of a manifest. Field is the path to it, with map keys
// and list indexes spelled out: "launchables.app.location", "launchables.app.entry_points[0]".
// A FieldError wraps ErrInvalid and Err.
type FieldError struct {
	Field string
	Err   error
}

// Error returns "<field>: <problem>".
func (e *FieldError) Error() string {
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns ErrInvalid and the problem, so errors.Is matches both.
func (e *FieldError) Unwrap() []error {
	return []error{ErrInvalid, e.Err}
}

func fieldError(field string, err error) error {
	return &FieldError{Field: field, Err: err}
}

func fieldProblem(field, problem string) error {
	return &FieldError{Field: field, Err: errors.New(problem)}
}
