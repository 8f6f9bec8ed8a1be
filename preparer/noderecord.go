package preparer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/p2kit/p2kit/internal/leasegrant"
	"github.com/p2kit/p2kit/internal/leasekeep"
	"github.com/p2kit/p2kit/internal/logx"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/status"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultNodeTTL is the lease TTL of the preparer's node record.
const DefaultNodeTTL = 15 * time.Second

// WithNodeTTL sets the TTL of the lease the node record
// (/p2/status/nodes/<node>/preparer) is kept under (default 15s, at least
// 1s): a preparer that dies is seen gone within it.
func WithNodeTTL(d time.Duration) Option { return func(pr *Preparer) { pr.nodeTTL = d } }

// WithVersion sets the version the node record reports (default: the main
// module's version from the build information).
func WithVersion(v string) Option { return func(pr *Preparer) { pr.version = v } }

// buildVersion is the main module's version, or "devel".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// checkNodeTTL refuses a TTL etcd cannot keep.
func checkNodeTTL(d time.Duration) error {
	if d < time.Second {
		return fmt.Errorf("preparer: node TTL %s: want at least 1s", d)
	}
	return nil
}

// leaseSeconds is the TTL in whole seconds, rounded up.
func leaseSeconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// DefaultNodeRecordRefresh is how often an unchanged node record is
// written again, to move last_seen on.
const DefaultNodeRecordRefresh = 5 * time.Minute

// WithNodeRecordRefresh sets how often the node record is written again
// when nothing in it changed (default DefaultNodeRecordRefresh), so that
// last_seen moves on. The record's lease, not last_seen, says the
// preparer is alive: it is kept alive on the client's shared keep-alive
// stream every third of the TTL, and the record is rewritten only when its
// pod count changes, when the lease had to be replaced, or at this
// interval. Every write is a raft proposal; at 10,000 nodes one write per
// node every few seconds is more than a small etcd can take.
func WithNodeRecordRefresh(d time.Duration) Option {
	return func(pr *Preparer) { pr.nodeRefresh = d }
}

// keepNodeRecord writes the node record under a lease and keeps the lease
// alive until ctx ends; then it revokes the lease so the record goes at
// once. A lost lease (etcd unreachable longer than the TTL) is replaced by
// a new one, the record written again under it, and the intent watch told
// to relist (see cutoff.go). The returned function waits for the end.
//
// Every new grant after a lost lease or a failed attempt waits first, with
// the preparer's backoff (WithBackoff) doubling per attempt and jittered:
// when a slow etcd lets the leases of a whole fleet lapse, its preparers
// must not all grant again at once and keep it slow.
//
// Once the record is written, no goroutine waits: the keep-alive is the
// client's shared Keeper's, the refresh a timer, and the loss of the lease
// or the end of ctx a callback. A process that simulates a fleet runs
// thousands of preparers, and a goroutine each is a stack each.
func (p *Preparer) keepNodeRecord(ctx context.Context) (wait func()) {
	keeper, release := leasekeep.For(p.client)
	r := &recordKeeper{
		p:       p,
		ctx:     ctx,
		nodes:   status.NewNodeStore(p.client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log)),
		keeper:  keeper,
		release: release,
		ttl:     leaseSeconds(p.nodeTTL),
		every:   p.nodeTTL / 3,
		lease:   clientv3.NoLease,
		done:    make(chan struct{}),
	}
	r.stopOnEnd = context.AfterFunc(ctx, r.ctxEnded)
	go r.attempt() // the phase starts as attempting
	return func() { <-r.done }
}

// recordKeeper is the state of keepNodeRecord between its steps: an
// attempt (grant and first write, on a goroutine of its own), the record
// held (timers and callbacks only), and the wait before the next attempt
// (a timer).
type recordKeeper struct {
	p         *Preparer
	ctx       context.Context
	nodes     *status.NodeStore
	keeper    *leasekeep.Keeper
	release   func()
	ttl       int64
	every     time.Duration
	stopOnEnd func() bool
	done      chan struct{} // closed once the lease is revoked or left

	// Grants under an id of the preparer's own, kept while a grant's
	// answer is missing: its retry finds the lease etcd may have granted
	// rather than making another. Used by one attempt at a time.
	granter leasegrant.Granter

	mu        sync.Mutex
	phase     recordPhase
	retry     *time.Timer      // the next attempt, while waiting
	held      *heldRecord      // the record held, once an attempt wrote it
	lease     clientv3.LeaseID // the lease the record is under; NoLease once lost
	cutOff    bool             // a lease was lost and no record written since
	failing   bool
	attempts  int // grants in a row that ended in a lost lease or an error
	heldSince time.Time
}

