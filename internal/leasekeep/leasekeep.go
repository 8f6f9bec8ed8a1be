// Package leasekeep keeps etcd leases alive on one keep-alive stream per
// client, renewing each lease at most once per third of its TTL whether
// etcd answers or not.
//
// The etcd client's own keep-alive (clientv3.Lease.KeepAlive) sends a
// renewal every half second for as long as none is answered. etcd
// answers the renewals of a stream one after the other, so on a busy etcd
// the unanswered ones queue behind each other: every lease of a fleet then
// asks ten times as often (at a 15 s TTL), and the answers come later
// still. It also gives a lease up once no renewal was answered within the
// TTL, although a late answer may say the lease lives. Here a lease is
// given up only when etcd says it is gone (a renewal answered with TTL 0);
// a lease whose renewals go unanswered for its TTL is logged and renewed
// on, and the first answer says whether it lives.
package leasekeep

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Reconnect backoff bounds: a stream that failed is opened again after
// minRetry, doubling up to maxRetry (and a third of the shortest TTL) while
// no renewal is answered.
const (
	minRetry = 500 * time.Millisecond
	maxRetry = 8 * time.Second
)

// Keeper renews the leases given to Keep on one stream. Get one with For.
type Keeper struct {
	client *clientv3.Client
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu     sync.Mutex
	leases map[clientv3.LeaseID]*Lease
	queue  dueQueue
	refs   int
}

// Lease is a lease a Keeper renews.
type Lease struct {
	id  clientv3.LeaseID
	k   *Keeper
	log *zap.Logger

	// Under k.mu:
	ttl         time.Duration
	answered    time.Time     // the last answer with a TTL, or when Keep began
	due         time.Time     // when the next renewal is sent
	outstanding bool          // a renewal was sent and not answered
	late        bool          // unanswered for the TTL, logged
	index       int           // in k.queue; -1 once removed
	lost        bool          // etcd said the lease is gone
	lostCh      chan struct{} // made by Lost, closed once lost
	afterLost   []*func()     // what AfterLost arranged, until lost
}

var (
	keepersMu sync.Mutex
	keepers   = map[*clientv3.Client]*Keeper{}
)

// For returns the Keeper of client, starting it if there is none; release
// gives it back, and the last release stops it.
func For(client *clientv3.Client) (k *Keeper, release func()) {
	keepersMu.Lock()
	defer keepersMu.Unlock()
	k = keepers[client]
	if k == nil {
		// A closed client ends the keeper too.
		ctx, cancel := context.WithCancel(client.Ctx())
		k = &Keeper{
			client: client,
			cancel: cancel,
			done:   make(chan struct{}),
			wake:   make(chan struct{}, 1),
			leases: map[clientv3.LeaseID]*Lease{},
		}
		keepers[client] = k
		go k.run(ctx)
	}
	k.refs++
	var once sync.Once
	return k, func() { once.Do(k.release) }
}

func (k *Keeper) release() {
	keepersMu.Lock()
	k.refs--
	last := k.refs == 0
	if last {
		delete(keepers, k.client)
	}
	keepersMu.Unlock()
	if last {
		k.cancel()
		<-k.done
	}
}

// Keep renews lease id, granted with ttl, until Stop; the first renewal
// goes a third of the TTL from now. log is told when renewals go
// unanswered for the TTL and when a late answer comes.
func (k *Keeper) Keep(id clientv3.LeaseID, ttl time.Duration, log *zap.Logger) *Lease {
	now := time.Now()
	l := &Lease{id: id, k: k, log: log, ttl: ttl, answered: now, due: now.Add(ttl / 3)}
	k.mu.Lock()
	if old := k.leases[id]; old != nil {
		k.remove(old)
	}
	k.leases[id] = l
	heap.Push(&k.queue, l)
	k.mu.Unlock()
	k.poke()
	return l
}

