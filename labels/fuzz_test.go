package labels

import (
	"slices"
	"testing"
)

// requirements returns the selector's requirements as sorted strings: two
// selectors with the same requirements select the same sets, whatever the
// order they were written in.
func requirements(t *testing.T, s Selector) []string {
	t.Helper()
	if s.sel == nil {
		return nil
	}
	reqs, selectable := s.sel.Requirements()
	if !selectable {
		t.Fatalf("selector %q selects nothing", s)
	}
	out := make([]string, len(reqs))
	for i := range reqs {
		out[i] = reqs[i].String()
	}
	slices.Sort(out)
	return out
}

// FuzzParseSelector checks that Parse never panics and that a selector it
// accepts survives a round trip through String.
func FuzzParseSelector(f *testing.F) {
	samples := []Set{
		nil,
		{"env": "prod"},
		{"env": "prod", "tier": "web"},
		{"env": "staging", "tier": "api", "canary": "true"},
		{"x": "5", "y": "20"},
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(sel.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, sel.String(), err)
		}
		if a, b := requirements(t, sel), requirements(t, again); !slices.Equal(a, b) {
			t.Fatalf("Parse(%q) = %q, which parses to %q: requirements %q != %q", s, sel, again, a, b)
		}
		for _, set := range samples {
			if sel.Matches(set) != again.Matches(set) {
				t.Fatalf("Parse(%q) and its reparse %q disagree on %v", s, sel, set)
			}
		}
	})
}
