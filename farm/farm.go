package farm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/internal/workqueue"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Reconciler brings one entity to its desired state. It is level-triggered:
// it reads the whole current state each time; an error retries the entity
// with backoff. ctx ends when the farm loses the entity.
type Reconciler interface {
	Reconcile(ctx context.Context, id string, fence Fence) error
}

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(ctx context.Context, id string, fence Fence) error

// Reconcile implements Reconciler.
func (f ReconcileFunc) Reconcile(ctx context.Context, id string, fence Fence) error {
	return f(ctx, id, fence)
}

// Fence proves ownership of one entity inside a transaction.
type Fence struct {
	// cmp is taken when the reconcile starts: the lock may be released
	// (Forget) while the reconcile still runs, and then the compare fails
	// as it should.
	cmp clientv3.Cmp
}

// Cmp is the compare that holds only while this farm owns the entity. Put
// it in every transaction that acts for the entity.
func (f Fence) Cmp() clientv3.Cmp { return f.cmp }

// Cmps is Cmp as a slice, for guard arguments.
func (f Fence) Cmps() []clientv3.Cmp { return []clientv3.Cmp{f.cmp} }

// Farm owns and reconciles the entities of one kind.
type Farm struct {
	client   *clientv3.Client
	kind     string
	lockDir  string
	rec      Reconciler
	log      *zap.Logger
	ttl      int
	workers  int
	resync   time.Duration
	identity string
	minBack  time.Duration
	maxBack  time.Duration

	q *workqueue.Queue
	m *farmMetrics

	mu      sync.Mutex
	known   map[string]bool
	owned   map[string]*concurrency.Mutex
	session *concurrency.Session
}

// New returns a farm for kind ("replication_controllers", ...), configured
// by the same options as the entity farms built on it.
func New(client *clientv3.Client, kind string, rec Reconciler, opts ...Option) (*Farm, error) {
	if err := manifest.ValidateID(kind); err != nil {
		return nil, fmt.Errorf("farm kind: %w", err)
	}
	switch {
	case client == nil:
		return nil, fmt.Errorf("farm %s: nil etcd client", kind)
	case rec == nil:
		return nil, fmt.Errorf("farm %s: nil reconciler", kind)
	}
	cfg := Configure("farm", opts...)
	f := &Farm{
		client:   client,
		kind:     kind,
		lockDir:  cfg.Prefix + "/locks/" + kind + "/",
		rec:      rec,
		ttl:      cfg.TTL,
		workers:  cfg.Workers,
		resync:   cfg.Resync,
		identity: cfg.Identity,
		minBack:  cfg.MinBackoff,
		maxBack:  cfg.MaxBackoff,
		known:    map[string]bool{},
		owned:    map[string]*concurrency.Mutex{},
	}
	f.log = cfg.Log.With(zap.String("farm", kind), zap.String("identity", f.identity))
	f.q = workqueue.New(f.minBack, f.maxBack)
	f.m = newFarmMetrics(cfg.Registry, f.log, kind)
	return f, nil
}

// Enqueue asks for id to be reconciled: call it for every entity the farm
// should know about and whenever something it depends on changes.
func (f *Farm) Enqueue(id string) {
	f.mu.Lock()
	f.known[id] = true
	f.mu.Unlock()
	f.q.Add(id)
}

// Forget drops an entity that no longer exists and releases its lock.
func (f *Farm) Forget(ctx context.Context, id string) {
	f.mu.Lock()
	delete(f.known, id)
	m := f.owned[id]
	delete(f.owned, id)
	f.m.owned.Set(float64(len(f.owned)))
	f.mu.Unlock()
	f.q.Forget(id)
	if m != nil {
		if err := m.Unlock(ctx); err != nil {
			f.log.Warn("release lock", zap.String("id", id), zap.Error(err))
		}
	}
}

// Owned lists the entities this process holds, sorted.
func (f *Farm) Owned() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.owned))
	for id := range f.owned {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Run reconciles until ctx ends. It keeps one etcd session (lease); when
// the lease is lost, every entity is given up and claimed again under a
// new session. When ctx ends, the lease is revoked so that other processes
// take over at once.
func (f *Farm) Run(ctx context.Context) error {
	stop := f.q.CloseOnDone(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() { f.work(ctx) })
	}
	defer wg.Wait()

	for ctx.Err() == nil {
		// The session outlives ctx so that Close can still revoke it.
		sess, err := concurrency.NewSession(f.client, concurrency.WithTTL(f.ttl),
			concurrency.WithContext(context.WithoutCancel(ctx)))
		if err != nil {
			f.log.Warn("start session; retrying", zap.Error(err))
			if !sleep(ctx, f.minBack) {
				break
			}
			continue
		}
		f.serve(ctx, sess)
		_ = sess.Close()
	}
	return nil
}

