package labels

import (
	"bytes"
	"encoding/json"
	"errors"
)

// codec stores a Set as a JSON object of strings. A nil set is written as
// {} and anything but an object ("null", a list, a number) is refused on
// read, so every stored value decodes to a non-nil Set.
type codec struct{}

func (codec) Marshal(v *Set) ([]byte, error) {
	if *v == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(*v)
}

func (codec) Unmarshal(data []byte, v *Set) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("labels value is not a JSON object")
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*v = s
	return nil
}
