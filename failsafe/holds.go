package failsafe

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultPrefix is the root prefix of p2kit's keys.
const DefaultPrefix = "/p2"

// MaxRecordKeys is how many held key names a hold record lists at most.
const MaxRecordKeys = 50

// Record is a hold as written to <prefix>/failsafe/holds/<id>.
type Record struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	// Guard names the guards that hold, comma-separated
	// ("max-deletes,require-key").
	Guard string `json:"guard"`
	// Stage names every guard of the stage that holds, comma-separated.
	// A stage that starts again (a restarted process) takes up the hold
	// its earlier run of the same component and stage left.
	Stage  string `json:"stage,omitempty"`
	Reason string `json:"reason"`
	// Revision is the etcd revision of the batch that began the hold.
	Revision int64 `json:"revision"`
	// Deletes, Creates and Mutates count the keys the held net change
	// deletes, creates and mutates; Total is how many keys the consumer
	// has. They are kept up to date while the hold lasts.
	Deletes int `json:"deletes"`
	Creates int `json:"creates,omitempty"`
	Mutates int `json:"mutates,omitempty"`
	Total   int `json:"total"`
	// Keys names up to MaxRecordKeys keys the hold holds back, deleted
	// keys first.
	Keys []string  `json:"keys,omitempty"`
	Time time.Time `json:"time"`
}

// Holds is what the guards of one component share: where holds are
// recorded, who they are logged as, and where they are counted. One Holds
// may serve any number of guards and sources.
//
// While a hold is in effect, Holds writes its record under a lease it keeps
// alive, watches <prefix>/failsafe/releases/ for an operator's release of
// its component's holds, and removes both keys when the hold ends. That
// work runs in goroutines that stop when the hold ends, when Close is
// called, or when the etcd client is closed.
type Holds struct {
	client    *clientv3.Client
	component string
	prefix    string
	log       *zap.Logger
	reg       prometheus.Registerer
	m         *metrics

	ttl         time.Duration
	minInterval time.Duration

	ctx    context.Context // ends with Close or the client
	cancel context.CancelFunc

	mu        sync.Mutex
	live      map[string]*Hold
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
// nobody is holding any more; a process that restarts within the TTL takes
// up the hold its earlier run left (see StartFrom).
func WithRecordTTL(d time.Duration) Option { return func(h *Holds) { h.ttl = d } }

// WithPrefix sets the root prefix (default DefaultPrefix, "/p2").
func WithPrefix(p string) Option { return func(h *Holds) { h.prefix = strings.TrimSuffix(p, "/") } }

// NewHolds returns the shared state of the guards of one component, such
// as "preparer/web1" or "rc-farm". Holds are recorded through client; a
// nil client records nothing in etcd and cannot be released (tests,
// benchmarks).
func NewHolds(client *clientv3.Client, component string, opts ...Option) *Holds {
	h := &Holds{
		client:      client,
		component:   component,
		prefix:      DefaultPrefix,
		log:         zap.NewNop(),
		live:        make(map[string]*Hold),
		ttl:         30 * time.Second,
		minInterval: 500 * time.Millisecond,
	}
	for _, o := range opts {
		o(h)
	}
	parent := context.Background()
	if client != nil {
		parent = client.Ctx()
	}
	h.ctx, h.cancel = context.WithCancel(parent)
	h.log = h.log.With(zap.String("component", component))
	h.m = newMetrics(h.reg, h.log)
	return h
}

// Component is the component the holds are recorded for.
func (h *Holds) Component() string { return h.component }

// Close stops h's background work: record writes, the lease keep-alive and
// the release watch. The records of holds still in effect stay until their
// lease expires (WithRecordTTL), so that the process, started again, takes
// them up. Call it when the component stops.
func (h *Holds) Close() { h.cancel() }

// HoldKey is the etcd key of a hold's record.
func HoldKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/holds/" + id
}

