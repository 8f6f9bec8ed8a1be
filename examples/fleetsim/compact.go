package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactor compacts etcd's history as an operator's etcd is compacted
// in production: every interval, to the revision the previous round read,
// so that one interval of history is kept. It is kube-apiserver's
// compaction (every five minutes by default). Without it, the embedded
// member keeps an hour of history, and a run of half an hour indexes every
// revision and deleted key it made. It writes on the observer's uncounted
// client: it is the operator's work, not p2kit's. (Off by default: at
// 100,000 nodes it did not lower the peak heap, and each compaction of a
// million revisions slowed the member's answers; see docs/SCALE.md.)
type compactor struct {
	cli   *clientv3.Client
	every time.Duration

	rounds atomic.Int64 // compactions done
	failed atomic.Int64 // rounds that failed
	last   atomic.Int64 // the revision of the last one
	floor  atomic.Int64 // no compaction past this revision (0: none)
}

// keep stops compaction past rev until it is called with 0: a check that
// reads etcd's history from rev on (the controller failover's) needs it;
// keep(1) stops compaction altogether (the mass deletion's backup).
// A compaction runs to a revision read at least a round before, so one
// that races with keep leaves rev, read after it, readable.
func (c *compactor) keep(rev int64) {
	if c != nil {
		c.floor.Store(rev)
	}
}

// run compacts until ctx ends. A round that fails (etcd behind, or the
// revision compacted already by the cluster's own compactor) is tried
// again at the next one.
func (c *compactor) run(ctx context.Context, warn func(error)) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	var prev int64 // the revision read at the previous round
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		resp, err := c.cli.Get(ctx, "compact_rev_key", clientv3.WithCountOnly())
		if err != nil {
			if ctx.Err() == nil {
				c.failed.Add(1)
				warn(fmt.Errorf("compaction: reading the revision: %w", err))
			}
			continue
		}
		to := prev
		if f := c.floor.Load(); f > 0 {
			to = min(to, f)
		}
		if to > c.last.Load() {
			_, err := c.cli.Compact(ctx, to)
			switch {
			case err == nil:
				c.rounds.Add(1)
				c.last.Store(to)
			case errors.Is(err, rpctypes.ErrCompacted):
				c.last.Store(to)
			case ctx.Err() == nil:
				c.failed.Add(1)
				warn(fmt.Errorf("compaction to revision %d: %w", to, err))
			}
		}
		prev = resp.Header.Revision
	}
}
