package kv

import (
	"encoding/json"
	"sync"
)

// Codec turns values into stored bytes and back.
type Codec[T any] interface {
	Marshal(v *T) ([]byte, error)
	Unmarshal(data []byte, v *T) error
}

// JSON is the default codec: encoding/json in both directions.
type JSON[T any] struct{}

// Marshal encodes v as JSON.
func (JSON[T]) Marshal(v *T) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v.
func (JSON[T]) Unmarshal(data []byte, v *T) error { return json.Unmarshal(data, v) }

// Shared wraps c so that values decoded from equal bytes share one decoded
// value: each read gets a copy of it, whose maps, slices and pointers are
// those of every other copy. A process that holds many keys with the same
// value (a controller's view of one daemon set's manifest and pod labels on
// every node) keeps one decoded value instead of one per key, and decodes
// the same bytes once.
//
// Holders of such values must treat them as read-only, and clone what they
// change: a map changed in place changes every key read from the same bytes.
//
// The last size distinct values decoded are kept, with a copy of their
// bytes; the oldest goes when a new one comes. A value c refuses is never
// kept: every read of it is decoded again and fails again. Marshal is c's.
// The returned codec is safe for concurrent use.
func Shared[T any](c Codec[T], size int) Codec[T] {
	size = max(size, 1)
	return &shared[T]{c: c, m: make(map[string]*T, size), ring: make([]string, size)}
}

type shared[T any] struct {
	c      Codec[T]
	mu     sync.Mutex
	m      map[string]*T
	ring   []string // keys in the order added
	next   int
	filled int // slots of ring in use
}

func (s *shared[T]) Marshal(v *T) ([]byte, error) { return s.c.Marshal(v) }

func (s *shared[T]) Unmarshal(data []byte, v *T) error {
	s.mu.Lock()
	p := s.m[string(data)]
	s.mu.Unlock()
	if p != nil {
		*v = *p
		return nil
	}
	p = new(T)
	if err := s.c.Unmarshal(data, p); err != nil {
		return err
	}
	key := string(data)
	s.mu.Lock()
	if q, ok := s.m[key]; ok {
		p = q // decoded meanwhile by another reader
	} else {
		if s.filled == len(s.ring) {
			delete(s.m, s.ring[s.next]) // the oldest; "" is a key like any other
		} else {
			s.filled++
		}
		s.ring[s.next] = key
		s.next = (s.next + 1) % len(s.ring)
		s.m[key] = p
	}
	s.mu.Unlock()
	*v = *p
	return nil
}
