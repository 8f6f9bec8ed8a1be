package kv

// Object is a value read from the store together with the etcd revisions it
// was read at. Objects handed out by a Store or a watch are shared: never
// mutate one in place; build a new value and write it with Update.
type Object[T any] struct {
	// Name is the key relative to the store's prefix ("web1/hello").
	Name string
	// Key is the full etcd key ("/p2/intent/web1/hello").
	Key   string
	Value T
	// CreateRevision is the revision at which the key was created.
	CreateRevision int64
	// ModRevision is the revision of the last write; Update compares it.
	ModRevision int64
	// Version counts writes to the key since it was created.
	Version int64
}
