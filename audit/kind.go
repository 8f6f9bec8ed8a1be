package audit

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/manifest"
)

// ErrInvalidKind is wrapped by the error ValidateKind returns; the error
// quotes the kind.
var ErrInvalidKind = errors.New("invalid audit kind")

// ValidateKind checks the name of an entity kind as records carry it in
// their entity field. Any valid id (manifest.ValidateID) names a kind: the
// built-in entities name theirs (rc.Kind, daemonset.Kind, roll.Kind,
// podcluster.Kind, intent.Kind, reality.Kind, labels.Kind,
// failsafe.HoldKind) and a user's own kind is audited the same way.
func ValidateKind(kind string) error {
	if err := manifest.ValidateID(kind); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKind, err)
	}
	return nil
}
