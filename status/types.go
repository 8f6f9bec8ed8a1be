package status

import (
	"fmt"

	"github.com/p2kit/p2kit/keyspace"
)

// Type is the kind of resource a status record describes; it is the first
// segment of the record's key.
type Type string

// The resource types a status record can describe. Every id is one id
// segment, except a pod's.
const (
	// Pods: the id is "<node>/<pod-id>".
	Pods Type = "pods"
	// DaemonSets: the id is the daemon set's.
	DaemonSets Type = "daemon_sets"
	// ReplicationControllers: the id is the RC's.
	ReplicationControllers Type = "replication_controllers"
	// Rolls: the id is the roll's.
	Rolls Type = "rolls"
	// PodClusters: the id is the pod cluster's.
	PodClusters Type = "pod_clusters"
	// Nodes: the id is the node's.
	Nodes Type = "nodes"
)

// idSegments names the segments of an id of type t, or nil for an unknown
// type.
func (t Type) idSegments() []string {
	switch t {
	case Pods:
		return []string{"node", "pod"}
	case DaemonSets, ReplicationControllers, Rolls, PodClusters, Nodes:
		return []string{"id"}
	}
	return nil
}

// Validate refuses a type that is not one of the constants.
func (t Type) Validate() error {
	if t.idSegments() == nil {
		return fmt.Errorf("unknown status type %q", string(t))
	}
	return nil
}

// PodID is the status id of a pod on a node: "<node>/<pod-id>".
func PodID(node, pod string) string { return node + "/" + pod }

// nameCheck returns the check of names "<type>/<id>/<namespace>" in
// namespace ns.
func nameCheck(ns string) func(name string) error {
	return func(name string) error {
		typ, rest, _ := cutFirst(name)
		t := Type(typ)
		if err := t.Validate(); err != nil {
			return err
		}
		segs := append(append([]string{}, t.idSegments()...), "namespace")
		if err := keyspace.IDs(segs...)(rest); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if got := lastSegment(name); got != ns {
			return fmt.Errorf("namespace %q, want %q", got, ns)
		}
		return nil
	}
}

func cutFirst(name string) (string, string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i], name[i+1:], true
		}
	}
	return name, "", false
}

func lastSegment(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}
