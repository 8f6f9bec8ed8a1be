package kv

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// watchesPerStream is how many watches of one etcd client share a gRPC
// watch stream. A stream costs about 24 KB between the client and etcd
// (buffers on both sides, HTTP/2 state), a watch on a shared stream a few
// hundred bytes; a progress request is answered on the stream and the
// client hands the answer to every watch on it, so the bound also bounds
// that fan-out.
const watchesPerStream = 64

// stream is one gRPC watch stream of a client, shared by up to
// watchesPerStream watchers. The etcd client carries every watch whose
// context has the same metadata on one gRPC stream; the stream's id, in the
// metadata, is what makes it this stream. Every watcher on it reports what it
// hears, so the stream as a whole is probed when it goes silent, once, not
// once per watch.
type stream struct {
	id     string
	heard  atomic.Int64 // unix nanoseconds: the last response, or creation confirmed, on it
	probed atomic.Int64 // unix nanoseconds of the unanswered progress request; 0: none
	asked  atomic.Int64 // unix nanoseconds of the last progress request sent since
	dead   atomic.Bool  // found stalled: its watchers leave it, none joins it
	// checking: a watcher is asking etcd whether it answers other
	// requests, before the stream is taken for dead.
	checking atomic.Bool

	members int  // guarded by streamPool.mu
	listed  bool // in streamPool.open; guarded by streamPool.mu
}

// hear records a response on the stream: it lives.
func (s *stream) hear() {
	s.heard.Store(time.Now().UnixNano())
	if s.probed.Load() != 0 {
		s.probed.Store(0)
	}
}

func (s *stream) heardAt() time.Time { return time.Unix(0, s.heard.Load()) }

// context is the context a watch on this stream is created with.
func (s *stream) context(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(ctx), "p2kit-watch-stream", s.id)
}

// streamPool hands out the streams of one client.
type streamPool struct {
	mu   sync.Mutex
	open []*stream // streams with room, maybe some full or dead ones (dropped when met)

	progress progressCheck // whether the client's servers order progress answers
}

var (
	pools     sync.Map // *clientv3.Client -> *streamPool
	streamSeq atomic.Uint64
)

// poolOf returns the client's stream pool; it is forgotten when the client
// closes.
func poolOf(c *clientv3.Client) *streamPool {
	if p, ok := pools.Load(c); ok {
		return p.(*streamPool)
	}
	p, loaded := pools.LoadOrStore(c, &streamPool{})
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
		if s.dead.Load() || s.members >= watchesPerStream {
			p.open = p.open[:len(p.open)-1]
			s.listed = false
			continue
		}
		if s.members == 0 {
			// The client closed its gRPC stream when the last watch
			// left; the next watch opens a new one.
			s.hear()
		}
		s.members++
		return s
	}
	s := &stream{id: strconv.FormatUint(streamSeq.Add(1), 10), members: 1, listed: true}
	s.hear()
	p.open = append(p.open, s)
	return s
}

// leave counts a watch out of its stream.
func (p *streamPool) leave(s *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.members--
	if !s.listed && !s.dead.Load() {
		s.listed = true
		p.open = append(p.open, s)
	}
}
