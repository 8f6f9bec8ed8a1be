package status

import "errors"

// ErrInvalidType is wrapped by the error of every call given a Type whose
// name is not a valid id; the error quotes the type.
var ErrInvalidType = errors.New("invalid status type")
