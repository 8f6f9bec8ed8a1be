package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrClientClosed is returned by Next when the etcd client was closed.
var ErrClientClosed = errors.New("etcd client closed")

const (
	minRetry = 50 * time.Millisecond
	maxRetry = 5 * time.Second
)

// WatchOption configures a watch.
type WatchOption func(*watchConfig)

type watchConfig struct {
	fromRev int64
	stall   time.Duration
}

// FromRevision skips the initial listing: the watch starts with an empty
// state and replays etcd's history from rev. Meant for replay and
// benchmarks; a consumer that acts on state wants the default list-then-watch.
func FromRevision(rev int64) WatchOption { return func(c *watchConfig) { c.fromRev = rev } }

// Watcher follows the keys under a store's prefix. It is a Source: each call
// to Next applies the next batch to the watcher's state and returns it.
//
// The loop is the one place p2kit talks to etcd's watch API. It lists the
// prefix (linearizable, paged), then watches from the listing's revision + 1
// with progress notifications; after a dropped stream
// it resumes from the last revision applied, so nothing is lost or repeated;
// when that revision has been compacted, or when the consumer asks for it
// with Resync, it relists and delivers the difference as one Resync batch.
// A stream that stays silent is probed, then restarted (see StallTimeout).
// A revision at or below one already applied is refused.
//
// The watch does not ask etcd for previous values (WithPrevKV): the
// watcher's state already holds the last value of every key, so a Mutate
// carries it as Old and a Delete carries it as the last value known,
// while etcd sends about half the bytes and reads no old revision.
type Watcher[T any] struct {
	s   *Store[T]
	ctx context.Context // Watch's: its end ends the watch

	// closed is set by Close. The watcher has no context of its own,
	// which would cost a fleet of preparers a context, a channel and a
	// map of children each: Close wakes Next (wake) and gives the open
	// watch back itself (subMu).
	closed atomic.Bool
	subMu  sync.Mutex // held while sub is set, and by Close to end it

	state   state[T]         // given out as the batches' After: valid until the next Next
	invalid map[string]int64 // names whose current stored value is bad, with its revision; nil while none is

	rev        atomic.Int64
	head       atomic.Int64 // the newest etcd revision any response reported
	listed     bool
	needRelist bool
	resync     atomic.Bool   // see Resync
	wake       chan struct{} // Resync wakes a Next waiting on the stream

	sub     *sub                // the open watch; nil while none is open
	backlog []*pb.WatchResponse // taken from sub, not handled yet
	subErr  error               // sub's stream failed: handled once backlog and pending are
	pending []*mvccpb.Event
	from    int64 // the revision the open watch started from: applied already

	pool *streamPool // the client's watch streams
	st   *stream     // the stream the watch is on; nil while none is open

	retry      time.Duration
	stall      stallCheck
	quiet      *time.Timer // await's; only Next's goroutine uses it
	confirm    bool        // RequestProgress asked: confirm a progress notification (see progressHolds)
	synced     chan struct{}
	syncedOnce sync.Once
}

