package status

import (
	"fmt"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/manifest"
)

// Type is the kind of resource a status record describes; it is the first
// segment of the record's key. Any name that is a valid id
// (manifest.ValidateID) is a type: a user's own kind keeps its records
// under a type of its own ("canaries"). The constants below are the
// built-in types.
type Type string

// The built-in resource types. Every id is one id segment, except a pod's;
// so is the id of every type that is not built in.
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

// idSegments names the segments of an id of type t.
func (t Type) idSegments() []string {
	if t == Pods {
		return []string{"node", "pod"}
	}
	return []string{"id"}
}

// Validate returns an error wrapping ErrInvalidType and quoting t unless
// t's name is a valid id.
func (t Type) Validate() error {
	if err := manifest.ValidateID(string(t)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidType, err)
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
