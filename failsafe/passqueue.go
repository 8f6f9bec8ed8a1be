package failsafe

import "sync"

// passWorkers is how many bookkeeping passes of the Holds that share one
// etcd client run at once; the others wait their turn in a queue, with no
// goroutine of their own. A pass makes one request at a time, so a client
// has at most this many bookkeeping requests in flight however many Holds
// share it.
//
// A process that simulates a fleet runs a hundred preparers, each with its
// Holds, on one client. At a mass deletion every one of them wrote its
// record at once: at 100,000 simulated nodes that was up to 100,000
// requests in flight, each with a goroutine at both ends, while etcd took
// a few thousand a second. etcd's apply loop fell seconds behind, and an
// etcd that is behind by more than a second answers no lease renewal, so
// the node leases lapsed and every record was written again. With two
// passes at a time a client's records are written one after the other as
// fast as etcd takes them.
const passWorkers = 2

// passQueue runs the passes of the Holds of one client (see poke) on at
// most passWorkers goroutines, in the order they were poked. A worker
// ends once the queue is empty.
type passQueue struct {
	mu      sync.Mutex
	queue   []*Holds
	workers int
}

// run has h's passes run by a worker: at once when one is free,
// otherwise after the Holds queued before it, one pass at a time (see
// runPass). h.busy is set and stays set until its passes have run, so h
// is queued at most once.
func (q *passQueue) run(h *Holds) {
	q.mu.Lock()
	q.queue = append(q.queue, h)
	start := q.workers < passWorkers
	if start {
		q.workers++
	}
	q.mu.Unlock()
	if start {
		go q.work()
	}
}

// work runs queued passes until the queue is empty.
func (q *passQueue) work() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.workers--
			q.queue = nil // let a backing array grown by a burst go
			q.mu.Unlock()
			return
		}
		h := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		if h.runPass() {
			q.mu.Lock()
			q.queue = append(q.queue, h) // another pass, after the others'
			q.mu.Unlock()
		}
	}
}
