package daemonset

import (
	"errors"
	"reflect"
	"slices"
	"time"
)

// Status is the farm's record of one daemon set, at
// /p2/status/daemon_sets/<id>/ds-farm. It is rewritten only when something
// in it other than UpdatedAt changes.
type Status struct {
	// ManifestDigest is the digest of the daemon set's manifest.
	ManifestDigest string `json:"manifest_digest"`
	// Matched counts the nodes the selector matches; Scheduled those of
	// them that hold the daemon set's pod; Current those running the
	// manifest's version in intent; Healthy those whose pod is healthy.
	Matched   int `json:"matched"`
	Scheduled int `json:"scheduled"`
	Current   int `json:"current"`
	Healthy   int `json:"healthy"`
	// Foreign counts matched nodes whose pod belongs to someone else
	// (another daemon set, or intent written without the daemon set
	// label); the farm leaves them alone.
	Foreign int `json:"foreign,omitempty"`
	// Disabled mirrors the daemon set; DisabledReason says why the farm
	// disabled it (an overlap), when it did.
	Disabled       bool   `json:"disabled,omitempty"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// Message says what the farm is waiting for or refusing to do.
	Message string `json:"message,omitempty"`
	// TimedOut lists nodes whose update did not become healthy within
	// the daemon set's timeout (at most 20 listed).
	TimedOut []string `json:"timed_out,omitempty"`
	// LastActionAt is when the farm last scheduled, updated or
	// unscheduled a node; the rate limit counts from it, across restarts.
	LastActionAt time.Time `json:"last_action_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Validate checks the record's required fields.
func (s *Status) Validate() error {
	if s.UpdatedAt.IsZero() {
		return errors.New("updated_at: required")
	}
	return nil
}

// same reports whether two records say the same, UpdatedAt aside.
func (s *Status) same(o *Status) bool {
	a, b := *s, *o
	if !slices.Equal(a.TimedOut, b.TimedOut) || !a.LastActionAt.Equal(b.LastActionAt) {
		return false
	}
	a.TimedOut, b.TimedOut = nil, nil
	a.LastActionAt, b.LastActionAt = time.Time{}, time.Time{}
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}
