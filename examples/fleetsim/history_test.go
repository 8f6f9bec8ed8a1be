package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRollHistoryCheck flags a pod scheduled twice in place, more than
// desired plus a step at once, and an end other than desired nodes at the
// new version; a clean history passes.
func TestRollHistoryCheck(t *testing.T) {
	clean := func() *podHistory {
		return &podHistory{pod: "app", most: 11, least: 9, final: map[string]string{"a": "new", "b": "new"}}
	}
	require.NoError(t, clean().check(2, 9, "new"))

	h := clean()
	h.inPlace = []string{"a@7"}
	require.ErrorContains(t, h.check(2, 9, "new"), "overwritten in place with another version (scheduled twice) at a@7")

	require.ErrorContains(t, clean().check(2, 8, "new"), "scheduled on 11 nodes at once, more than 2 desired and a step of 8")

	h = clean()
	h.final["b"] = "old"
	require.ErrorContains(t, h.check(2, 9, "new"), "scheduled on 2 nodes, 1 of them at the new version, want 2")
	h = clean()
	h.final["c"] = "new"
	require.ErrorContains(t, h.check(2, 9, "new"), "scheduled on 3 nodes, 3 of them at the new version, want 2")
}
