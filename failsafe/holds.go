package failsafe

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultPrefix is the root prefix of p2kit's keys.
const DefaultPrefix = "/p2"

// Record is a hold as written to <prefix>/failsafe/holds/<id>.
type Record struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	Guard     string `json:"guard"`
	Reason    string `json:"reason"`
	// Revision is the etcd revision of the batch that began the hold.
	Revision int64 `json:"revision"`
	// Deletes and Total: how many keys the held batch deleted, out of how
	// many the consumer had.
	Deletes int       `json:"deletes"`
	Total   int       `json:"total"`
	Time    time.Time `json:"time"`
}

// Holds is what the guards of one component share: where holds are
// recorded, who they are logged as, and where they are counted. One Holds
// may serve any number of guards and sources.
//
// While a hold is in effect, Holds writes its record, watches
// <prefix>/failsafe/releases/ for an operator's release, and removes both
// keys when the hold ends. That work runs in goroutines that stop when
// the hold ends or the etcd client is closed.
type Holds struct {
	client    *clientv3.Client
	component string
	prefix    string
	log       *zap.Logger
	reg       prometheus.Registerer
	m         *metrics

	ttl time.Duration

	mu        sync.Mutex
	live      map[string]*hold
	stopWatch context.CancelFunc // stops the release watcher; nil when none runs
	lease     clientv3.LeaseID   // the lease hold records are written under; 0: none yet
	stopKeep  context.CancelFunc // stops the lease's keep-alive
}

// Option configures Holds.
type Option func(*Holds)

// WithLogger sets the logger holds are reported to (default: none).
func WithLogger(l *zap.Logger) Option { return func(h *Holds) { h.log = l } }

// WithRegistry registers the failsafe metrics with r. Several Holds may
// share one registry: the collectors are registered once and reused.
func WithRegistry(r prometheus.Registerer) Option { return func(h *Holds) { h.reg = r } }

// WithRecordTTL sets how long a hold record outlives a process that died
// while holding (default 30s). Records are written under a lease the
// process keeps alive, so that `p2ctl failsafe list` never shows a hold
// nobody is holding any more; a process that restarts and still holds
// records a new one.
func WithRecordTTL(d time.Duration) Option { return func(h *Holds) { h.ttl = d } }

// WithPrefix sets the root prefix (default DefaultPrefix, "/p2").
func WithPrefix(p string) Option { return func(h *Holds) { h.prefix = strings.TrimSuffix(p, "/") } }

// NewHolds returns the shared state of the guards of one component, such
// as "preparer/web1" or "rc-farm". Holds are recorded through client; a
// nil client records nothing in etcd and cannot be released (tests,
// benchmarks).
func NewHolds(client *clientv3.Client, component string, opts ...Option) *Holds {
	h := &Holds{
		client:    client,
		component: component,
		prefix:    DefaultPrefix,
		log:       zap.NewNop(),
		live:      make(map[string]*hold),
		ttl:       30 * time.Second,
	}
	for _, o := range opts {
		o(h)
	}
	h.log = h.log.With(zap.String("component", component))
	h.m = newMetrics(h.reg, h.log)
	return h
}

// HoldKey is the etcd key of a hold's record.
func HoldKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/holds/" + id
}

// ReleaseKey is the etcd key an operator writes to release a hold.
func ReleaseKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/releases/" + id
}

// hold is one hold in effect.
type hold struct {
	rec Record
	// releaseCtx is canceled when an operator releases the hold.
	releaseCtx context.Context
	release    context.CancelFunc
	mu         sync.Mutex
	releasedBy string
	ended      chan struct{} // closed when the guard ends the hold
}

func (hd *hold) isReleased() bool { return hd.releaseCtx.Err() != nil }

func (hd *hold) fire(by string) {
	hd.mu.Lock()
	if hd.releaseCtx.Err() == nil {
		hd.releasedBy = by
	}
	hd.mu.Unlock()
	hd.release()
}

func (hd *hold) by() string {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.releasedBy
}

