package roll

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/wire"
)

// Duration is a time.Duration stored as a duration string ("30s").
type Duration = wire.Duration

// Roll moves replicas from OldRC to NewRC. By convention its id is the new
// RC's id.
type Roll struct {
	ID    string `json:"id"`
	OldRC string `json:"old_rc"`
	NewRC string `json:"new_rc"`
	// DesiredReplicas is how many replicas the new RC ends with. Required
	// in stored JSON.
	DesiredReplicas int `json:"desired_replicas"`
	// MinimumReplicas is how many replicas, old and new together, must stay
	// healthy at every step. Required in stored JSON.
	MinimumReplicas int `json:"minimum_replicas"`
	// LeaveOld keeps the old RC (scaled to 0) when the roll completes.
	LeaveOld bool `json:"leave_old"`
	// RollDelay is the pause between steps.
	RollDelay Duration `json:"roll_delay"`
	// Deadline is how long the roll may take from its creation; 0 means no
	// deadline.
	Deadline Duration `json:"deadline"`
	// Paused stops the roll where it is: the farm takes no step while it
	// is set. The deadline still counts: a roll resumed after its deadline
	// fails. Optional; absent means false.
	Paused bool `json:"paused,omitempty"`
}

// Validate checks the roll; every problem names its field.
func (r *Roll) Validate() error {
	var errs []error
	if err := manifest.ValidateID(r.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if err := manifest.ValidateID(r.OldRC); err != nil {
		errs = append(errs, fmt.Errorf("old_rc: %w", err))
	}
	if err := manifest.ValidateID(r.NewRC); err != nil {
		errs = append(errs, fmt.Errorf("new_rc: %w", err))
	}
	if r.OldRC != "" && r.OldRC == r.NewRC {
		errs = append(errs, fmt.Errorf("%w: old_rc and new_rc are both %q", ErrSameRC, r.OldRC))
	}
	if r.DesiredReplicas < 0 {
		errs = append(errs, fmt.Errorf("desired_replicas: want 0 or more, got %d", r.DesiredReplicas))
	}
	if r.MinimumReplicas < 0 || r.MinimumReplicas > r.DesiredReplicas {
		errs = append(errs, fmt.Errorf("minimum_replicas: want 0 to desired_replicas (%d), got %d",
			r.DesiredReplicas, r.MinimumReplicas))
	}
	if err := wire.NonNegative("roll_delay", r.RollDelay); err != nil {
		errs = append(errs, err)
	}
	if err := wire.NonNegative("deadline", r.Deadline); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a roll strictly: unknown fields are refused and a
// missing desired_replicas or minimum_replicas is an error. It also reads
// the form P2 stored (Go field names, RollDelay in nanoseconds, id = NewRC);
// marshalling writes p2kit's form.
func (r *Roll) UnmarshalJSON(data []byte) error {
	if isP2(data) {
		return r.unmarshalP2(data)
	}
	type plain Roll
	var w struct {
		plain
		DesiredReplicas *int `json:"desired_replicas"`
		MinimumReplicas *int `json:"minimum_replicas"`
	}
	if err := wire.Strict(data, &w); err != nil {
		return err
	}
	if err := errors.Join(
		wire.Required("desired_replicas", w.DesiredReplicas),
		wire.Required("minimum_replicas", w.MinimumReplicas),
	); err != nil {
		return err
	}
	*r = Roll(w.plain)
	r.DesiredReplicas = *w.DesiredReplicas
	r.MinimumReplicas = *w.MinimumReplicas
	return nil
}
