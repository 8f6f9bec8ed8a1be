package wire

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Selector checks that s parses as a Kubernetes label selector
// ("env=prod,tier in (web,api)"); the empty selector matches everything.
func Selector(field, s string) error {
	if _, err := labels.Parse(s); err != nil {
		return fmt.Errorf("%s: selector %q: %w", field, s, err)
	}
	return nil
}

// Labels checks that every key of m is a valid label name and every value a
// valid label value.
func Labels(field string, m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("%s: label %q: %s", field, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(m[k]); len(errs) > 0 {
			return fmt.Errorf("%s.%s: value %q: %s", field, k, m[k], strings.Join(errs, "; "))
		}
	}
	return nil
}
