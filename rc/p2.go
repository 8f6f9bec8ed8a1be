package rc

import (
	"errors"

	"github.com/p2kit/p2kit/wire"
)

// p2RC is a replication controller as P2 stored it: the manifest as YAML text and the
// allocation strategy as "static_strategy" or "dynamic_strategy".
type p2RC struct {
	ID                 string            `json:"id"`
	Manifest           string            `json:"manifest"`
	NodeSelector       string            `json:"node_selector"`
	PodLabels          map[string]string `json:"pod_labels"`
	ReplicasDesired    *int              `json:"replicas_desired"`
	Disabled           bool              `json:"disabled"`
	AllocationStrategy string            `json:"allocation_strategy"`
}

// isP2 reports whether data is an RC in P2's form.
func isP2(data []byte) bool { return wire.HasStringField(data, "manifest") }

func (r *RC) unmarshalP2(data []byte) error {
	var p p2RC
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	m, err := wire.ManifestText("manifest", p.Manifest)
	if err := errors.Join(err, wire.Required("replicas_desired", p.ReplicasDesired)); err != nil {
		return err
	}
	*r = RC{
		ID:                 p.ID,
		Manifest:           m,
		NodeSelector:       p.NodeSelector,
		PodLabels:          p.PodLabels,
		ReplicasDesired:    *p.ReplicasDesired,
		Disabled:           p.Disabled,
		AllocationStrategy: AllocationStrategy(wire.Strategy(p.AllocationStrategy)),
	}
	return nil
}