type recordPhase int

const (
	attempting recordPhase = iota // an attempt runs, or the record is held
	waiting                       // for the retry timer
	finished
)

// attempt grants a lease and writes the record under it, then keeps it
// (held) until the lease is lost or ctx ends, and goes on in after.
func (r *recordKeeper) attempt() {
	if r.ctx.Err() != nil {
		r.after(nil, false)
		return
	}
	h, err := r.p.holdNodeRecord(r.ctx, r.nodes, r.keeper, r.ttl, r.every, &r.granter, r.written)
	if err != nil {
		r.after(err, false)
		return
	}
	h.onEnd = func(lost bool) { r.after(nil, lost) }
	h.start()
	// Set once started: ctxEnded may end it from now on.
	r.mu.Lock()
	r.held = h
	r.mu.Unlock()
	if r.ctx.Err() != nil {
		h.end(false) // ctxEnded may have come before r.held was set
	}
}

// written is called with the lease once the record is written under it.
func (r *recordKeeper) written(id clientv3.LeaseID) {
	r.p.nodeLease.set(id)
	if h := r.p.holds.Load(); h != nil {
		h.LeaseChanged() // hold records follow the new lease at once
	}
	r.mu.Lock()
	cutOff, failing := r.cutOff, r.failing
	r.cutOff, r.failing = false, false
	r.lease, r.heldSince = id, time.Now()
	r.mu.Unlock()
	if cutOff {
		// The lease the record was kept under was lost: the preparer
		// was cut off for longer than its TTL.
		r.p.notifyCutOff()
	}
	if failing {
		r.p.log.Info("node record written again")
	}
}

// after goes on from an attempt that failed with err, or from a held
// record whose lease was lost (lost) or whose ctx ended: it finishes
// once ctx has ended, and otherwise waits before the next attempt.
func (r *recordKeeper) after(err error, lost bool) {
	p := r.p
	p.nodeLease.set(clientv3.NoLease)
	r.mu.Lock()
	r.held = nil
	r.mu.Unlock()
	if r.ctx.Err() != nil {
		r.finish()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil && lost:
		r.lease, r.cutOff = clientv3.NoLease, true
	case err != nil && !r.failing:
		r.failing = true
		p.log.Warn("node record not written; retrying", zap.Error(err))
	}
	if !r.heldSince.IsZero() && time.Since(r.heldSince) >= p.nodeTTL {
		// The lease lasted a whole TTL: etcd kept up, this loss starts a
		// new series of attempts.
		r.attempts = 0
	}
	r.heldSince = time.Time{}
	delay := regrantDelay(p.minBackoff, p.maxBackoff, r.attempts)
	r.attempts++
	r.phase = waiting
	r.retry = time.AfterFunc(delay, func() {
		r.mu.Lock()
		if r.phase != waiting {
			r.mu.Unlock()
			return // ctx ended meanwhile: ctxEnded finished
		}
		r.phase = attempting
		r.mu.Unlock()
		r.attempt()
	})
}

// ctxEnded finishes at once when ctx ends between attempts, and ends the
// record held; an attempt in progress finishes by itself.
func (r *recordKeeper) ctxEnded() {
	r.mu.Lock()
	if r.phase != waiting {
		h := r.held
		r.mu.Unlock()
		if h != nil {
			h.end(false)
		}
		return
	}
	r.retry.Stop()
	r.phase = attempting // finish sets finished
	r.mu.Unlock()
	r.finish()
}

// finish gives the lease back once ctx has ended, unless a failsafe hold
// shares it.
func (r *recordKeeper) finish() {
	p := r.p
	r.mu.Lock()
	if r.phase == finished {
		r.mu.Unlock()
		return
	}
	r.phase = finished
	lease := r.lease
	r.mu.Unlock()
	defer close(r.done)
	defer r.release()
	r.stopOnEnd()
	if h := p.holds.Load(); lease != clientv3.NoLease && h != nil && len(h.Active()) > 0 {
		// The hold records share the lease: left to expire, it keeps
		// them for a restart to take up.
		p.log.Info("node record lease left to expire: a failsafe hold is in effect", zap.Int("holds", len(h.Active())))
		return
	}
	if lease != clientv3.NoLease {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 2*time.Second)
		if _, err := p.client.Revoke(rctx, lease); err != nil {
			p.log.Warn("revoke node record lease; the record expires with it", zap.Error(err))
		}
		cancel()
	}
}

