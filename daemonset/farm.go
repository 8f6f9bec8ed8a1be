package daemonset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// OwnerLabel is the pod label a daemon set puts on every pod it schedules,
// in the same transaction as the pod's intent: "daemon_set_id=<id>". The
// farm unschedules only pods that carry its own id.
const OwnerLabel = "daemon_set_id"

// PodIDLabel is the pod label that holds the pod id of every pod a daemon
// set schedules, as P2 labelled its pods, so that selectors such as
// "pod_id=web" (P2's pod clusters) match them.
const PodIDLabel = "pod_id"

// StatusNamespace is the namespace of the farm's status record of each
// daemon set: /p2/status/daemon_sets/<id>/ds-farm.
const StatusNamespace = "ds-farm"

// viewWait bounds how long a pass waits for the fleet view to show its own
// writes before it fails and is retried.
const viewWait = 30 * time.Second

// Farm is the daemon set controller: it schedules each daemon set's
// manifest on the nodes its selector matches, paced by the daemon set's
// rate limit, rolls manifest changes within min_health, and unschedules
// nodes that stop matching. Several farms may run at once; each daemon set
// is owned by one of them through an etcd lock, and every write carries
// that lock's fence.
//
// Failsafes (DESIGN.md): deletes of daemon sets never reach the reconciler
// (failsafe.IgnoreDeletes) and remove no intent; a selector that matches
// no node unschedules nothing; node labels come from the fleet view, whose
// NotEmpty guard holds an emptied label tree.
type Farm struct {
	client   *clientv3.Client
	cfg      farm.Config
	log      *zap.Logger
	store    *Store
	intent   *intent.Store
	podLbls  *kv.Store[labels.Set]
	statuses *status.Store[Status]
	ctrl     *farm.Controller[DaemonSet]
	view     *fleet.View
	owned    *fleet.Index[labels.Set] // pod labels by OwnerLabel
	m        *metrics

	mu       sync.Mutex
	sets     map[string]*Object             // daemon sets that exist, from the watch
	last     map[string]time.Time           // last paced action per daemon set
	updating map[string]map[string]updateAt // node updates in flight per daemon set
}

type updateAt struct {
	digest string
	since  time.Time
}

// NewFarm returns a daemon set farm. Start it with Run.
func NewFarm(client *clientv3.Client, opts ...farm.Option) (*Farm, error) {
	if client == nil {
		return nil, errors.New("daemon set farm: nil etcd client")
	}
	host, _ := os.Hostname()
	cfg := farm.Configure("ds-farm@"+host, opts...)
	if cfg.Actor == "" {
		return nil, errors.New("daemon set farm: empty actor")
	}
	f := &Farm{
		client:   client,
		cfg:      cfg,
		log:      cfg.Log.With(zap.String("component", "ds-farm")),
		store:    NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(cfg.Log)),
		intent:   intent.NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(cfg.Log)),
		sets:     map[string]*Object{},
		last:     map[string]time.Time{},
		updating: map[string]map[string]updateAt{},
		m:        newMetrics(cfg.Registry, cfg.Log),
	}
	pl, err := labels.New(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(cfg.Log)).Of(labels.Pod)
	if err != nil {
		return nil, fmt.Errorf("daemon set farm: %w", err)
	}
	f.podLbls = pl
	if f.statuses, err = status.NewStore[Status](client, StatusNamespace, keyspace.WithPrefix(cfg.Prefix)); err != nil {
		return nil, fmt.Errorf("daemon set farm: %w", err)
	}
	// Deletes never reach the farm: a deleted daemon set removes no intent.
	f.ctrl, err = farm.For[DaemonSet](client, Dir, f.store, opts...).Named("ds-farm").
		Guards(f.noteDeletes, failsafe.IgnoreDeletes[DaemonSet]()).
		OnEvent(f.onEvent).
		WatchesFleet(f.onFleetChange).
		Complete(farm.ReconcilerFunc[DaemonSet](func(ctx context.Context, id string, _ *Object) (farm.Result, error) {
			fence, _ := farm.FenceFrom(ctx)
			return farm.Result{}, f.reconcile(ctx, id, fence)
		}))
	if err != nil {
		return nil, fmt.Errorf("daemon set farm: %w", err)
	}
	f.view = f.ctrl.Fleet()
	f.owned = f.view.IndexPodLabel(OwnerLabel)
	return f, nil
}

