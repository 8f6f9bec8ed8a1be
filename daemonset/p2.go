package daemonset

import (
	"github.com/p2kit/p2kit/wire"
)

// p2DaemonSet is a daemon set as P2 stored it: the manifest as YAML text, the timeout in
// nanoseconds, and the name of its cluster.
type p2DaemonSet struct {
	ID           string     `json:"id"`
	Disabled     bool       `json:"disabled"`
	Manifest     string     `json:"manifest"`
	MinHealth    int        `json:"min_health"`
	ClusterName  string     `json:"cluster_name"`
	NodeSelector string     `json:"node_selector"`
	PodID        string     `json:"pod_id"`
	Timeout      wire.Nanos `json:"timeout"`
}

// isP2 reports whether data is a daemon set in P2's form.
func isP2(data []byte) bool { return wire.HasStringField(data, "manifest") }

func (d *DaemonSet) unmarshalP2(data []byte) error {
	var p p2DaemonSet
	if err := wire.Strict(data, &p); err != nil {
		return err
	}
	m, err := wire.ManifestText("manifest", p.Manifest)
	if err != nil {
		return err
	}
	*d = DaemonSet{
		ID:           p.ID,
		PodID:        p.PodID,
		Manifest:     m,
		NodeSelector: p.NodeSelector,
		Disabled:     p.Disabled,
		MinHealth:    p.MinHealth,
		Timeout:      p.Timeout.Duration(),
		ClusterName:  p.ClusterName,
	}
	return nil
}