// nodeLease is the node record's lease for the hold records to share:
// NoLease while the record is not kept under one.
type nodeLease struct {
	mu    sync.Mutex
	id    clientv3.LeaseID
	ready chan struct{} // closed while id is set
}

func (l *nodeLease) set(id clientv3.LeaseID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready == nil {
		l.ready = make(chan struct{})
	}
	switch {
	case id != clientv3.NoLease && l.id == clientv3.NoLease:
		close(l.ready)
	case id == clientv3.NoLease && l.id != clientv3.NoLease:
		l.ready = make(chan struct{})
	}
	l.id = id
}

// wait returns the lease, waiting until there is one or ctx ends.
func (l *nodeLease) wait(ctx context.Context) (clientv3.LeaseID, error) {
	for {
		l.mu.Lock()
		if l.ready == nil {
			l.ready = make(chan struct{})
		}
		id, ready := l.id, l.ready
		l.mu.Unlock()
		if id != clientv3.NoLease {
			return id, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return clientv3.NoLease, fmt.Errorf("no node record lease yet: %w", context.Cause(ctx))
		}
	}
}

// regrantDelay is how long to wait before the next lease grant after
// attempts grants in a row were lost or failed: minDelay doubled per
// attempt up to maxDelay, then a random part of it taken off (up to half),
// so that preparers that lost their leases together do not grant again
// together.
func regrantDelay(minDelay, maxDelay time.Duration, attempts int) time.Duration {
	d := max(minDelay, 0)
	for range attempts {
		if d >= maxDelay/2 {
			d = maxDelay
			break
		}
		d *= 2
	}
	d = min(d, max(maxDelay, minDelay))
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/2+1)
}

// holdNodeRecord grants a lease and writes the record under it, then calls
// written with the lease and returns the record held: start it to keep
// both until ctx ends or the lease is lost. It returns an error when it
// could not grant the lease or write the record under it.
func (p *Preparer) holdNodeRecord(ctx context.Context, nodes *status.NodeStore, keeper *leasekeep.Keeper, ttl int64, every time.Duration, granter *leasegrant.Granter, written func(clientv3.LeaseID)) (_ *heldRecord, err error) {
	gctx, cancel := context.WithTimeout(ctx, every+time.Second)
	id, err := granter.Grant(gctx, p.client, ttl)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("grant node record lease: %w", err)
	}
	// The client's keeper renews the lease on one stream for every lease
	// of the client, at most once per third of the TTL, and says when etcd
	// answers that the lease is gone.
	kept := keeper.Keep(id, time.Duration(ttl)*time.Second, logx.With(p.log, zap.String("lease_of", "node record")))
	defer func() {
		if err != nil {
			kept.Stop()
		}
	}()
	var last *status.NodeRecord
	write := func() error {
		rec := &status.NodeRecord{
			Version:    p.version,
			StartedAt:  p.startedAt,
			Pods:       p.realityPods(),
			LastSeen:   time.Now().UTC(),
			TTLSeconds: ttl,
		}
		if last != nil && rec.Pods == last.Pods && rec.LastSeen.Sub(last.LastSeen) < p.nodeRefresh {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, every+time.Second)
		defer cancel()
		if err := nodes.Put(wctx, p.node, rec, id); err != nil {
			return err
		}
		last = rec
		return nil
	}
	// A first write that failed is tried again under the same lease,
	// which the keeper keeps alive meanwhile: on a busy etcd a write that
	// timed out costs no revocation and no new grant, two raft entries
	// more. Only a lease found gone, or lost, is replaced.
	for attempt := 0; ; attempt++ {
		err := write()
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil, err
		}
		if attempt == 0 {
			p.log.Warn("node record not written; trying again under the same lease", zap.Error(err))
		}
		select {
		case <-kept.Lost():
			return nil, err
		case <-ctx.Done():
			return nil, err
		case <-time.After(regrantDelay(p.minBackoff, p.maxBackoff, attempt)):
		}
	}
	written(id)
	return &heldRecord{p: p, ctx: ctx, kept: kept, every: every, write: write}, nil
}

