package roll

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
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// FarmKind is the farm kind of rolls: their locks live under
// <root>/locks/rolls/.
const FarmKind = Dir

// DefaultActor is the audit actor of the roll farm's writes.
const DefaultActor = "roll-farm"

// Farm runs every roll: it moves replicas from each roll's old RC to its
// new RC in steps that keep at least minimum_replicas pods healthy, and
// leaves the pods themselves to the RC farm. Any number of farm processes
// may run; each roll is driven by exactly one of them at a time.
//
// Failsafe: a change that deletes more than half of all rolls, and more
// than 1, is held (failsafe.MaxDeletes) and recorded; a deleted roll halts
// and leaves both RCs as they are.
type Farm struct {
	client   *clientv3.Client
	cfg      farm.Config
	log      *zap.Logger
	rolls    *Store
	rcs      *rc.Store
	statuses *status.Store[Status]
	view     *fleet.View
	byRC     *fleet.Index[labels.Set] // pod labels by rc.IDLabel
	ctrl     *farm.Controller[Roll]

	mu     sync.Mutex
	byPod  map[string]map[string]bool // pod id -> rolls whose RCs schedule it
	podsOf map[string][]string        // roll id -> its RCs' pod ids
}

// NewFarm returns a roll farm; start it with Run.
func NewFarm(client *clientv3.Client, opts ...farm.Option) (*Farm, error) {
	if client == nil {
		return nil, errors.New("roll farm: nil etcd client")
	}
	cfg := farm.Configure(DefaultActor, opts...)
	if cfg.Actor == "" {
		return nil, errors.New("roll farm: actor: required")
	}
	log := cfg.Log.With(zap.String("component", DefaultActor))
	f := &Farm{
		client:   client,
		cfg:      cfg,
		log:      log,
		rolls:    NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		rcs:      rc.NewStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		statuses: NewStatusStore(client, keyspace.WithPrefix(cfg.Prefix), keyspace.WithLogger(log)),
		byPod:    map[string]map[string]bool{},
		podsOf:   map[string][]string{},
	}
	b := farm.For[Roll](client, FarmKind, f.rolls, append(opts[:len(opts):len(opts)], farm.WithLogger(log))...).Named(DefaultActor)
	var err error
	f.ctrl, err = b.Guards(failsafe.MaxDeletes[Roll](b.Holds(), 1, 0.5)).
		WatchesFleet(f.onFleet).
		Complete(farm.ReconcilerFunc[Roll](func(ctx context.Context, id string, obj *Object) (farm.Result, error) {
			fence, _ := farm.FenceFrom(ctx)
			if obj == nil {
				f.log.Info("roll deleted; it halts and both RCs stay as they are", zap.String("roll", id))
				return farm.Result{}, f.halt(ctx, id, fence)
			}
			return farm.Result{}, f.reconcile(ctx, id, fence)
		}))
	if err != nil {
		return nil, fmt.Errorf("roll farm: %w", err)
	}
	f.view = f.ctrl.Fleet()
	f.byRC = f.view.IndexPodLabel(rc.IDLabel)
	return f, nil
}

// Owned lists the rolls this process drives now, sorted.
func (f *Farm) Owned() []string { return f.ctrl.Owned() }

// Run drives rolls until ctx ends; it returns nil then. It starts only
// once the fleet view has its first listing.
func (f *Farm) Run(ctx context.Context) error { return f.ctrl.Run(ctx) }

// track records the pod ids of a roll's RCs, so that fleet changes of
// those pods make the roll look again.
func (f *Farm) track(id string, pods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.untrackLocked(id)
	for _, p := range pods {
		if f.byPod[p] == nil {
			f.byPod[p] = map[string]bool{}
		}
		f.byPod[p][id] = true
	}
	f.podsOf[id] = pods
}

func (f *Farm) untrackLocked(id string) {
	for _, p := range f.podsOf[id] {
		delete(f.byPod[p], id)
		if len(f.byPod[p]) == 0 {
			delete(f.byPod, p)
		}
	}
	delete(f.podsOf, id)
}

// onFleet maps a fleet change to the rolls whose pods changed.
func (f *Farm) onFleet(c fleet.Change) []string {
	if c.Source == fleet.NodeLabels {
		return nil // the RC farm reacts; the roll sees its pods change
	}
	var ids []string
	seen := map[string]bool{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range c.Names {
		_, rest, _ := strings.Cut(name, "/")
		pod, _, _ := strings.Cut(rest, "/")
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

// after makes roll id look again in d (a roll_delay or a deadline); an
// earlier look already due stands.
func (f *Farm) after(id string, d time.Duration) { f.ctrl.EnqueueAfter(id, d) }
