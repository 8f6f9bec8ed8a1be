package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Strict decodes one JSON object into v, refusing unknown fields and data
// after the value, so a misspelt field ("replica_desired") is an error and
// not a silently missing setting.
func Strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the value")
	}
	return nil
}

// Required returns an error naming field when a required field is missing.
// Decoders use it for numbers, whose zero value is meaningful, so that a
// missing number is never read as zero.
func Required[T any](field string, p *T) error {
	if p == nil {
		return fmt.Errorf("%s: required", field)
	}
	return nil
}
