// Package smallmap is a map from strings for the few keys a node has (its
// pods): a short slice searched in order until it outgrows one, then a Go
// map. A Go map's first group has room for eight entries however few it
// holds; an object kept per node in a simulated fleet of 100,000 pays that
// for every such map it has.
package smallmap

import "iter"

// spill is how many entries a Map keeps in its slice before it moves
// them to a Go map.
const spill = 16

// Map maps strings to values. The zero value is an empty map. It is not
// safe for concurrent use.
type Map[V any] struct {
	small []entry[V]
	big   map[string]V
}

type entry[V any] struct {
	key   string
	value V
}

func (m *Map[V]) index(key string) int {
	for i := range m.small {
		if m.small[i].key == key {
			return i
		}
	}
	return -1
}

// Get returns the value of key and whether it is set.
func (m *Map[V]) Get(key string) (V, bool) {
	if m.big != nil {
		v, ok := m.big[key]
		return v, ok
	}
	if i := m.index(key); i >= 0 {
		return m.small[i].value, true
	}
	var zero V
	return zero, false
}

// Value returns the value of key, the zero value when it is not set.
func (m *Map[V]) Value(key string) V {
	v, _ := m.Get(key)
	return v
}

// Has says whether key is set.
func (m *Map[V]) Has(key string) bool {
	_, ok := m.Get(key)
	return ok
}

// Set sets key to v.
func (m *Map[V]) Set(key string, v V) {
	if m.big != nil {
		m.big[key] = v
		return
	}
	if i := m.index(key); i >= 0 {
		m.small[i].value = v
		return
	}
	if len(m.small) < spill {
		m.small = append(m.small, entry[V]{key, v})
		return
	}
	m.big = make(map[string]V, 2*spill)
	for _, e := range m.small {
		m.big[e.key] = e.value
	}
	m.big[key] = v
	m.small = nil
}

// Delete unsets key.
func (m *Map[V]) Delete(key string) {
	if m.big != nil {
		delete(m.big, key)
		return
	}
	if i := m.index(key); i >= 0 {
		last := len(m.small) - 1
		m.small[i] = m.small[last]
		m.small[last] = entry[V]{}
		m.small = m.small[:last]
		if last == 0 {
			m.small = nil
		}
	}
}

// Len is the number of keys set.
func (m *Map[V]) Len() int {
	if m.big != nil {
		return len(m.big)
	}
	return len(m.small)
}

// Clear unsets every key.
func (m *Map[V]) Clear() { m.small, m.big = nil, nil }

// All yields every key and its value, in no order. The map must not be
// changed while it runs.
func (m *Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if m.big != nil {
			for k, v := range m.big {
				if !yield(k, v) {
					return
				}
			}
			return
		}
		for _, e := range m.small {
			if !yield(e.key, e.value) {
				return
			}
		}
	}
}
