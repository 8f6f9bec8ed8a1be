package kv

import (
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// StartWatch opens w's watch on one of its client's streams, as Next does
// when it has nothing to hand out, without waiting for anything.
func StartWatch[T any](w *Watcher[T]) error { return w.startWatch() }

// ProgressOrdered reports whether cli's servers are known to order progress
// notifications after the events they confirm, asking them when that is due.
func ProgressOrdered(cli *clientv3.Client) bool {
	return poolOf(cli).progressOrdered(cli, zap.NewNop())
}

// StreamMembers is how many watches cli's open watch streams count.
func StreamMembers(cli *clientv3.Client) int {
	p := poolOf(cli)
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.open {
		n += s.members
	}
	return n
}

// HoldsPending reports whether w still refers to an array of etcd events:
// once every pending event is handed out, it must not (an emptied slice
// keeps its whole array, and the array keeps the events' values).
func HoldsPending[T any](w *Watcher[T]) bool { return w.pending != nil }
