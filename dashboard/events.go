package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// eventEvery is the least time between two "change" events to one
// browser: a busy fleet changes keys many times a second, and each change
// makes the page render again.
const eventEvery = time.Second

// keepAliveEvery is how often an idle event stream sends a comment, so
// proxies keep it open.
const keepAliveEvery = 20 * time.Second

// events streams server-sent events: "change" whenever a key under the
// root prefix changed, at most once per eventEvery. The page's script
// fetches itself again on each. The stream ends when the browser leaves
// or the etcd client closes.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(r.Context()))
	defer cancel()
	stop := context.AfterFunc(s.cli.Ctx(), cancel)
	defer stop()
	wch := s.cli.Watch(wctx, s.cfg.prefix+"/", clientv3.WithPrefix())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n: p2kit dashboard events\n\n"); err != nil {
		return
	}
	fl.Flush()
	tick := time.NewTicker(eventEvery)
	defer tick.Stop()
	idle := time.NewTimer(keepAliveEvery)
	defer idle.Stop()
	pending := false
	var rev int64
	for {
		select {
		case <-wctx.Done():
			return
		case resp, ok := <-wch:
			if !ok {
				return
			}
			if err := resp.Err(); err != nil {
				s.log.Warn("dashboard: event watch", zap.Error(err))
				return // the browser reconnects after retry
			}
			if len(resp.Events) > 0 {
				pending, rev = true, resp.Header.Revision
			}
		case <-tick.C:
			if !pending {
				continue
			}
			pending = false
			if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", rev); err != nil {
				return
			}
			fl.Flush()
			idle.Reset(keepAliveEvery)
		case <-idle.C:
			if _, err := fmt.Fprint(w, ": idle\n\n"); err != nil {
				return
			}
			fl.Flush()
			idle.Reset(keepAliveEvery)
		}
	}
}
