package farm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p2kit/p2kit/internal/workqueue"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// KeyFunc reconciles one entity by id: the farm's untyped reconciler, on
// which the typed Reconciler of a Builder runs. It is level-triggered: it
// reads the whole current state each time; an error retries the entity
// with backoff. ctx carries the entity's Fence (FenceFrom) and ends when
// the farm loses the entity.
type KeyFunc func(ctx context.Context, id string) (Result, error)

// Farm owns and reconciles the entities of one kind.
type Farm struct {
	client   *clientv3.Client
	kind     string
	lockDir  string
	rec      KeyFunc
	log      *zap.Logger
	ttl      int
	workers  int
	resync   time.Duration
	identity string
	minBack  time.Duration
	maxBack  time.Duration

	q *workqueue.Queue
	m *farmMetrics

	mu       sync.Mutex
	known    map[string]bool
	gone     map[string]bool // deleted: reconciled once more, then forgotten
	terminal map[string]bool // failed with a Terminal error: no resync
	owned    map[string]*concurrency.Mutex
	session  *concurrency.Session
	sessions *sessions // shared with other farms; nil: the farm's own
}

// New returns a farm for kind ("replication_controllers", ...), configured
// by the same options as the entity farms built on it. Most farms are
// built with For instead, which runs a typed Reconciler.
func New(client *clientv3.Client, kind string, rec KeyFunc, opts ...Option) (*Farm, error) {
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
		gone:     map[string]bool{},
		terminal: map[string]bool{},
		owned:    map[string]*concurrency.Mutex{},
		sessions: cfg.sessions,
	}
	for _, mw := range cfg.wrap {
		f.rec = mw(f.rec)
	}
	f.log = cfg.Log.With(zap.String("farm", kind), zap.String("identity", f.identity))
	f.q = workqueue.New(f.minBack, f.maxBack)
	f.m = newFarmMetrics(cfg.Registry, f.log, kind)
	return f, nil
}

// Enqueue asks for id to be reconciled: call it for every entity the farm
// should know about and whenever something it depends on changes.
func (f *Farm) Enqueue(id string) { f.enqueue(id, false) }

// enqueue queues id; revive says that the entity exists (again), which
// cancels a Deleted not yet acted on. A plain Enqueue (a fleet change, a
// timer) never revives a deleted entity.
func (f *Farm) enqueue(id string, revive bool) {
	f.mu.Lock()
	f.known[id] = true
	if revive {
		delete(f.gone, id)
	}
	delete(f.terminal, id)
	f.mu.Unlock()
	f.q.Add(id)
}

// EnqueueAfter asks for id to be reconciled after d (a pacing delay, a
// deadline), unless it is reconciled sooner; an earlier request stands.
func (f *Farm) EnqueueAfter(id string, d time.Duration) {
	f.mu.Lock()
	known := f.known[id]
	f.mu.Unlock()
	if known {
		f.q.AddAfter(id, d)
	}
}

// Deleted says that entity id no longer exists: it is reconciled once
// more by its owner (the reconciler sees it gone), then forgotten; a
// process that does not own it forgets it at once.
func (f *Farm) Deleted(id string) {
	f.mu.Lock()
	f.known[id] = true
	f.gone[id] = true
	delete(f.terminal, id)
	f.mu.Unlock()
	f.q.Add(id)
}

// Forget drops an entity that no longer exists and releases its lock.
func (f *Farm) Forget(ctx context.Context, id string) {
	f.mu.Lock()
	delete(f.known, id)
	delete(f.gone, id)
	delete(f.terminal, id)
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

	sessions := f.sessions
	if sessions == nil {
		sessions = newSessions(f.client, f.ttl, f.minBack, f.log)
		defer sessions.Close()
	}
	for ctx.Err() == nil {
		sess, err := sessions.Get(ctx)
		if err != nil {
			break // ctx ended
		}
		f.serve(ctx, sess)
	}
	return nil
}

