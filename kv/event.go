package kv

import "context"

// EventType says what happened to one key.
type EventType int

const (
	// Create: the key appeared.
	Create EventType = iota + 1
	// Mutate: the key's value changed.
	Mutate
	// Delete: the key is gone; Old holds the last value the watcher knew.
	Delete
)

func (t EventType) String() string {
	switch t {
	case Create:
		return "create"
	case Mutate:
		return "mutate"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Event is the change of one key.
//
// An event whose value could not be decoded has Err set (a *DecodeError
// naming the key) and New nil. It is never a delete: the watcher keeps the
// last good value in its state, and Old holds that value when there was one.
type Event[T any] struct {
	Type EventType
	Name string
	Key  string
	// Old is the value before the event: nil for Create.
	Old *Object[T]
	// New is the value after the event: nil for Delete and for an event
	// with an error.
	New *Object[T]
	// Err is set when the new value could not be decoded.
	Err error
	// Revision is the etcd revision of the change (for a relist, the
	// listing's revision).
	Revision int64
}

// BatchKind says where a batch comes from.
type BatchKind int

const (
	// Initial is the first listing: every key arrives as a Create.
	Initial BatchKind = iota + 1
	// Live holds the events of one etcd revision from the watch stream.
	Live
	// Resync is a relist (after compaction, or asked for with
	// Watcher.Resync) diffed against the watcher's state: net changes
	// only; deletes may hide intermediate history.
	Resync
	// Net is a net change delivered at once by a middleware, such as a
	// failsafe hold that recovered or was released.
	Net
)

func (k BatchKind) String() string {
	switch k {
	case Initial:
		return "initial"
	case Live:
		return "live"
	case Resync:
		return "resync"
	case Net:
		return "net"
	}
	return "unknown"
}

// Batch is what a watch yields: the events of one etcd revision, or the net
// changes of a relist, with read access to the state before and after.
//
// Before and After are valid until the next call to Next on the source that
// returned the batch; copy what must outlive that.
type Batch[T any] struct {
	Kind     BatchKind
	Revision int64
	Events   []Event[T]
	Before   View[T]
	After    View[T]
	// Released is set on the net change of a failsafe hold that an
	// operator released. Guards pass such a batch without judging it
	// again, so one release reaches the consumer through any stack of
	// guards. A guard written outside p2kit that builds its own batches
	// copies it from the batch it was given.
	Released bool
}

// Deletes counts the Delete events of the batch.
func (b *Batch[T]) Deletes() int {
	n := 0
	for i := range b.Events {
		if b.Events[i].Type == Delete {
			n++
		}
	}
	return n
}

// Source yields batches. Next blocks until a batch is ready, the source ends,
// or ctx ends. It is cancel-safe: when ctx ends first, Next returns ctx's
// error and the next call resumes with nothing lost. A Source is used from
// one goroutine at a time.
//
// Middleware (the failsafe guards) takes a Source and returns one, so that
// layers stack like http.Handler wrappers.
type Source[T any] interface {
	Next(ctx context.Context) (*Batch[T], error)
}

// SourceFunc adapts a function to a Source, as http.HandlerFunc does for
// handlers: a guard that only looks at batches, or a test that feeds
// batches of its own, needs no type of its own.
type SourceFunc[T any] func(ctx context.Context) (*Batch[T], error)

// Next implements Source.
func (f SourceFunc[T]) Next(ctx context.Context) (*Batch[T], error) { return f(ctx) }

// Progress is implemented by a Source that can say how far into etcd's
// history its state reaches. The failsafe guards use it to read their
// source up to the revision of an operator's release before delivering it,
// so that a key written back in the same transaction as the release is
// not delivered as a delete.
//
// Middleware that wraps a Progress source should implement Progress too,
// passing both calls to the source it wraps.
type Progress interface {
	// Revision is the etcd revision the source's state reflects. It may be
	// called from any goroutine, also while Next runs.
	Revision() int64
	// RequestProgress asks etcd to confirm how far the source has read,
	// so that the revision of a quiet source catches up with etcd's
	// without a new event. The answer arrives through Next.
	RequestProgress(ctx context.Context) error
}

// Run calls fn for every batch of src until ctx ends, src fails or fn
// returns an error.
func Run[T any](ctx context.Context, src Source[T], fn func(*Batch[T]) error) error {
	for {
		b, err := src.Next(ctx)
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
}
