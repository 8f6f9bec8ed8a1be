// Package workqueue is a keyed work queue for level-triggered reconcilers:
// a key added many times is processed once, never by two workers at once,
// and a key dirtied while it is processed runs again afterwards. Failed keys
// come back after an exponential backoff with jitter.
package workqueue

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Queue holds keys waiting to be processed.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	keys       map[string]*entry // keys with a state; nil until the first
	closed     bool
	minBackoff time.Duration
	maxBackoff time.Duration

	// Set by Serve: what processes a key, how many goroutines may, and
	// how many do.
	serveFn  func(key string) error
	serveMax int
	serving  int // goroutines started
	busy     int // of which in serveFn
	served   sync.WaitGroup
}

// entry is one key's state. A key with none (not queued, not active, no
// failure, no retry) has no entry: one map of entries, emptied as keys go
// idle, is what a queue keeps, not a map per kind of state; a process that
// runs thousands of queues (a simulated fleet's preparers) keeps their
// sum.
type entry struct {
	queued   bool // in order
	active   bool // being processed
	dirty    bool // added while active: runs again
	failures int  // in a row
	timer    *time.Timer
	due      time.Time // when timer fires
	// Resting after DoneRest: restTimer ends the rest; restAdd, that the
	// key was added meanwhile and runs then.
	restTimer *time.Timer
	restAdd   bool
}

// New returns a queue whose retries back off from min to max.
func New(minBackoff, maxBackoff time.Duration) *Queue {
	q := &Queue{minBackoff: minBackoff, maxBackoff: maxBackoff}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// entryLocked returns key's entry, made if it has none.
func (q *Queue) entryLocked(key string) *entry {
	if e, ok := q.keys[key]; ok {
		return e
	}
	if q.keys == nil {
		q.keys = map[string]*entry{}
	}
	e := &entry{}
	q.keys[key] = e
	return e
}

// tidyLocked drops key's entry once it holds no state.
func (q *Queue) tidyLocked(key string, e *entry) {
	if !e.queued && !e.active && !e.dirty && e.failures == 0 && e.timer == nil && e.restTimer == nil {
		delete(q.keys, key)
	}
}

// Add asks for key to be processed. A key already waiting is not added
// twice; a key being processed runs again once it is done.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.closed {
		return
	}
	q.stopTimerLocked(key)
	e := q.entryLocked(key)
	if e.active {
		e.dirty = true
		return
	}
	if e.queued {
		return
	}
	if e.restTimer != nil {
		e.restAdd = true // the adds during a rest are one, after it
		return
	}
	e.queued = true
	q.order = append(q.order, key)
	q.cond.Signal()
	q.serveMoreLocked()
}

// Serve processes the queue's keys with fn on at most n goroutines of its
// own (n < 1 means 1), each key's error given to Done. The goroutines are
// started when keys are ready and end when none is: a queue with nothing
// to do costs no goroutine, which matters when one process runs thousands
// of queues (a simulated fleet's preparers). Keys added before Serve are
// processed once it is called. The returned function closes the queue and
// waits for fn's calls to return. Do not use Get on a served queue.
func (q *Queue) Serve(n int, fn func(key string) error) (stop func()) {
	q.mu.Lock()
	q.serveFn, q.serveMax = fn, max(n, 1)
	q.serveMoreLocked()
	q.mu.Unlock()
	return func() {
		q.Close()
		q.served.Wait()
	}
}

// serveMoreLocked starts goroutines for the ready keys no idle one will
// take, as far as Serve allows.
func (q *Queue) serveMoreLocked() {
	if q.serveFn == nil || q.closed {
		return
	}
	for q.serving < q.serveMax && q.serving-q.busy < len(q.order) {
		q.serving++
		q.served.Add(1)
		go q.serveKeys()
	}
}

