package labels

import (
	"fmt"

	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// Selector picks label sets, in Kubernetes selector syntax:
// "env=prod,tier in (web,api),!canary". It is a thin wrapper over the
// selector of k8s.io/apimachinery/pkg/labels, which parses and matches.
//
// A Selector is immutable and safe to share. It marshals to and from its
// string form (encoding.TextMarshaler), so a controller's JSON field
// "node_selector": "env=prod" decodes straight into a Selector and a bad
// selector is a decode error.
//
// The zero Selector, like Parse(""), is empty and matches every set: a
// controller that must not select everything checks Empty.
type Selector struct {
	sel k8slabels.Selector
}

// Parse parses a selector. The error wraps ErrInvalidSelector and quotes s.
func Parse(s string) (Selector, error) {
	sel, err := k8slabels.Parse(s)
	if err != nil {
		return Selector{}, fmt.Errorf("%w %q: %w", ErrInvalidSelector, s, err)
	}
	return Selector{sel: sel}, nil
}

// MustParse is Parse for selectors known to be valid (constants, tests); it
// panics on an error.
func MustParse(s string) Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// Everything returns the empty selector, which matches every set.
func Everything() Selector { return Selector{} }

// Matches reports whether set satisfies every requirement of the selector.
func (s Selector) Matches(set Set) bool {
	if s.sel == nil {
		return true
	}
	return s.sel.Matches(set)
}

// Empty reports whether the selector has no requirements and so matches
// every set.
func (s Selector) Empty() bool { return s.sel == nil || s.sel.Empty() }

// String returns the selector in Kubernetes syntax, requirements sorted by
// key; Parse of it gives an equivalent selector. The empty selector is "".
func (s Selector) String() string {
	if s.sel == nil {
		return ""
	}
	return s.sel.String()
}

// MarshalText returns String.
func (s Selector) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses text into s.
func (s *Selector) UnmarshalText(text []byte) error {
	sel, err := Parse(string(text))
	if err != nil {
		return err
	}
	*s = sel
	return nil
}
