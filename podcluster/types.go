package podcluster

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/wire"
)

// PodCluster is the pods of PodID in AvailabilityZone selected by
// PodSelector, under a Name.
type PodCluster struct {
	ID               string `json:"id"`
	PodID            string `json:"pod_id"`
	AvailabilityZone string `json:"availability_zone"`
	Name             string `json:"name"`
	// PodSelector is a label selector over pods; required, since an empty
	// one would select every pod.
	PodSelector string `json:"pod_selector"`
	// Annotations are free-form data for the cluster's syncers.
	Annotations map[string]any `json:"annotations,omitempty"`
	// MinHealthPercentage is the share of members that must stay healthy,
	// 0 to 100.
	MinHealthPercentage int `json:"min_health_percentage"`
	// AllocationStrategy is P2's allocation strategy of the cluster's pods,
	// "static" or "dynamic" (P2's "static_strategy" and "dynamic_strategy"
	// are read as these); kept for syncers, unused by the farm.
	AllocationStrategy string `json:"allocation_strategy,omitempty"`
}

// Validate checks the cluster; every problem names its field.
func (c *PodCluster) Validate() error {
	var errs []error
	if err := manifest.ValidateID(c.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if err := manifest.ValidateID(c.PodID); err != nil {
		errs = append(errs, fmt.Errorf("pod_id: %w", err))
	}
	if err := manifest.ValidateID(c.AvailabilityZone); err != nil {
		errs = append(errs, fmt.Errorf("availability_zone: %w", err))
	}
	if err := manifest.ValidateID(c.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if c.PodSelector == "" {
		errs = append(errs, errors.New("pod_selector: required"))
	} else if err := wire.Selector("pod_selector", c.PodSelector); err != nil {
		errs = append(errs, err)
	}
	if p := c.MinHealthPercentage; p < 0 || p > 100 {
		errs = append(errs, fmt.Errorf("min_health_percentage: want 0 to 100, got %d", p))
	}
	switch c.AllocationStrategy {
	case "", "static", "dynamic":
	default:
		errs = append(errs, fmt.Errorf("allocation_strategy: %q is not \"static\" or \"dynamic\"", c.AllocationStrategy))
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a cluster strictly: unknown fields are refused. P2's
// allocation_strategy values are read as p2kit's.
func (c *PodCluster) UnmarshalJSON(data []byte) error {
	type plain PodCluster
	var p plain
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	*c = PodCluster(p)
	c.AllocationStrategy = wire.Strategy(c.AllocationStrategy)
	return nil
}
