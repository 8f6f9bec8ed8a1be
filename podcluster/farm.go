package podcluster

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
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Farm keeps one Syncer up to date with every pod cluster: its members are
// the pods of the cluster's pod id whose pod labels match its selector,
// each with its node and health. Several farms may run at once; each
// cluster is owned by one of them through an etcd lock, and every record
// the farm writes carries that lock's fence.
//
// Failsafes (DESIGN.md): the cluster watch is guarded by NotEmpty and
// MaxDeletes(1, 0.5) and starts from the clusters the syncer was last told
// about (their sync records), so an empty or mass-deleting answer, at
// start or later, never reaches DeleteCluster; pod labels come from the
// fleet view, whose NotEmpty guard keeps the members of a wiped label tree.
type Farm struct {
	client  *clientv3.Client
	cfg     farm.Config
	log     *zap.Logger
	store   *Store
	syncer  Syncer
	records *status.Store[SyncRecord]
	ctrl    *farm.Controller[PodCluster]
	view    *fleet.View
	m       *metrics

	mu       sync.Mutex
	clusters map[string]*Object // the guarded view; ModRevision 0: known from a sync record only
	seed     map[string]*Object // the clusters with a sync record when Run started
}

// NewFarm returns a pod cluster farm syncing to syncer. Start it with Run.
func NewFarm(client *clientv3.Client, syncer Syncer, opts ...farm.Option) (*Farm, error) {
	switch {
	case client == nil:
		return nil, errors.New("pod cluster farm: nil etcd client")
	case syncer == nil:
		return nil, errors.New("pod cluster farm: nil syncer")
	}
	host, _ := os.Hostname()
	cfg := farm.Configure("pc-farm@"+host, opts...)
	f := &Farm{
		client: client,
		cfg:    cfg,
		log: cfg.Log.With(zap.String("component", "pc-farm"), zap.String("actor", cfg.Actor),
			zap.String("syncer", syncer.Type())),
		store:    NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(cfg.Log)),
		syncer:   syncer,
		clusters: map[string]*Object{},
		m:        newMetrics(cfg.Registry, cfg.Log),
	}
	var err error
	if f.records, err = status.NewStore[SyncRecord](client, syncer.Type(), keyspace.WithPrefix(cfg.Prefix)); err != nil {
		return nil, fmt.Errorf("pod cluster farm: syncer type: %w", err)
	}
	// One lock directory per syncer type: two syncers sync independently.
	b := farm.For[PodCluster](client, Dir+"-"+syncer.Type(), f.store, opts...).Named("pc-farm/" + syncer.Type())
	f.ctrl, err = b.OnStart(f.remember).
		Guards(f.startFromSeed, failsafe.NotEmpty[PodCluster](b.Holds()), failsafe.MaxDeletes[PodCluster](b.Holds(), 1, 0.5)).
		OnEvent(f.onEvent).
		When(func(ev *kv.Event[PodCluster]) bool { return ev.New.ModRevision > 0 }).
		WatchesFleet(f.onFleetChange).
		Runs(f.watchRecords).
		Complete(farm.ReconcilerFunc[PodCluster](func(ctx context.Context, id string, _ *Object) (farm.Result, error) {
			fence, _ := farm.FenceFrom(ctx)
			return farm.Result{}, f.reconcile(ctx, id, fence)
		}))
	if err != nil {
		return nil, fmt.Errorf("pod cluster farm: %w", err)
	}
	f.view = f.ctrl.Fleet()
	return f, nil
}

// Owned lists the clusters this process holds, sorted.
func (f *Farm) Owned() []string { return f.ctrl.Owned() }

// Run syncs until ctx ends. It waits for the fleet view's first listing
// before acting.
func (f *Farm) Run(ctx context.Context) error { return f.ctrl.Run(ctx) }

// remember seeds the cluster watch with the clusters the syncer was last
// told about.
func (f *Farm) remember(ctx context.Context) error {
	seed, err := f.remembered(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.seed = seed
	f.mu.Unlock()
	return nil
}

// startFromSeed is the first guard: the watch starts from the remembered
// clusters, so an empty or mass-deleting first answer is judged as a
// change from them.
func (f *Farm) startFromSeed(src kv.Source[PodCluster]) kv.Source[PodCluster] {
	f.mu.Lock()
	seed := f.seed
	f.mu.Unlock()
	return failsafe.StartFrom[PodCluster](src, kv.MapView[PodCluster](seed))
}

// onEvent keeps the guarded view of the clusters.
func (f *Farm) onEvent(ev *kv.Event[PodCluster]) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.Type == kv.Delete {
		delete(f.clusters, ev.Name)
	} else {
		f.clusters[ev.Name] = ev.New
	}
	return nil
}

// remembered lists the clusters the syncer was last told about: those with
// a sync record.
func (f *Farm) remembered(ctx context.Context) (map[string]*Object, error) {
	l, err := f.records.List(ctx, status.PodClusters)
	if err != nil {
		return nil, fmt.Errorf("list sync records: %w", err)
	}
	seed := map[string]*Object{}
	for _, o := range l.Items {
		id, _, _ := strings.Cut(o.Name, "/")
		key, err := f.store.Key(id)
		if err != nil {
			continue
		}
		seed[id] = &Object{Name: id, Key: key}
	}
	return seed, nil
}

