package failsafe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// opTimeout bounds one etcd request made in the background.
const opTimeout = 5 * time.Second

// leaseWait bounds how long the bookkeeping waits for a WithLease owner's
// lease.
const leaseWait = time.Second

// The bookkeeping of h (removing ended holds' keys, writing records,
// keeping the lease, opening the release watch) has no goroutine of its
// own while it waits: a fleet holds at once on every node, and a process
// simulating thousands of them would otherwise keep thousands of
// goroutines asleep. It runs in passes instead, on the pass workers of
// its client, which run the passes of every Holds of the client a few at
// a time (passqueue.go). A pass starts when h is poked (a hold began,
// changed or ended, the lease was granted, the release watch failed, h
// was closed) or when the timer it set for what falls due next fires.
// Passes of one Holds never overlap: a poke during a pass has another
// pass follow it.

// poke has the bookkeeping look again at what is to be done: it starts a
// pass, or has one follow the pass that runs. It does nothing while the
// bookkeeping is off (no hold in effect, or h closed).
func (h *Holds) poke() {
	h.mu.Lock()
	start := h.running && !h.busy
	if start {
		h.busy = true
		h.stopTimer() // the pass sets it again
	} else if h.busy {
		h.again = true
	}
	h.mu.Unlock()
	if start {
		hubOf(h.client).passes.run(h)
	}
}

// setTimer has the bookkeeping poked at at. Called with h.mu held.
func (h *Holds) setTimer(at time.Time) {
	d := max(time.Until(at), 0)
	if h.timer == nil {
		h.timer = time.AfterFunc(d, h.poke)
		return
	}
	h.timer.Reset(d)
}

// stopTimer stops the timer. One that fired meanwhile pokes h once more,
// which does no harm: a pass does only what is due. Called with h.mu held.
func (h *Holds) stopTimer() {
	if h.timer != nil {
		h.timer.Stop()
	}
}

// Bookkeeping that failed is tried again after a backoff that doubles
// from minBackoff to maxBackoff, or to maxBackoffBehind when etcd said it
// is behind: a mass deletion has every node of the fleet write its hold
// record at once, and at 30,000 simulated nodes the records etcd refused
// as "too many requests", each tried again every few seconds, were 1.65
// million puts in six minutes, which kept it behind. The hold is in effect
// whether or not its record is written.
const (
	minBackoff       = 50 * time.Millisecond
	maxBackoff       = 5 * time.Second
	maxBackoffBehind = 30 * time.Second
)

// minBackoffBehind is the least backoff after etcd said it is behind or a
// request timed out: the first retries of a fleet's records, all refused
// at once, then spread over a second instead of coming back together
// 50ms later, which at 30,000 nodes was 50,000 refused puts in 20 s.
const minBackoffBehind = time.Second

