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
	"github.com/p2kit/p2kit/kv"
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
	holds    *failsafe.Holds
	view     *fleet.View
	ownView  bool
	farm     *farm.Farm

	mu     sync.Mutex
	byPod  map[string]map[string]bool // pod id -> rolls whose RCs schedule it
	podsOf map[string][]string        // roll id -> its RCs' pod ids
	gone   map[string]bool            // rolls the guarded watch saw deleted
	timers map[string]timer           // delayed looks (roll_delay, deadline)
	closed bool
}

// NewFarm returns a roll farm; start it with Run.
func NewFarm(client *clientv3.Client, opts ...farm.Option) (*Farm, error) {
	if client == nil {
		return nil, errors.New("roll farm: nil etcd client")
	}
	cfg := farm.Configure(DefaultActor, opts...)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Actor == "" {
		return nil, errors.New("roll farm: actor: required")
	}
	log := cfg.Log.With(zap.String("component", DefaultActor))
	f := &Farm{
		client:   client,
		cfg:      cfg,
		log:      log,
		rolls:    NewStore(client, WithPrefix(cfg.Prefix), WithLogger(log)),
		rcs:      rc.NewStore(client, rc.WithPrefix(cfg.Prefix), rc.WithLogger(log)),
		statuses: NewStatusStore(client, WithPrefix(cfg.Prefix), WithLogger(log)),
		byPod:    map[string]map[string]bool{},
		podsOf:   map[string][]string{},
		gone:     map[string]bool{},
		timers:   map[string]timer{},
	}
	f.holds, f.view, f.ownView = farm.Attach(client, cfg, DefaultActor, log)
	fo := append(opts[:len(opts):len(opts)], farm.WithLogger(log))
	var err error
	f.farm, err = farm.New(client, FarmKind, farm.FenceFunc(f.reconcile), fo...)
	if err != nil {
		return nil, fmt.Errorf("roll farm: %w", err)
	}
	f.view.Subscribe(f.onFleet)
	return f, nil
}

// Owned lists the rolls this process drives now, sorted.
func (f *Farm) Owned() []string { return f.farm.Owned() }

// Run drives rolls until ctx ends; it returns nil then. It starts only
// once the fleet view has its first listing.
func (f *Farm) Run(ctx context.Context) error {
	defer f.stopTimers()
	return farm.RunWithView(ctx, "roll farm", f.view, f.ownView, nil, f.farm.Run, f.watch)
}

// watch follows the rolls through the failsafe guard and tells the farm
// which ones to look at again.
func (f *Farm) watch(ctx context.Context) error {
	w := f.rolls.Watch(ctx)
	defer w.Close()
	src := failsafe.Chain[Roll](w, failsafe.MaxDeletes[Roll](f.holds, 1, 0.5))
	err := kv.Run(ctx, src, func(b *kv.Batch[Roll]) error {
		for i := range b.Events {
			ev := &b.Events[i]
			switch {
			case ev.Err != nil:
				f.log.Error("undecodable roll; acting on nothing until it is fixed", zap.String("key", ev.Key), zap.Error(ev.Err))
			case ev.Type == kv.Delete:
				f.log.Info("roll deleted; it halts and both RCs stay as they are", zap.String("roll", ev.Name))
				f.mu.Lock()
				f.gone[ev.Name] = true
				f.mu.Unlock()
				f.farm.Enqueue(ev.Name) // the owner records the halt, then forgets it
			default:
				f.mu.Lock()
				delete(f.gone, ev.Name)
				f.mu.Unlock()
				f.farm.Enqueue(ev.Name)
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("watch rolls: %w", err)
}

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

// onFleet makes the rolls whose pods changed look again.
func (f *Farm) onFleet(c fleet.Change) {
	if c.Source == fleet.NodeLabels {
		return // the RC farm reacts; the roll sees its pods change
	}
	var ids []string
	seen := map[string]bool{}
	f.mu.Lock()
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
	f.mu.Unlock()
	for _, id := range ids {
		f.farm.Enqueue(id)
	}
}

type timer struct {
	t   *time.Timer
	due time.Time
}

// after makes roll id look again in d (a roll_delay or a deadline); an
// earlier look already due stands.
func (f *Farm) after(id string, d time.Duration) {
	due := time.Now().Add(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if cur, ok := f.timers[id]; ok {
		if !cur.due.After(due) {
			return
		}
		cur.t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		f.mu.Lock()
		if cur, ok := f.timers[id]; ok && cur.t == t {
			delete(f.timers, id)
		}
		f.mu.Unlock()
		f.farm.Enqueue(id)
	})
	f.timers[id] = timer{t: t, due: due}
}

// cancel drops roll id's delayed look: the roll is gone.
func (f *Farm) cancel(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.timers[id]; ok {
		cur.t.Stop()
		delete(f.timers, id)
	}
}

func (f *Farm) stopTimers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for id, t := range f.timers {
		t.t.Stop()
		delete(f.timers, id)
	}
}
