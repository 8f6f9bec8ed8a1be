package failsafe

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/p2kit/p2kit/internal/watchmux"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A releaseHub runs the release watches of every Holds that shares one
// etcd client on one gRPC watch stream of its own (internal/watchmux),
// whose one goroutine receives the responses and hands each to its Holds
// (onReleases). The etcd client's Watch runs a goroutine for each watch:
// in a process that simulates a fleet, one Holds per node, that was a
// goroutine per held node. The stream, and the goroutine, start with the
// first watch and end when the last is cancelled, when the stream fails
// (every watch on it fails then, and its Holds open another after a
// while) or when the client is closed.
type releaseHub struct {
	client *clientv3.Client
	passes passQueue // the bookkeeping passes of the client's Holds

	mu     sync.Mutex
	stream *watchmux.Stream // nil, or done, while none runs
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

// hubWatch is one release watch on a hub's stream.
type hubWatch struct {
	h *Holds
	w *watchmux.Watch
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
	w := &hubWatch{h: h, created: make(chan struct{})}
	hub.mu.Lock()
	if hub.stream == nil || hub.stream.Done() {
		st, err := watchmux.Open(hub.client, nil)
		if err != nil {
			hub.mu.Unlock()
			return nil, err
		}
		hub.stream = st
	}
	mw, err := hub.stream.Watch(&etcdserverpb.WatchCreateRequest{Key: []byte(from), RangeEnd: []byte(end)}, w.on, w.failed)
	hub.mu.Unlock()
	if err != nil {
		return nil, err
	}
	w.w = mw
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

// on takes a response of w's watch. onReleases may stop the watch.
func (w *hubWatch) on(resp *etcdserverpb.WatchResponse) {
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

// failed tells w's Holds that the stream failed, or fails the wait for
// the creation.
func (w *hubWatch) failed(err error) {
	select {
	case <-w.created:
		w.h.onReleases(w, nil, err)
	default:
		w.confirm(err)
	}
}

// alive says whether w is still on its stream: not cancelled by etcd, its
// stream not failed.
func (w *hubWatch) alive() bool { return w.w.Alive() }

// stop cancels w. The stream ends with its last watch.
func (w *hubWatch) stop() { w.w.Stop(true) }