// Lost is closed when etcd answered a renewal saying the lease is gone
// (expired or revoked). It is not closed by Stop.
func (l *Lease) Lost() <-chan struct{} {
	l.k.mu.Lock()
	defer l.k.mu.Unlock()
	if l.lostCh == nil {
		// Made on demand: most leases are never waited on this way, and
		// a fleet simulation keeps tens of thousands of them.
		l.lostCh = make(chan struct{})
		if l.lost {
			close(l.lostCh)
		}
	}
	return l.lostCh
}

// AfterLost arranges for f to run on a goroutine of its own once the
// lease is lost (see Lost), as context.AfterFunc does: no goroutine waits
// for it meanwhile. stop undoes that and reports whether it did.
func (l *Lease) AfterLost(f func()) (stop func() bool) {
	l.k.mu.Lock()
	defer l.k.mu.Unlock()
	if l.lost {
		go f()
		return func() bool { return false }
	}
	fn := &f
	l.afterLost = append(l.afterLost, fn)
	return func() bool {
		l.k.mu.Lock()
		defer l.k.mu.Unlock()
		i := slices.Index(l.afterLost, fn)
		if i < 0 {
			return false // run already, or stopped
		}
		l.afterLost = slices.Delete(l.afterLost, i, i+1)
		return true
	}
}

// markLost closes Lost and runs what AfterLost arranged; k.mu is held.
func (l *Lease) markLost() {
	if l.lost {
		return
	}
	l.lost = true
	if l.lostCh != nil {
		close(l.lostCh)
	}
	for _, f := range l.afterLost {
		go (*f)()
	}
	l.afterLost = nil
}

// Stop ends the renewals; the lease is left to expire (revoke it to end it
// at once).
func (l *Lease) Stop() {
	l.k.mu.Lock()
	defer l.k.mu.Unlock()
	if l.k.leases[l.id] == l {
		l.k.remove(l)
	}
}

// remove takes l out; k.mu is held.
func (k *Keeper) remove(l *Lease) {
	delete(k.leases, l.id)
	if l.index >= 0 {
		heap.Remove(&k.queue, l.index)
	}
}

