package failsafe

import (
	"time"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Held reports whether src, a chain whose guards joined into one stage,
// holds now. Tests whose consumers share one Holds use it to tell whose
// hold is whose.
func Held[T any](src kv.Source[T]) bool {
	s, ok := src.(*stage[T])
	return ok && s.hold != nil
}

// Watching reports whether h's release watch is up.
func Watching(h *Holds) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.watchUp
}

// ReleaseEvents is how many events h's release watch has received.
func ReleaseEvents(h *Holds) int64 { return h.releaseEvents.Load() }

// TakeOver begins a hold under the id of an earlier run's record, as
// StartFrom does.
func TakeOver(h *Holds, rec Record) *Hold { return h.takeOver(rec) }

// ReleaseHubRunning reports whether the stream, and the goroutine, that
// run the release watches of cli's Holds run.
func ReleaseHubRunning(cli *clientv3.Client) bool {
	hubs.Lock()
	hub := hubs.m[cli]
	hubs.Unlock()
	if hub == nil {
		return false
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	return hub.stream != nil && !hub.stream.Done()
}

// LeaseCheckAt is when h next asks for its WithLease lease.
func LeaseCheckAt(h *Holds) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keepAt
}

// Settled reports whether h's bookkeeping has nothing to write: no pass
// runs and no hold's record is waiting to be written again.
func Settled(h *Holds) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy {
		return false
	}
	for _, hd := range h.live.All() {
		if hd.dirty {
			return false
		}
	}
	return true
}

// PassWorkers is how many bookkeeping passes of one client's Holds run at
// once.
const PassWorkers = passWorkers

// PassesQueued is how many of cli's Holds wait for a pass worker.
func PassesQueued(cli *clientv3.Client) int {
	q := &hubOf(cli).passes
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}