// watchRecords syncs a cluster again when its sync record is deleted.
// Creating or changing a record does nothing.
func (f *Farm) watchRecords(ctx context.Context) error {
	w, err := f.records.Watch(ctx, status.PodClusters)
	if err != nil {
		return fmt.Errorf("pod cluster farm: %w", err)
	}
	err = kv.Run(ctx, w, func(b *kv.Batch[SyncRecord]) error {
		for i := range b.Events {
			ev := &b.Events[i]
			if ev.Type != kv.Delete {
				continue
			}
			id, _, _ := strings.Cut(ev.Name, "/")
			f.mu.Lock()
			o, ok := f.clusters[id]
			f.mu.Unlock()
			if ok && o.ModRevision > 0 {
				f.log.Info("sync record deleted; syncing the cluster again", zap.String("pod_cluster", id))
				f.ctrl.Enqueue(id)
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pod cluster farm: sync record watch: %w", err)
	}
	return nil
}

// onFleetChange maps a change to the clusters of every pod id that
// changed.
func (f *Farm) onFleetChange(c fleet.Change) []string {
	if c.Source == fleet.NodeLabels {
		return nil
	}
	pods := map[string]bool{}
	for _, name := range c.Names {
		_, rest, _ := strings.Cut(name, "/")
		pod, _, _ := strings.Cut(rest, "/")
		pods[pod] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, o := range f.clusters {
		if o.ModRevision > 0 && pods[o.Value.PodID] {
			ids = append(ids, id)
		}
	}
	return ids
}

// members lists the members of cluster c in the fleet view, sorted.
func (f *Farm) members(c *PodCluster) ([]Member, error) {
	sel, err := labels.Parse(c.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("pod cluster %s: pod_selector: %w", c.ID, err)
	}
	var ms []Member
	for _, name := range f.view.PodsMatching(sel) {
		node, pod, ok := strings.Cut(name, "/")
		if !ok || pod != c.PodID {
			continue
		}
		d := f.view.RealityDigest(node, pod)
		ms = append(ms, Member{Node: node, PodID: pod, Healthy: d != "" && f.view.Healthy(node, pod, d)})
	}
	sortMembers(ms)
	return ms, nil
}

// reconcile brings the syncer's copy of cluster id up to date, derived
// from the guarded cluster view, the fleet view and the sync record.
func (f *Farm) reconcile(ctx context.Context, id string, fence farm.Fence) error {
	f.mu.Lock()
	obj, exists := f.clusters[id]
	f.mu.Unlock()
	if exists && obj.ModRevision == 0 {
		return nil // known from its sync record only, until the guards pass the listing
	}
	log := f.log.With(zap.String("pod_cluster", id))
	rec, err := f.records.Get(ctx, status.PodClusters, id)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		rec = nil
	case errors.Is(err, kv.ErrDecode):
		log.Warn("unreadable sync record; syncing again", zap.Error(err))
		rec = nil
	case err != nil:
		return fmt.Errorf("pod cluster %s: read sync record: %w", id, err)
	}

	if !exists {
		if rec != nil {
			// The guards passed this delete: it is not part of an
			// empty or mass-deleting answer.
			if err := f.syncer.DeleteCluster(ctx, id); err != nil {
				f.m.deletes.WithLabelValues(f.syncer.Type(), "error").Inc()
				return fmt.Errorf("pod cluster %s: delete from %s syncer: %w", id, f.syncer.Type(), err)
			}
			f.m.deletes.WithLabelValues(f.syncer.Type(), "ok").Inc()
			key, err := f.records.Key(status.PodClusters, id)
			if err != nil {
				return fmt.Errorf("pod cluster %s: %w", id, err)
			}
			if _, err := kv.Commit(ctx, f.client, append(fence.Cmps(), f.records.KV().Unchanged(rec)), clientv3.OpDelete(key)); err != nil {
				return fmt.Errorf("pod cluster %s: remove sync record: %w", id, err)
			}
			log.Info("pod cluster deleted; removed from the syncer")
		}
		return nil // the farm forgets it
	}

	c := obj.Value
	members, err := f.members(&c)
	if err != nil {
		return err
	}
	digest, err := SyncDigest(&c, members)
	if err != nil {
		return err
	}
	if rec != nil && rec.Value.Digest == digest {
		log.Debug("pod cluster in sync; not syncing", zap.String("digest", digest))
		return nil
	}
	healthy := 0
	for _, m := range members {
		if m.Healthy {
			healthy++
		}
	}
	if err := f.syncer.SyncCluster(ctx, &c, members); err != nil {
		f.m.syncs.WithLabelValues(f.syncer.Type(), "error").Inc()
		return fmt.Errorf("pod cluster %s: sync with %s syncer: %w", id, f.syncer.Type(), err)
	}
	f.m.syncs.WithLabelValues(f.syncer.Type(), "ok").Inc()
	op, err := f.records.PutOp(status.PodClusters, id, &SyncRecord{
		Digest: digest, Members: len(members), Healthy: healthy, SyncedAt: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("pod cluster %s: sync record: %w", id, err)
	}
	if _, err := kv.Commit(ctx, f.client, fence.Cmps(), op); err != nil {
		return fmt.Errorf("pod cluster %s: write sync record: %w", id, err)
	}
	log.Info("pod cluster synced", zap.Int("members", len(members)), zap.Int("healthy", healthy),
		zap.String("digest", digest))
	return nil
}