// serve claims and reconciles entities under one session until the
// session is lost or ctx ends.
func (f *Farm) serve(ctx context.Context, sess *concurrency.Session) {
	f.mu.Lock()
	f.session = sess
	known := make([]string, 0, len(f.known))
	for id := range f.known {
		known = append(known, id)
	}
	f.mu.Unlock()
	f.log.Info("farm session started", zap.Int64("lease", int64(sess.Lease())))
	for _, id := range known {
		f.q.Add(id)
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.watchLocks(sctx) })
	wg.Go(func() { f.resyncLoop(sctx) })
	select {
	case <-ctx.Done():
	case <-sess.Done():
		f.log.Warn("farm session lost; giving up every entity")
	}
	cancel()
	wg.Wait()
	f.mu.Lock()
	f.owned = map[string]*concurrency.Mutex{}
	f.m.owned.Set(0)
	f.session = nil
	f.mu.Unlock()
}

func (f *Farm) work(ctx context.Context) {
	for {
		id, ok := f.q.Get()
		if !ok {
			return
		}
		start := time.Now()
		err := f.reconcile(ctx, id)
		f.m.observe(time.Since(start), err)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("reconcile failed; retrying", zap.String("id", id),
				zap.Int("failures", f.q.Failures(id)+1), zap.Error(err))
		}
		if ctx.Err() != nil {
			err = nil
		}
		f.q.Done(id, err)
	}
}

// reconcile claims id if nobody holds it and runs the reconciler while the
// session lives.
func (f *Farm) reconcile(ctx context.Context, id string) error {
	f.mu.Lock()
	sess := f.session
	m := f.owned[id]
	known := f.known[id]
	var fence Fence
	if m != nil {
		// Read the lock's key under f.mu: Forget releases the lock, which
		// rewrites it, only after taking it out of f.owned.
		fence = Fence{cmp: m.IsOwner()}
	}
	f.mu.Unlock()
	if sess == nil || !known {
		return nil // no session yet: the new session queues every entity again
	}
	if m == nil {
		m = concurrency.NewMutex(sess, f.lockDir+id)
		err := m.TryLock(ctx)
		if errors.Is(err, concurrency.ErrLocked) {
			return nil // another process owns it; its lock's release queues it again
		}
		if err != nil {
			return fmt.Errorf("%s %s: lock: %w", f.kind, id, err)
		}
		f.mu.Lock()
		if f.session != sess {
			f.mu.Unlock()
			return nil
		}
		f.owned[id] = m
		f.m.owned.Set(float64(len(f.owned)))
		fence = Fence{cmp: m.IsOwner()}
		f.mu.Unlock()
		f.log.Info("claimed", zap.String("id", id))
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sess.Ctx(), cancel)
	defer stop()
	return f.rec.Reconcile(rctx, id, fence)
}

// watchLocks queues an entity again when its lock is released, so that a
// dead process's entities are claimed once its lease expires.
func (f *Farm) watchLocks(ctx context.Context) {
	wch := f.client.Watch(clientv3.WithRequireLeader(ctx), f.lockDir, clientv3.WithPrefix())
	for resp := range wch {
		for _, ev := range resp.Events {
			if ev.Type != clientv3.EventTypeDelete {
				continue
			}
			id, _, ok := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), f.lockDir), "/")
			if !ok {
				continue
			}
			f.mu.Lock()
			want := f.known[id] && f.owned[id] == nil
			f.mu.Unlock()
			if want {
				f.q.Add(id)
			}
		}
	}
}

// resyncLoop queues every known entity each resync interval.
func (f *Farm) resyncLoop(ctx context.Context) {
	if f.resync <= 0 {
		return
	}
	t := time.NewTicker(f.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		ids := make([]string, 0, len(f.known))
		for id := range f.known {
			ids = append(ids, id)
		}
		f.mu.Unlock()
		for _, id := range ids {
			f.q.Add(id)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
