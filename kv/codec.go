package kv

import "encoding/json"

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
