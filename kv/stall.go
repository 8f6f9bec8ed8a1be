package kv

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultStallTimeout is how long a watch stream may stay silent before a
// watcher on it asks etcd for a progress notification, and then how long it
// waits for any answer before it restarts the stream.
const DefaultStallTimeout = 10 * time.Second

// StallTimeout sets how long a watch stream may stay silent before it is
// probed with a progress request, and how long the probe may go unanswered
// before the stream is restarted from the last revision applied (default
// DefaultStallTimeout; 0 or less keeps the default). A stream can go silent
// without an error, for instance when a network fault left its connection
// open but lost part of what was sent on it: without the probe such a watch
// would wait forever.
func StallTimeout(d time.Duration) WatchOption {
	return func(c *watchConfig) {
		if d > 0 {
			c.stall = d
		}
	}
}

// maxStallBackoff bounds how far the stall timeout of a watch grows while
// it keeps stalling.
const maxStallBackoff = 8

// stallCheck is one watcher's side of the stall check. The stream's side,
// shared by every watch on it, is in stream.
type stallCheck struct {
	base   time.Duration
	factor int       // the timeout is base times factor: 1, doubled for each stall soon after the last
	heard  time.Time // this watch's last response, or its start
	// stalledAt is when the watch last restarted for a stall.
	stalledAt time.Time
}

// timeout is the stall timeout in effect.
func (c *stallCheck) timeout() time.Duration { return c.base * time.Duration(max(1, c.factor)) }

// heardNow records a response from etcd.
func (c *stallCheck) heardNow() { c.heard = time.Now() }

// stallWait is how long until the stream is due to be checked: the
// timeout after the last thing heard on it (by this watch or another on
// the same stream), or after the pending probe.
func (w *Watcher[T]) stallWait() time.Duration {
	t, s := w.stall.timeout(), w.st
	if s == nil {
		return time.Until(w.stall.heard.Add(t))
	}
	if s.dead.Load() {
		return 0
	}
	if s.checking.Load() {
		return t / reprobes
	}
	if p := s.probed.Load(); p != 0 {
		return min(time.Until(time.Unix(0, p).Add(t)), time.Until(time.Unix(0, s.asked.Load()).Add(t/reprobes)))
	}
	return time.Until(w.lastHeard(s).Add(t))
}

// lastHeard is when this watch or another on its stream s last heard from
// etcd.
func (w *Watcher[T]) lastHeard(s *stream) time.Time {
	if h := s.heardAt(); h.After(w.stall.heard) {
		return h
	}
	return w.stall.heard
}

// reprobes is how many progress requests a silent stream is sent within
// one timeout: etcd drops a request made while any watch on the stream is
// still catching up (unsynced), so a single one may go unanswered on a
// stream that lives.
const reprobes = 4

// onQuiet runs when the watch's stream may have been silent for the
// timeout. When another watch on the stream heard from etcd meanwhile, the
// stream lives and nothing is done. Otherwise the first watch to get here
// sends a progress request on the stream (etcd answers it to the whole
// stream), and sends it again every quarter of the timeout while it goes
// unanswered. When none was answered within the timeout, one watch asks
// etcd for something else (a read, see answers): when etcd answers it, the
// stream alone is deaf, and it is marked dead and every watch on it
// restarts on another stream, from the last revision it applied. When etcd
// answers nothing in time it is overloaded or out of reach, not a stream
// that lost what was sent on it: a new stream would be no better off, and
// restarting every watch of a fleet on an overloaded etcd (each from the
// revision it last applied, for etcd to catch up from its history) only
// adds to the load. The stream is probed again instead.
//
// A watch that stalls again within four timeouts of its last stall
// doubles its timeout, up to maxStallBackoff times the base:
// an etcd that is slow rather than gone (it answers a stream's progress
// request only once every watch on the stream has caught up) is not sent
// new streams and new watch creations every timeout.
func (w *Watcher[T]) onQuiet(ctx context.Context) {
	s := w.st
	if s == nil {
		return
	}
	t := w.stall.timeout()
	now := time.Now()
	if !s.dead.Load() {
		last := w.lastHeard(s)
		p := s.probed.Load()
		switch {
		case p == 0 && now.Sub(last) < t:
			return // heard lately
		case p == 0:
			if s.probed.CompareAndSwap(0, now.UnixNano()) {
				s.asked.Store(now.UnixNano())
				w.askProgress(ctx, t)
			}
			return
		case now.Sub(time.Unix(0, p)) < t:
			// The probe may still be answered; ask again when the last
			// request is a quarter of the timeout old.
			if a := s.asked.Load(); now.Sub(time.Unix(0, a)) >= t/reprobes && s.asked.CompareAndSwap(a, now.UnixNano()) {
				w.askProgress(ctx, t)
			}
			return
		}
		if !s.checking.CompareAndSwap(false, true) {
			return // another watch on the stream is asking
		}
		answered := w.answers(ctx, t)
		s.checking.Store(false)
		switch {
		case ctx.Err() != nil || s.probed.Load() != p:
			return // stopped, or the stream was heard meanwhile
		case !answered:
			w.logger().Info("watch stream silent, and etcd answers no read either: slow or out of reach; probing again rather than restarting",
				zap.Duration("silent_for", time.Since(w.lastHeard(s)).Round(time.Millisecond)))
			now := time.Now().UnixNano()
			s.probed.Store(now)
			s.asked.Store(now)
			w.askProgress(ctx, t)
			return
		}
		s.dead.Store(true)
	}
	w.stalled(s, "watch stream silent after a progress request; restarting it")
	w.stopWatch()
}

// answers reports whether etcd answers a read of the watch's prefix key
// within t: a point read, linearizable, so that it also waits for etcd to
// have applied what it committed.
func (w *Watcher[T]) answers(ctx context.Context, t time.Duration) bool {
	rctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	_, err := w.s.client.Get(rctx, w.s.prefix, clientv3.WithKeysOnly())
	return err == nil
}

// askProgress sends a progress request on the watch's stream.
func (w *Watcher[T]) askProgress(ctx context.Context, t time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, t)
	err := w.requestProgress(pctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		w.logger().Debug("progress request on a silent watch stream failed", zap.Error(err))
	}
}

// stalled records a restart for a stall on stream s. A stall within four
// timeouts of the last one doubles the timeout (a new stream's creation
// being confirmed does not show that etcd keeps up: a busy etcd answers
// late again and again); a watch that went four timeouts without one is
// back to the base.
func (w *Watcher[T]) stalled(s *stream, msg string) {
	now := time.Now()
	switch {
	case w.stall.stalledAt.IsZero() || now.Sub(w.stall.stalledAt) >= 4*w.stall.timeout():
		w.stall.factor = 1
	default:
		w.stall.factor = min(2*max(1, w.stall.factor), maxStallBackoff)
	}
	w.stall.stalledAt = now
	w.logger().Warn(msg,
		zap.Duration("silent_for", time.Since(w.lastHeard(s)).Round(time.Millisecond)),
		zap.Duration("next_stall_timeout", w.stall.timeout()),
		zap.Int64("resume_revision", w.rev.Load()+1))
}
