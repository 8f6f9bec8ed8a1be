package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// maxDepth bounds how deeply objects and arrays may nest in a manifest, config included.
const maxDepth = 100

// checkStrict walks the JSON document data against the shape of t and refuses what
// encoding/json would let through quietly: unknown or duplicate fields, field names that match
// only when case is ignored, and values of the wrong type. Every problem names its field.
func checkStrict(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%w: want an object, got %s", ErrInvalid, describe(tok))
	}
	if err := checkObject(dec, "", t, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the manifest", ErrInvalid)
	}
	return nil
}

// checkValue checks the next value of dec against t; a nil t accepts any JSON value.
func checkValue(dec *json.Decoder, path string, t reflect.Type, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	if tok == nil {
		return nil // null is the same as absent
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Interface {
		t = nil // free-form: any JSON value
	}
	kind := reflect.Interface
	if t != nil {
		kind = t.Kind()
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return fieldProblem(path, fmt.Sprintf("nested deeper than %d levels", maxDepth))
		}
		if tok == '{' {
			if kind != reflect.Struct && kind != reflect.Map && kind != reflect.Interface {
				return mismatch(path, kind, tok)
			}
			return checkObject(dec, path, t, depth+1)
		}
		var elem reflect.Type
		switch kind {
		case reflect.Slice:
			elem = t.Elem()
		case reflect.Interface:
		default:
			return mismatch(path, kind, tok)
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, path+"["+strconv.Itoa(i)+"]", elem, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	case string:
		if kind != reflect.String && kind != reflect.Interface {
			return mismatch(path, kind, tok)
		}
	case bool:
		if kind != reflect.Bool && kind != reflect.Interface {
			return mismatch(path, kind, tok)
		}
	case json.Number:
		switch kind {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if _, err := strconv.ParseInt(tok.String(), 10, t.Bits()); err != nil {
				if errors.Is(err, strconv.ErrRange) {
					return fieldProblem(path, fmt.Sprintf("integer %s out of range", tok))
				}
				return mismatch(path, kind, tok)
			}
		case reflect.Float32, reflect.Float64, reflect.Interface:
			if _, err := strconv.ParseFloat(tok.String(), 64); err != nil {
				return fieldProblem(path, fmt.Sprintf("number %s out of range", tok))
			}
		default:
			return mismatch(path, kind, tok)
		}
	}
	return nil
}

// checkObject checks the members of an object whose '{' has been read, up to and including its
// '}'. t is a struct, a map or nil.
func checkObject(dec *json.Decoder, path string, t reflect.Type, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
		}
		key := tok.(string) // the decoder only yields string keys
		field := joinPath(path, key)
		if seen[key] {
			return fieldProblem(field, "duplicate field")
		}
		seen[key] = true
		var elem reflect.Type
		switch {
		case fields != nil:
			var ok bool
			if elem, ok = fields[key]; !ok {
				return fieldProblem(field, "unknown field")
			}
		case t != nil:
			elem = t.Elem()
		}
		if err := checkValue(dec, field, elem, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mismatch reports a value whose JSON type does not fit the field's kind.
func mismatch(path string, want reflect.Kind, got json.Token) error {
	var w string
	switch want {
	case reflect.String:
		w = "a string"
	case reflect.Bool:
		w = "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w = "an integer"
	case reflect.Slice:
		w = "a list"
	default:
		w = "an object"
	}
	return fieldProblem(path, fmt.Sprintf("want %s, got %s", w, describe(got)))
}

// describe names a JSON token for an error message.
func describe(tok json.Token) string {
	switch tok := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if tok == '[' {
			return "a list"
		}
		return "an object"
	case string:
		if len(tok) > 64 {
			return "string " + strconv.Quote(tok[:64]) + "..."
		}
		return "string " + strconv.Quote(tok)
	case bool:
		return "boolean " + strconv.FormatBool(tok)
	case json.Number:
		return "number " + tok.String()
	}
	return fmt.Sprint(tok)
}
