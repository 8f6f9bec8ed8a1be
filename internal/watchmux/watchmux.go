// Package watchmux runs etcd watches on gRPC watch streams of the
// caller's own, many watches to a stream and one goroutine per stream
// that receives its responses and hands each to its watch. The etcd
// client's Watch runs a goroutine for every watch besides; in a process
// that simulates a fleet, one watch or more per node, that was a goroutine
// or more per node.
//
// Every watch is created with an id the stream picks (etcd 3.4 and later
// take one), so that a response names its watch without waiting for the
// creations before it.
package watchmux

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// ErrClosed is returned for a watch begun on a stream that failed or was
// closed.
var ErrClosed = errors.New("watch stream closed")

// Stream is one gRPC watch stream.
type Stream struct {
	cancel context.CancelFunc
	ws     pb.Watch_WatchClient
	heard  func() // called for every response; may be nil
	sendMu sync.Mutex

	mu      sync.Mutex
	watches map[int64]*Watch
	nextID  int64
	done    bool // failed or closed: no watch is added
}

// Watch is one watch on a Stream.
type Watch struct {
	s       *Stream
	id      int64
	created bool // etcd confirmed the creation; guarded by s.mu
	on      func(*pb.WatchResponse)
	failed  func(error)
}

// Open opens a stream of cli and starts the goroutine that receives its
// responses; heard, when not nil, is called for each of them. Without a
// leader the member ends the stream, as it does the etcd client's watches.
// The stream ends when it fails, when it is closed, or with the client.
func Open(cli *clientv3.Client, heard func()) (*Stream, error) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(cli.Ctx()))
	ws, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx, grpc.MaxCallRecvMsgSize(math.MaxInt32))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open watch stream: %w", err)
	}
	s := &Stream{cancel: cancel, ws: ws, heard: heard, watches: make(map[int64]*Watch)}
	go s.receive()
	return s, nil
}

// Watch creates a watch on s (it sets create's WatchId to one it picks) and
// returns without waiting for etcd to confirm it. Its responses go to on,
// on the stream's goroutine, one at a time and in order: the creation's
// confirmation (Created set), events, progress notifications (those etcd
// sends the whole stream only once the creation was confirmed: etcd
// answered them for the watches it had then), and the cancellation
// (Canceled set; nothing follows it). Should the stream fail, failed is
// called once instead. on and failed must not wait for etcd.
func (s *Stream) Watch(create *pb.WatchCreateRequest, on func(*pb.WatchResponse), failed func(error)) (*Watch, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.nextID++
	w := &Watch{s: s, id: s.nextID, on: on, failed: failed}
	s.watches[w.id] = w
	s.mu.Unlock()
	create.WatchId = w.id
	if err := s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: create}}); err != nil {
		s.fail(err)
	}
	return w, nil
}

// RequestProgress asks etcd for a progress notification, which it sends
// to every watch on the stream.
func (s *Stream) RequestProgress() error {
	return s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
}

// Done reports whether s failed or was closed.
func (s *Stream) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Close ends s; its watches are not told.
func (s *Stream) Close() {
	s.mu.Lock()
	s.done = true
	s.watches = nil
	s.mu.Unlock()
	s.cancel() // the goroutine ends with the stream
}

func (s *Stream) send(req *pb.WatchRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.ws.Send(req)
}

// receive hands out the stream's responses until it fails. It holds no
// lock while it calls a watch's on, which may stop the watch.
func (s *Stream) receive() {
	for {
		resp, err := s.ws.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		if s.heard != nil {
			s.heard()
		}
		s.mu.Lock()
		if resp.WatchId == clientv3.InvalidWatchID {
			// A progress notification for the whole stream, for the
			// watches etcd had when it answered: the ones whose creation
			// it confirmed before. One created since would take it for
			// how far it has read, although its catch-up events come
			// after it.
			var to []*Watch
			for _, w := range s.watches {
				if w.created {
					to = append(to, w)
				}
			}
			s.mu.Unlock()
			for _, w := range to {
				w.on(resp)
			}
			continue
		}
		w := s.watches[resp.WatchId]
		if w != nil && resp.Created {
			w.created = true
		}
		if w != nil && resp.Canceled {
			delete(s.watches, w.id)
		}
		s.mu.Unlock()
		if w != nil { // nil: stopped meanwhile
			w.on(resp)
		}
	}
}

// fail ends the stream: every watch on it is told err.
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	failed := s.watches
	s.watches = nil
	s.mu.Unlock()
	s.cancel()
	err = fmt.Errorf("watch stream: %w", err)
	for _, w := range failed {
		w.failed(err)
	}
}

// Alive reports whether w is still on its stream: not stopped, not
// cancelled by etcd, its stream not failed or closed.
func (w *Watch) Alive() bool {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return !w.s.done && w.s.watches[w.id] == w
}

// Stop cancels w; nothing more reaches its on. When it was the stream's
// last watch and closeIfLast is set, the stream is closed instead (and
// Stop reports it).
func (w *Watch) Stop(closeIfLast bool) (closed bool) {
	s := w.s
	s.mu.Lock()
	if s.done || s.watches[w.id] != w {
		s.mu.Unlock()
		return false
	}
	delete(s.watches, w.id)
	last := closeIfLast && len(s.watches) == 0
	if last {
		s.done = true
	}
	s.mu.Unlock()
	if last {
		s.cancel()
		return true
	}
	// Best effort: responses of a watch etcd keeps are dropped.
	_ = s.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: w.id}}})
	return false
}
