package wire

import (
	"fmt"

	"github.com/p2kit/p2kit/labels"
)

// Selector checks that s parses as a label selector ("env=prod,tier in
// (web,api)"); the empty selector matches everything. The error names field
// and wraps labels.ErrInvalidSelector.
func Selector(field, s string) error {
	if _, err := labels.Parse(s); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// Labels checks every key and value of m as labels.Set does; the error names
// field and wraps labels.ErrInvalidLabel.
func Labels(field string, m map[string]string) error {
	if err := labels.Set(m).Validate(); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}
