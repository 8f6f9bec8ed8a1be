package failsafe

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A releaseHub runs the release watches of every Holds that shares one
// etcd client on one gRPC watch stream of its own, and one goroutine
// receives that stream's responses and hands each to its Holds
// (onReleases). The etcd client's Watch runs a goroutine for each watch:
// in a process that simulates a fleet, one Holds per node, that was a
// goroutine per held node.
//
// Each watch is created with an id the hub chooses (etcd 3.4 and later
// take one), so that a response names its watch without waiting for the
// creations before it. The stream, and the goroutine, start with the first
// watch and end when the last is cancelled, when the stream fails (every
// watch on it fails then, and its Holds open another after a while) or
// when the client is closed.
type releaseHub struct {
	client *clientv3.Client
	passes passQueue // the bookkeeping passes of the client's Holds

	mu     sync.Mutex
	stream *hubStream // nil while none runs
}

// hubs are the release hubs, by client. A hub stays in the map while its
// client lives: it is a mutex and a pointer while no watch runs.
var hubs struct {
	sync.Mutex
	m map[*clientv3.Client]*releaseHub
}

// hubOf returns the hub of client: its release watches and the queue of
// its Holds' bookkeeping passes.
func hubOf(client *clientv3.Client) *releaseHub {
	hubs.Lock()
	defer hubs.Unlock()
	hub := hubs.m[client]
	if hub == nil {
		hub = &releaseHub{client: client}
		if hubs.m == nil {
			hubs.m = make(map[*clientv3.Client]*releaseHub)
		}
		hubs.m[client] = hub
		// Forget the hub with its client: nothing runs on it then.
		context.AfterFunc(client.Ctx(), func() {
			hubs.Lock()
			if hubs.m[client] == hub {
				delete(hubs.m, client)
			}
			hubs.Unlock()
		})
	}
	return hub
}

// hubStream is one gRPC watch stream of a hub.
type hubStream struct {
	hub    *releaseHub
	cancel context.CancelFunc
	ws     etcdserverpb.Watch_WatchClient
	sendMu sync.Mutex // gRPC allows one sender at a time

	// Guarded by hub.mu.
	watches map[int64]*hubWatch
	nextID  int64
	done    bool // failed or closed: no watch is added
}

// hubWatch is one release watch on a hub's stream.
type hubWatch struct {
	h  *Holds
	st *hubStream
	id int64
	// created is closed once etcd answered the creation (err says
	// whether it refused it) or the stream failed first.
	created chan struct{}
	once    sync.Once
	err     error
}

// confirm ends the wait for w's creation, failed when err is set. Only the
// first call counts.
func (w *hubWatch) confirm(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.created)
	})
}

// errWatchCanceled: etcd cancelled a release watch.
var errWatchCanceled = errors.New("watch cancelled by etcd")

// watch starts watching [from, end) for h and waits until etcd confirms
// it, ctx ends or the stream fails.
func (hub *releaseHub) watch(ctx context.Context, h *Holds, from, end string) (*hubWatch, error) {
	hub.mu.Lock()
	st := hub.stream
	if st == nil {
		var err error
		if st, err = hub.open(); err != nil {
			hub.mu.Unlock()
			return nil, err
		}
		hub.stream = st
	}
	st.nextID++
	w := &hubWatch{h: h, st: st, id: st.nextID, created: make(chan struct{})}
	st.watches[w.id] = w
	hub.mu.Unlock()

	err := st.send(&etcdserverpb.WatchRequest{RequestUnion: &etcdserverpb.WatchRequest_CreateRequest{
		CreateRequest: &etcdserverpb.WatchCreateRequest{Key: []byte(from), RangeEnd: []byte(end), WatchId: w.id},
	}})
	if err != nil {
		st.fail(err)
	}
	select {
	case <-w.created:
	case <-ctx.Done():
		w.stop()
		return nil, ctx.Err()
	}
	if w.err != nil {
		w.stop()
		return nil, w.err
	}
	return w, nil
}

// open opens a stream and starts its goroutine. Called with hub.mu held.
func (hub *releaseHub) open() (*hubStream, error) {
	// Cancelled by the stream's end, or the client's. Without a leader
	// the member ends the stream, as the etcd client's watches do.
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(hub.client.Ctx()))
	ws, err := etcdserverpb.NewWatchClient(hub.client.ActiveConnection()).Watch(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open watch stream: %w", err)
	}
	st := &hubStream{hub: hub, cancel: cancel, ws: ws, watches: make(map[int64]*hubWatch)}
	go st.receive()
	return st, nil
}

func (st *hubStream) send(req *etcdserverpb.WatchRequest) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.ws.Send(req)
}

// receive hands out the stream's responses until it fails. It holds no
// lock while it calls onReleases, which may stop the watch.
func (st *hubStream) receive() {
	for {
		resp, err := st.ws.Recv()
		if err != nil {
			st.fail(err)
			return
		}
		st.hub.mu.Lock()
		w := st.watches[resp.WatchId]
		if w != nil && resp.Canceled {
			delete(st.watches, w.id)
		}
		st.hub.mu.Unlock()
		if w == nil {
			continue // stopped meanwhile
		}
		switch {
		case resp.Created:
			var err error
			if resp.Canceled {
				err = fmt.Errorf("watch refused by etcd: %s", resp.CancelReason)
			}
			w.confirm(err)
		case resp.Canceled:
			err := errWatchCanceled
			if resp.CompactRevision != 0 {
				err = fmt.Errorf("%w: history compacted at revision %d", errWatchCanceled, resp.CompactRevision)
			} else if resp.CancelReason != "" {
				err = fmt.Errorf("%w: %s", errWatchCanceled, resp.CancelReason)
			}
			w.h.onReleases(w, nil, err)
		case len(resp.Events) > 0:
			w.h.onReleases(w, resp.Events, nil)
		}
	}
}

// fail ends the stream: every watch on it fails with err, and the next
// watch opens another stream.
func (st *hubStream) fail(err error) {
	hub := st.hub
	hub.mu.Lock()
	if st.done {
		hub.mu.Unlock()
		return
	}
	st.done = true
	if hub.stream == st {
		hub.stream = nil
	}
	failed := st.watches
	st.watches = nil
	hub.mu.Unlock()
	st.cancel()
	err = fmt.Errorf("watch stream: %w", err)
	for _, w := range failed {
		select {
		case <-w.created:
			w.h.onReleases(w, nil, err)
		default:
			w.confirm(err)
		}
	}
}

// alive says whether w is still on its stream: not cancelled by etcd, its
// stream not failed.
func (w *hubWatch) alive() bool {
	w.st.hub.mu.Lock()
	defer w.st.hub.mu.Unlock()
	return !w.st.done && w.st.watches[w.id] == w
}

// stop cancels w. The stream ends with its last watch.
func (w *hubWatch) stop() {
	st := w.st
	hub := st.hub
	hub.mu.Lock()
	if st.done || st.watches[w.id] != w {
		hub.mu.Unlock()
		return
	}
	delete(st.watches, w.id)
	last := len(st.watches) == 0
	if last {
		st.done = true
		if hub.stream == st {
			hub.stream = nil
		}
	}
	hub.mu.Unlock()
	if last {
		st.cancel() // the goroutine ends with the stream
		return
	}
	// Best effort: a watch etcd keeps sends responses the goroutine drops.
	_ = st.send(&etcdserverpb.WatchRequest{RequestUnion: &etcdserverpb.WatchRequest_CancelRequest{
		CancelRequest: &etcdserverpb.WatchCancelRequest{WatchId: w.id},
	}})
}
