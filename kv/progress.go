package kv

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcd before 3.4.24 and 3.5.8 answers a progress request at once with its
// current revision, also on a stream whose watches are still catching up
// on older events, which come after the answer (etcd-io/etcd#15220). A
// watch that took that answer for how far it has read would refuse the
// events as older than its revision and lose them. Fixed servers hold the
// answer until every watch on the stream has caught up.
//
// On such a server, or one whose version is not known, a progress
// notification moves a watcher's revision only when the watcher asked for
// it with RequestProgress and a keys-only listing of its prefix at the
// notification's revision matches its state key for key: one listing per
// request, for the first notification after it.

const (
	// versionRecheck is how long the versions of a client's servers are
	// trusted once all of them were found fixed.
	versionRecheck = 10 * time.Minute
	// versionRetry is how long a client whose servers were not all known
	// to be fixed waits before asking them again.
	versionRetry = 30 * time.Second
	// statusTimeout bounds each server's answer to the version question.
	statusTimeout = 2 * time.Second
)

// progressCheck remembers whether a client's servers order progress
// notifications after the events they confirm.
type progressCheck struct {
	mu       sync.Mutex
	ordered  bool      // false until a check found every server fixed
	until    time.Time // when to ask again
	checking bool      // a check runs
}

// progressOrdered reports whether every etcd server of the client is of a
// version that orders progress notifications after the events they
// confirm, as last found. When that is due it asks again, in the
// background, so that no watch waits on a member that does not answer:
// each endpoint's server (Status), at most once per versionRetry, or
// versionRecheck once all were fixed; a server that does not answer counts
// as not fixed. Until the first check is done, no server is taken as fixed.
func (p *streamPool) progressOrdered(cli *clientv3.Client, log *zap.Logger) bool {
	c := &p.progress
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checking && !time.Now().Before(c.until) {
		c.checking = true
		go c.check(cli, log)
	}
	return c.ordered
}

// check asks every endpoint's server its version and records the answer.
// It ends within statusTimeout per endpoint, or when the client closes.
func (c *progressCheck) check(cli *clientv3.Client, log *zap.Logger) {
	ordered := true
	for _, ep := range cli.Endpoints() {
		sctx, cancel := context.WithTimeout(cli.Ctx(), statusTimeout)
		resp, err := cli.Status(sctx, ep)
		cancel()
		switch {
		case err != nil:
			log.Debug("etcd server version unknown: its progress notifications are confirmed by a listing",
				zap.String("endpoint", ep), zap.Error(err))
			ordered = false
		case !progressFixed(resp.Version):
			log.Info("etcd server answers progress requests ahead of its events (etcd-io/etcd#15220, fixed in 3.4.24 and 3.5.8): progress notifications are confirmed by a listing",
				zap.String("endpoint", ep), zap.String("version", resp.Version))
			ordered = false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ordered, c.checking = ordered, false
	c.until = time.Now().Add(versionRetry)
	if ordered {
		c.until = time.Now().Add(versionRecheck)
	}
}

// progressFixed reports whether an etcd server of version v sends a
// requested progress notification only after the events it confirms.
func progressFixed(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) != 3 {
		return false
	}
	var n [3]int
	for i, s := range parts {
		s, _, _ = strings.Cut(s, "-") // "3.6.0-rc.1"
		x, err := strconv.Atoi(s)
		if err != nil {
			return false
		}
		n[i] = x
	}
	switch major, minor, patch := n[0], n[1], n[2]; {
	case major != 3:
		return major > 3
	case minor == 4:
		return patch >= 24
	case minor == 5:
		return patch >= 8
	default:
		return minor >= 6
	}
}

// progressHolds reports whether a progress notification of revision rev,
// ahead of the watcher's, may move the watcher's revision: always on
// servers that order their answers; on others, only when the watcher
// asked for progress and its state is etcd's at rev.
func (w *Watcher[T]) progressHolds(ctx context.Context, rev int64) bool {
	if w.pool.progressOrdered(w.s.client, w.s.log) {
		return true
	}
	if !w.confirm {
		return false
	}
	// One listing per request: the answer to one watch's request reaches
	// every watch on the stream, and a watch that is behind lists again
	// only when it asks again.
	w.confirm = false
	same, err := w.stateAt(ctx, rev)
	if err != nil {
		w.logger().Debug("progress notification not confirmed", zap.Int64("revision", rev), zap.Error(err))
		return false
	}
	return same
}

// stateAt reports whether the watcher's state has every key under the
// prefix at etcd's revision rev, at the same modification revision, and
// no other.
func (w *Watcher[T]) stateAt(ctx context.Context, rev int64) (bool, error) {
	known := w.state.Len()
	for name := range w.invalid {
		if !w.state.m.Has(name) {
			known++
		}
	}
	same, listed := true, 0
	_, err := w.s.listRawAt(ctx, rev, true, func(kv *mvccpb.KeyValue) {
		listed++
		name := w.name(kv.Key)
		mod, bad := w.invalid[name]
		if !bad {
			obj, ok := w.state.Get(name)
			if !ok {
				same = false
				return
			}
			mod = obj.ModRevision
		}
		if mod != kv.ModRevision {
			same = false
		}
	})
	if err != nil {
		return false, err
	}
	return same && listed == known, nil
}
