package status

import (
	"context"

	"github.com/p2kit/p2kit/kv"
)

// Watcher follows one namespace's records. It is a kv.Source: records of
// other namespaces sharing the watched prefix never reach the consumer
// (neither in events nor in the state views); a bad record of its own
// namespace arrives as an event with Err set, naming its key.
type Watcher[T any] struct {
	w  *kv.Watcher[T]
	ns string
}

func newWatcher[T any](w *kv.Watcher[T], ns string) *Watcher[T] {
	return &Watcher[T]{w: w, ns: ns}
}

// Next implements kv.Source.
func (w *Watcher[T]) Next(ctx context.Context) (*kv.Batch[T], error) {
	for {
		b, err := w.w.Next(ctx)
		if err != nil {
			return nil, err
		}
		events := make([]kv.Event[T], 0, len(b.Events))
		for _, ev := range b.Events {
			if lastSegment(ev.Name) == w.ns {
				events = append(events, ev)
			}
		}
		if len(events) == 0 && b.Kind != kv.Initial {
			continue
		}
		nb := *b
		nb.Events = events
		return &nb, nil
	}
}

// Synced is closed once the first listing has been applied.
func (w *Watcher[T]) Synced() <-chan struct{} { return w.w.Synced() }

// Revision is the last etcd revision the watcher's state reflects.
func (w *Watcher[T]) Revision() int64 { return w.w.Revision() }

// State is the watcher's current state; valid until the next call to Next.
func (w *Watcher[T]) State() kv.View[T] { return w.w.State() }

// Close ends the watch.
func (w *Watcher[T]) Close() { w.w.Close() }