// ReleaseKey is the etcd key an operator writes to release a hold.
func ReleaseKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/releases/" + id
}

// IDPrefix is how the ids of a component's holds begin: its name made a
// valid key segment ('/' becomes '.'), then '-'.
func IDPrefix(component string) string { return segment(component) + "-" }

// Hold is one hold in effect. A guard built from scratch gets one from
// Holds.Begin, keeps it up to date with Update, watches Released and ends
// it with End.
type Hold struct {
	h  *Holds
	id string
	// guard is the record's guard when the hold began: its metrics label.
	guard string

	mu  sync.Mutex
	rec Record
	// keys, when set, lists the held keys each time the record is
	// written, so that listing them costs nothing per batch.
	keys func() []string

	dirty chan struct{} // the record changed since it was written

	// releaseCtx is canceled when an operator releases the hold.
	releaseCtx context.Context
	release    context.CancelFunc
	releasedBy string
	releaseRev int64
	ended      chan struct{} // closed by End
	endOnce    sync.Once
}

// ID is the hold's id, the last segment of its record's key.
func (hd *Hold) ID() string { return hd.id }

// Record returns a copy of the hold's record as last updated.
func (hd *Hold) Record() Record {
	hd.mu.Lock()
	r := hd.rec
	keys := hd.keys
	hd.mu.Unlock()
	if keys != nil {
		r.Keys = keys()
	} else {
		r.Keys = append([]string(nil), r.Keys...)
	}
	return r
}

// Update replaces the reason, counts and keys of the hold's record; the
// id, component, stage, revision and time stay. The record in etcd is
// rewritten in the background, at most twice a second.
func (hd *Hold) Update(rec Record) {
	hd.mu.Lock()
	old := hd.rec
	rec.ID, rec.Component, rec.Stage, rec.Revision, rec.Time = old.ID, old.Component, old.Stage, old.Revision, old.Time
	if rec.Guard == "" {
		rec.Guard = old.Guard
	}
	changed := !sameRecord(old, rec)
	hd.rec = rec
	hd.mu.Unlock()
	if changed {
		hd.markDirty()
	}
}

func sameRecord(a, b Record) bool {
	if a.Guard != b.Guard || a.Reason != b.Reason || a.Deletes != b.Deletes || a.Creates != b.Creates ||
		a.Mutates != b.Mutates || a.Total != b.Total || len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		if a.Keys[i] != b.Keys[i] {
			return false
		}
	}
	return true
}

// setKeys makes every write of the record list the keys keys returns.
func (hd *Hold) setKeys(keys func() []string) {
	hd.mu.Lock()
	hd.keys = keys
	hd.mu.Unlock()
	hd.markDirty()
}

func (hd *Hold) markDirty() {
	select {
	case hd.dirty <- struct{}{}:
	default:
	}
}

// Released is closed when an operator releases the hold.
func (hd *Hold) Released() <-chan struct{} { return hd.releaseCtx.Done() }

// ReleasedBy is who released the hold, "" while it is not released.
func (hd *Hold) ReleasedBy() string {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.releasedBy
}

// ReleaseRevision is the etcd revision the release was written at, 0
// while the hold is not released. A guard delivers the net change up to at
// least this revision.
func (hd *Hold) ReleaseRevision() int64 {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	return hd.releaseRev
}

func (hd *Hold) isReleased() bool { return hd.releaseCtx.Err() != nil }

func (hd *Hold) fire(by string, rev int64) {
	hd.mu.Lock()
	if hd.releaseCtx.Err() == nil {
		hd.releasedBy, hd.releaseRev = by, rev
	}
	hd.mu.Unlock()
	hd.release()
}

