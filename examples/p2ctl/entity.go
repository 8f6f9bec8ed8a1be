package main

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// kind is one entity p2ctl handles: its names, how it is addressed on the
// command line, how its files are decoded and how its store is opened. The
// verbs (apply, get, list, delete, watch) are written once over kinds.
type kind struct {
	name    string
	aliases []string
	short   string
	// idArgs names the positional arguments of get and delete: "id", or
	// "node" and "pod" for the pod trees.
	idArgs []string
	// perNode kinds (intent, reality) take --node on apply (required),
	// list and watch (optional).
	perNode bool
	// force says delete takes --force.
	force bool
	// dir is the kind's key directory under the prefix
	// ("replication_controllers"), also its name in audit records and
	// status keys.
	dir string
	// typ is the Go type files decode into, for decode errors that list
	// every unknown field.
	typ reflect.Type
	// labels is the label type of the kind's ids, for list -l.
	labels labels.Type
	// owner is the pod label naming the controller a pod belongs to;
	// with it, the table's cells countAt, +1 and +2 are DESIRED, CURRENT
	// and HEALTHY, counted from the pods.
	owner   string
	countAt int
	// decode reads a file's bytes (YAML or JSON) into a validated value.
	decode func(data []byte) (any, error)
	// open returns the kind's resource over an etcd client.
	open func(a *app, cli *clientv3.Client) resource
}

// use is the cobra Use line of a verb's subcommand: "rc <id>".
func (k *kind) use(withIDs bool) string {
	if !withIDs {
		return k.name
	}
	return k.name + " <" + strings.Join(k.idArgs, "> <") + ">"
}

// resource is what the verbs need of one kind's store.
type resource interface {
	headers() []string
	// apply creates v when it is missing and otherwise updates it with
	// compare-and-swap on the revision just read; expect, when not 0, is
	// the revision the caller read, and apply fails with kv.ErrConflict
	// when the value changed since. An equal value is not written.
	apply(ctx context.Context, v any, node string, expect int64) (*applied, error)
	get(ctx context.Context, ids []string) (*row, error)
	// ids returns the ids value v (decoded by the kind) is stored under.
	ids(v any, node string) ([]string, error)
	list(ctx context.Context, node string) ([]*row, []*kv.DecodeError, error)
	delete(ctx context.Context, ids []string, force bool) error
	watch(ctx context.Context, node string, fn func(*change) error) error
}

// row is one stored object: its envelope and its table cells.
type row struct {
	env   envelope
	cells []string
}

// applied is the outcome of apply.
type applied struct {
	row    *row
	action string // created, configured or unchanged
}

// change is one watch event as p2ctl prints it.
type change struct {
	Type     string `json:"type"`
	Batch    string `json:"batch"`
	Revision int64  `json:"revision"`
	Key      string `json:"key"`
	Value    any    `json:"value,omitempty"`
	Error    string `json:"error,omitempty"`
	summary  string
	// row is the object's row (for the initial listing and deletes, the
	// last value known); nil for a value that cannot be decoded.
	row *row
}

// typeSynced is the change watch passes after the initial listing; it
// prints nothing.
const typeSynced = "synced"

// kinds is the registry of entities, in the order help lists them.
var kinds = []*kind{intentKind, realityKind, daemonSetKind, rcKind, rollKind, podClusterKind}

// findKind returns the kind named or aliased name.
func findKind(name string) (*kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
		for _, al := range k.aliases {
			if al == name {
				return k, true
			}
		}
	}
	return nil, false
}

