package kv

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// DefaultStallTimeout is how long a watch stream may stay silent before the
// watcher asks etcd for a progress notification, and then how long it waits
// for any answer before it restarts the stream.
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

// stallCheck tracks when the watch stream was last heard from.
type stallCheck struct {
	timeout time.Duration
	heard   time.Time // last response, or the stream's start
	probed  time.Time // when a progress request was sent; zero: none pending
}

// heardNow records a response on the stream, or a new stream.
func (s *stallCheck) heardNow() { s.heard, s.probed = time.Now(), time.Time{} }

// wait is how long until the next step of the check is due.
func (s *stallCheck) wait() time.Duration {
	if s.probed.IsZero() {
		return time.Until(s.heard.Add(s.timeout))
	}
	return time.Until(s.probed.Add(s.timeout))
}

// onQuiet runs when the stream has been silent for the timeout: the first
// time it sends a progress request; when that went unanswered it restarts
// the stream.
func (w *Watcher[T]) onQuiet(ctx context.Context) {
	if w.stall.probed.IsZero() {
		pctx, cancel := context.WithTimeout(ctx, w.stall.timeout)
		err := w.RequestProgress(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.log.Debug("progress request on a silent watch stream failed", zap.Error(err))
		}
		w.stall.probed = time.Now()
		return
	}
	w.log.Warn("watch stream silent after a progress request; restarting it",
		zap.Duration("silent_for", time.Since(w.stall.heard).Round(time.Millisecond)),
		zap.Int64("resume_revision", w.rev.Load()+1))
	w.stopWatch()
}
