package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// watchesPerStream is how many watches of one etcd client share a gRPC
// watch stream. A stream costs about 24 KB between the client and etcd
// (buffers on both sides, HTTP/2 state), a watch on a shared stream a few
// hundred bytes; a progress request is answered on the stream and handed
// to every watch on it, so the bound also bounds that fan-out.
const watchesPerStream = 64

// stream is one gRPC watch stream of a client, shared by up to
// watchesPerStream watchers. The stream is p2kit's own, not the etcd
// client's: one goroutine receives its responses and queues each for its
// watch (see sub), and the watcher takes them in Next. The etcd client's
// Watch ran a goroutine for every watch besides; in a process that
// simulates a fleet, one watch per node, that was a goroutine per node.
// Every watch is created with an id the stream picks (etcd 3.4 and later
// take one), so that a response names its watch without waiting for the
// creations before it.
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

	mu     sync.Mutex
	ws     pb.Watch_WatchClient // opened by the first watch; nil before
	cancel context.CancelFunc
	subs   map[int64]*sub
	nextID int64
	done   bool // failed or closed: no watch is added

	sendMu sync.Mutex // gRPC allows one sender at a time
}

// sub is one watch on a stream: the responses received for it, queued
// until its watcher takes them.
type sub struct {
	st    *stream
	id    int64
	ready chan struct{} // has a value while responses or err wait to be taken
	// created: etcd confirmed the creation. Guarded by st.mu.
	created bool

	mu    sync.Mutex
	queue []*pb.WatchResponse
	err   error // the stream failed: nothing more comes
}

// push queues resp for the watcher.
func (s *sub) push(resp *pb.WatchResponse) {
	s.mu.Lock()
	s.queue = append(s.queue, resp)
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

// hear records a response on the stream: it lives.
func (s *stream) hear() {
	s.heard.Store(time.Now().UnixNano())
	if s.probed.Load() != 0 {
		s.probed.Store(0)
	}
}

func (s *stream) heardAt() time.Time { return time.Unix(0, s.heard.Load()) }

// errStreamClosed: the stream failed or closed before the watch began.
var errStreamClosed = errors.New("watch stream closed")

// watch creates a watch of [key, end) from rev on the stream, opening the
// gRPC stream first if it is not open yet. It does not wait for etcd to
// confirm the creation: responses, the confirmation among them, arrive in
// the returned sub, and a stream that stays silent is probed (onQuiet).
func (s *stream) watch(key, end []byte, rev int64) (*sub, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, errStreamClosed
	}
	if s.ws == nil {
		if err := s.open(); err != nil {
			s.done = true
			s.closed.Store(true)
			s.mu.Unlock()
			return nil, err
		}
	}
	s.nextID++
	w := &sub{st: s, id: s.nextID, ready: make(chan struct{}, 1)}
	s.subs[w.id] = w
	s.mu.Unlock()
	err := s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: key, RangeEnd: end, StartRevision: rev, ProgressNotify: true, WatchId: w.id,
	}}})
	if err != nil {
		s.fail(err)
	}
	return w, nil
}

// open opens the gRPC stream and starts its goroutine. Called with s.mu
// held.
func (s *stream) open() error {
	cli := s.pool.client
	// Cancelled by the stream's end, or the client's. Without a leader
	// the member ends the stream, as it does the etcd client's.
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(cli.Ctx()))
	ws, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx, grpc.MaxCallRecvMsgSize(math.MaxInt32))
	if err != nil {
		cancel()
		return fmt.Errorf("open watch stream: %w", err)
	}
	s.ws, s.cancel = ws, cancel
	s.subs = make(map[int64]*sub)
	go s.receive(ws)
	return nil
}

func (s *stream) send(req *pb.WatchRequest) error {
	s.mu.Lock()
	ws := s.ws
	s.mu.Unlock()
	if ws == nil {
		return errStreamClosed
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return ws.Send(req)
}

// requestProgress asks etcd for a progress notification, which it sends
// to every watch on the stream.
func (s *stream) requestProgress() error {
	return s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
}

// receive queues the stream's responses for their watches until it fails.
func (s *stream) receive(ws pb.Watch_WatchClient) {
	for {
		resp, err := ws.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		s.hear()
		s.mu.Lock()
		if resp.WatchId == clientv3.InvalidWatchID {
			// A progress notification for the whole stream: for the
			// watches etcd had when it answered, the ones whose
			// creation it confirmed before. One created since would
			// take it for how far it has read although its catch-up
			// events come after it.
			for _, w := range s.subs {
				if w.created {
					w.push(resp)
				}
			}
			s.mu.Unlock()
			continue
		}
		w := s.subs[resp.WatchId]
		if w != nil && resp.Created {
			w.created = true
		}
		if w != nil && resp.Canceled {
			delete(s.subs, w.id)
		}
		s.mu.Unlock()
		switch {
		case w == nil: // stopped meanwhile
		case resp.Created && !resp.Canceled: // confirmed; heard above
		default:
			w.push(resp)
		}
	}
}

// fail ends the stream: every watch on it learns err, and none joins it.
func (s *stream) fail(err error) {
	s.closed.Store(true)
	s.mu.Lock()
	if s.done && s.subs == nil {
		s.mu.Unlock()
		return
	}
	s.done = true
	failed := s.subs
	s.subs = nil
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	err = fmt.Errorf("watch stream: %w", err)
	for _, w := range failed {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		w.signal()
	}
}

// close ends the stream once its last watch left.
func (s *stream) close() {
	s.closed.Store(true)
	s.mu.Lock()
	s.done = true
	s.subs = nil
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel() // the goroutine ends with the stream
	}
}

// stop cancels w's watch.
func (w *sub) stop() {
	s := w.st
	s.mu.Lock()
	if s.done || s.subs[w.id] != w {
		s.mu.Unlock()
		return
	}
	delete(s.subs, w.id)
	s.mu.Unlock()
	// Best effort: responses of a watch etcd keeps are dropped.
	_ = s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: w.id}}})
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
		if s.dead.Load() || s.closed.Load() || s.members >= watchesPerStream {
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
