package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// hub shares one etcd watch of the root prefix among every open event
// stream: a busy fleet writes thousands of keys a second, and each
// browser needs only to know that something changed since the revision
// its page was read at. The watch runs while anyone listens.
type hub struct {
	cli    *clientv3.Client
	prefix string
	log    *zap.Logger

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	// rev is the newest revision the watch has reported changes up to:
	// a page read before it is out of date.
	rev    int64
	cancel context.CancelFunc // stops the watch; nil while none runs
	done   chan struct{}      // closed when the watch goroutine returns
}

// subscribe returns a channel that receives (at most one pending) signal
// after each change, at once when something changed after since (the
// revision the page was read at; 0: unknown), and the function that ends
// the subscription.
func (h *hub) subscribe(ctx context.Context, since int64) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel == nil {
		resp, err := h.cli.Get(ctx, h.prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return nil, nil, fmt.Errorf("read %s/: %w", h.prefix, err)
		}
		h.rev = resp.Header.Revision
		wctx, cancel := context.WithCancel(h.cli.Ctx())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.watch(wctx, h.rev+1, h.done)
	}
	if h.subs == nil {
		h.subs = map[chan struct{}]struct{}{}
	}
	h.subs[ch] = struct{}{}
	if since > 0 && h.rev > since {
		ch <- struct{}{}
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		var done chan struct{}
		if len(h.subs) == 0 && h.cancel != nil {
			h.cancel()
			h.cancel, done = nil, h.done
		}
		h.mu.Unlock()
		if done != nil {
			<-done
		}
	}, nil
}

// watch follows the prefix from revision from until ctx ends, resuming
// after an error (a lost leader) from the last revision seen, or from now
// after a compaction, which counts as a change.
func (h *hub) watch(ctx context.Context, from int64, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		wch := h.cli.Watch(clientv3.WithRequireLeader(ctx), h.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				h.log.Warn("dashboard: event watch", zap.Error(err))
				if errors.Is(err, rpctypes.ErrCompacted) {
					from = 0 // from now on; the compacted span counts as a change
					h.changed(resp.Header.Revision)
				}
				break
			}
			if len(resp.Events) > 0 {
				h.changed(resp.Header.Revision)
			}
			from = resp.Header.Revision + 1
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// changed records that keys changed up to rev and tells every subscriber.
func (h *hub) changed(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = max(h.rev, rev)
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
