package preparer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/internal/logx"
	"github.com/p2kit/p2kit/internal/smallmap"
	"github.com/p2kit/p2kit/internal/workqueue"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultSelfPodID is the pod id under which the preparer finds itself in
// its node's intent.
const DefaultSelfPodID = "p2-preparer"

// Preparer converges one node. Create it with New and start it with Run.
type Preparer struct {
	node     string
	selfPod  string
	prefix   string
	client   *clientv3.Client
	intent   *intent.Store
	reality  *reality.Store
	statuses *status.PodStatusStore
	inst     Installer
	launch   Launcher
	health   HealthChecker
	trusted  []ed25519.PublicKey // see WithTrustedKeys
	log      *zap.Logger
	reg      prometheus.Registerer
	m        *metrics

	trustedPGP openpgp.EntityList // see WithTrustedPGPKeys

	workers     int
	healthEvery time.Duration
	watchStall  time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration

	// Health you can see: see noderecord.go, restarts.go and cleanup.go.
	nodeTTL     time.Duration
	nodeRefresh time.Duration
	version     string
	startedAt   time.Time
	crashWindow time.Duration
	removedTTL  time.Duration

	// mu guards what follows. The per-pod state is small maps: a node has
	// a few pods, and a simulated fleet keeps every map once per node.
	mu         sync.Mutex
	desired    smallmap.Map[*manifest.Manifest] // the guarded view of intent
	badIntent  smallmap.Map[error]              // intent keys whose value cannot be decoded
	real       smallmap.Map[*kv.Object[manifest.Manifest]]
	lastStatus smallmap.Map[*status.PodStatus] // never changed in place
	pruned     smallmap.Map[string]            // pod -> the digest whose older installs were pruned
	podLocks   smallmap.Map[*podLock]
	cut        cutOffs // see cutoff.go

	// nodeLease is the node record's lease while the record is kept,
	// which the hold records share; holds is Run's, so that the lease
	// is left to expire rather than revoked while a hold is in effect.
	nodeLease nodeLease
	holds     atomic.Pointer[failsafe.Holds]
}

// Option configures a Preparer.
type Option func(*Preparer)

// WithPrefix sets the root prefix of the keys (default "/p2").
func WithPrefix(p string) Option { return func(pr *Preparer) { pr.prefix = p } }

// WithSelfPodID sets the preparer's own pod id (default "p2-preparer").
func WithSelfPodID(id string) Option { return func(pr *Preparer) { pr.selfPod = id } }

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(pr *Preparer) { pr.log = l } }

// WithRegistry registers the preparer's and its failsafe's metrics.
// Preparers on one registry share its collectors; without one they count
// into one unregistered set and keep no series per node.
func WithRegistry(r prometheus.Registerer) Option { return func(pr *Preparer) { pr.reg = r } }

// WithWorkers sets how many pods are worked on at once (default 8).
func WithWorkers(n int) Option {
	return func(pr *Preparer) {
		if n > 0 {
			pr.workers = n
		}
	}
}

// WithHealthChecker replaces the default check (HTTP when the manifest asks
// for it, otherwise "every process runs").
func WithHealthChecker(h HealthChecker) Option { return func(pr *Preparer) { pr.health = h } }

// WithHealthInterval sets how often launched pods are checked (default 5s).
func WithHealthInterval(d time.Duration) Option {
	return func(pr *Preparer) {
		if d > 0 {
			pr.healthEvery = d
		}
	}
}

// WithBackoff sets the retry backoff of a failing pod, and of the node
// record's lease grants after a lost lease or a failed grant, jittered
// (default 1s to 1m).
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(pr *Preparer) { pr.minBackoff, pr.maxBackoff = minDelay, maxDelay }
}

// WithWatchStallTimeout sets how long the intent watch may stay silent
// before it is probed, and then restarted when the probe goes unanswered
// (default kv.DefaultStallTimeout).
func WithWatchStallTimeout(d time.Duration) Option {
	return func(pr *Preparer) { pr.watchStall = d }
}

// New returns a preparer for node that installs with inst and runs pods
// with launch.
func New(client *clientv3.Client, node string, inst Installer, launch Launcher, opts ...Option) (*Preparer, error) {
	if err := manifest.ValidateID(node); err != nil {
		return nil, fmt.Errorf("preparer: node: %w", err)
	}
	switch {
	case client == nil:
		return nil, errors.New("preparer: nil etcd client")
	case inst == nil:
		return nil, errors.New("preparer: nil installer")
	case launch == nil:
		return nil, errors.New("preparer: nil launcher")
	}
	p := &Preparer{
		node:        node,
		selfPod:     DefaultSelfPodID,
		prefix:      "/p2",
		client:      client,
		inst:        inst,
		launch:      launch,
		log:         zap.NewNop(),
		workers:     8,
		healthEvery: 5 * time.Second,
		minBackoff:  time.Second,
		maxBackoff:  time.Minute,
		nodeTTL:     DefaultNodeTTL,
		nodeRefresh: DefaultNodeRecordRefresh,
		version:     buildVersion(),
		startedAt:   time.Now().UTC(),
		crashWindow: DefaultCrashLoopWindow,
		removedTTL:  DefaultRemovedTTL,
	}
	for _, o := range opts {
		o(p)
	}
	if err := manifest.ValidateID(p.selfPod); err != nil {
		return nil, fmt.Errorf("preparer: self pod id: %w", err)
	}
	if err := checkNodeTTL(p.nodeTTL); err != nil {
		return nil, err
	}
	if p.health == nil {
		p.health = DefaultHealthChecker{}
	}
	p.log = logx.With(p.log, zap.String("node", node))
	p.intent = intent.NewStore(client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log))
	p.reality = reality.NewStore(client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log))
	p.statuses = status.NewPodStatusStore(client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log))
	p.m = newMetrics(p.reg)
	return p, nil
}