// heldRecord is a node record written under a lease the Keeper renews:
// every third of the TTL a timer writes it again when it changed (or is
// due for a refresh), and the loss of the lease or the end of ctx ends it
// (onEnd, told whether the lease was lost). No goroutine waits meanwhile.
// The recordKeeper ends it when ctx ends (ctxEnded): one callback on ctx
// for the keeping, not one more for each record.
type heldRecord struct {
	p     *Preparer
	ctx   context.Context // the keeping's: writes end with it
	kept  *leasekeep.Lease
	every time.Duration
	write func() error // not called twice at once: only the timer calls it
	onEnd func(lost bool)
	fails int // writes failed in a row; only the timer's run touches it

	mu       sync.Mutex
	ended    bool
	timer    *time.Timer
	writing  sync.WaitGroup // a timer's write in progress
	stopLost func() bool
}

func (h *heldRecord) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writing.Add(1) // the timer's run, until it ends or is stopped
	h.timer = time.AfterFunc(h.every, h.refresh)
	h.stopLost = h.kept.AfterLost(func() {
		// etcd answered a renewal: the lease is gone, so the preparer
		// was cut off for longer than the TTL (see cutoff.go). Renewals
		// merely answered late are no loss.
		h.p.log.Warn("node record lease lost; writing the record under a new one")
		h.end(true)
	})
}

// refresh writes the record when that is due and sets the next timer.
func (h *heldRecord) refresh() {
	defer h.writing.Done()
	if h.ctx.Err() != nil {
		return
	}
	next := h.every
	if err := h.write(); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			h.p.log.Warn("node record lease expired; writing the record under a new one")
			go h.end(true) // end waits for this write to return
			return
		}
		// Later after each failure in a row: a fleet whose node records
		// all changed at once (a daemon set added a pod everywhere)
		// would otherwise send every write etcd could not take again a
		// third of a TTL later, together with the next ones. At 100,000
		// simulated nodes those retries kept etcd behind.
		h.fails++
		next = nodeRecordRetry(h.every, h.fails)
		if h.ctx.Err() == nil {
			h.p.log.Warn("node record not rewritten; trying again", zap.Duration("in", next), zap.Error(err))
		}
	} else {
		h.fails = 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ended {
		h.writing.Add(1)
		h.timer = time.AfterFunc(next, h.refresh)
	}
}

// maxNodeRecordBackoff bounds how many refresh intervals a node record
// write that keeps failing waits for: the lease, kept apart, says the
// preparer lives meanwhile.
const maxNodeRecordBackoff = 8

// nodeRecordRetry is how long to wait before writing the node record again
// after fails failed writes in a row: every doubled per failure, at most
// maxNodeRecordBackoff times every, less up to half at random.
func nodeRecordRetry(every time.Duration, fails int) time.Duration {
	return regrantDelay(every, maxNodeRecordBackoff*every, fails)
}

// end stops the record's keeping once, waits for a write in progress and
// tells onEnd.
func (h *heldRecord) end(lost bool) {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return
	}
	h.ended = true
	if h.timer.Stop() {
		h.writing.Done() // the run that will not happen
	}
	h.mu.Unlock()
	h.stopLost()
	h.kept.Stop()
	h.writing.Wait()
	h.onEnd(lost)
}

// realityPods counts the pods in the node's reality, the preparer's own
// left out.
func (p *Preparer) realityPods() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.real.Len()
	if p.real.Has(p.selfPod) {
		n--
	}
	return n
}

// housekeeping starts what runs beside convergence from the start of Run,
// whether or not intent has been seen: the node record and the clean-up of
// removed pods' records. Both end with ctx, which is Run's: a context of
// their own would cost every preparer of a simulated fleet a context, its
// channel and its map of children. The returned function waits for both
// once ctx has ended; the node record's lease is revoked then.
func (p *Preparer) housekeeping(ctx context.Context) (wait func()) {
	waitRecord := p.keepNodeRecord(ctx)
	stopCleanup := every(ctx, p.cleanupEvery(), p.cleanupRemoved())
	return func() {
		stopCleanup()
		waitRecord()
	}
}
