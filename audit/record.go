package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/wire"
)

// EventType says what kind of change a record describes.
type EventType string

const (
	// Created: the entity was created.
	Created EventType = "create"
	// Updated: the entity was changed.
	Updated EventType = "update"
	// Deleted: the entity was deleted.
	Deleted EventType = "delete"
	// Released: an operator released a failsafe hold.
	Released EventType = "release"
)

// Record is one audit record.
type Record struct {
	// EventType is what happened.
	EventType EventType `json:"event_type"`
	// Entity is the kind of entity changed, any valid kind name
	// (ValidateKind): "replication_controllers" (rc.Kind), or a user's own
	// kind ("canaries"). Each entity package names its kind.
	Entity string `json:"entity"`
	// ID is the changed entity's id.
	ID string `json:"id"`
	// Actor is who made the change, as the caller names itself: a user,
	// "p2ctl", "rc-farm@host1".
	Actor string `json:"actor"`
	// Details is the entity's value after the change, or before it for a
	// delete.
	Details json.RawMessage `json:"details,omitempty"`
	// Timestamp is when the change was made, by the writer's clock.
	Timestamp time.Time `json:"timestamp"`
}

// Validate checks that every required field is set.
func (r *Record) Validate() error {
	var errs []error
	switch r.EventType {
	case Created, Updated, Deleted, Released:
	case "":
		errs = append(errs, errors.New("event_type: required"))
	default:
		errs = append(errs, fmt.Errorf("event_type: unknown %q", r.EventType))
	}
	if r.Entity == "" {
		errs = append(errs, errors.New("entity: required"))
	} else if err := ValidateKind(r.Entity); err != nil {
		errs = append(errs, fmt.Errorf("entity: %w", err))
	}
	if err := validateID(r.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if r.Actor == "" {
		errs = append(errs, errors.New("actor: required"))
	}
	if r.Timestamp.IsZero() {
		errs = append(errs, errors.New("timestamp: required"))
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a record strictly: unknown fields are refused.
func (r *Record) UnmarshalJSON(data []byte) error {
	type plain Record
	var p plain
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	*r = Record(p)
	return nil
}

// validateID accepts an id, or several joined by "/" for entities addressed
// by a path ("web1/hello", "pod/web1/hello"); every part must be a valid id.
func validateID(id string) error {
	for _, part := range strings.Split(id, "/") {
		if err := manifest.ValidateID(part); err != nil {
			return fmt.Errorf("%q: %w", id, err)
		}
	}
	return nil
}
