package daemonset

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/wire"
)

// Duration is a time.Duration stored as a duration string ("30s").
type Duration = wire.Duration

// DaemonSet runs Manifest on every node matching NodeSelector.
type DaemonSet struct {
	ID string `json:"id"`
	// PodID is the pod the daemon set schedules; it must equal Manifest.ID.
	PodID    string            `json:"pod_id"`
	Manifest manifest.Manifest `json:"manifest"`
	// NodeSelector is a label selector over nodes; empty matches every
	// node.
	NodeSelector string `json:"node_selector"`
	// Disabled stops the daemon set from scheduling or unscheduling.
	Disabled bool `json:"disabled"`
	// MinHealth is the percentage (0 to 100) of its nodes that must stay
	// healthy during an update; the farm still updates one node at a
	// time when that leaves no room.
	MinHealth int `json:"min_health"`
	// Timeout is how long one node may take to become healthy.
	Timeout Duration `json:"timeout"`
	// RateLimitInterval is the pause between two nodes' updates.
	RateLimitInterval Duration `json:"rate_limit_interval"`
	// ClusterName is the name P2 gave the daemon set's cluster; kept as written.
	ClusterName string `json:"cluster_name,omitempty"`
}

// Validate checks the daemon set; every problem names its field.
func (d *DaemonSet) Validate() error {
	var errs []error
	if err := manifest.ValidateID(d.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if err := manifest.ValidateID(d.PodID); err != nil {
		errs = append(errs, fmt.Errorf("pod_id: %w", err))
	}
	if err := d.Manifest.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("manifest: %w", err))
	} else if d.PodID != d.Manifest.ID {
		errs = append(errs, fmt.Errorf("pod_id: %q does not match manifest id %q", d.PodID, d.Manifest.ID))
	}
	if err := wire.Selector("node_selector", d.NodeSelector); err != nil {
		errs = append(errs, err)
	}
	if d.MinHealth < 0 {
		errs = append(errs, fmt.Errorf("min_health: want 0 or more, got %d", d.MinHealth))
	}
	if err := wire.NonNegative("timeout", d.Timeout); err != nil {
		errs = append(errs, err)
	}
	if err := wire.NonNegative("rate_limit_interval", d.RateLimitInterval); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// UnmarshalJSON decodes a daemon set strictly: unknown fields are refused.
// It also reads the form P2 stored (manifest as YAML text, timeout in
// nanoseconds, cluster_name); marshalling writes p2kit's form.
func (d *DaemonSet) UnmarshalJSON(data []byte) error {
	if isP2(data) {
		return d.unmarshalP2(data)
	}
	type plain DaemonSet
	var p plain
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	*d = DaemonSet(p)
	return nil
}
