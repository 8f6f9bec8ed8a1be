package labels

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// Set is the labels of one node, pod or controller: label key to value. It
// is stored as a JSON object of strings. Keys are Kubernetes qualified names
// ("env", "example.com/tier") and values Kubernetes label values (at most 63
// characters of [A-Za-z0-9_.-], starting and ending alphanumeric, or empty).
//
// Set implements the Labels interface of k8s.io/apimachinery/pkg/labels.
// Sets read from a Store or a watch are shared: Clone before changing one.
type Set map[string]string

// Validate checks every key and value, in key order, and returns the first
// problem as an error naming the label key.
func (s Set) Validate() error {
	for _, k := range s.Keys() {
		if err := ValidateKey(k); err != nil {
			return err
		}
		if errs := content.IsLabelValue(s[k]); len(errs) > 0 {
			return fmt.Errorf("%w %q: value %q: %s", ErrInvalidLabel, k, s[k], strings.Join(errs, "; "))
		}
	}
	return nil
}

// ValidateKey checks one label key; the error names it.
func ValidateKey(key string) error {
	if errs := content.IsLabelKey(key); len(errs) > 0 {
		return fmt.Errorf("%w %q: key: %s", ErrInvalidLabel, key, strings.Join(errs, "; "))
	}
	return nil
}

// Has reports whether the set holds key.
func (s Set) Has(key string) bool {
	_, ok := s[key]
	return ok
}

// Get returns the value of key, or "" when it is absent.
func (s Set) Get(key string) string { return s[key] }

// Lookup returns the value of key and whether it is present.
func (s Set) Lookup(key string) (string, bool) {
	v, ok := s[key]
	return v, ok
}

// Keys returns the keys in sorted order.
func (s Set) Keys() []string { return slices.Sorted(maps.Keys(s)) }

// Clone returns a copy that never aliases s; the copy of a nil set is an
// empty, non-nil set.
func (s Set) Clone() Set {
	c := make(Set, len(s))
	maps.Copy(c, s)
	return c
}

// Equal reports whether s and o hold the same labels; nil equals empty.
func (s Set) Equal(o Set) bool { return maps.Equal(s, o) }

// With returns a new set: s with the labels of add set (replacing the values
// of keys s already has) and the keys in remove deleted. A key both added and
// removed is removed. s is not changed.
func (s Set) With(add Set, remove []string) Set {
	c := s.Clone()
	maps.Copy(c, add)
	for _, k := range remove {
		delete(c, k)
	}
	return c
}

// String formats the set as "k1=v1,k2=v2" in key order. Parsed as a
// selector, it selects every set that holds all of these labels.
func (s Set) String() string {
	var b strings.Builder
	for i, k := range s.Keys() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s[k])
	}
	return b.String()
}

// AsSelector returns the selector that matches every set holding all of s's
// labels with the same values. An empty set gives Everything. s is not
// validated: call Validate first when it comes from outside.
func (s Set) AsSelector() Selector {
	return Selector{sel: k8slabels.SelectorFromSet(k8slabels.Set(s))}
}
