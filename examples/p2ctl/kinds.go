package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeOption is the write option of every audited entity store: rc,
// daemonset, roll and podcluster all alias the same type.
type writeOption = rc.WriteOption

// auditedStore is the method set the four controller entity stores share.
type auditedStore[T any] interface {
	Create(ctx context.Context, actor string, v *T, opts ...writeOption) (*kv.Object[T], error)
	Get(ctx context.Context, id string) (*kv.Object[T], error)
	List(ctx context.Context) (*kv.Listing[T], error)
	Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[T]
	Update(ctx context.Context, actor string, prev *kv.Object[T], next *T, opts ...writeOption) (*kv.Object[T], error)
	Delete(ctx context.Context, actor, id string, opts ...writeOption) error
}

// table is how one kind prints: column headers and the cells of an object.
type table[T any] struct {
	headers []string
	cells   func(o *kv.Object[T]) []string
}

// controllerOps builds ops over an audited store; every write is recorded
// under actor. force, when not nil, is the option delete --force passes.
func controllerOps[T any](s auditedStore[T], actor string, id func(*T) string, t table[T], force writeOption) ops[T] {
	return ops[T]{
		headers: t.headers,
		cells:   t.cells,
		ids:     func(v *T, _ string) []string { return []string{id(v)} },
		get:     func(ctx context.Context, ids []string) (*kv.Object[T], error) { return s.Get(ctx, ids[0]) },
		create: func(ctx context.Context, v *T, _ string) (*kv.Object[T], error) {
			return s.Create(ctx, actor, v)
		},
		update: func(ctx context.Context, prev *kv.Object[T], v *T) (*kv.Object[T], error) {
			return s.Update(ctx, actor, prev, v)
		},
		list:  func(ctx context.Context, _ string) (*kv.Listing[T], error) { return s.List(ctx) },
		watch: func(ctx context.Context, _ string) (*kv.Watcher[T], error) { return s.Watch(ctx), nil },
		delete: func(ctx context.Context, ids []string, f bool) error {
			var opts []writeOption
			if f && force != nil {
				opts = append(opts, force)
			}
			return s.Delete(ctx, actor, ids[0], opts...)
		},
	}
}

