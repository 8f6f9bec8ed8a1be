package component

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultEtcdCheckInterval is how often a daemon checks that etcd answers.
const DefaultEtcdCheckInterval = 5 * time.Second

// etcdWarnEvery is how often the warning repeats while etcd stays
// unreachable.
const etcdWarnEvery = time.Minute

// WatchEtcd asks cli's endpoints for their status every interval (each ask
// waits at least a second) until ctx ends. When none answers it logs a warning (repeated every minute while
// that lasts), and when one answers again an info line saying for how long
// etcd was unreachable. It returns when ctx ends.
func WatchEtcd(ctx context.Context, cli *clientv3.Client, interval time.Duration, log *zap.Logger) {
	if interval <= 0 {
		interval = DefaultEtcdCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	timeout := max(interval, time.Second)
	var down, warned time.Time
	for {
		err := probe(ctx, cli, cli.Endpoints(), timeout)
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && down.IsZero():
			down, warned = now, now
			log.Warn("etcd unreachable; working from what was last read, and retrying", zap.Strings("etcd", cli.Endpoints()), zap.Error(err))
		case err != nil && now.Sub(warned) >= etcdWarnEvery:
			warned = now
			log.Warn("etcd still unreachable", zap.Strings("etcd", cli.Endpoints()), zap.Duration("for", now.Sub(down).Round(time.Second)), zap.Error(err))
		case err == nil && !down.IsZero():
			log.Info("etcd reachable again", zap.Strings("etcd", cli.Endpoints()), zap.Duration("unreachable_for", now.Sub(down).Round(time.Millisecond)))
			down = time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