// serve claims and reconciles entities under one session until the
// session is lost or ctx ends.
func (f *Farm) serve(ctx context.Context, sess *concurrency.Session) {
	// The lock watch starts from a revision read before any claim of this
	// session: a claim that finds the lock taken relies on seeing its
	// release, even one that comes before the watch is set up.
	from := int64(0)
	if resp, err := f.client.Get(ctx, f.lockDir, clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
		from = resp.Header.Revision + 1
	} else if ctx.Err() == nil {
		f.log.Warn("read the lock revision; releases before the lock watch starts wait for a resync", zap.Error(err))
	}
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
	wg.Go(func() { f.watchLocks(sctx, from, sess.Lease()) })
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

// maxRest bounds the rest of an entity after a pass (see work).
const maxRest = 5 * time.Second

func (f *Farm) work(ctx context.Context) {
	for {
		id, ok := f.q.Get()
		if !ok {
			return
		}
		start := time.Now()
		res, err := f.reconcile(ctx, id)
		if ctx.Err() != nil {
			f.q.Done(id, nil)
			continue
		}
		took := time.Since(start)
		f.m.observe(took, err)
		switch {
		case err == nil:
			// Rested as long as the pass took: changes to an entity whose
			// pass reads the whole fleet (a daemon set of 100,000 nodes
			// is planned in about a second) come faster than its passes,
			// and would have a worker plan it back to back.
			f.q.DoneRest(id, nil, min(took, maxRest))
			if res.RequeueAfter > 0 {
				f.q.AddAfter(id, res.RequeueAfter)
			}
		case errors.Is(err, ErrNotOwner):
			f.log.Warn("lost the entity while reconciling it; its new owner goes on", zap.String("id", id), zap.Error(err))
			f.mu.Lock()
			delete(f.owned, id) // claimed again once whoever holds it lets go
			f.m.owned.Set(float64(len(f.owned)))
			f.mu.Unlock()
			f.q.Done(id, nil)
		case IsTerminal(err):
			f.log.Error("reconcile failed; not retrying until the entity changes", zap.String("id", id), zap.Error(err))
			f.mu.Lock()
			if f.known[id] {
				f.terminal[id] = true
			}
			f.mu.Unlock()
			f.q.Done(id, nil)
		default:
			f.log.Warn("reconcile failed; retrying", zap.String("id", id),
				zap.Int("failures", f.q.Failures(id)+1), zap.Error(err))
			f.q.Done(id, err)
		}
	}
}

// reconcile claims id if nobody holds it and runs the reconciler while the
// session lives. Its error names the kind and the entity.
func (f *Farm) reconcile(ctx context.Context, id string) (Result, error) {
	res, fence, gone, err := f.claimAndRun(ctx, id)
	if err != nil {
		if fence.key != "" && errors.Is(err, kv.ErrConflict) && !errors.Is(err, ErrNotOwner) && !f.stillOwns(ctx, fence) {
			err = fmt.Errorf("%w: %w", ErrNotOwner, err)
		}
		return res, fmt.Errorf("%s %s: %w", f.kind, id, err)
	}
	if gone {
		// The reconciler saw the entity gone: forget it. A Deleted that
		// came while it ran queued it again, to be seen gone then.
		f.Forget(ctx, id)
	}
	return res, nil
}

// claimAndRun returns the fence of the claim the reconciler ran under
// (none when it did not run): the lock's key and revision as they were
// read under f.mu, since a Forget may release the lock meanwhile.
func (f *Farm) claimAndRun(ctx context.Context, id string) (res Result, fence Fence, gone bool, err error) {
	f.mu.Lock()
	sess := f.session
	m := f.owned[id]
	known := f.known[id]
	gone = f.gone[id]
	if m != nil {
		// Read the lock's key under f.mu: Forget releases the lock, which
		// rewrites it, only after taking it out of f.owned.
		fence = newFence(m.Key(), m.Header().Revision)
	}
	f.mu.Unlock()
	if sess == nil || !known {
		return Result{}, Fence{}, false, nil // no session yet: the new session queues every entity again
	}
	if m == nil {
		m = concurrency.NewMutex(sess, f.lockDir+id)
		err = m.TryLock(ctx)
		if errors.Is(err, concurrency.ErrLocked) {
			// Another process owns it; its lock's release queues it
			// again. A deleted entity is its owner's to finish.
			if gone {
				f.Forget(ctx, id)
			}
			return Result{}, Fence{}, false, nil
		}
		if err != nil {
			return Result{}, Fence{}, false, fmt.Errorf("lock: %w", err)
		}
		f.mu.Lock()
		if f.session != sess || !f.known[id] {
			f.mu.Unlock()
			_ = m.Unlock(ctx)
			return Result{}, Fence{}, false, nil
		}
		f.owned[id] = m
		f.m.owned.Set(float64(len(f.owned)))
		fence = newFence(m.Key(), m.Header().Revision)
		f.mu.Unlock()
		f.log.Info("claimed", zap.String("id", id))
	}
	rctx, cancel := context.WithCancel(withFence(ctx, fence))
	defer cancel()
	stop := context.AfterFunc(sess.Ctx(), cancel)
	defer stop()
	res, err = f.rec(rctx, id)
	return res, fence, gone, err
}

// stillOwns reports whether the lock key of fence still holds this farm's
// claim. A failed read counts as owned: the error is then retried as it
// is.
func (f *Farm) stillOwns(ctx context.Context, fence Fence) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	resp, err := f.client.Get(ctx, fence.key)
	if err != nil {
		return true
	}
	return len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == fence.rev
}