// newID returns a hold id that sorts by time and is a valid key segment.
func (h *Holds) newID(guard string, now time.Time) string {
	return fmt.Sprintf("%s-%s-%s-%06x", now.UTC().Format("20060102-150405.000000000"),
		segment(h.component), segment(guard), rand.Uint32()&0xffffff)
}

// segment turns s into lower-case letters, digits, '.', '-' and '_'.
func segment(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		case r == '/':
			return '.'
		}
		return '-'
	}, s)
	if s == "" {
		return "none"
	}
	return s
}

// begin records, logs and counts a new hold.
func (h *Holds) begin(rec Record) *hold {
	now := time.Now()
	rec.ID = h.newID(rec.Guard, now)
	rec.Component = h.component
	rec.Time = now.UTC().Truncate(time.Millisecond)
	hd := &hold{rec: rec, ended: make(chan struct{})}
	hd.releaseCtx, hd.release = context.WithCancel(context.Background())

	h.mu.Lock()
	h.live[rec.ID] = hd
	h.watchReleases()
	h.mu.Unlock()

	h.m.holds.WithLabelValues(h.component, rec.Guard).Inc()
	h.m.active.WithLabelValues(h.component, rec.Guard).Inc()
	h.log.Error("failsafe hold: the consumer sees nothing until the state recovers or the hold is released",
		zap.String("hold", rec.ID), zap.String("guard", rec.Guard), zap.String("reason", rec.Reason),
		zap.Int64("revision", rec.Revision), zap.Int("deletes", rec.Deletes), zap.Int("total", rec.Total),
		zap.String("key", HoldKey(h.prefix, rec.ID)), zap.String("release_key", ReleaseKey(h.prefix, rec.ID)))
	if h.client != nil {
		// Write the record now, so that it exists once Next has held;
		// should etcd be slow or down, keep goes on trying.
		ctx, cancel := context.WithTimeout(h.client.Ctx(), firstPutTimeout)
		err := h.putRecord(ctx, hd)
		cancel()
		written := err == nil
		if !written {
			h.log.Warn("write hold record failed; retrying in the background",
				zap.String("key", HoldKey(h.prefix, rec.ID)), zap.Error(err))
		}
		go h.keep(hd, written)
	}
	return hd
}

// firstPutTimeout bounds how long beginning a hold waits for its record.
const firstPutTimeout = 2 * time.Second

func (h *Holds) putRecord(ctx context.Context, hd *hold) error {
	data, err := json.Marshal(hd.rec)
	if err != nil {
		return err
	}
	lease, err := h.recordLease(ctx)
	if err != nil {
		return err
	}
	_, err = h.client.Put(ctx, HoldKey(h.prefix, hd.rec.ID), string(data), clientv3.WithLease(lease))
	return err
}

// recordLease returns the lease hold records are written under, granting
// it and starting its keep-alive on first use. The keep-alive lives as long
// as the client; should the lease be lost (etcd unreachable for longer than
// the TTL), the records of the holds still in effect are written again
// under a new one.
func (h *Holds) recordLease(ctx context.Context) (clientv3.LeaseID, error) {
	h.mu.Lock()
	id := h.lease
	h.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	resp, err := h.client.Grant(ctx, max(int64(h.ttl.Seconds()), 1))
	if err != nil {
		return 0, fmt.Errorf("grant hold record lease: %w", err)
	}
	kctx, stopKeep := context.WithCancel(h.client.Ctx())
	ch, err := h.client.KeepAlive(kctx, resp.ID)
	if err != nil {
		stopKeep()
		return 0, fmt.Errorf("keep hold record lease alive: %w", err)
	}
	h.mu.Lock()
	h.lease, h.stopKeep = resp.ID, stopKeep
	h.mu.Unlock()
	go func() {
		for range ch {
		}
		h.mu.Lock()
		lost := h.lease == resp.ID // not given back by end
		if lost {
			h.lease = 0
		}
		live := make([]*hold, 0, len(h.live))
		for _, hd := range h.live {
			live = append(live, hd)
		}
		h.mu.Unlock()
		ctx := h.client.Ctx()
		if !lost || ctx.Err() != nil {
			return
		}
		h.log.Warn("hold record lease lost; writing the records of holds in effect again", zap.Int("holds", len(live)))
		for _, hd := range live {
			retry(ctx, hd.ended, h.log, "write hold record "+HoldKey(h.prefix, hd.rec.ID),
				func(ctx context.Context) error { return h.putRecord(ctx, hd) })
		}
	}()
	return resp.ID, nil
}

