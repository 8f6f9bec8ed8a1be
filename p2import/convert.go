package p2import

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
)

// runtimeTrees are P2 trees of runtime state that p2kit's agents write
// anew: they are reported as Skipped.
var runtimeTrees = map[string]string{
	"lock":       "P2's session locks",
	"status":     "P2's status records, which p2kit's agents write anew",
	"health":     "P2's health results, which p2kit's preparers check anew",
	"audit_logs": "P2's audit log (p2kit audits the import itself)",
}

// otherTrees are P2 trees with no p2kit form: reported as Unconvertible.
var otherTrees = map[string]string{
	"hooks": "P2's global hooks have no p2kit form (p2kit runs hooks shipped in the launchable's artifact)",
	"pods":  "P2's uuid pods have no p2kit form (p2kit addresses pods by node and pod id)",
}

// p2LabelTypes maps P2's label types to p2kit's.
var p2LabelTypes = map[string]labels.Type{
	"node":                   labels.Node,
	"pod":                    labels.Pod,
	"replication_controller": labels.ReplicationController,
	"pod_clusters":           labels.PodCluster,
	"rolls":                  labels.Roll,
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Convert turns the entries of a P2 export into p2kit records, without
// talking to etcd: every value is decoded from the forms P2 wrote (YAML
// manifests, PGP clear-signed ones included, nanosecond durations,
// *_strategy values, a roll's Go field names) and validated. Entries that
// cannot be converted, or whose meaning is ambiguous, are Problems; P2's
// runtime state is Skipped. Records come in the order Apply writes them.
func Convert(entries []Entry) *Plan {
	p := &Plan{}
	for _, e := range entries {
		rec, prob := convertEntry(e)
		switch {
		case prob != nil:
			p.Problems = append(p.Problems, *prob)
		case rec != nil:
			p.Records = append(p.Records, *rec)
		}
	}
	p.checkClusters()
	p.sort()
	return p
}

func problem(e Entry, kind Kind, class Class, format string, args ...any) *Problem {
	return &Problem{Source: e.Key, Kind: kind, Class: class, Reason: fmt.Sprintf(format, args...)}
}

// convertEntry converts one entry: a record, a problem, or neither (a
// Consul directory entry).
func convertEntry(e Entry) (*Record, *Problem) {
	key := strings.TrimPrefix(e.Key, "/")
	if strings.HasSuffix(key, "/") {
		return nil, nil // a directory marker: `consul kv export` lists folders made in the UI
	}
	tree, rest, _ := strings.Cut(key, "/")
	if why, ok := runtimeTrees[tree]; ok {
		return nil, problem(e, "", Skipped, "%s", why)
	}
	if why, ok := otherTrees[tree]; ok {
		return nil, problem(e, "", Unconvertible, "%s", why)
	}
	data, err := e.Bytes()
	if err != nil {
		return nil, problem(e, "", Unconvertible, "%v", err)
	}
	switch tree {
	case "intent":
		return convertPod(e, Intent, rest, data)
	case "reality":
		return convertPod(e, Reality, rest, data)
	case "labels":
		return convertLabels(e, rest, data)
	case "replication_controllers":
		return convertController(e, ReplicationController, rest, data, func(v *rc.RC) string { return v.ID }, (*rc.RC).Validate)
	case "daemon_sets":
		return convertController(e, DaemonSet, rest, data, func(v *daemonset.DaemonSet) string { return v.ID }, (*daemonset.DaemonSet).Validate)
	case "pod_clusters":
		return convertController(e, PodCluster, rest, data, func(v *podcluster.PodCluster) string { return v.ID }, (*podcluster.PodCluster).Validate)
	case "rolls":
		return convertController(e, Roll, rest, data, func(v *roll.Roll) string { return v.ID }, (*roll.Roll).Validate)
	}
	return nil, problem(e, "", Unconvertible, "P2 tree %q has no p2kit form", tree)
}

// convertPod converts intent/<node>/<pod> or reality/<node>/<pod>.
func convertPod(e Entry, kind Kind, rest string, data []byte) (*Record, *Problem) {
	parts := strings.Split(rest, "/")
	if len(parts) != 2 {
		return nil, problem(e, kind, Unconvertible, "key: want %s/<node>/<pod-id>", kind)
	}
	node, pod := parts[0], parts[1]
	if err := manifest.ValidateID(node); err != nil {
		return nil, problem(e, kind, Unconvertible, "node: %v", err)
	}
	if uuidRE.MatchString(pod) {
		return nil, problem(e, kind, Unconvertible, "%q is a P2 uuid pod (an index into pods/), which has no p2kit form", pod)
	}
	if err := manifest.ValidateID(pod); err != nil {
		return nil, problem(e, kind, Unconvertible, "pod: %v", err)
	}
	m, err := manifest.Parse(data)
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return nil, problem(e, kind, Unconvertible, "manifest: %v", err)
	}
	if m.ID != pod {
		return nil, problem(e, kind, Ambiguous, "manifest id %q is not the pod id %q of its key", m.ID, pod)
	}
	return &Record{Kind: kind, ID: node + "/" + pod, Source: e.Key, Value: m}, nil
}

