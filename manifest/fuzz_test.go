package manifest

import (
	"errors"
	"regexp"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error wraps ErrInvalid, and that a
// decoded manifest survives Marshal and Decode with its digest unchanged.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		want, err := m.Digest()
		if err != nil {
			t.Fatalf("Digest of a decoded manifest: %v", err)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded manifest: %v", err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("Decode of Marshal output %s: %v", out, err)
		}
		got, err := back.Digest()
		if err != nil {
			t.Fatalf("Digest after round trip: %v", err)
		}
		if got != want {
			t.Fatalf("digest changed in a round trip: %s became %s\nJSON: %s", want, got, out)
		}
		if c := m.Clone(); !SameVersion(m, c) {
			t.Fatalf("clone has another digest")
		}
	})
}

// FuzzValidateID checks that ValidateID never panics and accepts exactly what IDPattern matches.
func FuzzValidateID(f *testing.F) {
	re := regexp.MustCompile(IDPattern)
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if match := re.MatchString(id); match != (err == nil) {
			t.Fatalf("ValidateID(%q) = %v, but IDPattern match = %v", id, err, match)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Fatalf("ValidateID(%q) error does not wrap ErrInvalidID: %v", id, err)
		}
	})
}