// podStore is the method set of the pod trees, intent and reality.
type podStore interface {
	Create(ctx context.Context, node string, m *manifest.Manifest) (*kv.Object[manifest.Manifest], error)
	Update(ctx context.Context, prev *kv.Object[manifest.Manifest], m *manifest.Manifest) (*kv.Object[manifest.Manifest], error)
	Get(ctx context.Context, node, pod string) (*kv.Object[manifest.Manifest], error)
	Delete(ctx context.Context, node, pod string, opts ...kv.DeleteOption) error
	List(ctx context.Context, node string) (*kv.Listing[manifest.Manifest], error)
	ListAll(ctx context.Context) (*kv.Listing[manifest.Manifest], error)
	KV() *kv.Store[manifest.Manifest]
	WatchNode(ctx context.Context, node string, opts ...kv.WatchOption) (*kv.Watcher[manifest.Manifest], error)
	WatchAll(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[manifest.Manifest]
}

// podOps builds ops over a pod tree: ids are node and pod id, and apply
// needs --node. Every write and delete is audited under actor, in the same
// transaction, as entity ("intent" or "reality") with id "<node>/<pod-id>".
func podOps(s podStore, log *audit.Log, entity, actor string) ops[manifest.Manifest] {
	type obj = kv.Object[manifest.Manifest]
	st := s.KV()
	return ops[manifest.Manifest]{
		headers: []string{"NODE", "POD", "DIGEST", "LAUNCHABLES"},
		cells:   manifestCells,
		ids:     func(m *manifest.Manifest, node string) []string { return []string{node, m.ID} },
		get:     func(ctx context.Context, ids []string) (*obj, error) { return s.Get(ctx, ids[0], ids[1]) },
		create: func(ctx context.Context, m *manifest.Manifest, node string) (*obj, error) {
			name := node + "/" + m.ID
			cmp, put, err := st.CreateOp(name, m)
			if err != nil {
				return nil, err
			}
			rec, err := log.Op(audit.Created, entity, name, actor, m)
			if err != nil {
				return nil, err
			}
			o, err := commitAudited(ctx, st, cmp, put, rec, name, *m, nil)
			if errors.Is(err, kv.ErrConflict) {
				return nil, fmt.Errorf("%s/%s: %w", entity, name, kv.ErrExists)
			}
			return o, err
		},
		update: func(ctx context.Context, prev *obj, m *manifest.Manifest) (*obj, error) {
			cmp, put, err := st.UpdateOp(prev, m)
			if err != nil {
				return nil, err
			}
			rec, err := log.Op(audit.Updated, entity, prev.Name, actor, m)
			if err != nil {
				return nil, err
			}
			return commitAudited(ctx, st, cmp, put, rec, prev.Name, *m, prev)
		},
		list: func(ctx context.Context, node string) (*kv.Listing[manifest.Manifest], error) {
			if node == "" {
				return s.ListAll(ctx)
			}
			return s.List(ctx, node)
		},
		watch: func(ctx context.Context, node string) (*kv.Watcher[manifest.Manifest], error) {
			if node == "" {
				return s.WatchAll(ctx), nil
			}
			return s.WatchNode(ctx, node)
		},
		delete: func(ctx context.Context, ids []string, _ bool) error {
			cur, err := s.Get(ctx, ids[0], ids[1])
			if err != nil {
				return err
			}
			rec, err := log.Op(audit.Deleted, entity, cur.Name, actor, cur.Value)
			if err != nil {
				return err
			}
			return deleteAudited(ctx, st, cur, rec)
		},
	}
}

// manifestCells are node, pod, digest and launchables; node and pod come
// from the key, since a node's watch names pods by pod id only.
func manifestCells(o *kv.Object[manifest.Manifest]) []string {
	parts := strings.Split(o.Key, "/")
	node, pod := "", o.Value.ID
	if len(parts) >= 2 {
		node = parts[len(parts)-2]
	}
	digest, err := o.Value.Digest()
	if err != nil {
		digest = "?"
	}
	return []string{node, pod, short(digest, 12), strings.Join(sortedKeys(o.Value.Launchables), ",")}
}

var intentKind = &kind{
	name:    "intent",
	short:   "pod manifests that should run on a node",
	idArgs:  []string{"node", "pod"},
	perNode: true,
	decode:  decodeManifest,
	dir:     intent.Kind,
	labels:  labels.Pod,
	typ:     reflect.TypeFor[manifest.Manifest](),
	open: func(a *app, cli *clientv3.Client) resource {
		return &typed[manifest.Manifest]{podOps(intent.NewStore(cli, keyspace.WithPrefix(a.prefix)), a.auditLog(cli), intent.Kind, a.actor)}
	},
}

var realityKind = &kind{
	name:    "reality",
	short:   "pod manifests a node's preparer has installed",
	idArgs:  []string{"node", "pod"},
	perNode: true,
	decode:  decodeManifest,
	dir:     reality.Kind,
	labels:  labels.Pod,
	typ:     reflect.TypeFor[manifest.Manifest](),
	open: func(a *app, cli *clientv3.Client) resource {
		return &typed[manifest.Manifest]{podOps(reality.NewStore(cli, keyspace.WithPrefix(a.prefix)), a.auditLog(cli), reality.Kind, a.actor)}
	},
}

var daemonSetKind = &kind{
	name:    "daemonset",
	aliases: []string{"ds"},
	short:   "daemon sets: a pod on every matching node",
	idArgs:  []string{"id"},
	decode:  decodeEntity((*daemonset.DaemonSet).Validate),
	dir:     daemonset.Kind,
	labels:  labels.DaemonSet,
	owner:   daemonset.OwnerLabel,
	countAt: 2,
	typ:     reflect.TypeFor[daemonset.DaemonSet](),
	open: func(a *app, cli *clientv3.Client) resource {
		s := daemonset.NewStore(cli, keyspace.WithPrefix(a.prefix))
		return &typed[daemonset.DaemonSet]{controllerOps(s, a.actor, func(d *daemonset.DaemonSet) string { return d.ID },
			table[daemonset.DaemonSet]{
				headers: []string{"ID", "POD", "DESIRED", "CURRENT", "HEALTHY", "SELECTOR", "DISABLED", "MIN_HEALTH", "TIMEOUT"},
				cells: func(o *kv.Object[daemonset.DaemonSet]) []string {
					d := o.Value
					return []string{d.ID, d.PodID, "-", "-", "-", orDash(d.NodeSelector), strconv.FormatBool(d.Disabled),
						strconv.Itoa(d.MinHealth), d.Timeout.String()}
				},
			}, nil)}
	},
}

var rcKind = &kind{
	name:    "rc",
	short:   "replication controllers: a pod on N matching nodes",
	idArgs:  []string{"id"},
	force:   true,
	decode:  decodeEntity((*rc.RC).Validate),
	dir:     rc.Kind,
	labels:  labels.ReplicationController,
	owner:   rc.IDLabel,
	countAt: 2,
	typ:     reflect.TypeFor[rc.RC](),
	open: func(a *app, cli *clientv3.Client) resource {
		s := rc.NewStore(cli, keyspace.WithPrefix(a.prefix))
		return &typed[rc.RC]{controllerOps(s, a.actor, func(r *rc.RC) string { return r.ID }, rcTable, rc.Force())}
	},
}

var rcTable = table[rc.RC]{
	headers: []string{"ID", "POD", "DESIRED", "CURRENT", "HEALTHY", "SELECTOR", "DISABLED"},
	cells: func(o *kv.Object[rc.RC]) []string {
		r := o.Value
		return []string{r.ID, r.Manifest.ID, strconv.Itoa(r.ReplicasDesired), "-", "-", orDash(r.NodeSelector), strconv.FormatBool(r.Disabled)}
	},
}

var rollKind = &kind{
	name:   "roll",
	short:  "rolls: rolling updates from one RC to another",
	idArgs: []string{"id"},
	decode: decodeEntity((*roll.Roll).Validate),
	dir:    roll.Kind,
	labels: labels.Roll,
	typ:    reflect.TypeFor[roll.Roll](),
	open: func(a *app, cli *clientv3.Client) resource {
		return &typed[roll.Roll]{rollOps(a, cli)}
	},
}

var podClusterKind = &kind{
	name:    "podcluster",
	aliases: []string{"pc"},
	short:   "pod clusters: the pods of a pod id in a zone, under a name",
	idArgs:  []string{"id"},
	decode:  decodeEntity((*podcluster.PodCluster).Validate),
	dir:     podcluster.Kind,
	labels:  labels.PodCluster,
	typ:     reflect.TypeFor[podcluster.PodCluster](),
	open: func(a *app, cli *clientv3.Client) resource {
		s := podcluster.NewStore(cli, keyspace.WithPrefix(a.prefix))
		return &typed[podcluster.PodCluster]{controllerOps(s, a.actor, func(c *podcluster.PodCluster) string { return c.ID },
			table[podcluster.PodCluster]{
				headers: []string{"ID", "POD", "AZ", "NAME", "SELECTOR", "MIN_HEALTH_%"},
				cells: func(o *kv.Object[podcluster.PodCluster]) []string {
					c := o.Value
					return []string{c.ID, c.PodID, c.AvailabilityZone, c.Name, c.PodSelector, fmt.Sprint(c.MinHealthPercentage)}
				},
			}, nil)}
	},
}
