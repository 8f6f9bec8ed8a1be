package kv

// View is read-only access to a watched state, keyed by name.
type View[T any] interface {
	// Get returns the object at name, if present.
	Get(name string) (*Object[T], bool)
	// Len is the number of keys.
	Len() int
	// Range calls fn for every object, in no particular order, until fn
	// returns false.
	Range(fn func(*Object[T]) bool)
}

// MapView is a View over a map from name to object.
type MapView[T any] map[string]*Object[T]

// Get implements View.
func (m MapView[T]) Get(name string) (*Object[T], bool) {
	o, ok := m[name]
	return o, ok
}

// Len implements View.
func (m MapView[T]) Len() int { return len(m) }

// Range implements View.
func (m MapView[T]) Range(fn func(*Object[T]) bool) {
	for _, o := range m {
		if !fn(o) {
			return
		}
	}
}

// Overlay is a View of base with some names replaced: changes maps a name to
// its object in the overlay, or to nil when the name is absent there. It
// costs O(len(changes)) to build and never copies base, so middleware can
// describe "the state as the consumer last saw it" cheaply.
func Overlay[T any](base View[T], changes map[string]*Object[T]) View[T] {
	n := base.Len()
	for name, o := range changes {
		_, inBase := base.Get(name)
		switch {
		case o != nil && !inBase:
			n++
		case o == nil && inBase:
			n--
		}
	}
	return &overlay[T]{base: base, changes: changes, n: n}
}

type overlay[T any] struct {
	base    View[T]
	changes map[string]*Object[T]
	n       int
}

func (v *overlay[T]) Get(name string) (*Object[T], bool) {
	if o, ok := v.changes[name]; ok {
		return o, o != nil
	}
	return v.base.Get(name)
}

func (v *overlay[T]) Len() int { return v.n }

func (v *overlay[T]) Range(fn func(*Object[T]) bool) {
	stopped := false
	v.base.Range(func(o *Object[T]) bool {
		if _, changed := v.changes[o.Name]; changed {
			return true
		}
		if !fn(o) {
			stopped = true
			return false
		}
		return true
	})
	if stopped {
		return
	}
	for _, o := range v.changes {
		if o != nil && !fn(o) {
			return
		}
	}
}

// before is the lazily built view of the state before a batch: the state
// after it with every event undone. Building the overlay is deferred until a
// consumer asks, so batches nobody judges cost nothing extra.
type before[T any] struct {
	after  View[T]
	events []Event[T]
	v      View[T]
}

func beforeOf[T any](after View[T], events []Event[T]) View[T] {
	return &before[T]{after: after, events: events}
}

// ViewBefore is the state before events, given the state after them: after
// with every event undone (an event with Err changed nothing). It is built
// lazily, when first read, and costs O(len(events)) then, so middleware
// that builds batches of its own can give them a Before for free.
func ViewBefore[T any](after View[T], events []Event[T]) View[T] {
	return beforeOf(after, events)
}

func (b *before[T]) view() View[T] {
	if b.v == nil {
		undo := make(map[string]*Object[T], len(b.events))
		for i := range b.events {
			ev := &b.events[i]
			if ev.Err != nil {
				continue // the state kept its old value: nothing to undo
			}
			if _, seen := undo[ev.Name]; !seen {
				undo[ev.Name] = ev.Old
			}
		}
		b.v = Overlay(b.after, undo)
	}
	return b.v
}

func (b *before[T]) Get(name string) (*Object[T], bool) { return b.view().Get(name) }
func (b *before[T]) Len() int                           { return b.view().Len() }
func (b *before[T]) Range(fn func(*Object[T]) bool)     { b.view().Range(fn) }

// Snapshot copies a view into a map that stays valid after the next batch.
func Snapshot[T any](v View[T]) map[string]*Object[T] {
	m := make(map[string]*Object[T], v.Len())
	v.Range(func(o *Object[T]) bool {
		m[o.Name] = o
		return true
	})
	return m
}
