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
// to relist (see cutoff.go).
//
// Every new grant after a lost lease or a failed attempt waits first, with
// the preparer's backoff (WithBackoff) doubling per attempt and jittered:
// when a slow etcd lets the leases of a whole fleet lapse, its preparers
// must not all grant again at once and keep it slow.
func (p *Preparer) keepNodeRecord(ctx context.Context) {
	nodes := status.NewNodeStore(p.client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log))
	ttl := leaseSeconds(p.nodeTTL)
	every := p.nodeTTL / 3
	lease := clientv3.NoLease // the lease the record is under; NoLease once lost
	cutOff := false           // a lease was lost and no record written since
	failing := false
	attempts := 0 // grants in a row that ended in a lost lease or an error
	// Grants under an id of the preparer's own, kept while a grant's
	// answer is missing: its retry finds the lease etcd may have granted
	// rather than making another.
	var granter leasegrant.Granter
	keeper, release := leasekeep.For(p.client)
	defer release()
	for {
		var heldSince time.Time
		err := p.holdNodeRecord(ctx, nodes, keeper, ttl, every, &granter, func(id clientv3.LeaseID) {
			p.nodeLease.set(id)
			if cutOff {
				// The lease the record was kept under was lost: the
				// preparer was cut off for longer than its TTL.
				p.notifyCutOff()
				cutOff = false
			}
			if failing {
				failing = false
				p.log.Info("node record written again")
			}
			lease, heldSince = id, time.Now()
		})
		p.nodeLease.set(clientv3.NoLease)
		if ctx.Err() != nil {
			if h := p.holds.Load(); lease != clientv3.NoLease && h != nil && len(h.Active()) > 0 {
				// The hold records share the lease: left to expire,
				// it keeps them for a restart to take up.
				p.log.Info("node record lease left to expire: a failsafe hold is in effect", zap.Int("holds", len(h.Active())))
				return
			}
			if lease != clientv3.NoLease {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if _, err := p.client.Revoke(rctx, lease); err != nil {
					p.log.Warn("revoke node record lease; the record expires with it", zap.Error(err))
				}
				cancel()
			}
			return
		}
		if err == nil { // the lease was lost
			lease, cutOff = clientv3.NoLease, true
		} else if !failing {
			failing = true
			p.log.Warn("node record not written; retrying", zap.Error(err))
		}
		if !heldSince.IsZero() && time.Since(heldSince) >= p.nodeTTL {
			// The lease lasted a whole TTL: etcd kept up, this loss
			// starts a new series of attempts.
			attempts = 0
		}
		sleepCtx(ctx, regrantDelay(p.minBackoff, p.maxBackoff, attempts))
		attempts++
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

// holdNodeRecord grants a lease, writes the record under it (then calls
// written with the lease) and keeps both until ctx ends or the lease is
// lost; then it returns nil. It returns an error when it could not grant
// the lease or write the record under it.
func (p *Preparer) holdNodeRecord(ctx context.Context, nodes *status.NodeStore, keeper *leasekeep.Keeper, ttl int64, every time.Duration, granter *leasegrant.Granter, written func(clientv3.LeaseID)) error {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	gctx, cancel := context.WithTimeout(lctx, every+time.Second)
	id, err := granter.Grant(gctx, p.client, ttl)
	cancel()
	if err != nil {
		return fmt.Errorf("grant node record lease: %w", err)
	}
	// The client's keeper renews the lease on one stream for every lease
	// of the client, at most once per third of the TTL, and says when etcd
	// answers that the lease is gone.
	kept := keeper.Keep(id, time.Duration(ttl)*time.Second, p.log.With(zap.String("lease_of", "node record")))
	defer kept.Stop()
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
		wctx, cancel := context.WithTimeout(lctx, every+time.Second)
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
		if lctx.Err() != nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return err
		}
		if attempt == 0 {
			p.log.Warn("node record not written; trying again under the same lease", zap.Error(err))
		}
		select {
		case <-kept.Lost():
			return err
		case <-lctx.Done():
			return err
		case <-time.After(regrantDelay(p.minBackoff, p.maxBackoff, attempt)):
		}
	}
	written(id)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-kept.Lost():
			// etcd answered a renewal: the lease is gone, so the
			// preparer was cut off for longer than the TTL (see
			// cutoff.go). Renewals merely answered late are no loss.
			p.log.Warn("node record lease lost; writing the record under a new one")
			return nil
		case <-lctx.Done():
			return nil
		case <-t.C:
			if err := write(); err != nil {
				if errors.Is(err, rpctypes.ErrLeaseNotFound) {
					p.log.Warn("node record lease expired; writing the record under a new one")
					return nil
				}
				if ctx.Err() == nil {
					p.log.Warn("node record not rewritten; trying again", zap.Error(err))
				}
			}
		}
	}
}

// sleepCtx waits for d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// realityPods counts the pods in the node's reality, the preparer's own
// left out.
func (p *Preparer) realityPods() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.real)
	if _, ok := p.real[p.selfPod]; ok {
		n--
	}
	return n
}

// housekeeping starts what runs beside convergence from the start of Run,
// whether or not intent has been seen: the node record and the clean-up of
// removed pods' records. The returned function stops both and waits; it
// revokes the node record's lease.
func (p *Preparer) housekeeping(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.keepNodeRecord(ctx) })
	stopCleanup := every(ctx, p.cleanupEvery(), p.cleanupRemoved())
	return func() {
		cancel()
		stopCleanup()
		wg.Wait()
	}
}
