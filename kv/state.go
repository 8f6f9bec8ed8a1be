package kv

import "github.com/p2kit/p2kit/internal/smallmap"

// state is a watcher's objects by name, and the View its batches give
// out. It is a short slice while the prefix holds a few keys (a node's
// pods) and a Go map beyond that: a Go map costs a group of eight entries
// however few it holds, and a simulated fleet has a watcher per node.
type state[T any] struct{ m smallmap.Map[*Object[T]] }

// Get implements View.
func (s *state[T]) Get(name string) (*Object[T], bool) { return s.m.Get(name) }

// Len implements View.
func (s *state[T]) Len() int { return s.m.Len() }

// Range implements View.
func (s *state[T]) Range(fn func(*Object[T]) bool) {
	for _, o := range s.m.All() {
		if !fn(o) {
			return
		}
	}
}