// kindList lists the entities for messages: "intent, reality, daemonset (ds), ...".
func kindList() string {
	var names []string
	for _, k := range kinds {
		n := k.name
		if len(k.aliases) > 0 {
			n += " (" + strings.Join(k.aliases, ", ") + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// unknownKind is the error for an entity name p2ctl does not know.
func unknownKind(name string) error {
	if name == "" {
		return fmt.Errorf("name an entity: one of %s", kindList())
	}
	return fmt.Errorf("unknown entity %q: want one of %s", name, kindList())
}

// ops are the typed operations of one store, from which typed builds a
// resource. Each kind fills them from its own store's methods.
type ops[T any] struct {
	headers []string
	cells   func(o *kv.Object[T]) []string
	// ids returns the ids v is stored under (its id; node and pod id).
	ids    func(v *T, node string) []string
	get    func(ctx context.Context, ids []string) (*kv.Object[T], error)
	create func(ctx context.Context, v *T, node string) (*kv.Object[T], error)
	update func(ctx context.Context, prev *kv.Object[T], v *T) (*kv.Object[T], error)
	list   func(ctx context.Context, node string) (*kv.Listing[T], error)
	watch  func(ctx context.Context, node string) (*kv.Watcher[T], error)
	delete func(ctx context.Context, ids []string, force bool) error
}

// typed is the one implementation of resource, over ops of any type.
type typed[T any] struct{ ops ops[T] }

func (r *typed[T]) headers() []string {
	return append(append([]string{}, r.ops.headers...), "REVISION")
}

func (r *typed[T]) row(o *kv.Object[T]) *row {
	return &row{env: envelopeOf(o), cells: append(r.ops.cells(o), fmt.Sprint(o.ModRevision))}
}

func (r *typed[T]) apply(ctx context.Context, v any, node string, expect int64) (*applied, error) {
	val, ok := v.(*T)
	if !ok {
		return nil, fmt.Errorf("apply: value of type %T, want %T", v, new(T))
	}
	ids := r.ops.ids(val, node)
	cur, err := r.ops.get(ctx, ids)
	switch {
	case expect != 0 && kvNotFound(err):
		return nil, fmt.Errorf("%s: deleted since revision %d: %w", strings.Join(ids, "/"), expect, kv.ErrConflict)
	case expect != 0 && err == nil && cur.ModRevision != expect:
		return nil, fmt.Errorf("%s: changed since revision %d (now revision %d): %w", cur.Key, expect, cur.ModRevision, kv.ErrConflict)
	case kvNotFound(err):
		obj, err := r.ops.create(ctx, val, node)
		if err != nil {
			return nil, err
		}
		return &applied{row: r.row(obj), action: "created"}, nil
	case err != nil:
		return nil, err
	case sameJSON(cur.Value, *val):
		return &applied{row: r.row(cur), action: "unchanged"}, nil
	}
	obj, err := r.ops.update(ctx, cur, val)
	if err != nil {
		return nil, err
	}
	return &applied{row: r.row(obj), action: "configured"}, nil
}

func (r *typed[T]) ids(v any, node string) ([]string, error) {
	val, ok := v.(*T)
	if !ok {
		return nil, fmt.Errorf("value of type %T, want %T", v, new(T))
	}
	return r.ops.ids(val, node), nil
}

func (r *typed[T]) get(ctx context.Context, ids []string) (*row, error) {
	obj, err := r.ops.get(ctx, ids)
	if err != nil {
		return nil, err
	}
	return r.row(obj), nil
}

func (r *typed[T]) list(ctx context.Context, node string) ([]*row, []*kv.DecodeError, error) {
	l, err := r.ops.list(ctx, node)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]*row, 0, len(l.Items))
	for _, o := range l.Items {
		rows = append(rows, r.row(o))
	}
	return rows, l.Invalid, nil
}

func (r *typed[T]) delete(ctx context.Context, ids []string, force bool) error {
	return r.ops.delete(ctx, ids, force)
}

// watch calls fn for every event until ctx ends. The first batch is the
// listing; its events are of type "initial".
func (r *typed[T]) watch(ctx context.Context, node string, fn func(*change) error) error {
	w, err := r.ops.watch(ctx, node)
	if err != nil {
		return err
	}
	defer w.Close()
	return kv.Run(ctx, kv.Source[T](w), func(b *kv.Batch[T]) error {
		for _, ev := range b.Events {
			if err := fn(r.change(b, ev)); err != nil {
				return err
			}
		}
		if b.Kind == kv.Initial {
			return fn(&change{Type: typeSynced, Batch: b.Kind.String()})
		}
		return nil
	})
}

// change turns one event into what watch prints.
func (r *typed[T]) change(b *kv.Batch[T], ev kv.Event[T]) *change {
	c := &change{Type: ev.Type.String(), Batch: b.Kind.String(), Revision: ev.Revision, Key: ev.Key}
	if b.Kind == kv.Initial {
		c.Type = "initial"
	}
	obj := ev.New
	if ev.Type == kv.Delete {
		obj = ev.Old
	}
	switch {
	case ev.Err != nil:
		c.Type, c.Error, c.summary = "error", oneLine(ev.Err), oneLine(ev.Err)
	case obj != nil:
		c.Value = obj.Value
		c.summary = summary(r.ops.headers[1:], r.ops.cells(obj)[1:])
		c.row = r.row(obj)
	}
	return c
}

// summary is "k=v" for each column that has a value, for watch lines.
func summary(headers, cells []string) string {
	parts := make([]string, 0, len(headers))
	for i, h := range headers {
		if i < len(cells) && cells[i] != "-" {
			parts = append(parts, strings.ToLower(h)+"="+cells[i])
		}
	}
	return strings.Join(parts, " ")
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
