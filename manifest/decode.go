package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// Decode parses a manifest written as JSON or YAML and validates it.
//
// A PGP clear-signed manifest, as P2 signed them, decodes to the manifest it signs, with the
// whole message kept in PGPSigned (see VerifyPGP). Every field of P2's pod manifest is
// understood or kept unchanged, and in YAML a launchable's
// env values are read as the strings they spell (`PORT: 8080` is "8080"), as P2 read them.
//
// Decoding is strict: an unknown or duplicate field, a field name in the wrong case, a value of
// the wrong type (an unquoted YAML number where a string belongs, say), more than one YAML
// document, or nesting deeper than 100 levels is an error, and a problem with a field names
// the field (see FieldError). Nothing is defaulted or rewritten; the accessors
// (EntryPointsOrDefault and the like) apply defaults. Every error wraps ErrInvalid.
func Decode(data []byte) (*Manifest, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Parse decodes a manifest written as JSON or YAML as strictly as Decode does, but does not
// validate it: for stores and records (P2 kept manifests as YAML text) whose owner validates.
func Parse(data []byte) (*Manifest, error) {
	if isClearSigned(data) {
		return parseClearSigned(data)
	}
	js := data
	if !json.Valid(data) {
		var err error
		if js, err = yamlToJSON(data); err != nil {
			return nil, err
		}
	}
	m := new(Manifest)
	if err := m.decodeJSON(js); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalJSON decodes m as strictly as Decode does but does not validate it. A Manifest
// embedded in another JSON value (a replication controller's, say) is therefore refused by
// json.Unmarshal for unknown fields and wrong types, and its owner calls Validate. Fields absent
// from data are left zero, whatever m held before; JSON null leaves m unchanged.
func (m *Manifest) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	return m.decodeJSON(data)
}

// Marshal returns the manifest as JSON, the form it is stored in. The output decodes back to an
// equal manifest with the same digest.
func (m *Manifest) Marshal() ([]byte, error) {
	return json.Marshal(m)
}

// plain is Manifest without its methods, so decoding it does not call UnmarshalJSON again.
type plain Manifest

func (m *Manifest) decodeJSON(data []byte) error {
	if err := checkStrict(data, reflect.TypeFor[Manifest]()); err != nil {
		return err
	}
	var p plain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	*m = Manifest(p)
	return nil
}

// yamlToJSON converts a single YAML document to JSON, refusing duplicate keys and further
// documents after the first.
func yamlToJSON(data []byte) ([]byte, error) {
	// sigs.k8s.io/yaml reads only the first document and ignores the rest; count them first so
	// that a second manifest in the same file is an error rather than silently dropped.
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var first any
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var second any
	switch err := dec.Decode(&second); {
	case err == nil:
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: after the first YAML document: %w", ErrInvalid, err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return envScalarsAsStrings(data, js)
}