// still notes that a hold goes on after a new batch.
func (h *Holds) still(hd *hold, reason string, rev int64, d, cr, m int) {
	if ce := h.log.Check(zap.DebugLevel, "failsafe hold goes on"); ce != nil {
		ce.Write(zap.String("hold", hd.rec.ID), zap.String("guard", hd.rec.Guard), zap.String("reason", reason),
			zap.Int64("revision", rev), zap.Int("net_deletes", d), zap.Int("net_creates", cr), zap.Int("net_mutates", m))
	}
}

// end ends a hold: its record and release are removed in the background.
func (h *Holds) end(hd *hold, released bool, deletes, creates, mutates int) {
	h.mu.Lock()
	delete(h.live, hd.rec.ID)
	if len(h.live) == 0 && h.stopWatch != nil {
		h.stopWatch()
		h.stopWatch = nil
	}
	var lease clientv3.LeaseID
	if len(h.live) == 0 && h.lease != 0 {
		// The last hold ended: stop keeping the lease alive and give it
		// back, which also removes the record should keep not have.
		lease, h.lease = h.lease, 0
		h.stopKeep()
	}
	h.mu.Unlock()
	if lease != 0 {
		go h.revoke(lease)
	}
	close(hd.ended)
	hd.release()

	how := "recovered"
	if released {
		how = "released"
	}
	h.m.active.WithLabelValues(h.component, hd.rec.Guard).Dec()
	h.m.ends.WithLabelValues(h.component, hd.rec.Guard, how).Inc()
	fields := []zap.Field{
		zap.String("hold", hd.rec.ID), zap.String("guard", hd.rec.Guard),
		zap.Int("net_deletes", deletes), zap.Int("net_creates", creates), zap.Int("net_mutates", mutates),
	}
	if released {
		h.log.Warn("failsafe hold released by an operator; delivering the net change",
			append(fields, zap.String("released_by", hd.by()))...)
		return
	}
	h.log.Info("failsafe hold recovered; delivering the net change", fields...)
}

// revoke gives back a lease no hold uses any more.
func (h *Holds) revoke(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(h.client.Ctx(), opTimeout)
	defer cancel()
	if _, err := h.client.Revoke(ctx, lease); err != nil && h.client.Ctx().Err() == nil {
		h.log.Warn("revoke hold record lease; it expires by itself", zap.Error(err))
	}
}

// keep writes the hold's record unless written, waits for the hold to end
// and removes the record and any release. It retries until it succeeds or
// the client is closed.
func (h *Holds) keep(hd *hold, written bool) {
	ctx := h.client.Ctx()
	key := HoldKey(h.prefix, hd.rec.ID)
	put := func(ctx context.Context) error { return h.putRecord(ctx, hd) }
	if !written && !retry(ctx, hd.ended, h.log, "write hold record "+key, put) && ctx.Err() != nil {
		return
	}
	select {
	case <-hd.ended:
	case <-ctx.Done():
		return
	}
	remove := func(ctx context.Context) error {
		_, err := h.client.Txn(ctx).Then(
			clientv3.OpDelete(key),
			clientv3.OpDelete(ReleaseKey(h.prefix, hd.rec.ID)),
		).Commit()
		return err
	}
	retry(ctx, nil, h.log, "remove hold record "+key, remove)
}

// opTimeout bounds one etcd request made in the background.
const opTimeout = 5 * time.Second

// retry calls op until it succeeds (true), ctx ends or stop is closed
// (false), backing off between attempts.
func retry(ctx context.Context, stop <-chan struct{}, log *zap.Logger, what string, op func(context.Context) error) bool {
	wait := 50 * time.Millisecond
	for {
		select {
		case <-stop:
			return false
		default:
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err := op(octx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn(what+" failed; retrying", zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		}
		wait = min(2*wait, 5*time.Second)
	}
}