// watchLocks queues an entity again when its lock is released, so that a
// dead process's entities are claimed once its lease expires. A watch that
// fails (an error, a cancel, a compaction) is opened again after a
// backoff, and every entity nobody here owns is queued again, since its
// release may have been missed.
func (f *Farm) watchLocks(ctx context.Context, from int64, own clientv3.LeaseID) {
	for ctx.Err() == nil {
		err := f.watchLocksOnce(ctx, from, own)
		from = 0 // a restart queues every unowned entity instead
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("lock watch ended; watching again", zap.Error(err))
		if !sleep(ctx, f.minBack) {
			return
		}
		f.mu.Lock()
		var ids []string
		for id := range f.known {
			if f.owned[id] == nil {
				ids = append(ids, id)
			}
		}
		f.mu.Unlock()
		for _, id := range ids {
			f.q.Add(id)
		}
	}
}

// watchLocksOnce is one lock watch. Deletes of this session's own lock
// keys (own, the session's lease) are not releases: a claim that finds the
// lock taken deletes its own waiting key, and queueing the entity again for
// that would make a standby process claim in a loop for as long as another
// holds the lock.
func (f *Farm) watchLocksOnce(ctx context.Context, from int64, own clientv3.LeaseID) error {
	ownSuffix := "/" + strconv.FormatInt(int64(own), 16)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if from > 0 {
		opts = append(opts, clientv3.WithRev(from))
	}
	wch := f.client.Watch(clientv3.WithRequireLeader(wctx), f.lockDir, opts...)
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("watch %s: compacted at revision %d", f.lockDir, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch %s: %w", f.lockDir, err)
		}
		if resp.Canceled {
			return fmt.Errorf("watch %s: canceled", f.lockDir)
		}
		for _, ev := range resp.Events {
			if ev.Type != clientv3.EventTypeDelete {
				continue
			}
			key := string(ev.Kv.Key)
			id, _, ok := strings.Cut(strings.TrimPrefix(key, f.lockDir), "/")
			if !ok || strings.HasSuffix(key, ownSuffix) {
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
	return fmt.Errorf("watch %s: channel closed", f.lockDir)
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
			if !f.terminal[id] {
				ids = append(ids, id)
			}
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
