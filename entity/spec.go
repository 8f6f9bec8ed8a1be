package entity

import "github.com/p2kit/p2kit/kv"

// Spec is what an entity package tells the generic store about its type.
type Spec[T any] struct {
	// Dir is the entity's key directory under the root prefix and its
	// name in audit records: "replication_controllers".
	Dir string
	// ID returns the value's own id, which must equal the id in its key.
	ID func(v *T) string
	// Validate checks a value on every write and every read.
	Validate func(v *T) error
	// Unique, when set, is checked on create and update against every
	// other stored entity: it returns an error when v may not coexist
	// with other. The check is atomic: the write is guarded by the
	// revision of the whole directory, so a concurrent write to any entity
	// of the directory makes it read again and retry.
	Unique func(v, other *T) error
	// Needs, when set, lists full keys that must exist when v is created
	// (a roll's RCs). The existence is checked inside the create's
	// transaction; a missing key is refused with kv.ErrNotFound naming it.
	Needs func(v *T) []string
	// CanUpdate, when set, may refuse to write next over prev (a roll
	// whose RCs would change); Update and Modify both ask it.
	CanUpdate func(prev *kv.Object[T], next *T) error
	// CanDelete, when set, may refuse the delete of the value it is shown
	// (an RC that is not scaled down); w carries the delete's options, Force
	// among them. The delete is a compare-and-swap on that value, so a
	// concurrent change makes Delete read and ask again. A stored value
	// that cannot be decoded cannot be judged: it is deleted only with
	// Force.
	CanDelete func(cur *kv.Object[T], w WriteOptions) error
}