// behind says whether err means etcd could not keep up: it refused the
// request as too many, or the request timed out.
func behind(err error) bool {
	for _, e := range []error{rpctypes.ErrTooManyRequests, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutWaitAppliedIndex, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return status.Code(err) == codes.DeadlineExceeded
}

// nextBackoff is the backoff after one of backoff that ended in err.
func nextBackoff(backoff time.Duration, err error) time.Duration {
	if behind(err) {
		return min(max(2*backoff, minBackoffBehind), maxBackoffBehind)
	}
	return min(2*backoff, maxBackoff)
}

// retryIn is how long to wait before trying again after a wait of
// backoff failed with err: up to half shorter at random, so that holds
// that began together (a mass deletion reaches every node at once) retry
// apart, and at least half of minBackoffBehind when etcd is behind.
func retryIn(backoff time.Duration, err error) time.Duration {
	if behind(err) {
		backoff = max(backoff, minBackoffBehind)
	}
	return backoff - rand.N(backoff/2+1)
}

// runPass runs one pass of the bookkeeping. When pokes during it, or the
// pass itself, ask for another, it returns true, and h goes to the back of
// its client's queue with h.busy still set: a Holds poked again and again
// does not keep a pass worker from the client's other Holds. Otherwise it
// sets the timer for when something falls due next and clears h.busy,
// which poke set.
func (h *Holds) runPass() (more bool) {
	wake, again := h.pass()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running && (again || h.again) {
		h.again = false
		return true
	}
	h.busy, h.again = false, false
	if h.running && !wake.IsZero() {
		h.setTimer(wake)
	}
	return false
}

// pass is one pass of the bookkeeping, while any hold is in effect or any
// ended hold's keys are still to be removed: it removes the keys of ended
// holds, writes the records that changed (each at most every
// minInterval), keeps the records' lease alive with one request every
// third of its TTL and opens the release watch (work). It returns when to
// look again without being poked (zero: not before a poke), and whether
// to look again at once. Once nothing is left to do it gives the lease
// back and turns the bookkeeping off; it does so at once when h is closed
// or its client is.
func (h *Holds) pass() (wake time.Time, again bool) {
	now := time.Now()
	h.mu.Lock()
	if h.err() != nil {
		h.off()
		h.mu.Unlock()
		h.stopWatch()
		return time.Time{}, false
	}
	if h.live.Len() == 0 && len(h.ended) == 0 {
		h.off()
		lease := h.lease
		h.lease = 0
		h.mu.Unlock()
		h.stopWatch()
		if lease != 0 && h.leaseFrom == nil {
			h.revoke(lease)
		}
		return time.Time{}, false
	}
	live := h.live.Len() > 0
	if h.leaseNew {
		// The owner has a new lease: the records go under it now.
		h.leaseNew = false
		h.failAt, h.backoff = time.Time{}, minBackoff
	}
	h.mu.Unlock()

	// failAt and backoff are only touched by the pass that runs; h.mu,
	// taken between passes, orders one pass's writes before the next's
	// reads.
	if now.Before(h.failAt) {
		return h.failAt, false
	}
	if err := h.work(now, live, &wake); err != nil {
		if h.err() != nil {
			return time.Time{}, true // stop
		}
		d := retryIn(h.backoff, err)
		h.log.Warn("failsafe hold bookkeeping failed; retrying", zap.Duration("in", d), zap.Error(err))
		h.failAt = now.Add(d)
		h.backoff = nextBackoff(h.backoff, err)
		return h.failAt, false
	}
	h.backoff = minBackoff
	h.mu.Lock()
	idle := h.live.Len() == 0 && len(h.ended) == 0
	h.mu.Unlock()
	return wake, idle // when idle: give the lease back and stop
}

// off turns the bookkeeping off: no pass starts until a hold begins. The
// next run starts without backoff. Called with h.mu held.
func (h *Holds) off() {
	h.running = false
	h.stopTimer()
	h.failAt, h.backoff = time.Time{}, minBackoff
}

// work does what is due at now: removals, record writes, the lease's
// keep-alive and starting the release watch, stopping at the first failed
// request. It sets *wake to when something falls due next.
func (h *Holds) work(now time.Time, live bool, wake *time.Time) error {
	later := func(t time.Time) {
		if wake.IsZero() || t.Before(*wake) {
			*wake = t
		}
	}
	h.mu.Lock()
	ended := h.ended
	h.ended = nil
	var due []*Hold
	for _, hd := range h.live.All() {
		switch {
		case !hd.dirty:
		case now.Before(hd.nextWrite):
			later(hd.nextWrite)
		default:
			hd.dirty = false
			due = append(due, hd)
		}
	}
	h.mu.Unlock()
	// On a failure, what was not done is put back for the next attempt.
	requeue := func(ended, due []*Hold) {
		h.mu.Lock()
		h.ended = append(ended, h.ended...)
		for _, hd := range due {
			if h.live.Has(hd.id) {
				hd.dirty = true
			}
		}
		h.mu.Unlock()
	}

	for i, hd := range ended {
		if err := h.removeKeys(hd.id); err != nil {
			requeue(ended[i:], due)
			return err
		}
	}
	if live && len(due) > 0 {
		// The release watch first, so that a release of a record just
		// written is seen; should it not open now, the releases are
		// listed once it does.
		if err := h.openWatch(opTimeout); err != nil {
			h.mu.Lock()
			h.needList = true
			h.mu.Unlock()
		}
	}
	for i, hd := range due {
		h.mu.Lock()
		live := h.live.Has(hd.id)
		h.mu.Unlock()
		if !live {
			continue // ended meanwhile: its record is removed, not written
		}
		octx, cancel := h.opCtx(opTimeout)
		err := h.putRecord(octx, hd)
		cancel()
		if err != nil {
			requeue(nil, due[i:])
			return fmt.Errorf("write hold record %s: %w", HoldKey(h.prefix, hd.id), err)
		}
		h.mu.Lock()
		hd.nextWrite = time.Now().Add(h.minInterval)
		h.mu.Unlock()
	}
	if err := h.keepLease(now, later); err != nil {
		return err
	}
	if live {
		switch err := h.openWatch(opTimeout); {
		case errors.Is(err, errWatchLater):
			h.wmu.Lock()
			later(h.rw.retryAt)
			h.wmu.Unlock()
			return nil
		case err != nil:
			return err
		}
		return h.listReleases()
	}
	return nil
}

// removeKeys removes an ended hold's record and any release of it.
func (h *Holds) removeKeys(id string) error {
	ctx, cancel := h.opCtx(opTimeout)
	defer cancel()
	_, err := h.client.Txn(ctx).Then(
		clientv3.OpDelete(HoldKey(h.prefix, id)),
		clientv3.OpDelete(ReleaseKey(h.prefix, id)),
	).Commit()
	if err != nil {
		return fmt.Errorf("remove hold record %s: %w", HoldKey(h.prefix, id), err)
	}
	return nil
}

// putRecord writes hd's record under the records' lease.
func (h *Holds) putRecord(ctx context.Context, hd *Hold) error {
	rec := hd.Record()
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	lease, err := h.recordLease(ctx)
	if err != nil {
		return err
	}
	key := HoldKey(h.prefix, rec.ID)
	h.mu.Lock()
	unsure := hd.unsure
	h.mu.Unlock()
	if unsure {
		// The last put's answer was lost: it may be in etcd's log still,
		// to be applied. Read before writing again (a read is no raft
		// entry): a put sent again each time one timed out was written
		// twice or more, which kept an etcd that was behind, behind.
		resp, err := h.client.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 1 && resp.Kvs[0].Lease == int64(lease) && bytes.Equal(resp.Kvs[0].Value, data) {
			h.written(hd, lease)
			return nil
		}
	}
	if _, err := h.client.Put(ctx, key, string(data), clientv3.WithLease(lease)); err != nil {
		if answerLost(err) {
			h.mu.Lock()
			hd.unsure = true
			h.mu.Unlock()
		}
		return err
	}
	h.written(hd, lease)
	return nil
}

// written notes that hd's record is in etcd under lease.
func (h *Holds) written(hd *Hold, lease clientv3.LeaseID) {
	h.mu.Lock()
	hd.lease, hd.unsure = lease, false
	if hd.firstWritten != nil {
		close(hd.firstWritten)
		hd.firstWritten = nil
	}
	h.mu.Unlock()
}

// answerLost says whether a write that failed with err may have been
// applied all the same: it timed out, at the client or in etcd, rather
// than being refused.
func answerLost(err error) bool {
	for _, e := range []error{context.DeadlineExceeded, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost} {
		if errors.Is(err, e) {
			return true
		}
	}
	return status.Code(err) == codes.DeadlineExceeded
}

// recordLease returns the lease hold records are written under: the one
// WithLease gives, or one of h's own, granted on first use and kept alive
// by the bookkeeping.
func (h *Holds) recordLease(ctx context.Context) (clientv3.LeaseID, error) {
	if h.leaseFrom != nil {
		lctx, cancel := context.WithTimeout(ctx, leaseWait)
		id, err := h.leaseFrom(lctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("hold record lease: %w", err)
		}
		return id, nil
	}
	h.grantMu.Lock()
	defer h.grantMu.Unlock()
	h.mu.Lock()
	id := h.lease
	h.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	ttl := max(int64(h.ttl.Seconds()), 1)
	id, err := h.granter.Grant(ctx, h.client, ttl) // a retry finds a lease whose answer was lost
	if err != nil {
		return 0, fmt.Errorf("grant hold record lease: %w", err)
	}
	h.mu.Lock()
	h.lease, h.keepAt = id, time.Now().Add(keepEvery(ttl))
	h.mu.Unlock()
	h.poke()
	return id, nil
}

// keepEvery is how often a lease of ttl seconds is kept alive.
func keepEvery(ttl int64) time.Duration {
	return max(time.Duration(ttl)*time.Second/3, 100*time.Millisecond)
}

// keepLease keeps the records' lease alive when that is due. Should the
// lease be lost (etcd unreachable for longer than the TTL), the records of
// the holds in effect are written again under a new one.
func (h *Holds) keepLease(now time.Time, later func(time.Time)) error {
	if h.leaseFrom != nil {
		return h.checkLease(now, later)
	}
	h.mu.Lock()
	lease, at := h.lease, h.keepAt
	h.mu.Unlock()
	if lease == 0 {
		return nil
	}
	if now.Before(at) {
		later(at)
		return nil
	}
	ctx, cancel := h.opCtx(opTimeout)
	resp, err := h.client.KeepAliveOnce(ctx, lease)
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		if h.lease == lease {
			h.lease = 0
		}
		h.log.Warn("hold record lease lost; writing the records of holds in effect again", zap.Int("holds", h.live.Len()))
		for _, hd := range h.live.All() {
			hd.dirty = true
		}
		later(now)
		return nil
	case err != nil:
		return fmt.Errorf("keep hold record lease alive: %w", err)
	}
	if h.lease == lease {
		h.keepAt = time.Now().Add(keepEvery(resp.TTL))
		later(h.keepAt)
	}
	return nil
}

