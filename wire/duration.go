package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration stored as a Go duration string ("30s",
// "1m30s"). Numbers are refused: a bare 30 could mean seconds or
// nanoseconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\", got %s", data)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// NonNegative returns an error naming field when d is negative.
func NonNegative(field string, d Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: want a duration of 0 or more, got %s", field, d)
	}
	return nil
}