// Run converges the node until ctx ends. It does nothing at all until the
// failsafe chain delivers the first intent batch, that is until the
// preparer's own pod is in intent. It returns nil when ctx ends.
//
// Run's goroutine waits in the intent watch for as long as the preparer
// runs, so what its stack holds meanwhile is kept small: the setting up
// (begin) and the first batch's start (startWorkers) are calls of their
// own whose frames are gone by then. Go halves an idle goroutine's stack
// only while it uses less than a quarter of it; a fleet simulation runs
// one such goroutine per node.
func (p *Preparer) Run(ctx context.Context) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err := p.begin(ctx, cancel)
	if err != nil {
		if parent.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	defer r.end(cancel)
	return p.converge(ctx, r)
}

// running is what Run set up: undone by end, in reverse.
type running struct {
	w                *kv.Watcher[manifest.Manifest]
	src              kv.Source[manifest.Manifest]
	q                *workqueue.Queue
	waitHousekeeping func() // once Run's context has ended
	holds            *failsafe.Holds
	stopResync       func()
	stops            []func() // the workers and the health checks, once started
}

// begin starts the housekeeping and the holds, reads the node's reality
// and opens the intent watch behind the failsafe chain. On an error it
// ends ctx (cancel) and undoes what it started.
func (p *Preparer) begin(ctx context.Context, cancel context.CancelFunc) (_ *running, err error) {
	r := &running{waitHousekeeping: p.housekeeping(ctx)}
	defer func() {
		if err != nil {
			cancel()
			if r.holds != nil {
				r.holds.Close()
			}
			r.waitHousekeeping()
		}
	}()
	// Hold records are written under the node record's lease: a hold
	// costs no lease of its own.
	r.holds = failsafe.NewHolds(p.client, "preparer/"+p.node,
		failsafe.WithLogger(p.log), failsafe.WithRegistry(p.reg), failsafe.WithPrefix(p.prefix),
		failsafe.WithLease(p.nodeLease.wait))
	p.holds.Store(r.holds)
	// The node record tells holds of each new lease (LeaseChanged), so
	// that they need not ask for it every second.
	r.holds.LeaseChanged()
	// What the node runs is what the first intent listing is judged
	// against: a restart in the middle of a wipe or a restore must not
	// read the missing pods as "uninstall them".
	seed, err := p.reality.List(ctx, p.node)
	if err != nil {
		return nil, fmt.Errorf("preparer %s: read reality: %w", p.node, err)
	}
	r.w, err = p.intent.WatchNode(ctx, p.node, kv.StallTimeout(p.watchStall))
	if err != nil {
		return nil, fmt.Errorf("preparer %s: %w", p.node, err)
	}
	r.src = failsafe.Chain[manifest.Manifest](failsafe.StartFrom[manifest.Manifest](r.w, podView(p.node, seed.Items)),
		failsafe.RequireKey[manifest.Manifest](r.holds, p.selfPod),
		failsafe.MaxDeletes[manifest.Manifest](r.holds, 2, 0.5))
	// What runs once the first intent batch is in: the workers (started
	// by the queue when pods are ready) and the health checks.
	r.q = workqueue.New(p.minBackoff, p.maxBackoff)
	r.stopResync = p.resyncOnCutOff(r.w)
	return r, nil
}

// end stops what begin and converge started, after ctx (cancel) has
// ended. Holds in effect when the preparer stops keep their records until
// the lease runs out (it is not revoked then), so that a restart takes
// them up.
func (r *running) end(cancel context.CancelFunc) {
	r.stopResync()
	cancel()
	r.q.Close()
	for _, stop := range r.stops {
		stop()
	}
	r.holds.Close()
	r.waitHousekeeping()
}

// converge applies each intent batch the failsafe chain delivers until
// ctx ends.
func (p *Preparer) converge(ctx context.Context, r *running) error {
	started := false
	for {
		b, err := r.src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("preparer %s: intent watch: %w", p.node, err)
		}
		// Record the batch before any worker runs: a worker that saw the
		// pods on disk before the first intent would remove them all.
		p.apply(b, r.q)
		p.m.setLag(p.node, r.w.Lag())
		if !started {
			if err := p.startWorkers(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while starting: not a failure
				}
				return err
			}
			started = true
		}
	}
}