// leaseCheckEvery is how often the records' lease is asked for under
// WithLease, to find records written under one the owner has replaced;
// leaseCheckNotified, how often once the owner has called LeaseChanged (a
// safety net: the owner tells of every change). At 30,000 simulated nodes
// every held node asking each second was a tenth of the process's CPU in
// a mass deletion.
const (
	leaseCheckEvery    = time.Second
	leaseCheckNotified = 30 * time.Second
)

// LeaseChanged tells h that the lease WithLease gives has changed (its
// owner lost it and granted another): the records of the holds in effect
// are written again under the new one at once. An owner that calls it on
// every change spares h asking for the lease every second; once it has
// been called, h asks only every 30 seconds.
func (h *Holds) LeaseChanged() {
	h.mu.Lock()
	h.leaseNotified = true
	h.leaseNew = true
	h.keepAt = time.Time{} // check now
	h.mu.Unlock()
	h.poke()
}

// checkLease, under WithLease, asks for the records' lease when that is
// due and marks the records written under another one to be written again.
func (h *Holds) checkLease(now time.Time, later func(time.Time)) error {
	h.mu.Lock()
	at := h.keepAt
	h.mu.Unlock()
	if now.Before(at) {
		later(at)
		return nil
	}
	ctx, cancel := h.opCtx(leaseWait)
	id, err := h.leaseFrom(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("hold record lease: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	stale := 0
	for _, hd := range h.live.All() {
		if hd.lease != 0 && hd.lease != id && !hd.dirty {
			hd.dirty = true
			stale++
		}
	}
	if stale > 0 {
		h.log.Warn("hold record lease replaced by its owner; writing the records again", zap.Int("holds", stale))
		later(now)
	}
	every := leaseCheckEvery
	if h.leaseNotified {
		every = leaseCheckNotified
	}
	h.keepAt = time.Now().Add(every)
	later(h.keepAt)
	return nil
}

// revoke gives back a lease no hold uses any more, which also removes any
// record still under it.
func (h *Holds) revoke(lease clientv3.LeaseID) {
	ctx, cancel := h.opCtx(opTimeout)
	defer cancel()
	if _, err := h.client.Revoke(ctx, lease); err != nil && h.err() == nil {
		h.log.Warn("revoke hold record lease; it expires by itself", zap.Error(err))
	}
}
