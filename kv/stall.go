package kv

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
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

// streamSeq numbers the watch streams of the process; see streamContext.
var streamSeq atomic.Uint64

// streamContext returns the context of a new watch stream. The etcd client
// carries every watch whose context has the same metadata on one gRPC
// stream, and keeps that stream while a watch on it still waits for etcd to
// confirm its creation: a watch restarted because its stream went silent
// would join the silent stream it means to leave. Metadata of its own gives
// each watch stream a gRPC stream of its own; RequestProgress finds it by
// the same metadata.
func (w *Watcher[T]) streamContext() (context.Context, context.CancelFunc) {
	w.streamCtx = metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(w.ctx),
		"p2kit-watch-stream", strconv.FormatUint(streamSeq.Add(1), 10))
	return context.WithCancel(w.streamCtx)
}

// boundCreation gives up a new stream, by cancelling its context, when etcd
// has not confirmed the watch's creation within the stall timeout. The etcd
// client's Watch waits for that confirmation, and a create request lost on
// a damaged connection would hold Next there for good, deaf to Resync and
// to the probe; given up, the stream is started again after a backoff. The
// returned function ends the bound.
func (w *Watcher[T]) boundCreation(cancel context.CancelFunc) (stop func()) {
	t := time.AfterFunc(w.stall.timeout, cancel)
	return func() { t.Stop() }
}
