package roll

import (
	"errors"

	"github.com/p2kit/p2kit/wire"
)

// p2Roll is a roll as P2 stored it: Go field names, the delay in nanoseconds, and no id
// (P2's roll id is its new RC's id).
type p2Roll struct {
	OldRC           string     `json:"OldRC"`
	NewRC           string     `json:"NewRC"`
	DesiredReplicas *int       `json:"DesiredReplicas"`
	MinimumReplicas *int       `json:"MinimumReplicas"`
	LeaveOld        bool       `json:"LeaveOld"`
	RollDelay       wire.Nanos `json:"RollDelay"`
}

// isP2 reports whether data is a roll in P2's form.
func isP2(data []byte) bool { return wire.HasField(data, "NewRC") }

func (r *Roll) unmarshalP2(data []byte) error {
	var p p2Roll
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	if err := errors.Join(
		wire.Required("DesiredReplicas", p.DesiredReplicas),
		wire.Required("MinimumReplicas", p.MinimumReplicas),
	); err != nil {
		return err
	}
	*r = Roll{
		ID:              p.NewRC,
		OldRC:           p.OldRC,
		NewRC:           p.NewRC,
		DesiredReplicas: *p.DesiredReplicas,
		MinimumReplicas: *p.MinimumReplicas,
		LeaveOld:        p.LeaveOld,
		RollDelay:       p.RollDelay.Duration(),
	}
	return nil
}
