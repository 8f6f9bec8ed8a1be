package labels

import "errors"

var (
	// ErrInvalidLabel is wrapped by every error about a bad label key or
	// value; the error names the key.
	ErrInvalidLabel = errors.New("invalid label")
	// ErrInvalidSelector is wrapped by every error Parse returns; the error
	// quotes the selector string.
	ErrInvalidSelector = errors.New("invalid selector")
	// ErrInvalidType is wrapped by the errors of ParseType and of store
	// calls given a Type whose name is not a valid id; the error quotes the
	// type.
	ErrInvalidType = errors.New("invalid label type")
)
