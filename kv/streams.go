package kv

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/internal/watchmux"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchesPerStream is how many watches of one etcd client share a gRPC
// watch stream. A stream costs about 24 KB between the client and etcd
// (buffers on both sides, HTTP/2 state), a watch on a shared stream a few
// hundred bytes; a progress request is answered on the stream and handed
// to every watch on it, so the bound also bounds that fan-out.
const watchesPerStream = 64

// stream is one gRPC watch stream of a client, shared by up to
// watchesPerStream watchers. The stream is p2kit's own (internal/watchmux),
// not the etcd client's: one goroutine receives its responses and queues
// each for its watch (see sub), and the watcher takes them in Next. The
// etcd client's Watch ran a goroutine for every watch besides; in a
// process that simulates a fleet, one watch per node, that was a goroutine
// per node.
//
// Every watcher on a stream reports what it hears, so the stream as a
// whole is probed when it goes silent, once, not once per watch.
type stream struct {
	pool   *streamPool
	heard  atomic.Int64 // unix nanoseconds: the last response on it, or its start
	probed atomic.Int64 // unix nanoseconds of the unanswered progress request; 0: none
	asked  atomic.Int64 // unix nanoseconds of the last progress request sent since
	dead   atomic.Bool  // found stalled: its watchers leave it, none joins it
	// checking: a watcher is asking etcd whether it answers other
	// requests, before the stream is taken for dead.
	checking atomic.Bool
	// closed: failed, or closed once its last watch left; none joins it.
	closed atomic.Bool

	members int  // guarded by streamPool.mu
	listed  bool // in streamPool.open; guarded by streamPool.mu

	mu   sync.Mutex
	mux  *watchmux.Stream // opened by the first watch; nil before
	done bool             // closed, or failed to open: no watch is added
}

// sub is one watch on a stream: the responses received for it, queued
// until its watcher takes them.
type sub struct {
	st    *stream
	w     *watchmux.Watch
	ready chan struct{} // has a value while responses or err wait to be taken
	// ended once the watch is cancelled and counted out of its stream:
	// by Next, or when the watcher's context ends first (see end).
	ended     sync.Once
	stopOnEnd func() bool

	mu    sync.Mutex
	queue []*pb.WatchResponse
	err   error // the stream failed: nothing more comes
}

// on queues resp for the watcher; a creation's confirmation is only heard.
func (s *sub) on(resp *pb.WatchResponse) {
	if resp.Created && !resp.Canceled {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, resp)
	s.mu.Unlock()
	s.signal()
}

// failed notes that the stream failed.
func (s *sub) failed(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.signal()
}

func (s *sub) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// take returns the responses queued, and the stream's failure once it
// failed.
func (s *sub) take() ([]*pb.WatchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q, s.err
}

// end cancels the watch and counts it out of its stream, once.
func (s *sub) end() {
	s.ended.Do(func() {
		s.w.Stop(false)
		s.st.pool.leave(s.st)
	})
}

// hear records a response on the stream: it lives.
func (s *stream) hear() {
	s.heard.Store(time.Now().UnixNano())
	if s.probed.Load() != 0 {
		s.probed.Store(0)
	}
}

func (s *stream) heardAt() time.Time { return time.Unix(0, s.heard.Load()) }

// watch creates a watch of [key, end) from rev on the stream, opening the
// gRPC stream first if it is not open yet. It does not wait for etcd to
// confirm the creation: responses, the confirmation among them, arrive in
// the returned sub, and a stream that stays silent is probed (onQuiet).
func (s *stream) watch(key, end []byte, rev int64) (*sub, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, watchmux.ErrClosed
	}
	if s.mux == nil {
		mux, err := watchmux.Open(s.pool.client, s.hear)
		if err != nil {
			s.done = true
			s.closed.Store(true)
			s.mu.Unlock()
			return nil, err
		}
		s.mux = mux
	}
	mux := s.mux
	s.mu.Unlock()
	w := &sub{st: s, ready: make(chan struct{}, 1)}
	mw, err := mux.Watch(&pb.WatchCreateRequest{Key: key, RangeEnd: end, StartRevision: rev, ProgressNotify: true}, w.on, w.failed)
	if err != nil {
		s.closed.Store(true)
		return nil, err
	}
	w.w = mw
	return w, nil
}

// requestProgress asks etcd for a progress notification, which it sends
// to every watch on the stream.
func (s *stream) requestProgress() error {
	s.mu.Lock()
	mux := s.mux
	s.mu.Unlock()
	if mux == nil {
		return watchmux.ErrClosed
	}
	return mux.RequestProgress()
}

// failed reports whether the gRPC stream failed.
func (s *stream) failed() bool {
	s.mu.Lock()
	mux := s.mux
	s.mu.Unlock()
	return mux != nil && mux.Done()
}

// close ends the stream once its last watch left.
func (s *stream) close() {
	s.closed.Store(true)
	s.mu.Lock()
	s.done = true
	mux := s.mux
	s.mu.Unlock()
	if mux != nil {
		mux.Close()
	}
}

// streamPool hands out the streams of one client.
type streamPool struct {
	client *clientv3.Client

	mu   sync.Mutex
	open []*stream // streams with room, maybe some full, dead or closed ones (dropped when met)

	progress progressCheck // whether the client's servers order progress answers
}

var pools sync.Map // *clientv3.Client -> *streamPool

// poolOf returns the client's stream pool; it is forgotten when the client
// closes.
func poolOf(c *clientv3.Client) *streamPool {
	if p, ok := pools.Load(c); ok {
		return p.(*streamPool)
	}
	p, loaded := pools.LoadOrStore(c, &streamPool{client: c})
	if !loaded {
		context.AfterFunc(c.Ctx(), func() { pools.Delete(c) })
	}
	return p.(*streamPool)
}

// join returns a live stream with room for one more watch, counting it in.
func (p *streamPool) join() *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.open) > 0 {
		s := p.open[len(p.open)-1]
		if s.dead.Load() || s.closed.Load() || s.failed() || s.members >= watchesPerStream {
			p.open = p.open[:len(p.open)-1]
			s.listed = false
			continue
		}
		s.members++
		return s
	}
	s := &stream{pool: p, members: 1, listed: true}
	s.hear()
	p.open = append(p.open, s)
	return s
}

// leave counts a watch out of its stream; the stream closes with its last
// watch.
func (p *streamPool) leave(s *stream) {
	p.mu.Lock()
	s.members--
	last := s.members == 0
	if last {
		s.closed.Store(true) // no join takes it up before it closes
	}
	if !last && !s.listed && !s.dead.Load() && !s.closed.Load() {
		s.listed = true
		p.open = append(p.open, s)
	}
	p.mu.Unlock()
	if last {
		s.close()
	}
}