// newID returns a hold id that begins with the component, sorts by time
// within it and is a valid key segment.
func (h *Holds) newID(now time.Time) string {
	return fmt.Sprintf("%s%s-%06x", IDPrefix(h.component), now.UTC().Format("20060102-150405.000"),
		rand.Uint32()&0xffffff)
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

// Begin records, logs and counts a new hold described by rec (Guard,
// Reason, Revision and the counts; the id, component and time are filled
// in). The record is written before Begin returns, unless etcd is slow,
// in which case it is written in the background.
func (h *Holds) Begin(rec Record) *Hold {
	now := time.Now()
	rec.ID = h.newID(now)
	rec.Time = now.UTC().Truncate(time.Millisecond)
	return h.start(rec, false)
}

// takeOver begins a hold under the id of an earlier run's record.
func (h *Holds) takeOver(rec Record) *Hold { return h.start(rec, true) }

func (h *Holds) start(rec Record, adopted bool) *Hold {
	rec.Component = h.component
	hd := &Hold{h: h, id: rec.ID, guard: rec.Guard, rec: rec, dirty: make(chan struct{}, 1), ended: make(chan struct{})}
	hd.releaseCtx, hd.release = context.WithCancel(context.Background())

	h.mu.Lock()
	h.live[rec.ID] = hd
	h.watchReleases()
	h.mu.Unlock()

	h.m.holds.WithLabelValues(h.component, rec.Guard).Inc()
	h.m.active.WithLabelValues(h.component, rec.Guard).Inc()
	fields := []zap.Field{
		zap.String("hold", rec.ID), zap.String("guard", rec.Guard), zap.String("reason", rec.Reason),
		zap.Int64("revision", rec.Revision), zap.Int("deletes", rec.Deletes), zap.Int("total", rec.Total),
		zap.String("key", HoldKey(h.prefix, rec.ID)), zap.String("release_key", ReleaseKey(h.prefix, rec.ID)),
	}
	switch {
	case adopted:
		h.log.Error("failsafe hold taken up from an earlier run: the consumer sees nothing until the state recovers or the hold is released", fields...)
	case rec.Deletes == 0:
		// Nothing would be removed: a consumer waiting for its first
		// good state (a preparer whose own pod is not in intent yet).
		h.log.Info("failsafe hold: waiting before acting", fields...)
	default:
		h.log.Error("failsafe hold: the consumer sees nothing until the state recovers or the hold is released", fields...)
	}
	if h.client != nil {
		// Write the record now, so that it exists once Next has held;
		// should etcd be slow or down, keep goes on trying.
		ctx, cancel := context.WithTimeout(h.ctx, firstPutTimeout)
		err := h.putRecord(ctx, hd)
		cancel()
		written := err == nil
		if !written && h.ctx.Err() == nil {
			h.log.Warn("write hold record failed; retrying in the background",
				zap.String("key", HoldKey(h.prefix, rec.ID)), zap.Error(err))
		}
		go h.keep(hd, written)
	}
	return hd
}

// firstPutTimeout bounds how long beginning a hold waits for its record.
const firstPutTimeout = 2 * time.Second

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
	_, err = h.client.Put(ctx, HoldKey(h.prefix, rec.ID), string(data), clientv3.WithLease(lease))
	return err
}

// recordLease returns the lease hold records are written under, granting
// it and starting its keep-alive on first use. Should the lease be lost
// (etcd unreachable for longer than the TTL), the records of the holds
// still in effect are written again under a new one.
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
	kctx, stopKeep := context.WithCancel(h.ctx)
	ch, err := h.client.KeepAlive(kctx, resp.ID)
	if err != nil {
		stopKeep()
		return 0, fmt.Errorf("keep hold record lease alive: %w", err)
	}
	h.mu.Lock()
	if h.lease != 0 {
		// Another hold granted one meanwhile: use that, give this back.
		id := h.lease
		h.mu.Unlock()
		stopKeep()
		go h.revoke(resp.ID)
		return id, nil
	}
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
		live := make([]*Hold, 0, len(h.live))
		for _, hd := range h.live {
			live = append(live, hd)
		}
		h.mu.Unlock()
		if !lost || h.ctx.Err() != nil {
			return
		}
		h.log.Warn("hold record lease lost; writing the records of holds in effect again", zap.Int("holds", len(live)))
		for _, hd := range live {
			hd.markDirty()
		}
	}()
	return resp.ID, nil
}

// Active returns the records of the holds of h in effect, oldest first.
func (h *Holds) Active() []Record {
	h.mu.Lock()
	live := make([]*Hold, 0, len(h.live))
	for _, hd := range h.live {
		live = append(live, hd)
	}
	h.mu.Unlock()
	recs := make([]Record, 0, len(live))
	for _, hd := range live {
		recs = append(recs, hd.Record())
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	return recs
}

// still notes that a hold goes on after a new batch.
func (h *Holds) still(hd *Hold, rec Record) {
	hd.Update(rec)
	if ce := h.log.Check(zap.DebugLevel, "failsafe hold goes on"); ce != nil {
		ce.Write(zap.String("hold", hd.id), zap.String("guard", rec.Guard), zap.String("reason", rec.Reason),
			zap.Int("net_deletes", rec.Deletes), zap.Int("net_creates", rec.Creates), zap.Int("net_mutates", rec.Mutates))
	}
}

// End ends the hold: released says whether an operator's release ended it
// (the net change was delivered whatever the guards said) or the state
// recovered. The record and any release are removed in the background.
// Ending a hold twice does nothing.
func (hd *Hold) End(released bool) {
	hd.endOnce.Do(func() { hd.h.end(hd, released) })
}

func (h *Holds) end(hd *Hold, released bool) {
	h.mu.Lock()
	delete(h.live, hd.id)
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

	rec := hd.Record()
	how := "recovered"
	if released {
		how = "released"
	}
	h.m.active.WithLabelValues(h.component, hd.guard).Dec()
	h.m.ends.WithLabelValues(h.component, hd.guard, how).Inc()
	fields := []zap.Field{
		zap.String("hold", rec.ID), zap.String("guard", rec.Guard),
		zap.Int("net_deletes", rec.Deletes), zap.Int("net_creates", rec.Creates), zap.Int("net_mutates", rec.Mutates),
	}
	if released {
		h.log.Warn("failsafe hold released by an operator; delivering the net change",
			append(fields, zap.String("released_by", hd.ReleasedBy()))...)
		return
	}
	h.log.Info("failsafe hold ended: the state recovered; delivering the net change", fields...)
}

// revoke gives back a lease no hold uses any more.
func (h *Holds) revoke(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(h.client.Ctx(), opTimeout)
	defer cancel()
	if _, err := h.client.Revoke(ctx, lease); err != nil && h.client.Ctx().Err() == nil {
		h.log.Warn("revoke hold record lease; it expires by itself", zap.Error(err))
	}
}

// keep writes the hold's record whenever it changed (at most every
// minInterval), waits for the hold to end and removes the record and any
// release. It retries until it succeeds, h is closed or the client is.
func (h *Holds) keep(hd *Hold, written bool) {
	ctx := h.ctx
	key := HoldKey(h.prefix, hd.id)
	put := func(ctx context.Context) error { return h.putRecord(ctx, hd) }
	if !written {
		hd.markDirty()
	}
	for {
		select {
		case <-hd.ended:
			remove := func(ctx context.Context) error {
				_, err := h.client.Txn(ctx).Then(
					clientv3.OpDelete(key),
					clientv3.OpDelete(ReleaseKey(h.prefix, hd.id)),
				).Commit()
				return err
			}
			retry(ctx, nil, h.log, "remove hold record "+key, remove)
			return
		case <-ctx.Done():
			return
		case <-hd.dirty:
			if !retry(ctx, hd.ended, h.log, "write hold record "+key, put) {
				continue // ended or closed: the loop sees which
			}
			t := time.NewTimer(h.minInterval)
			select {
			case <-t.C:
			case <-hd.ended:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
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