func (k *Keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// run opens the stream, sends the renewals that are due and opens it
// again when it fails, until ctx ends.
func (k *Keeper) run(ctx context.Context) {
	defer close(k.done)
	retry := minRetry
	for ctx.Err() == nil {
		answered, err := k.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if answered {
			retry = minRetry
		}
		k.log().Debug("lease keep-alive stream ended; opening another", zap.Error(err))
		t := time.NewTimer(retry - rand.N(retry/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		// Never longer than a third of a TTL: that is as often as each
		// lease would be renewed, and a lease must not lapse while etcd
		// is back but the stream not yet open again.
		retry = max(minRetry, min(2*retry, maxRetry, k.shortestTTL()/3))
	}
}

// shortestTTL is the shortest TTL of the leases kept (maxRetry×3 if none).
func (k *Keeper) shortestTTL() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := 3 * maxRetry
	for _, l := range k.leases {
		d = min(d, l.ttl)
	}
	return d
}

// log is the logger of some lease kept, for what concerns them all.
func (k *Keeper) log() *zap.Logger {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.leases {
		return l.log
	}
	return zap.NewNop()
}

// stream runs one keep-alive stream until it fails or ctx ends; answered
// says whether etcd answered a renewal on it.
func (k *Keeper) stream(ctx context.Context) (answered bool, err error) {
	sctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	s, err := pb.NewLeaseClient(k.client.ActiveConnection()).LeaseKeepAlive(sctx)
	if err != nil {
		return false, err
	}
	// Renewals sent on the last stream and not answered were lost with it.
	k.mu.Lock()
	now := time.Now()
	for _, l := range k.leases {
		if l.outstanding && l.due.After(now) {
			l.due = now
			heap.Fix(&k.queue, l.index)
		}
	}
	k.mu.Unlock()

	var got bool
	var heard atomic.Int64 // when etcd last answered on s, in Unix nanoseconds
	heard.Store(time.Now().UnixNano())
	recvErr := make(chan error, 1)
	go func() { recvErr <- k.receive(s, &got, &heard) }()
	received, err := k.send(sctx, s, recvErr, &heard)
	cancel()
	if !received {
		<-recvErr
	}
	return got, err
}

// errSilent ends a stream on which etcd answered nothing for the TTL of a
// lease that is waiting for an answer: a connection that lost bytes (a
// network fault that heals without breaking it) can leave a stream up
// that never answers again.
var errSilent = errors.New("no renewal answered on the stream for a lease's TTL")

// send sends each renewal as it falls due until the stream fails;
// received says whether the error is the receiver's, taken from recvErr.
func (k *Keeper) send(ctx context.Context, s pb.Lease_LeaseKeepAliveClient, recvErr <-chan error, heard *atomic.Int64) (received bool, _ error) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var batch []int64
	for {
		now := time.Now()
		var lateTTL time.Duration
		batch, lateTTL = k.due(now, batch[:0])
		if lateTTL > 0 && now.Sub(time.Unix(0, heard.Load())) >= lateTTL {
			return false, errSilent
		}
		for _, id := range batch {
			if err := s.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
				return false, err
			}
		}
		wait := time.Hour
		k.mu.Lock()
		if len(k.queue) > 0 {
			wait = time.Until(k.queue[0].due)
		}
		k.mu.Unlock()
		t.Reset(max(wait, 0))
		select {
		case <-t.C:
		case <-k.wake:
		case err := <-recvErr:
			return true, err
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// due appends the leases whose renewal is due at now, and schedules their
// next renewal a third of their TTL later whether or not this one is
// answered. lateTTL is the shortest TTL of those left unanswered for it
// (0 if none).
func (k *Keeper) due(now time.Time, batch []int64) (_ []int64, lateTTL time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.queue) > 0 && !k.queue[0].due.After(now) {
		l := k.queue[0]
		if l.outstanding && now.Sub(l.answered) >= l.ttl {
			if !l.late {
				l.late = true
				l.log.Info("lease renewals unanswered for the lease's TTL; renewing on until etcd answers whether it lives",
					zap.Int64("lease", int64(l.id)), zap.Duration("ttl", l.ttl))
			}
			if lateTTL == 0 || l.ttl < lateTTL {
				lateTTL = l.ttl
			}
		}
		l.outstanding = true
		l.due = now.Add(l.ttl / 3)
		heap.Fix(&k.queue, 0)
		batch = append(batch, int64(l.id))
	}
	return batch, lateTTL
}

// receive takes etcd's answers until the stream fails.
func (k *Keeper) receive(s pb.Lease_LeaseKeepAliveClient, answered *bool, heard *atomic.Int64) error {
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		*answered = true
		heard.Store(time.Now().UnixNano())
		k.answer(clientv3.LeaseID(resp.ID), resp.TTL)
	}
}

func (k *Keeper) answer(id clientv3.LeaseID, ttl int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.leases[id]
	if l == nil {
		return
	}
	if ttl <= 0 {
		k.remove(l)
		l.markLost()
		return
	}
	now := time.Now()
	if l.late {
		l.log.Info("lease renewal answered late; the lease lives", zap.Int64("lease", int64(l.id)),
			zap.Duration("unanswered", now.Sub(l.answered)))
	}
	l.answered, l.outstanding, l.late = now, false, false
	l.ttl = time.Duration(ttl) * time.Second
	l.due = now.Add(l.ttl / 3)
	heap.Fix(&k.queue, l.index)
}

// dueQueue orders leases by their next renewal.
type dueQueue []*Lease

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	l := x.(*Lease)
	l.index = len(*q)
	*q = append(*q, l)
}
func (q *dueQueue) Pop() any {
	old := *q
	l := old[len(old)-1]
	old[len(old)-1] = nil
	l.index = -1
	*q = old[:len(old)-1]
	return l
}
