package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// eventEvery is the least time between two "change" events to one
// browser: a busy fleet changes keys many times a second, and each change
// makes the page render again.
const eventEvery = time.Second

// keepAliveEvery is how often an idle event stream sends a comment, so
// proxies keep it open.
const keepAliveEvery = 20 * time.Second

// events streams server-sent events: "change" whenever a key under the
// root prefix changed after the revision ?rev= (the page's), at most once
// per eventEvery. The page's script
// fetches itself again on each. The stream ends when the browser leaves
// or the etcd client closes.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("rev"), 10, 64)
	changes, unsubscribe, err := s.hub.subscribe(r.Context(), since)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer unsubscribe()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.cli.Ctx(), cancel)
	defer stop()
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			pending = true
		case <-tick.C:
			if !pending {
				continue
			}
			pending = false
			if _, err := fmt.Fprint(w, "event: change\ndata: {}\n\n"); err != nil {
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
