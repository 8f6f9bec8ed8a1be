package kv

import "go.uber.org/zap"

// Resync asks the watcher to relist: list the prefix linearizably, diff
// the listing against its state, deliver the difference as one Resync
// batch (nothing when nothing changed) and watch on from the listing's
// revision, as after a compaction. Call it when the consumer knows it was
// cut off from etcd, for instance because a lease it keeps alive was lost:
// etcd's watch stream cannot lose events over a healthy connection, but a
// connection damaged by a network fault can, without an error. The batch
// is an ordinary batch: guards wrapped around the watcher judge it like any
// other. A relist that fails is retried, with backoff, until it succeeds.
//
// Safe to call from any goroutine, at any time; requests made before the
// relist starts are served by one relist. A Next that waits on the stream
// returns to relist at once.
func (w *Watcher[T]) Resync() {
	w.resync.Store(true)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// takeResync turns a pending Resync request into a relist. Called by Next.
func (w *Watcher[T]) takeResync() {
	if !w.resync.Swap(false) {
		return
	}
	if w.listed && !w.needRelist {
		w.logger().Info("resync requested; relisting", zap.Int64("revision", w.rev.Load()))
		w.needRelist = true
	}
}
