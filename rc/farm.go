package rc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// IDLabel is the pod label that names the RC a pod belongs to. An RC's
// pods are exactly the pods labelled with its id.
const IDLabel = "replication_controller_id"

// PodIDLabel is the pod label that holds the pod id of every pod an RC
// schedules, as P2 labelled its pods, so that selectors such as "pod_id=web"
// (P2's pod clusters) match them.
const PodIDLabel = "pod_id"

// FarmKind is the farm kind of RCs: their locks live under
// <root>/locks/replication_controllers/.
const FarmKind = Dir

// DefaultActor is the audit actor of the RC farm's writes.
const DefaultActor = "rc-farm"

// Farm keeps every RC's pods scheduled: replicas_desired pods on nodes
// matching node_selector. Any number of farm processes may run; each RC is
// reconciled by exactly one of them at a time (see package farm).
//
// Failsafe: a change that deletes more than half of all RCs, and more than
// 2, is held (failsafe.MaxDeletes) and recorded; a deleted RC's pods stay
// scheduled, always.
type Farm struct {
	client   *clientv3.Client
	cfg      farm.Config
	log      *zap.Logger
	store    *Store
	intent   *intent.Store
	podLbls  *kv.Store[labels.Set]
	statuses *status.Store[Status]
	holds    *failsafe.Holds
	view     *fleet.View
	ownView  bool
	farm     *farm.Farm

	mu    sync.Mutex
	byPod map[string]map[string]bool // pod id -> ids of RCs scheduling it
	podOf map[string]string          // RC id -> its pod id

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced after every fleet change
}

// catchUpTimeout bounds the wait for the fleet view to show the farm's own
// writes.
const catchUpTimeout = 10 * time.Second

// NewFarm returns an RC farm; start it with Run.
func NewFarm(client *clientv3.Client, opts ...farm.Option) (*Farm, error) {
	if client == nil {
		return nil, errors.New("rc farm: nil etcd client")
	}
	cfg := farm.Configure(DefaultActor, opts...)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Actor == "" {
		return nil, errors.New("rc farm: actor: required")
	}
	log := cfg.Log.With(zap.String("component", DefaultActor))
	ls := labels.New(client, labels.WithPrefix(cfg.Prefix), labels.WithLogger(log))
	podLbls, err := ls.Of(labels.Pod)
	if err != nil {
		return nil, fmt.Errorf("rc farm: %w", err)
	}
	f := &Farm{
		client:   client,
		cfg:      cfg,
		log:      log,
		store:    NewStore(client, WithPrefix(cfg.Prefix), WithLogger(log)),
		intent:   intent.NewStore(client, intent.WithPrefix(cfg.Prefix), intent.WithLogger(log)),
		podLbls:  podLbls,
		statuses: NewStatusStore(client, WithPrefix(cfg.Prefix), WithLogger(log)),
		byPod:    map[string]map[string]bool{},
		podOf:    map[string]string{},
		changed:  make(chan struct{}),
	}
	f.holds, f.view, f.ownView = farm.Attach(client, cfg, DefaultActor, log)
	fo := append(opts[:len(opts):len(opts)], farm.WithLogger(log))
	f.farm, err = farm.New(client, FarmKind, farm.FenceFunc(f.reconcile), fo...)
	if err != nil {
		return nil, fmt.Errorf("rc farm: %w", err)
	}
	f.view.Subscribe(f.onFleet)
	return f, nil
}

// Owned lists the RCs this process reconciles now, sorted.
func (f *Farm) Owned() []string { return f.farm.Owned() }

// Run reconciles RCs until ctx ends; it returns nil then. It starts
// reconciling only once the fleet view has its first listing, so that a
// farm never mistakes a view still loading for a fleet without pods.
func (f *Farm) Run(ctx context.Context) error {
	return farm.RunWithView(ctx, "rc farm", f.view, f.ownView, nil, f.farm.Run, f.watch)
}

// watch follows the RCs through the failsafe guard and tells the farm
// which ones to look at again.
func (f *Farm) watch(ctx context.Context) error {
	w := f.store.Watch(ctx)
	defer w.Close()
	src := failsafe.Chain[RC](w, failsafe.MaxDeletes[RC](f.holds, 2, 0.5))
	err := kv.Run(ctx, src, func(b *kv.Batch[RC]) error {
		for i := range b.Events {
			ev := &b.Events[i]
			switch {
			case ev.Err != nil:
				f.log.Error("undecodable RC; acting on nothing until it is fixed", zap.String("key", ev.Key), zap.Error(ev.Err))
			case ev.Type == kv.Delete:
				f.log.Info("RC deleted; its pods stay scheduled", zap.String("rc", ev.Name))
				f.unindex(ev.Name)
				f.farm.Forget(ctx, ev.Name)
			default:
				f.index(ev.Name, ev.New.Value.Manifest.ID)
				f.farm.Enqueue(ev.Name)
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("watch RCs: %w", err)
}

func (f *Farm) index(id, pod string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.podOf[id]; ok && old != pod {
		delete(f.byPod[old], id)
	}
	f.podOf[id] = pod
	if f.byPod[pod] == nil {
		f.byPod[pod] = map[string]bool{}
	}
	f.byPod[pod][id] = true
}

func (f *Farm) unindex(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pod, ok := f.podOf[id]; ok {
		delete(f.byPod[pod], id)
		if len(f.byPod[pod]) == 0 {
			delete(f.byPod, pod)
		}
	}
	delete(f.podOf, id)
}

// onFleet turns a fleet change into "look again" for the RCs it may
// concern: every RC when node labels change, otherwise the RCs that
// schedule the changed pods' pod ids.
func (f *Farm) onFleet(c fleet.Change) {
	f.changedMu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.changedMu.Unlock()

	var ids []string
	f.mu.Lock()
	if c.Source == fleet.NodeLabels {
		for id := range f.podOf {
			ids = append(ids, id)
		}
	} else {
		seen := map[string]bool{}
		for _, name := range c.Names {
			pod := podOfName(name)
			if seen[pod] {
				continue
			}
			seen[pod] = true
			for id := range f.byPod[pod] {
				ids = append(ids, id)
			}
		}
	}
	f.mu.Unlock()
	for _, id := range ids {
		f.farm.Enqueue(id)
	}
}

// podOfName returns the pod id of a fleet name "<node>/<pod-id>[/...]".
func podOfName(name string) string {
	_, rest, _ := strings.Cut(name, "/")
	pod, _, _ := strings.Cut(rest, "/")
	return pod
}

// awaitView waits until cond holds of the fleet view, re-checking after
// every fleet change, for at most the catch-up time.
func (f *Farm) awaitView(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTimer(catchUpTimeout)
	defer t.Stop()
	for {
		f.changedMu.Lock()
		ch := f.changed
		f.changedMu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("fleet view has not caught up with %s after %s", what, catchUpTimeout)
		}
	}
}