// Owned lists the daemon sets this process holds, sorted.
func (f *Farm) Owned() []string { return f.ctrl.Owned() }

// Run reconciles daemon sets until ctx ends. It waits for the fleet view's
// first listing before acting, so that a node it has not seen yet is never
// taken for a node that does not match.
func (f *Farm) Run(ctx context.Context) error { return f.ctrl.Run(ctx) }

// onEvent keeps the daemon sets and queues the others of the same pod,
// which the change may now overlap.
func (f *Farm) onEvent(ev *kv.Event[DaemonSet]) []string {
	f.mu.Lock()
	f.sets[ev.Name] = ev.New
	f.mu.Unlock()
	return f.setsOf(ev.New.Value.PodID)
}

// noteDeletes is the guard in front of IgnoreDeletes: it logs each deleted
// daemon set, says that its intent stays, and gives it up.
func (f *Farm) noteDeletes(src kv.Source[DaemonSet]) kv.Source[DaemonSet] {
	return kv.SourceFunc[DaemonSet](func(ctx context.Context) (*kv.Batch[DaemonSet], error) {
		b, err := src.Next(ctx)
		if err != nil {
			return nil, err
		}
		for i := range b.Events {
			ev := &b.Events[i]
			if ev.Type != kv.Delete {
				continue
			}
			nodes := len(f.ownedNodes(ev.Name, ev.Old.Value.PodID))
			f.log.Info("daemon set deleted; removing no intent: its pods stay where they run",
				zap.String("daemon_set", ev.Name), zap.String("pod", ev.Old.Value.PodID), zap.Int("nodes", nodes))
			f.mu.Lock()
			delete(f.sets, ev.Name)
			delete(f.last, ev.Name)
			delete(f.updating, ev.Name)
			f.mu.Unlock()
			f.ctrl.Forget(ctx, ev.Name)
		}
		return b, nil
	})
}

// setsOf lists the daemon sets of pod id.
func (f *Farm) setsOf(pod string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, o := range f.sets {
		if o.Value.PodID == pod {
			ids = append(ids, id)
		}
	}
	return ids
}

// onFleetChange maps a change of the fleet to the daemon sets it may
// concern.
func (f *Farm) onFleetChange(c fleet.Change) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	if c.Source == fleet.NodeLabels {
		for id := range f.sets {
			ids = append(ids, id)
		}
		return ids
	}
	pods := map[string]bool{}
	for _, name := range c.Names {
		_, rest, _ := strings.Cut(name, "/")
		pod, _, _ := strings.Cut(rest, "/")
		pods[pod] = true
	}
	for id, o := range f.sets {
		if pods[o.Value.PodID] {
			ids = append(ids, id)
		}
	}
	return ids
}

// waitView blocks until the fleet view shows the farm's own writes at rev
// to srcs, which it lags by a watch round trip.
func (f *Farm) waitView(ctx context.Context, what string, rev int64, srcs ...fleet.Source) error {
	ctx, cancel := context.WithTimeout(ctx, viewWait)
	defer cancel()
	if err := f.view.WaitFor(ctx, rev, srcs...); err != nil {
		return fmt.Errorf("waiting for the fleet view to show %s: %w", what, err)
	}
	return nil
}

// after asks for id to be reconciled again after d, unless it already will
// be sooner.
func (f *Farm) after(id string, d time.Duration) { f.ctrl.EnqueueAfter(id, d) }
