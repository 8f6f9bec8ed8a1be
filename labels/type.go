package labels

import (
	"fmt"
	"strings"

	"github.com/p2kit/p2kit/manifest"
)

// Type is the kind of thing a label set belongs to; it is the first segment
// of the key after /p2/labels/. Any name that is a valid id
// (manifest.ValidateID: lower-case letters, digits, '.', '_', '-') is a
// type: a user's own kind labels its objects under a type of its own
// ("canary"). The constants below are the built-in types.
type Type string

// The built-in label types. A Pod's id is "<node>/<pod-id>" (see PodID);
// every other id, of a built-in type or not, is a single id.
const (
	Node                  Type = "node"
	Pod                   Type = "pod"
	ReplicationController Type = "replication_controller"
	DaemonSet             Type = "daemon_set"
	PodCluster            Type = "pod_cluster"
	Roll                  Type = "roll"
)

// Types lists the six built-in label types. Other valid type names are
// accepted everywhere a Type is.
func Types() []Type {
	return []Type{Node, Pod, ReplicationController, DaemonSet, PodCluster, Roll}
}

// ParseType returns the Type spelled s, or an error wrapping ErrInvalidType
// that quotes s.
func ParseType(s string) (Type, error) {
	t := Type(s)
	if err := t.Validate(); err != nil {
		return "", err
	}
	return t, nil
}

// Validate returns an error wrapping ErrInvalidType and quoting t unless t is
// a valid type name: a valid id (manifest.ValidateID).
func (t Type) Validate() error {
	if err := manifest.ValidateID(string(t)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidType, err)
	}
	return nil
}

// String returns the type as spelled in keys.
func (t Type) String() string { return string(t) }

// ValidateID checks an id of type t: for Pod "<node>/<pod-id>" with both
// parts valid ids, for every other type one id (manifest.ValidateID). The
// error names the type and the id and wraps manifest.ErrInvalidID, or
// ErrInvalidType when t itself is not a valid type name.
func ValidateID(t Type, id string) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t != Pod {
		if err := manifest.ValidateID(id); err != nil {
			return fmt.Errorf("%s id: %w", t, err)
		}
		return nil
	}
	node, pod, ok := strings.Cut(id, "/")
	if !ok {
		return fmt.Errorf("pod id %q: %w: want <node>/<pod-id>", id, manifest.ErrInvalidID)
	}
	if err := manifest.ValidateID(node); err != nil {
		return fmt.Errorf("pod id %q: node: %w", id, err)
	}
	if err := manifest.ValidateID(pod); err != nil {
		return fmt.Errorf("pod id %q: pod: %w", id, err)
	}
	return nil
}

// PodID is the id of a pod's label set: "<node>/<pod-id>".
func PodID(node, podID string) string { return node + "/" + podID }

// SplitPodID splits a Pod label id into node and pod id, validating both.
func SplitPodID(id string) (node, podID string, err error) {
	if err := ValidateID(Pod, id); err != nil {
		return "", "", err
	}
	node, podID, _ = strings.Cut(id, "/")
	return node, podID, nil
}

// Kind names label sets in audit records; their ids there are
// "<type>/<id>" ("node/web1", "pod/web1/hello").
const Kind = "labels"
