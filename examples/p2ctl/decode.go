package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// readFile reads path, or standard input for "-".
func (a *app) readFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("-f: required")
	}
	if path == "-" {
		return io.ReadAll(a.stdin)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var perr *os.PathError
		if errors.As(err, &perr) {
			return nil, perr.Err // the caller names the file
		}
		return nil, err
	}
	return data, nil
}

// toJSON returns a YAML or JSON document as JSON. YAML is converted
// strictly (duplicate keys are errors); a second document is an error,
// never silently dropped.
func toJSON(data []byte) ([]byte, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file")
	}
	if json.Valid(data) {
		return data, nil
	}
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	switch err := dec.Decode(&doc); {
	case err == nil:
		return nil, errors.New("more than one YAML document")
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("invalid YAML after the first document: %w", err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	return js, nil
}

// decodeEntity returns the decoder of an entity type: YAML or JSON through
// the type's own strict JSON decoding (unknown fields and missing required
// numbers are errors naming the field), then its validation.
func decodeEntity[T any](validate func(*T) error) func([]byte) (any, error) {
	return func(data []byte) (any, error) {
		js, err := toJSON(data)
		if err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal(js, v); err != nil {
			return nil, jsonError(err)
		}
		if err := validate(v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// decodeManifest decodes and validates a pod manifest.
func decodeManifest(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file")
	}
	return manifest.Decode(data)
}

// jsonError drops encoding/json's "json: " prefix so the message starts with
// what is wrong.
func jsonError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, err)
	}
	return err
}

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// kvNotFound reports a missing key.
func kvNotFound(err error) bool { return errors.Is(err, kv.ErrNotFound) }