// convertLabels converts labels/<p2-type>/<id>.
func convertLabels(e Entry, rest string, data []byte) (*Record, *Problem) {
	p2type, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return nil, problem(e, Labels, Unconvertible, "key: want labels/<type>/<id>")
	}
	typ, ok := p2LabelTypes[p2type]
	if !ok {
		return nil, problem(e, Labels, Unconvertible, "label type %q is not one of P2's (node, pod, replication_controller, pod_clusters, rolls)", p2type)
	}
	if err := labels.ValidateID(typ, id); err != nil {
		return nil, problem(e, Labels, Unconvertible, "%v", err)
	}
	var set labels.Set
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, problem(e, Labels, Unconvertible, "value: want a JSON object of string labels: %v", err)
	}
	if set == nil {
		set = labels.Set{}
	}
	if err := set.Validate(); err != nil {
		return nil, problem(e, Labels, Unconvertible, "%v", err)
	}
	return &Record{Kind: Labels, ID: string(typ) + "/" + id, Source: e.Key, Value: set}, nil
}

// convertController converts <tree>/<id> of one controller kind.
func convertController[T any](e Entry, kind Kind, id string, data []byte, idOf func(*T) string, validate func(*T) error) (*Record, *Problem) {
	if err := manifest.ValidateID(id); err != nil {
		return nil, problem(e, kind, Unconvertible, "id: %v", err)
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, problem(e, kind, Unconvertible, "%v", err)
	}
	if err := validate(v); err != nil {
		return nil, problem(e, kind, Unconvertible, "%v", err)
	}
	if got := idOf(v); got != id {
		what := "id"
		if kind == Roll {
			what = "NewRC (a roll's id is its new RC's id)"
		}
		return nil, problem(e, kind, Ambiguous, "%s %q is not the id %q of its key", what, got, id)
	}
	return &Record{Kind: kind, ID: id, Source: e.Key, Value: v}, nil
}

// checkClusters reports pod clusters that name the same pod, zone and name:
// p2kit keeps one cluster per triple, and which one is meant is not clear.
func (p *Plan) checkClusters() {
	first := map[string]string{}
	var keep []Record
	var dups []Problem
	for _, r := range p.Records {
		c, ok := r.Value.(*podcluster.PodCluster)
		if !ok {
			keep = append(keep, r)
			continue
		}
		triple := c.PodID + "/" + c.AvailabilityZone + "/" + c.Name
		if other, dup := first[triple]; dup {
			dups = append(dups, Problem{Source: r.Source, Kind: PodCluster, Class: Ambiguous,
				Reason: fmt.Sprintf("pod cluster %s names the same pod, zone and name (%s) as %s", c.ID, triple, other)})
			continue
		}
		first[triple] = r.Source
		keep = append(keep, r)
	}
	p.Records = keep
	p.Problems = append(p.Problems, dups...)
}

// ErrBlocked is wrapped by Apply's error when the plan has blocking
// problems and the import is not partial: nothing was written.
var ErrBlocked = errors.New("the export has entries that cannot be imported")
