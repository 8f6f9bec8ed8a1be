package entity

import clientv3 "go.etcd.io/etcd/client/v3"

// WriteOptions are the settings of one create, update or delete.
type WriteOptions struct {
	// Guard holds compares that must all hold for the write to apply, such
	// as a controller's ownership of its lock (concurrency.Mutex.IsOwner).
	Guard []clientv3.Cmp
	// Force overrides an entity's refusal to delete (an RC that is not
	// scaled down).
	Force bool
}

// WriteOption changes WriteOptions.
type WriteOption func(*WriteOptions)

// Guard adds compares that must hold for the write to apply; when one fails
// nothing is written and the error is kv.ErrConflict.
func Guard(cmps ...clientv3.Cmp) WriteOption {
	return func(o *WriteOptions) { o.Guard = append(o.Guard, cmps...) }
}

// Force sets WriteOptions.Force.
func Force() WriteOption { return func(o *WriteOptions) { o.Force = true } }

// ResolveWrite applies opts; a nil option is skipped.
func ResolveWrite(opts []WriteOption) WriteOptions {
	var o WriteOptions
	for _, fn := range opts {
		if fn != nil {
			fn(&o)
		}
	}
	return o
}
