package preparer

import (
	"context"
	"errors"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// DefaultRemovedTTL is how long the status record of a pod removed from
// the node is kept before it is deleted.
const DefaultRemovedTTL = time.Minute

// WithRemovedTTL sets how long the status record of a pod removed from the
// node stays (status "removed") before the preparer deletes it (default 1m).
func WithRemovedTTL(d time.Duration) Option {
	return func(pr *Preparer) {
		if d > 0 {
			pr.removedTTL = d
		}
	}
}

// cleanupEvery is how often the removed records are looked at.
func (p *Preparer) cleanupEvery() time.Duration {
	return min(max(p.removedTTL/4, 10*time.Millisecond), 15*time.Second)
}

// cleanupRemoved returns what deletes the status records of removed pods
// once they are older than the removed TTL, run every cleanupEvery.
// Records left by an earlier run of the preparer are found with one
// listing, the first that succeeds.
func (p *Preparer) cleanupRemoved() func(context.Context) {
	seeded := false // runs never overlap (every)
	return func(ctx context.Context) {
		if !seeded {
			seeded = p.seedRemoved(ctx)
		}
		p.deleteExpired(ctx, time.Now())
	}
}

// seedRemoved loads the node's removed records that this run has not
// written, so that they expire too; it reports whether it could read them.
func (p *Preparer) seedRemoved(ctx context.Context) bool {
	l, err := p.statuses.ListNode(ctx, p.node)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("list pod status records", zap.Error(err))
		}
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range l.Items {
		pod := o.Name[:len(o.Name)-len("/"+status.PreparerNamespace)]
		if !p.lastStatus.Has(pod) && o.Value.Status == status.Removed {
			st := o.Value
			p.lastStatus.Set(pod, &st)
		}
	}
	return true
}

// deleteExpired deletes the removed records older than the removed TTL.
func (p *Preparer) deleteExpired(ctx context.Context, now time.Time) {
	p.mu.Lock()
	var expired []string
	for pod, st := range p.lastStatus.All() {
		if st.Status == status.Removed && now.Sub(st.UpdatedAt) >= p.removedTTL {
			expired = append(expired, pod)
		}
	}
	p.mu.Unlock()
	for _, pod := range expired {
		p.deleteRemoved(ctx, pod, now)
	}
}

func (p *Preparer) deleteRemoved(ctx context.Context, pod string, now time.Time) {
	l := p.lockPod(pod)
	defer l.Unlock()
	p.mu.Lock()
	st, ok := p.lastStatus.Get(pod)
	wanted := p.desired.Has(pod)
	p.mu.Unlock()
	if !ok || wanted || st.Status != status.Removed || now.Sub(st.UpdatedAt) < p.removedTTL {
		return // changed since the list was taken
	}
	if err := p.statuses.Delete(ctx, p.node, pod); err != nil && !errors.Is(err, kv.ErrNotFound) {
		if ctx.Err() == nil {
			p.log.Warn("delete status record of removed pod", zap.String("pod", pod), zap.Error(err))
		}
		return
	}
	p.mu.Lock()
	p.lastStatus.Delete(pod)
	p.mu.Unlock()
	p.log.Info("status record of removed pod deleted", zap.String("pod", pod))
}
