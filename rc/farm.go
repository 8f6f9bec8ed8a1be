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
	"github.com/p2kit/p2kit/keyspace"
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
	log      *zap.Logger
	store    *Store
	intent   *intent.Store
	podLbls  *kv.Store[labels.Set]
	statuses *status.Store[Status]
	view     *fleet.View
	byRC     *fleet.Index[labels.Set] // pod labels by IDLabel
	ctrl     *farm.Controller[RC]

	mu    sync.Mutex
	byPod map[string]map[string]bool // pod id -> ids of RCs scheduling it
	podOf map[string]string          // RC id -> its pod id
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
	if cfg.Actor == "" {
		return nil, errors.New("rc farm: actor: required")
	}
	log := cfg.Log.With(zap.String("component", DefaultActor))
	ls := labels.New(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log))
	podLbls, err := ls.Of(labels.Pod)
	if err != nil {
		return nil, fmt.Errorf("rc farm: %w", err)
	}
	f := &Farm{
		client:   client,
		log:      log,
		store:    NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		intent:   intent.NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		podLbls:  podLbls,
		statuses: NewStatusStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		byPod:    map[string]map[string]bool{},
		podOf:    map[string]string{},
	}
	b := farm.For[RC](client, FarmKind, f.store, append(opts[:len(opts):len(opts)], farm.WithLogger(log))...).Named(DefaultActor)
	f.ctrl, err = b.Guards(failsafe.MaxDeletes[RC](b.Holds(), 2, 0.5)).
		OnEvent(f.onEvent).
		WatchesFleet(f.onFleet).
		Complete(farm.ReconcilerFunc[RC](f.reconcile))
	if err != nil {
		return nil, fmt.Errorf("rc farm: %w", err)
	}
	f.view = f.ctrl.Fleet()
	f.byRC = f.view.IndexPodLabel(IDLabel)
	return f, nil
}

// Owned lists the RCs this process reconciles now, sorted.
func (f *Farm) Owned() []string { return f.ctrl.Owned() }

// Run reconciles RCs until ctx ends; it returns nil then. It starts
// reconciling only once the fleet view has its first listing, so that a
// farm never mistakes a view still loading for a fleet without pods.
func (f *Farm) Run(ctx context.Context) error { return f.ctrl.Run(ctx) }

// onEvent keeps the pod id index of the RCs the guarded watch delivers.
func (f *Farm) onEvent(ev *kv.Event[RC]) []string {
	if ev.Type == kv.Delete {
		f.log.Info("RC deleted; its pods stay scheduled", zap.String("rc", ev.Name))
		f.unindex(ev.Name)
		return nil
	}
	f.index(ev.Name, ev.New.Value.Manifest.ID)
	return nil
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

// onFleet maps a fleet change to the RCs it may concern: every RC when
// node labels change, otherwise the RCs that schedule the changed pods'
// pod ids.
func (f *Farm) onFleet(c fleet.Change) []string {
	var ids []string
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Source == fleet.NodeLabels {
		for id := range f.podOf {
			ids = append(ids, id)
		}
		return ids
	}
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
	return ids
}

// podOfName returns the pod id of a fleet name "<node>/<pod-id>[/...]".
func podOfName(name string) string {
	_, rest, _ := strings.Cut(name, "/")
	pod, _, _ := strings.Cut(rest, "/")
	return pod
}
