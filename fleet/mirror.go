package fleet

import (
	"context"
	"fmt"
	"sync"

	"github.com/p2kit/p2kit/kv"
)

// Mirror keeps a copy of what a (guarded) source delivered, safe to read
// from any goroutine, and tells a callback which names changed.
type Mirror[T any] struct {
	mu      sync.RWMutex
	state   map[string]*kv.Object[T]
	rev     int64         // the newest etcd revision applied
	applied chan struct{} // closed and replaced after every applied batch
	synced  chan struct{}
	once    sync.Once
	indexes []*Index[T] // kept up to date under mu
	gen     uint64      // counts applied batches that changed something
}

func newMirror[T any]() *Mirror[T] {
	return &Mirror[T]{state: map[string]*kv.Object[T]{}, synced: make(chan struct{}), applied: make(chan struct{})}
}

// run applies every batch of src until ctx ends, then calls changed with the
// names the batch touched.
func (m *Mirror[T]) run(ctx context.Context, src kv.Source[T], changed func(names []string)) error {
	return kv.Run(ctx, src, func(b *kv.Batch[T]) error {
		names := make([]string, 0, len(b.Events))
		m.mu.Lock()
		for i := range b.Events {
			ev := &b.Events[i]
			names = append(names, ev.Name)
			switch {
			case ev.Err != nil:
				// Keep the last good value.
			case ev.Type == kv.Delete:
				m.unindex(ev.Name)
				delete(m.state, ev.Name)
			default:
				m.unindex(ev.Name)
				m.state[ev.Name] = ev.New
				for _, ix := range m.indexes {
					ix.add(ev.New)
				}
			}
		}
		m.rev = max(m.rev, b.Revision)
		if len(names) > 0 {
			m.gen++
		}
		close(m.applied)
		m.applied = make(chan struct{})
		m.mu.Unlock()
		m.once.Do(func() { close(m.synced) })
		if changed != nil && len(names) > 0 {
			changed(names)
		}
		return nil
	})
}

// unindex removes the object now at name from every index; under mu.
func (m *Mirror[T]) unindex(name string) {
	if old, ok := m.state[name]; ok {
		for _, ix := range m.indexes {
			ix.remove(old)
		}
	}
}

// Get returns the object at name.
func (m *Mirror[T]) Get(name string) (*kv.Object[T], bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, ok := m.state[name]
	return o, ok
}

// Len is the number of names.
func (m *Mirror[T]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.state)
}

// Range calls fn for every object under a read lock; fn must not call back
// into the mirror's writers.
func (m *Mirror[T]) Range(fn func(*kv.Object[T]) bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, o := range m.state {
		if !fn(o) {
			return
		}
	}
}

// Synced is closed once the first batch has been applied.
func (m *Mirror[T]) Synced() <-chan struct{} { return m.synced }

// Revision is the newest etcd revision the mirror has applied: every
// change to its keys up to it is in the mirror. A quiet mirror's revision
// does not advance with writes elsewhere in etcd.
func (m *Mirror[T]) Revision() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rev
}

// WaitFor blocks until the mirror has applied etcd revision rev, or ctx
// ends: after a write at rev that touched the mirror's keys, the mirror
// shows it (Nomad's SnapshotMinIndex). A write held by the mirror's guard
// is not applied, so bound ctx.
func (m *Mirror[T]) WaitFor(ctx context.Context, rev int64) error {
	for {
		m.mu.RLock()
		cur, ch := m.rev, m.applied
		m.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("mirror at revision %d, waiting for %d: %w", cur, rev, ctx.Err())
		}
	}
}