// Watch starts following the store's prefix. Nothing talks to etcd until the
// first call to Next. The watch ends when ctx ends or Close is called.
func (s *Store[T]) Watch(ctx context.Context, opts ...WatchOption) *Watcher[T] {
	cfg := watchConfig{stall: DefaultStallTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	w := &Watcher[T]{
		s:      s,
		ctx:    ctx,
		synced: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		pool:   poolOf(s.client),
		stall:  stallCheck{base: cfg.stall, factor: 1},
	}
	if cfg.fromRev > 0 {
		w.listed = true
		w.rev.Store(cfg.fromRev - 1)
		w.markSynced()
	}
	return w
}

// Close ends the watch: Next returns context.Canceled from then on, and
// a Next waiting on the stream returns at once. Safe to call from any
// goroutine, more than once.
func (w *Watcher[T]) Close() {
	if w.closed.Swap(true) {
		return
	}
	w.subMu.Lock()
	if w.sub != nil {
		// Its AfterFunc on the Watch's context goes too: a watcher
		// closed under a context that lives on leaves nothing behind.
		w.sub.stopOnEnd()
		w.sub.end()
	}
	w.subMu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// logger is the store's logger with the watched prefix. Made when a
// message is logged, which is seldom: a logger kept per watcher is a
// fleet's heap.
func (w *Watcher[T]) logger() *zap.Logger { return w.s.log.With(zap.String("prefix", w.s.prefix)) }

// ended returns why the watch ended (its context, or Close), or nil.
func (w *Watcher[T]) ended() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.closed.Load() {
		return context.Canceled
	}
	return nil
}

// Synced is closed once the first listing has been applied.
func (w *Watcher[T]) Synced() <-chan struct{} { return w.synced }

// Revision is the last etcd revision the watcher's state reflects. Progress
// notifications advance it on a quiet prefix. Safe to call from any goroutine.
func (w *Watcher[T]) Revision() int64 { return w.rev.Load() }

// Lag is how many etcd revisions the newest response from etcd is ahead of
// the watcher's state: events received but not yet applied, or changes
// elsewhere in etcd not yet confirmed by a progress notification. Safe to
// call from any goroutine.
func (w *Watcher[T]) Lag() int64 { return max(0, w.head.Load()-w.rev.Load()) }

// RequestProgress implements Progress: it asks etcd for a progress
// notification on the watch's stream, which advances Revision on a quiet
// prefix. It does nothing while no watch stream is open (Next opens one).
// Call it from the goroutine that calls Next, not while Next runs.
//
// On etcd servers before 3.4.24 and 3.5.8, which may answer before the
// events the answer confirms have been sent, Next confirms the answer
// with a keys-only listing of the prefix at its revision before Revision
// moves (see progressHolds).
func (w *Watcher[T]) RequestProgress(ctx context.Context) error {
	if w.sub == nil {
		return nil
	}
	w.confirm = true
	return w.requestProgress(ctx)
}

// requestProgress sends a progress request on the watch's stream; etcd
// answers the whole stream.
func (w *Watcher[T]) requestProgress(context.Context) error {
	if w.sub == nil {
		return nil
	}
	return w.st.requestProgress()
}

func (w *Watcher[T]) seen(rev int64) {
	for {
		cur := w.head.Load()
		if rev <= cur || w.head.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// State is the watcher's current state; valid until the next call to Next.
func (w *Watcher[T]) State() View[T] { return &w.state }

func (w *Watcher[T]) markSynced() { w.syncedOnce.Do(func() { close(w.synced) }) }

// Next implements Source.
//
// A consumer's goroutine waits in Next for as long as nothing changes, so
// Next itself keeps a small frame: the work is in step, the wait in await.
// Go halves an idle goroutine's stack only while it uses less than a
// quarter of it, and a fleet simulation waits in Next once per node.
func (w *Watcher[T]) Next(ctx context.Context) (*Batch[T], error) {
	for {
		b, idle, err := w.step(ctx)
		if b != nil || err != nil {
			return b, err
		}
		if idle {
			if err := w.await(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// step does what is due without waiting for etcd: it returns a batch or
// an error for Next, or idle when nothing is left but to wait for the
// stream.
func (w *Watcher[T]) step(ctx context.Context) (_ *Batch[T], idle bool, _ error) {
	if err := w.ended(); err != nil {
		w.stopWatch()
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	w.takeResync()
	if !w.listed || w.needRelist {
		b, err := w.relist(ctx)
		if err != nil {
			if ctx.Err() != nil || w.ended() != nil {
				return nil, false, nil
			}
			w.logger().Warn("list failed; retrying", zap.Error(err))
			return nil, false, w.wait(ctx)
		}
		w.retry = 0
		return b, false, nil
	}
	if len(w.pending) > 0 {
		return w.applyPending(), false, nil
	}
	if len(w.backlog) > 0 {
		resp := w.backlog[0]
		w.backlog[0] = nil
		w.backlog = w.backlog[1:]
		return nil, false, w.onResponse(ctx, resp)
	}
	if w.subErr != nil {
		// The stream failed; what arrived before was handed out.
		failed := w.subErr
		w.stopWatch()
		if w.s.client.Ctx().Err() != nil {
			return nil, false, fmt.Errorf("watch %s: %w", w.s.prefix, ErrClientClosed)
		}
		w.logger().Warn("watch stream ended; resuming", zap.Int64("resume_revision", w.rev.Load()+1), zap.Error(failed))
		return nil, false, w.wait(ctx)
	}
	if w.sub == nil {
		if err := w.startWatch(); err != nil {
			if w.s.client.Ctx().Err() != nil {
				return nil, false, fmt.Errorf("watch %s: %w", w.s.prefix, ErrClientClosed)
			}
			w.logger().Warn("watch not started; retrying", zap.Error(err))
			return nil, false, w.wait(ctx)
		}
	}
	return nil, true, nil
}

// await waits for the stream's next responses, a wake-up, the end of a
// context, or a quiet spell long enough to check the stream (onQuiet).
//
// The quiet timer is the watcher's own, set again at every wait: a timer
// made per wait and stopped stays in the runtime's timer heap until its
// time would have come, and a fleet of watchers, each waking up often
// with a stall timeout of minutes, kept a heap of them.
func (w *Watcher[T]) await(ctx context.Context) error {
	if w.quiet == nil {
		w.quiet = time.NewTimer(w.stallWait())
	} else {
		w.quiet.Reset(w.stallWait()) // Go 1.23 on: no stale tick is left in C
	}
	select {
	case <-ctx.Done():
		w.quiet.Stop()
		return ctx.Err()
	case <-w.ctx.Done():
		w.quiet.Stop()
	case <-w.quiet.C:
		w.onQuiet(ctx)
	case <-w.wake:
		w.quiet.Stop()
	case <-w.sub.ready:
		w.quiet.Stop()
		w.backlog, w.subErr = w.sub.take()
	}
	return nil
}

// onResponse takes one response of the open watch: its events go to
// pending; a compaction or a cancellation by etcd stops the watch (the
// next resumes, or relists). It returns an error when ctx ended while it
// waited to resume.
func (w *Watcher[T]) onResponse(ctx context.Context, resp *pb.WatchResponse) error {
	rev := resp.GetHeader().GetRevision()
	if rev > 0 {
		w.stall.heardNow()
	}
	if resp.CompactRevision != 0 {
		w.logger().Warn("watch revision compacted; relisting",
			zap.Int64("resume_revision", w.rev.Load()+1),
			zap.Int64("compact_revision", resp.CompactRevision))
		w.stopWatch()
		w.needRelist = true
		return nil
	}
	if resp.Canceled {
		w.logger().Warn("watch cancelled by etcd; resuming", zap.Int64("resume_revision", w.rev.Load()+1),
			zap.String("reason", resp.CancelReason))
		w.stopWatch()
		return w.wait(ctx)
	}
	w.retry = 0
	w.seen(rev)
	if len(resp.Events) == 0 {
		// A progress notification.
		if rev > w.rev.Load() && w.progressHolds(ctx, rev) {
			w.rev.Store(rev)
		}
		return nil
	}
	for _, ev := range resp.Events {
		if ev.Kv.ModRevision > w.from { // the start revision's were applied
			w.pending = append(w.pending, ev)
		}
	}
	return nil
}

// wait sleeps for the current backoff, with jitter, doubling it for next time.
func (w *Watcher[T]) wait(ctx context.Context) error {
	if w.retry == 0 {
		w.retry = minRetry
	} else {
		w.retry = min(2*w.retry, maxRetry)
	}
	d := w.retry/2 + rand.N(w.retry/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ctx.Done():
		return w.ctx.Err()
	case <-w.wake:
		// Close, or Resync: step sees which, and a Resync relists
		// without waiting out the backoff.
		return w.ended()
	}
}

// startWatch opens the watch on a shared stream of the client (see
// stream) from the last revision applied, whose events (applied already)
// are dropped as they arrive. Not from the revision after it: etcd answers
// a stream's progress request only when no watch on the stream starts
// beyond its current revision, so on a quiet etcd a watch started from
// "last applied + 1" would leave the stall probe of its whole stream
// unanswered until something, anywhere, is written, and the stream would
// be restarted for nothing every stall timeout.
func (w *Watcher[T]) startWatch() error {
	st := w.pool.join()
	w.stall.heard = time.Now()
	w.from = w.rev.Load()
	prefix := []byte(w.s.prefix)
	sub, err := st.watch(prefix, []byte(clientv3.GetPrefixRangeEnd(w.s.prefix)), max(w.from, 1))
	if err != nil {
		w.pool.leave(st)
		return err
	}
	// A watcher closed (or whose context ended) between calls to Next
	// gives its watch back at once: etcd stops sending its events, and
	// none is queued for a Next that may never come.
	sub.stopOnEnd = context.AfterFunc(w.ctx, sub.end)
	w.subMu.Lock()
	w.st, w.sub = st, sub
	if w.closed.Load() {
		// Close came first: step stops the watch.
		sub.stopOnEnd()
		sub.end()
	}
	w.subMu.Unlock()
	return nil
}

func (w *Watcher[T]) stopWatch() {
	if w.sub != nil {
		w.sub.stopOnEnd()
		w.sub.end()
		w.subMu.Lock()
		w.sub = nil
		w.subMu.Unlock()
	}
	w.st = nil
	w.pending, w.backlog, w.subErr = nil, nil, nil
}

func (w *Watcher[T]) name(key []byte) string { return strings.TrimPrefix(string(key), w.s.prefix) }

// applyPending applies the events of the oldest pending revision to the
// state and returns them as a batch, or nil when nothing changed.
func (w *Watcher[T]) applyPending() *Batch[T] {
	rev := w.pending[0].Kv.ModRevision
	n := 1
	for n < len(w.pending) && w.pending[n].Kv.ModRevision == rev {
		n++
	}
	group := w.pending[:n]
	w.pending = w.pending[n:]
	// The events handed out let go of their etcd values: the array under
	// pending would otherwise keep them (and an emptied slice keeps its
	// whole array) until the next response, on a quiet watch for good.
	defer func() {
		clear(group)
		if len(w.pending) == 0 {
			w.pending = nil
		}
	}()
	if last := w.rev.Load(); rev <= last {
		w.logger().Error("refused events of a revision at or below one already applied",
			zap.Int64("revision", rev), zap.Int64("applied_revision", last), zap.Int("events", len(group)))
		return nil
	}
	events := make([]Event[T], 0, len(group))
	for _, ev := range group {
		if !w.s.keeps(ev.Kv.Key) {
			continue
		}
		name := w.name(ev.Kv.Key)
		old, had := w.state.Get(name)
		if ev.Type == mvccpb.DELETE {
			delete(w.invalid, name)
			if !had {
				continue
			}
			w.state.m.Delete(name)
			events = append(events, Event[T]{Type: Delete, Name: name, Key: old.Key, Old: old, Revision: rev})
			continue
		}
		typ := Create
		if had {
			typ = Mutate
		}
		obj, err := w.s.decode(ev.Kv)
		if err != nil {
			if w.invalid == nil {
				w.invalid = make(map[string]int64)
			}
			w.invalid[name] = ev.Kv.ModRevision
			w.logger().Error("undecodable value; keeping the last good one", zap.Error(err))
			events = append(events, Event[T]{Type: typ, Name: name, Key: string(ev.Kv.Key), Old: old, Err: err, Revision: rev})
			continue
		}
		delete(w.invalid, name)
		w.state.m.Set(name, obj)
		events = append(events, Event[T]{Type: typ, Name: name, Key: obj.Key, Old: old, New: obj, Revision: rev})
	}
	w.rev.Store(rev)
	if len(events) == 0 {
		return nil
	}
	after := &w.state
	return &Batch[T]{Kind: Live, Revision: rev, Events: events, Before: beforeOf[T](after, events), After: after}
}

// relist lists the prefix and diffs the listing against the state. The
// state is replaced only when the whole listing succeeded.
func (w *Watcher[T]) relist(ctx context.Context) (*Batch[T], error) {
	kind := Resync
	if !w.listed {
		kind = Initial
	}
	w.stopWatch()
	var fresh state[T]
	var invalid map[string]int64
	var events []Event[T]
	rev, err := w.s.listRaw(ctx, func(kv *mvccpb.KeyValue) {
		name := w.name(kv.Key)
		old, had := w.state.Get(name)
		typ := Create
		if had {
			typ = Mutate
		}
		obj, err := w.s.decode(kv)
		if err != nil {
			if invalid == nil {
				invalid = make(map[string]int64)
			}
			invalid[name] = kv.ModRevision
			if had {
				fresh.m.Set(name, old)
			}
			if w.invalid[name] != kv.ModRevision {
				events = append(events, Event[T]{Type: typ, Name: name, Key: string(kv.Key), Old: old, Err: err})
			}
			return
		}
		if had && old.ModRevision == obj.ModRevision {
			fresh.m.Set(name, old)
			return
		}
		fresh.m.Set(name, obj)
		events = append(events, Event[T]{Type: typ, Name: name, Key: obj.Key, Old: old, New: obj})
	})
	if err != nil {
		return nil, err
	}
	if last := w.rev.Load(); rev < last {
		return nil, fmt.Errorf("listing of %s at revision %d is older than revision %d already applied: refused", w.s.prefix, rev, last)
	}
	var deleted []Event[T]
	for name, old := range w.state.m.All() {
		if !fresh.m.Has(name) {
			deleted = append(deleted, Event[T]{Type: Delete, Name: name, Key: old.Key, Old: old})
		}
	}
	sort.Slice(deleted, func(i, j int) bool { return deleted[i].Name < deleted[j].Name })
	events = append(events, deleted...)
	for i := range events {
		events[i].Revision = rev
		if events[i].Err != nil {
			w.logger().Error("undecodable value; keeping the last good one", zap.Error(events[i].Err))
		}
	}
	w.state = fresh
	w.invalid = invalid
	w.rev.Store(rev)
	w.seen(rev)
	w.listed = true
	w.needRelist = false
	if kind == Initial {
		w.markSynced()
	} else {
		w.logger().Info("relisted", zap.Int64("revision", rev), zap.Int("changes", len(events)))
		if len(events) == 0 {
			return nil, nil
		}
	}
	after := &w.state
	return &Batch[T]{Kind: kind, Revision: rev, Events: events, Before: beforeOf[T](after, events), After: after}, nil
}
