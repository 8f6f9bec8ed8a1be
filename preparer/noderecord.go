package preparer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"time"

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

// keepNodeRecord writes the node record under a lease every third of the
// TTL, renewing the lease each time, until ctx ends; then it revokes the
// lease so the record goes at once. A lost lease (etcd unreachable longer
// than the TTL) is replaced by a new one, and the intent watch told to
// relist (see cutoff.go).
func (p *Preparer) keepNodeRecord(ctx context.Context) {
	nodes := status.NewNodeStore(p.client, keyspace.WithPrefix(p.prefix), keyspace.WithLogger(p.log))
	ttl := leaseSeconds(p.nodeTTL)
	every := p.nodeTTL / 3
	var lease clientv3.LeaseID
	written := clientv3.NoLease // the lease of the last record written
	failing := false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var err error
		lease, err = p.refreshNodeRecord(ctx, nodes, lease, ttl)
		if err == nil {
			if written != clientv3.NoLease && lease != written {
				// The lease the record was kept under is gone: the
				// preparer was cut off for longer than its TTL.
				p.notifyCutOff()
			}
			written = lease
		}
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			p.log.Warn("node record not written; retrying", zap.Error(err))
		case err == nil && failing:
			failing = false
			p.log.Info("node record written again")
		}
		select {
		case <-ctx.Done():
			if lease != clientv3.NoLease {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if _, err := p.client.Revoke(rctx, lease); err != nil {
					p.log.Warn("revoke node record lease; the record expires with it", zap.Error(err))
				}
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// refreshNodeRecord renews lease (granting one when it is 0 or lost) and
// writes the record under it; it returns the lease to use next time.
func (p *Preparer) refreshNodeRecord(ctx context.Context, nodes *status.NodeStore, lease clientv3.LeaseID, ttl int64) (clientv3.LeaseID, error) {
	rctx, cancel := context.WithTimeout(ctx, p.nodeTTL/3+time.Second)
	defer cancel()
	if lease != clientv3.NoLease {
		if _, err := p.client.KeepAliveOnce(rctx, lease); err != nil {
			if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return lease, fmt.Errorf("renew node record lease: %w", err)
			}
			p.log.Warn("node record lease expired; writing the record under a new one")
			lease = clientv3.NoLease
		}
	}
	if lease == clientv3.NoLease {
		g, err := p.client.Grant(rctx, ttl)
		if err != nil {
			return lease, fmt.Errorf("grant node record lease: %w", err)
		}
		lease = g.ID
	}
	now := time.Now().UTC()
	rec := &status.NodeRecord{
		Version:    p.version,
		StartedAt:  p.startedAt,
		Pods:       p.realityPods(),
		LastSeen:   now,
		TTLSeconds: ttl,
	}
	if err := nodes.Put(rctx, p.node, rec, lease); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return clientv3.NoLease, err
		}
		return lease, err
	}
	return lease, nil
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
	wg.Go(func() { p.cleanupRemoved(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
