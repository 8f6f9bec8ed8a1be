package rc

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/wire"
)

// AllocationStrategy says how an RC picks nodes.
type AllocationStrategy string

const (
	// Static: pods stay on the nodes they were scheduled on. The default.
	Static AllocationStrategy = "static"
	// Dynamic: pods may move to other matching nodes.
	Dynamic AllocationStrategy = "dynamic"
)

// RC is a replication controller: run Manifest on ReplicasDesired nodes
// matching NodeSelector.
type RC struct {
	ID       string            `json:"id"`
	Manifest manifest.Manifest `json:"manifest"`
	// NodeSelector is a label selector over nodes ("env=prod"); empty
	// matches every node.
	NodeSelector string `json:"node_selector"`
	// PodLabels are the labels given to the pods the RC schedules.
	PodLabels map[string]string `json:"pod_labels,omitempty"`
	// ReplicasDesired is how many nodes should run the pod. It is
	// required in stored JSON: a missing value is an error, never zero.
	ReplicasDesired int `json:"replicas_desired"`
	// Disabled stops the RC from scheduling or unscheduling anything.
	Disabled bool `json:"disabled"`
	// AllocationStrategy is empty (Static), Static or Dynamic.
	AllocationStrategy AllocationStrategy `json:"allocation_strategy,omitempty"`
}

// Validate checks the RC; every problem names its field.
func (r *RC) Validate() error {
	var errs []error
	if err := manifest.ValidateID(r.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if err := r.Manifest.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("manifest: %w", err))
	}
	if err := wire.Selector("node_selector", r.NodeSelector); err != nil {
		errs = append(errs, err)
	}
	if err := wire.Labels("pod_labels", r.PodLabels); err != nil {
		errs = append(errs, err)
	}
	if r.ReplicasDesired < 0 {
		errs = append(errs, fmt.Errorf("replicas_desired: want 0 or more, got %d", r.ReplicasDesired))
	}
	switch r.AllocationStrategy {
	case "", Static, Dynamic:
	default:
		errs = append(errs, fmt.Errorf("allocation_strategy: %q is not %q or %q", r.AllocationStrategy, Static, Dynamic))
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes an RC strictly: unknown fields are refused and a
// missing replicas_desired is an error. It also reads the form P2 stored
// (manifest as YAML text, allocation_strategy "dynamic_strategy" or
// "static_strategy"); marshalling writes p2kit's form.
func (r *RC) UnmarshalJSON(data []byte) error {
	if isP2(data) {
		return r.unmarshalP2(data)
	}
	type plain RC
	var w struct {
		plain
		ReplicasDesired *int `json:"replicas_desired"`
	}
	if err := wire.Strict(data, &w); err != nil {
		return err
	}
	if err := wire.Required("replicas_desired", w.ReplicasDesired); err != nil {
		return err
	}
	*r = RC(w.plain)
	r.ReplicasDesired = *w.ReplicasDesired
	r.AllocationStrategy = AllocationStrategy(wire.Strategy(string(r.AllocationStrategy)))
	return nil
}