// serveKeys processes ready keys until there is none, then ends.
func (q *Queue) serveKeys() {
	defer q.served.Done()
	for {
		q.mu.Lock()
		if q.closed || len(q.order) == 0 {
			q.serving--
			q.mu.Unlock()
			return
		}
		key := q.popLocked()
		fn := q.serveFn
		q.busy++
		q.mu.Unlock()
		err := fn(key)
		q.mu.Lock()
		q.busy--
		q.mu.Unlock()
		q.Done(key, err)
	}
}

// Get blocks until a key is ready and marks it active, or returns false
// once the queue is closed.
func (q *Queue) Get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	return q.popLocked(), true
}

// popLocked takes the first ready key and marks it active.
func (q *Queue) popLocked() string {
	key := q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	e := q.entryLocked(key)
	e.queued, e.active = false, true
	return key
}

// Done reports the outcome of processing key. A nil err resets its backoff;
// an error schedules a retry after the key's next backoff. A key dirtied
// while active is queued again at once.
func (q *Queue) Done(key string, err error) { q.DoneRest(key, err, 0) }

// DoneRest is Done, and key is not processed again until rest has passed:
// adds until then make one run when it has. A reconciler whose pass of a
// key took long (a daemon set of the whole fleet) rests the key as long,
// so that a stream of changes costs it at most half its time, however
// fast the changes come.
func (q *Queue) DoneRest(key string, err error, rest time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entryLocked(key)
	e.active = false
	if rest > 0 && !q.closed {
		q.restLocked(key, e, rest)
	}
	if err == nil {
		e.failures = 0
	} else {
		e.failures++
	}
	if e.dirty {
		e.dirty = false
		q.addLocked(key)
		return
	}
	if err != nil {
		q.afterLocked(key, q.backoff(e.failures))
	}
	q.tidyLocked(key, e)
}

// restLocked starts key's rest: adds wait until it ends.
func (q *Queue) restLocked(key string, e *entry, rest time.Duration) {
	if e.restTimer != nil {
		e.restTimer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(rest, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if cur, ok := q.keys[key]; !ok || cur != e || e.restTimer != t {
			return
		}
		e.restTimer = nil
		if e.restAdd {
			e.restAdd = false
			q.addLocked(key)
		}
		q.tidyLocked(key, e)
	})
	e.restTimer = t
}

// AddAfter adds key after d, unless it is added sooner: a retry or an
// earlier AddAfter already due first stands.
func (q *Queue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.afterLocked(key, d)
}

func (q *Queue) afterLocked(key string, d time.Duration) {
	if q.closed {
		return
	}
	due := time.Now().Add(d)
	e := q.entryLocked(key)
	if e.timer != nil {
		if !e.due.After(due) {
			return
		}
		e.timer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if e, ok := q.keys[key]; ok && e.timer == t {
			q.stopTimerLocked(key)
			q.addLocked(key)
		}
	})
	e.timer, e.due = t, due
}

// stopTimerLocked stops key's pending retry, if any.
func (q *Queue) stopTimerLocked(key string) {
	if e, ok := q.keys[key]; ok && e.timer != nil {
		e.timer.Stop()
		e.timer, e.due = nil, time.Time{}
		q.tidyLocked(key, e)
	}
}

// Failures is how many times in a row key has failed.
func (q *Queue) Failures(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.keys[key]; ok {
		return e.failures
	}
	return 0
}

// Forget drops key's failure count and any pending retry.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.keys[key]; ok {
		e.failures = 0
		q.stopTimerLocked(key)
		q.tidyLocked(key, e)
	}
}

// backoff doubles from min per failure up to max, with up to 25% jitter.
func (q *Queue) backoff(failures int) time.Duration {
	d := q.minBackoff
	for i := 1; i < failures && d < q.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.maxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// Close wakes every Get and drops pending retries.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for k, e := range q.keys {
		if e.restTimer != nil {
			e.restTimer.Stop()
			e.restTimer, e.restAdd = nil, false
		}
		q.stopTimerLocked(k)
	}
	q.cond.Broadcast()
}

// CloseOnDone closes the queue when ctx ends.
func (q *Queue) CloseOnDone(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, q.Close)
}

// Len is the number of keys waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}
