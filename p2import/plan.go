package p2import

import (
	"fmt"
	"sort"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind is the kind of p2kit record an entry becomes; it is the record's key
// directory and its entity name in audit records.
type Kind string

// The kinds an export converts to.
const (
	Intent                Kind = intent.Kind
	Reality               Kind = reality.Kind
	Labels                Kind = labels.Kind
	ReplicationController Kind = rc.Kind
	DaemonSet             Kind = daemonset.Kind
	PodCluster            Kind = podcluster.Kind
	Roll                  Kind = roll.Kind
)

// Kinds lists the kinds in the order Apply writes them: what already runs
// (labels, intent, reality) before the controllers that own it, so that a
// controller finds its pods when it starts, and rolls after their RCs.
func Kinds() []Kind {
	return []Kind{Labels, Intent, Reality, ReplicationController, DaemonSet, PodCluster, Roll}
}

func kindOrder(k Kind) int {
	for i, o := range Kinds() {
		if o == k {
			return i
		}
	}
	return len(Kinds())
}

// Action is what Apply does with a record.
type Action string

const (
	// Create: the record is not in etcd and will be written.
	Create Action = "create"
	// Unchanged: etcd already holds this very record (an earlier import);
	// nothing is written.
	Unchanged Action = "unchanged"
)

// Record is one p2kit record converted from one export entry.
type Record struct {
	// Kind is the record's kind.
	Kind Kind `json:"kind"`
	// ID is the record's id within its kind: "<node>/<pod-id>" for intent
	// and reality, "<type>/<id>" for labels ("pod/web1/hello"), the
	// controller's id otherwise.
	ID string `json:"id"`
	// Source is the Consul key the record comes from.
	Source string `json:"source"`
	// Key is the etcd key it is written at; set by Importer.Plan.
	Key string `json:"key,omitempty"`
	// Action is set by Importer.Plan; Convert leaves it empty.
	Action Action `json:"action,omitempty"`
	// Value is the record in p2kit's form: *manifest.Manifest,
	// labels.Set, *rc.RC, *daemonset.DaemonSet, *podcluster.PodCluster or
	// *roll.Roll.
	Value any `json:"value"`

	cmp clientv3.Cmp
	op  clientv3.Op
}

// Class says why an entry is reported.
type Class string

const (
	// Unconvertible: the entry has no p2kit form (a tree p2kit does not
	// have, a value that does not decode or validate).
	Unconvertible Class = "unconvertible"
	// Ambiguous: the entry converts, but what it means is not clear: its
	// key and its value name different ids, or etcd already holds another
	// value at its key.
	Ambiguous Class = "ambiguous"
	// Skipped: the entry is P2's runtime state (locks, health, status,
	// audit logs), which p2kit's agents write anew. It blocks nothing.
	Skipped Class = "skipped"
)

// Problem is an entry, or a record, that is not written, and why.
type Problem struct {
	// Source is the Consul key.
	Source string `json:"source"`
	// Kind is the kind the entry would have become, when known.
	Kind Kind `json:"kind,omitempty"`
	// Class says whether the problem blocks the import.
	Class Class `json:"class"`
	// Reason says what is wrong, naming the field or id.
	Reason string `json:"reason"`
}

// Blocking reports whether the problem stops an import that is not partial.
func (p Problem) Blocking() bool { return p.Class != Skipped }

func (p Problem) String() string {
	return fmt.Sprintf("%s %s: %s", p.Class, p.Source, p.Reason)
}

// Plan is what an import would do: the records it writes and the entries
// it does not.
type Plan struct {
	Records  []Record  `json:"records"`
	Problems []Problem `json:"problems"`
}

// Blocking returns the problems that stop an import that is not partial.
func (p *Plan) Blocking() []Problem {
	var out []Problem
	for _, pr := range p.Problems {
		if pr.Blocking() {
			out = append(out, pr)
		}
	}
	return out
}

// Count returns how many records of kind have action (any action when
// empty).
func (p *Plan) Count(kind Kind, action Action) int {
	n := 0
	for _, r := range p.Records {
		if r.Kind == kind && (action == "" || r.Action == action) {
			n++
		}
	}
	return n
}

// sort orders records by kind (in Kinds order) then id, and problems by
// source.
func (p *Plan) sort() {
	sort.SliceStable(p.Records, func(i, j int) bool {
		a, b := p.Records[i], p.Records[j]
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.ID < b.ID
	})
	sort.SliceStable(p.Problems, func(i, j int) bool { return p.Problems[i].Source < p.Problems[j].Source })
}
