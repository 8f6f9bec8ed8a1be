package p2import

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Entry is one key of a Consul KV export, as `consul kv export` writes it.
type Entry struct {
	// Key is the Consul key, without a leading "/": "intent/web1/hello".
	Key string `json:"key"`
	// Flags is Consul's opaque flags word; P2 did not use it.
	Flags uint64 `json:"flags"`
	// Value is the base64 of the stored bytes.
	Value string `json:"value"`
}

// ErrExport is wrapped by the error of an export that cannot be read at
// all: not a JSON array of entries, an entry without a key, a value that is
// not base64. The message names the entry.
var ErrExport = errors.New("bad Consul KV export")

// maxExport bounds the size of an export ReadExport reads.
const maxExport = 1 << 30

// ReadExport reads a Consul KV export: a JSON array of entries. An entry
// whose value is not base64, or that has no key, makes the whole export
// unreadable (ErrExport), since what the operator exported is then unknown.
// A key listed twice is an error too.
func ReadExport(r io.Reader) ([]Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxExport+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	if len(data) > maxExport {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrExport, maxExport)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var entries []Entry
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%w: want a JSON array of {key, flags, value}: %w", ErrExport, err)
	}
	seen := make(map[string]int, len(entries))
	for i, e := range entries {
		if e.Key == "" {
			return nil, fmt.Errorf("%w: entry %d: key: required", ErrExport, i)
		}
		if _, err := base64.StdEncoding.DecodeString(e.Value); err != nil {
			return nil, fmt.Errorf("%w: entry %d (%s): value is not base64: %w", ErrExport, i, e.Key, err)
		}
		if j, dup := seen[e.Key]; dup {
			return nil, fmt.Errorf("%w: entry %d: key %s is also entry %d", ErrExport, i, e.Key, j)
		}
		seen[e.Key] = i
	}
	return entries, nil
}

// Bytes returns the entry's value, decoded from base64.
func (e Entry) Bytes() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(e.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: value is not base64: %w", e.Key, err)
	}
	return b, nil
}

// NewEntry returns the export entry of key holding value, as `consul kv
// export` would write it.
func NewEntry(key string, value []byte) Entry {
	return Entry{Key: key, Value: base64.StdEncoding.EncodeToString(value)}
}
