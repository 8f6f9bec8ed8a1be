package kv

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned when a key does not exist. A missing key is
	// never reported as a zero value with a nil error.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned by Create when the key already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict is returned when a compare-and-swap fails: the key
	// changed since it was read, or a guard of the transaction failed.
	ErrConflict = errors.New("conflict: changed since read")
	// ErrInvalidName is returned for a name that cannot form a key.
	ErrInvalidName = errors.New("invalid name")
	// ErrDecode marks a stored value that cannot be decoded or fails
	// validation. Test for it with errors.Is; the concrete error is a
	// *DecodeError naming the key.
	ErrDecode = errors.New("undecodable value")
)

// DecodeError reports a stored value that could not be decoded or failed
// validation. It names the etcd key so an operator can find and fix it.
type DecodeError struct {
	Key      string
	Revision int64
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s (revision %d): %v", e.Key, e.Revision, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDecode) true for every *DecodeError.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }
