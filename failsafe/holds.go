package failsafe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/internal/leasegrant"
	"github.com/p2kit/p2kit/internal/logx"
	"github.com/p2kit/p2kit/internal/smallmap"
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
// alive, watches the releases of its component's holds
// (<prefix>/failsafe/releases/<IDPrefix(component)>...) and removes both
// keys when the hold ends. However many holds are in effect, that work
// costs one release watch and one lease per Holds, and no goroutine while
// it waits: it runs in short passes, one at a time, when a hold changes or
// a timer fires (see poke), and the release watches of every Holds sharing
// an etcd client run on one watch stream, whose responses one goroutine
// receives (releaseHub). The work stops when the last hold's keys
// are removed, when Close is called, or when the etcd client is closed.
type Holds struct {
	client    *clientv3.Client
	component string
	prefix    string
	log       *zap.Logger
	reg       prometheus.Registerer
	m         *metrics

	ttl         time.Duration
	minInterval time.Duration

	// base is the client's context (Background without a client); its
	// end, or Close (closed), ends h's work. Holds has no context of its
	// own: a context, its map of children and an AfterFunc on it were
	// 0.6 KB per simulated node. Each request gets one from opCtx, which
	// Close cancels.
	base      context.Context
	closed    chan struct{}
	closeOnce sync.Once
	opMu      sync.Mutex
	ops       []*context.CancelFunc // requests in flight; nil once closed
	opsClosed bool                  // under opMu

	grantMu sync.Mutex         // one lease grant at a time
	granter leasegrant.Granter // guarded by grantMu
	// leaseFrom, when set, gives the lease records are written under,
	// which its owner keeps alive (WithLease).
	leaseFrom func(context.Context) (clientv3.LeaseID, error)

	mu     sync.Mutex
	live   smallmap.Map[*Hold] // by id: a slice while a few are, as on a node
	ended  []*Hold             // holds ended whose keys the bookkeeping removes
	lease  clientv3.LeaseID
	keepAt time.Time // when the bookkeeping keeps the lease alive next (or, with WithLease, checks it)
	// leaseNotified says the WithLease owner calls LeaseChanged;
	// leaseNew, that it did since the last pass began (which then does
	// not wait out a backoff: the records can go under the new lease).
	leaseNotified bool
	leaseNew      bool
	// The bookkeeping (see poke): running says it is on, from a hold's
	// beginning until nothing is left to do or h is closed; busy, that a
	// pass runs; again, that h was poked during that pass; timer pokes h
	// when something falls due.
	running bool
	busy    bool
	again   bool
	timer   *time.Timer
	// After failed bookkeeping: no request before failAt, and the wait
	// after the next failure. Touched by the pass that runs only.
	failAt  time.Time
	backoff time.Duration
	// watchUp says the release watch runs; needList, that releases may
	// have been written while it did not (see openWatch).
	watchUp  bool
	needList bool

	wmu sync.Mutex   // opening and stopping the release watch
	rw  releaseWatch // guarded by wmu

	// For tests: how many events the release watch has received.
	releaseEvents atomic.Int64
}

// Option configures Holds.
type Option func(*Holds)

// WithLogger sets the logger holds are reported to (default: none).
func WithLogger(l *zap.Logger) Option { return func(h *Holds) { h.log = l } }

// WithRegistry registers the failsafe metrics with r. Several Holds may
// share one registry: the collectors are registered once and reused.
// Without a registry holds are logged and recorded but not counted.
func WithRegistry(r prometheus.Registerer) Option { return func(h *Holds) { h.reg = r } }

// WithRecordTTL sets how long a hold record outlives a process that died
// while holding (default 30s). Records are written under a lease the
// process keeps alive, so that `p2ctl failsafe list` never shows a hold
// nobody is holding any more; a process that restarts within the TTL takes
// up the hold its earlier run left (see StartFrom).
func WithRecordTTL(d time.Duration) Option { return func(h *Holds) { h.ttl = d } }

// WithLease makes Holds write its records under the lease lease returns
// instead of one of its own: a process that already keeps a lease alive
// (a preparer's node record) spends no grant, keep-alive or revoke on its
// holds. lease is asked before each record write and every second while a
// hold is in effect (every 30 seconds once the owner calls LeaseChanged);
// a lease id other than the one the records were written under (the owner
// lost the lease and granted another) has them written again. lease should return at once when the owner has a lease,
// and otherwise wait for one until ctx ends (the bookkeeping waits at most
// leaseWait, then tries again after a backoff or once LeaseChanged is
// called: the bookkeeping of a client's Holds runs a few passes at a
// time, and one waiting for a lease keeps the others waiting). The owner decides how long
// records outlive the process (WithRecordTTL does not apply): to let a
// restart take its holds up, it leaves the lease to expire rather than
// revoking it while Active lists any hold.
func WithLease(lease func(ctx context.Context) (clientv3.LeaseID, error)) Option {
	return func(h *Holds) { h.leaseFrom = lease }
}

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
		ttl:         30 * time.Second,
		minInterval: 500 * time.Millisecond,
		backoff:     minBackoff,
	}
	for _, o := range opts {
		o(h)
	}
	h.base = context.Background()
	if client != nil {
		h.base = client.Ctx()
	}
	h.closed = make(chan struct{})
	h.log = logx.With(h.log, zap.String("component", component))
	h.m = newMetrics(h.reg, h.log)
	return h
}

// Component is the component the holds are recorded for.
func (h *Holds) Component() string { return h.component }

// Close stops h's background work: record writes, the lease keep-alive and
// the release watch. The records of holds still in effect stay until their
// lease expires (WithRecordTTL), so that the process, started again, takes
// them up. Call it when the component stops.
func (h *Holds) Close() {
	h.closeOnce.Do(func() {
		close(h.closed)
		h.opMu.Lock()
		ops := h.ops
		h.ops, h.opsClosed = nil, true
		h.opMu.Unlock()
		for _, cancel := range ops {
			(*cancel)()
		}
		// The bookkeeping stops at its next pass: no goroutine waits
		// for Close. A closed client fails the release watch, whose
		// Holds then poke theirs (onReleases); a Holds without one
		// stops when its timer fires.
		h.poke()
	})
}

// err is context.Canceled once h is closed, the client's context's error
// once the client is, and nil before.
func (h *Holds) err() error {
	select {
	case <-h.closed:
		return context.Canceled
	default:
	}
	return h.base.Err()
}

// opCtx returns the context of one request of h's: it ends after d, with
// the client, or when h is closed. Call cancel when the request is done.
func (h *Holds) opCtx(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(h.base, d)
	h.opMu.Lock()
	if h.opsClosed {
		h.opMu.Unlock()
		cancel()
		return ctx, cancel
	}
	p := &cancel
	h.ops = append(h.ops, p)
	h.opMu.Unlock()
	return ctx, func() {
		h.opMu.Lock()
		if i := slices.Index(h.ops, p); i >= 0 {
			h.ops = slices.Delete(h.ops, i, i+1)
		}
		if len(h.ops) == 0 {
			h.ops = nil // a burst's array goes
		}
		h.opMu.Unlock()
		cancel()
	}
}

// HoldKey is the etcd key of a hold's record.
func HoldKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/holds/" + id
}

// ReleaseKey is the etcd key an operator writes to release a hold.
func ReleaseKey(prefix, id string) string {
	return strings.TrimSuffix(prefix, "/") + "/failsafe/releases/" + id
}

// IDPrefix is how the ids of a component's holds begin: its name made a
// valid key segment ('/' becomes '.'), then '-'. It may begin another
// component's ("a-" begins "a-b-" and "a-1-"); what follows tells them
// apart: the time the hold began, then a random part.
func IDPrefix(component string) string { return segment(component) + "-" }

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
// in). The record is written before Begin returns, unless etcd is slow
// or the client's other Holds have many records to write, in which case it
// is written in the background (Begin waits at most firstPutTimeout for
// the release watch and the record, which the bookkeeping writes).
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
	hd := &Hold{h: h, id: rec.ID, guard: rec.Guard, rec: rec}
	hd.released = make(chan struct{})

	h.mu.Lock()
	h.live.Set(rec.ID, hd)
	h.mu.Unlock()

	h.m.begun(h.component, rec.Guard)
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
	if h.client == nil {
		return hd
	}
	// The record is written by the bookkeeping, which opens the release
	// watch first, so that the record exists once Next has held; Begin
	// waits for it a while. Should etcd be slow or down, the bookkeeping
	// goes on trying. A record written without the watch up, or taken up
	// from an earlier run, may be released before the watch runs: the
	// bookkeeping lists the releases once it does.
	//
	// The bookkeeping runs a few passes at a time for all the Holds of a
	// client (passWorkers): a process running many preparers on one
	// client, all holding at once, sends etcd their records a few at a
	// time rather than every one together.
	written := make(chan struct{})
	h.mu.Lock()
	hd.firstWritten = written
	hd.dirty = true
	if adopted {
		h.needList = true
	}
	if h.err() == nil {
		h.running = true
	}
	h.mu.Unlock()
	h.poke()
	t := time.NewTimer(firstPutTimeout)
	defer t.Stop()
	select {
	case <-written:
	case <-t.C:
		h.log.Warn("hold record not written yet; the bookkeeping goes on trying in the background",
			zap.String("key", HoldKey(h.prefix, rec.ID)))
	case <-h.closed:
	case <-h.base.Done():
	}
	return hd
}

// firstPutTimeout bounds how long beginning a hold waits for its record.
const firstPutTimeout = 2 * time.Second

// Active returns the records of the holds of h in effect, oldest first.
func (h *Holds) Active() []Record {
	h.mu.Lock()
	live := make([]*Hold, 0, h.live.Len())
	for _, hd := range h.live.All() {
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
	h.live.Delete(hd.id)
	if h.running {
		// The bookkeeping removes the record and any release, and
		// gives the lease back once no hold is left.
		h.ended = append(h.ended, hd)
	}
	h.mu.Unlock()
	h.poke()
	hd.release()

	rec := hd.Record()
	how := "recovered"
	if released {
		how = "released"
	}
	h.m.ended(h.component, hd.guard, how)
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
