package keyspace

import (
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
)

// IDs returns a name check for kv.WithNameCheck: the name must have one
// "/"-separated segment per entry of segments, each a valid id
// (manifest.ValidateID). segments name the parts for error messages:
// IDs("node", "pod") accepts "web1/hello". Errors wrap kv.ErrInvalidName and
// manifest.ErrInvalidID and quote the bad id.
func IDs(segments ...string) func(name string) error {
	return func(name string) error {
		parts := strings.Split(name, "/")
		if len(parts) != len(segments) {
			return fmt.Errorf("%w: %q: want %s", kv.ErrInvalidName, name, strings.Join(segments, "/"))
		}
		for i, p := range parts {
			if err := CheckID(segments[i], p); err != nil {
				return err
			}
		}
		return nil
	}
}

// CheckID validates one id and names what it is in the error: "node:
// invalid id "Web1": ...". The error wraps kv.ErrInvalidName and
// manifest.ErrInvalidID.
func CheckID(what, id string) error {
	if err := manifest.ValidateID(id); err != nil {
		return fmt.Errorf("%w: %s: %w", kv.ErrInvalidName, what, err)
	}
	return nil
}
