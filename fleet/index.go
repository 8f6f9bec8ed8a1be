package fleet

import (
	"sort"

	"github.com/p2kit/p2kit/kv"
)

// IndexFunc returns the key an object is indexed under, or ok false for an
// object the index leaves out. It must depend on the object alone.
type IndexFunc[T any] func(o *kv.Object[T]) (key string, ok bool)

// Index groups a mirror's objects by a key computed from each (see
// Mirror.AddIndex). The mirror keeps it up to date as it applies each
// batch, under the same lock, so a lookup costs the objects under one key,
// not the whole mirror, and never sees a batch half applied.
type Index[T any] struct {
	m     *Mirror[T]
	fn    IndexFunc[T]
	byKey map[string]map[string]*kv.Object[T]
}

// AddIndex returns a new index of the mirror by fn, built from the mirror's
// current state and kept up to date from then on. Each index costs a map
// entry per indexed object; add it once and keep it.
func (m *Mirror[T]) AddIndex(fn IndexFunc[T]) *Index[T] {
	ix := &Index[T]{m: m, fn: fn, byKey: map[string]map[string]*kv.Object[T]{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.state {
		ix.add(o)
	}
	m.indexes = append(m.indexes, ix)
	return ix
}

// add and remove run under the mirror's write lock.
func (ix *Index[T]) add(o *kv.Object[T]) {
	key, ok := ix.fn(o)
	if !ok {
		return
	}
	names := ix.byKey[key]
	if names == nil {
		names = map[string]*kv.Object[T]{}
		ix.byKey[key] = names
	}
	names[o.Name] = o
}

func (ix *Index[T]) remove(o *kv.Object[T]) {
	key, ok := ix.fn(o)
	if !ok {
		return
	}
	names := ix.byKey[key]
	delete(names, o.Name)
	if len(names) == 0 {
		delete(ix.byKey, key)
	}
}

// Get returns the objects indexed under key, sorted by name.
func (ix *Index[T]) Get(key string) []*kv.Object[T] {
	ix.m.mu.RLock()
	out := make([]*kv.Object[T], 0, len(ix.byKey[key]))
	for _, o := range ix.byKey[key] {
		out = append(out, o)
	}
	ix.m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names indexed under key, sorted.
func (ix *Index[T]) Names(key string) []string {
	ix.m.mu.RLock()
	out := make([]string, 0, len(ix.byKey[key]))
	for name := range ix.byKey[key] {
		out = append(out, name)
	}
	ix.m.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Len is the number of objects indexed under key.
func (ix *Index[T]) Len(key string) int {
	ix.m.mu.RLock()
	defer ix.m.mu.RUnlock()
	return len(ix.byKey[key])
}

// Range calls fn for every object indexed under key, in no order, under
// the mirror's read lock; fn must not call back into the mirror's writers.
func (ix *Index[T]) Range(key string, fn func(*kv.Object[T]) bool) {
	ix.m.mu.RLock()
	defer ix.m.mu.RUnlock()
	for _, o := range ix.byKey[key] {
		if !fn(o) {
			return
		}
	}
}
