package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/manifest"
)

// HasStringField reports whether data is a JSON object whose member name holds a string:
// how the entity decoders tell P2's records, which keep a manifest as YAML text, from
// p2kit's, which keep it as an object.
func HasStringField(data []byte, name string) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	v := bytes.TrimSpace(probe[name])
	return len(v) > 0 && v[0] == '"'
}

// HasField reports whether data is a JSON object with a member name.
func HasField(data []byte, name string) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	_, ok := probe[name]
	return ok
}

// ManifestText decodes a manifest kept as YAML (or JSON) text, as P2 stored a controller's
// manifest. It does not validate; the error names field.
func ManifestText(field, text string) (manifest.Manifest, error) {
	if text == "" {
		return manifest.Manifest{}, fmt.Errorf("%s: required", field)
	}
	m, err := manifest.Parse([]byte(text))
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("%s: %w", field, err)
	}
	return *m, nil
}

// Nanos is a duration as P2 stored it: an integer number of nanoseconds (Go's time.Duration
// marshalled by encoding/json).
type Nanos int64

// Duration returns n as a Duration.
func (n Nanos) Duration() Duration { return Duration(time.Duration(n)) }

// Strategy reads an allocation strategy as p2kit ("static", "dynamic") or P2
// ("static_strategy", "dynamic_strategy") wrote it and returns p2kit's form. Other values are
// returned unchanged for the caller's validation to refuse.
func Strategy(s string) string {
	switch s {
	case "static_strategy":
		return "static"
	case "dynamic_strategy":
		return "dynamic"
	}
	return s
}