// startWorkers loads what the node has installed (start) and starts the
// workers and the health checks, once the first intent batch is in.
func (p *Preparer) startWorkers(ctx context.Context, r *running) error {
	if err := p.start(ctx, r.q); err != nil {
		return err
	}
	r.stops = append(r.stops, r.q.Serve(p.workers, func(pod string) error { return p.work(ctx, r.q, pod) }),
		every(ctx, p.healthEvery, p.healthCheck(r.w)))
	return nil
}

// start loads what the node has installed, once intent has been seen, and
// queues every pod on disk or in reality: those no longer in intent are
// removed by the same reconcile that handles everything else.
func (p *Preparer) start(ctx context.Context, q *workqueue.Queue) error {
	l, err := p.reality.List(ctx, p.node)
	if err != nil {
		return fmt.Errorf("preparer %s: read reality: %w", p.node, err)
	}
	p.mu.Lock()
	for _, o := range l.Items {
		p.real.Set(o.Value.ID, o)
	}
	p.mu.Unlock()
	for _, o := range l.Items {
		q.Add(o.Value.ID)
	}
	for _, bad := range l.Invalid {
		p.log.Error("reality value cannot be decoded; the next install overwrites it", zap.Error(bad))
	}
	pods, err := p.inst.Pods()
	if err != nil {
		return fmt.Errorf("preparer %s: list installed pods: %w", p.node, err)
	}
	for _, pod := range pods {
		q.Add(pod)
	}
	p.log.Info("preparer started", zap.Int("reality", len(l.Items)), zap.Int("on_disk", len(pods)))
	return nil
}

// podView is a view of a node's reality named as its intent watch names
// pods: by pod id, not "<node>/<pod-id>".
func podView(node string, items []*kv.Object[manifest.Manifest]) kv.View[manifest.Manifest] {
	m := make(kv.MapView[manifest.Manifest], len(items))
	for _, o := range items {
		c := *o
		c.Name = strings.TrimPrefix(o.Name, node+"/")
		m[c.Name] = &c
	}
	return m
}

// apply records a delivered intent batch and queues the pods it touches.
// The first batch is judged against reality (failsafe.StartFrom): its
// events are only what differs, so the whole intent is read from its After.
func (p *Preparer) apply(b *kv.Batch[manifest.Manifest], q *workqueue.Queue) {
	p.mu.Lock()
	if b.Kind == kv.Initial {
		p.desired.Clear()
		b.After.Range(func(o *kv.Object[manifest.Manifest]) bool {
			p.desired.Set(o.Name, &o.Value)
			q.Add(o.Name)
			return true
		})
	}
	for i := range b.Events {
		ev := &b.Events[i]
		switch {
		case ev.Err != nil:
			p.badIntent.Set(ev.Name, ev.Err)
			if !p.desired.Has(ev.Name) && ev.Old != nil {
				// Undecodable since before this run started: the last
				// good version is what the node runs (StartFrom gives
				// reality's manifest as Old), and it stays in force.
				p.desired.Set(ev.Name, &ev.Old.Value)
			}
			p.log.Error("intent value cannot be decoded; keeping the last good one", zap.Error(ev.Err))
		case ev.Type == kv.Delete:
			p.badIntent.Delete(ev.Name)
			p.desired.Delete(ev.Name)
		default:
			p.badIntent.Delete(ev.Name)
			p.desired.Set(ev.Name, &ev.New.Value)
		}
	}
	p.mu.Unlock()
	for i := range b.Events {
		q.Add(b.Events[i].Name)
	}
}

// work reconciles one pod; the error, nil once ctx has ended, goes back
// to the queue (a retry after its backoff).
func (p *Preparer) work(ctx context.Context, q *workqueue.Queue, pod string) error {
	start := time.Now()
	err := p.reconcile(ctx, pod)
	p.m.reconcile.Observe(time.Since(start).Seconds())
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		p.m.failures.Inc()
		p.log.Warn("pod action failed; retrying", zap.String("pod", pod), zap.Int("failures", q.Failures(pod)+1), zap.Error(err))
	}
	return err
}

// lockPod serializes the actions and health checks of one pod: it returns
// the pod's lock, locked. (Not an unlock function: a method value is an
// allocation, and health checks lock every pod of every node each interval.)
func (p *Preparer) lockPod(pod string) *podLock {
	p.mu.Lock()
	l, ok := p.podLocks.Get(pod)
	if !ok {
		l = &podLock{p: p, pod: pod}
		p.podLocks.Set(pod, l)
	}
	l.refs++
	p.mu.Unlock()
	l.mu.Lock()
	return l
}

// podLock is one pod's lock. It stays in podLocks only while a caller
// holds it or waits for it: a preparer that runs for months sees pods come
// and go, and keeps no lock for each pod it ever ran.
type podLock struct {
	mu   sync.Mutex
	p    *Preparer
	pod  string
	refs int // callers holding or waiting; guarded by p.mu
}

// Unlock releases the pod's lock.
func (l *podLock) Unlock() {
	l.mu.Unlock()
	l.p.mu.Lock()
	if l.refs--; l.refs == 0 {
		l.p.podLocks.Delete(l.pod)
	}
	l.p.mu.Unlock()
}
