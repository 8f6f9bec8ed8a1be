package farm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Reconciler brings one entity to its desired state. It is level-triggered:
// it reads the whole current state each time. obj is the entity as the
// guarded watch last delivered it, nil once its delete passed the guards
// (the last reconcile: the farm then forgets it). An error is retried with
// backoff unless it is Terminal; a lost lock comes back as ErrNotOwner. ctx
// carries the entity's Fence (FenceFrom) and ends when the farm loses it.
type Reconciler[T any] interface {
	Reconcile(ctx context.Context, id string, obj *kv.Object[T]) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc[T any] func(ctx context.Context, id string, obj *kv.Object[T]) (Result, error)

// Reconcile implements Reconciler.
func (f ReconcilerFunc[T]) Reconcile(ctx context.Context, id string, obj *kv.Object[T]) (Result, error) {
	return f(ctx, id, obj)
}

// Watchable is the entity store a farm follows: every p2kit entity store,
// and any kv.Store, has this method.
type Watchable[T any] interface {
	Watch(ctx context.Context, opts ...kv.WatchOption) *kv.Watcher[T]
}

// Builder wires a farm: the entity watch behind its guards, the fleet
// view mapped to entity ids, and the reconciler. Start with For, end with
// Complete.
type Builder[T any] struct {
	client    *clientv3.Client
	kind      string
	store     Watchable[T]
	opts      []Option
	cfg       Config
	component string
	holds     *failsafe.Holds
	guards    []failsafe.Guard[T]
	fleetMap  func(fleet.Change) []string
	onEvent   func(*kv.Event[T]) []string
	when      func(*kv.Event[T]) bool
	starts    []func(context.Context) error
	parts     []func(context.Context) error
}

// For starts a farm of the entities of kind (the lock directory
// <root>/locks/<kind>/) that store holds, configured by opts.
func For[T any](client *clientv3.Client, kind string, store Watchable[T], opts ...Option) *Builder[T] {
	return &Builder[T]{client: client, kind: kind, store: store, opts: opts,
		cfg: Configure(kind+"-farm", opts...), component: kind + "-farm"}
}

// Named sets the component name the farm's failsafe holds are recorded
// under (default "<kind>-farm"). Call it before Holds.
func (b *Builder[T]) Named(component string) *Builder[T] {
	b.component = component
	return b
}

// Holds is where the farm's guards record their holds: pass it to the
// guards given to Guards.
func (b *Builder[T]) Holds() *failsafe.Holds {
	if b.holds == nil {
		b.holds = failsafe.NewHolds(b.client, b.component, failsafe.WithLogger(b.cfg.Log),
			failsafe.WithRegistry(b.cfg.Registry), failsafe.WithPrefix(b.cfg.Prefix))
	}
	return b.holds
}

// Guards puts failsafe guards between the entity watch and the farm, the
// first closest to the watch.
func (b *Builder[T]) Guards(gs ...failsafe.Guard[T]) *Builder[T] {
	b.guards = append(b.guards, gs...)
	return b
}

// WatchesFleet reconciles the entities fn maps each change of the fleet
// view to; ids the entity watch does not hold (deleted) are dropped. fn
// runs on the view's goroutine: keep it short.
func (b *Builder[T]) WatchesFleet(fn func(fleet.Change) []string) *Builder[T] {
	b.fleetMap = fn
	return b
}

// OnEvent calls fn with every decoded event of the guarded entity watch,
// before the entity is queued; the ids it returns are queued too (other
// entities the change concerns). Use it to keep an index.
func (b *Builder[T]) OnEvent(fn func(*kv.Event[T]) []string) *Builder[T] {
	b.onEvent = fn
	return b
}

// When queues an entity for a create or update event only when fn says
// so; the farm still keeps the object. Deletes are always acted on.
func (b *Builder[T]) When(fn func(*kv.Event[T]) bool) *Builder[T] {
	b.when = fn
	return b
}

// OnStart runs fn once the fleet view has its first listing, before the
// entity watch starts; an error ends Run.
func (b *Builder[T]) OnStart(fn func(context.Context) error) *Builder[T] {
	b.starts = append(b.starts, fn)
	return b
}

// Runs adds a loop that runs beside the farm (another watch that queues
// entities); its error ends Run.
func (b *Builder[T]) Runs(fn func(context.Context) error) *Builder[T] {
	b.parts = append(b.parts, fn)
	return b
}

// Complete returns the farm running rec.
func (b *Builder[T]) Complete(rec Reconciler[T]) (*Controller[T], error) {
	switch {
	case b.client == nil:
		return nil, fmt.Errorf("farm %s: nil etcd client", b.kind)
	case b.store == nil:
		return nil, fmt.Errorf("farm %s: nil store", b.kind)
	case rec == nil:
		return nil, fmt.Errorf("farm %s: nil reconciler", b.kind)
	}
	c := &Controller[T]{b: b, rec: rec, log: b.cfg.Log.With(zap.String("farm", b.kind)),
		holds: b.Holds(), cache: map[string]*kv.Object[T]{}}
	c.view, c.ownView = b.cfg.Fleet, false
	if c.view == nil {
		c.view, c.ownView = fleet.New(b.client, b.cfg.Prefix, c.holds, b.cfg.Log), true
	}
	var err error
	if c.farm, err = New(b.client, b.kind, c.reconcile, b.opts...); err != nil {
		return nil, err
	}
	if b.fleetMap != nil {
		c.view.Subscribe(c.onFleet)
	}
	return c, nil
}

// Controller is a farm built with For: it follows the entities, owns a
// share of them and reconciles those.
type Controller[T any] struct {
	b       *Builder[T]
	rec     Reconciler[T]
	log     *zap.Logger
	farm    *Farm
	holds   *failsafe.Holds
	view    *fleet.View
	ownView bool

	mu      sync.Mutex
	cache   map[string]*kv.Object[T] // the guarded watch's entities
	running bool
}

// Run runs the farm until ctx ends; it returns nil then. It runs the
// fleet view unless the farm shares one (WithFleet, Manager), and acts
// only once the view has its first listing.
func (c *Controller[T]) Run(ctx context.Context) error {
	defer c.setRunning(false)
	start := func(ctx context.Context) error {
		for _, fn := range c.b.starts {
			if err := fn(ctx); err != nil {
				return err
			}
		}
		c.setRunning(true)
		return nil
	}
	parts := append([]func(context.Context) error{c.farm.Run, c.watch}, c.b.parts...)
	return runWithView(ctx, c.b.kind+" farm", c.view, c.ownView, start, parts...)
}

func (c *Controller[T]) setRunning(v bool) {
	c.mu.Lock()
	c.running = v
	c.mu.Unlock()
}

// Enqueue asks for entity id to be reconciled.
func (c *Controller[T]) Enqueue(id string) { c.farm.Enqueue(id) }

// EnqueueAfter asks for entity id to be reconciled after d, unless it is
// sooner. A reconciler returns Result{RequeueAfter} instead where it can.
func (c *Controller[T]) EnqueueAfter(id string, d time.Duration) { c.farm.EnqueueAfter(id, d) }

// Forget drops entity id and releases its lock.
func (c *Controller[T]) Forget(ctx context.Context, id string) { c.farm.Forget(ctx, id) }

// Owned lists the entities this process holds, sorted.
func (c *Controller[T]) Owned() []string { return c.farm.Owned() }

// Fleet is the fleet view the farm reads.
func (c *Controller[T]) Fleet() *fleet.View { return c.view }

// Holds is where the farm's guards record their holds.
func (c *Controller[T]) Holds() *failsafe.Holds { return c.holds }

// Object is entity id as the guarded watch last delivered it.
func (c *Controller[T]) Object(id string) (*kv.Object[T], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.cache[id]
	return o, ok
}

func (c *Controller[T]) reconcile(ctx context.Context, id string) (Result, error) {
	obj, _ := c.Object(id)
	return c.rec.Reconcile(ctx, id, obj)
}

func (c *Controller[T]) onFleet(ch fleet.Change) {
	c.mu.Lock()
	run := c.running
	c.mu.Unlock()
	if !run {
		return
	}
	for _, id := range c.b.fleetMap(ch) {
		if _, ok := c.Object(id); ok {
			c.farm.Enqueue(id) // ids the guarded watch does not hold are stale
		}
	}
}

// watch follows the entities through the guards: a create or change
// queues the entity, a delete reconciles it once more and forgets it.
func (c *Controller[T]) watch(ctx context.Context) error {
	w := c.b.store.Watch(ctx)
	defer w.Close()
	err := kv.Run(ctx, failsafe.Chain[T](w, c.b.guards...), func(b *kv.Batch[T]) error {
		for i := range b.Events {
			ev := &b.Events[i]
			if ev.Err != nil {
				c.log.Error("undecodable entity; keeping the last good value", zap.String("key", ev.Key), zap.Error(ev.Err))
				continue
			}
			c.mu.Lock()
			if ev.Type == kv.Delete {
				delete(c.cache, ev.Name)
			} else {
				c.cache[ev.Name] = ev.New
			}
			c.mu.Unlock()
			var also []string
			if c.b.onEvent != nil {
				also = c.b.onEvent(ev)
			}
			switch {
			case ev.Type == kv.Delete:
				c.farm.Deleted(ev.Name)
			case c.b.when == nil || c.b.when(ev):
				c.farm.enqueue(ev.Name, true)
			}
			for _, id := range also {
				if id != ev.Name {
					c.farm.Enqueue(id)
				}
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("watch %s: %w", c.b.kind, err)
}
