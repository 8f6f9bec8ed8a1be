package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	rpctypes "go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// counter is the value the compaction test writes.
type counter struct {
	N int `json:"n"`
}

// follower consumes a kv watch as a consumer would and keeps the state it
// was told about, built from events alone.
type follower struct {
	name string
	w    *kv.Watcher[counter]

	mu      sync.Mutex
	state   map[string]int // from events alone
	watched map[string]int // the watcher's own state after the last batch
	rev     int64
	batches int
	resyncs int
}

func follow(ctx context.Context, t *testing.T, name string, cli *clientv3.Client) *follower {
	s := kv.New[counter](cli, "/load/")
	f := &follower{name: name, w: s.Watch(ctx), state: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = kv.Run(ctx, f.w, func(b *kv.Batch[counter]) error {
			watched := map[string]int{}
			b.After.Range(func(o *kv.Object[counter]) bool {
				watched[o.Name] = o.Value.N
				return true
			})
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, ev := range b.Events {
				if ev.Type == kv.Delete {
					delete(f.state, ev.Name)
				} else {
					f.state[ev.Name] = ev.New.Value.N
				}
			}
			f.watched, f.rev = watched, b.Revision
			f.batches++
			if b.Kind == kv.Resync {
				f.resyncs++
			}
			return nil
		})
	}()
	t.Cleanup(func() { f.w.Close(); <-done })
	return f
}

func (f *follower) at(rev int64) (state, watched map[string]int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.watched, f.rev >= rev
}

// 10,000 changes to 500 keys, in transactions of 10, while the history is
// compacted to the current revision every 100 ms; one watcher's member is
// stopped and restarted twice meanwhile, so that it resumes from
// compacted revisions. At the end each watcher's state, and the state
// built from the events it delivered, equal etcd's.
func TestWatchStateSurvivesCompactionUnderLoad(t *testing.T) {
	const (
		changes = 10_000
		keys    = 500
		perTxn  = 10
	)
	w := newWorld(t, 3)
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	steady := follow(ctx, t, "every member", w.client())
	bounced := w.etcd.Members[2]
	moved := follow(ctx, t, "member "+bounced.Name+" only", w.client(bounced.Endpoint()))
	for _, f := range []*follower{steady, moved} {
		select {
		case <-f.w.Synced():
		case <-w.ctx.Done():
			t.Fatal("watch never synced")
		}
	}

	var compactions atomic.Int64
	stopCompacting := make(chan struct{})
	compacted := make(chan struct{})
	ccli := w.client(w.etcd.Members[0].Endpoint(), w.etcd.Members[1].Endpoint())
	go func() {
		defer close(compacted)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopCompacting:
				return
			case <-tick.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := ccli.Get(cctx, "/load/\x00")
			if err == nil {
				_, err = ccli.Compact(cctx, resp.Header.Revision)
			}
			ccancel()
			if err == nil {
				compactions.Add(1)
			} else if !errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
				t.Logf("compact: %v", err)
			}
		}
	}()

	rng := rand.New(rand.NewPCG(7, 11))
	wcli := w.client(w.etcd.Members[0].Endpoint(), w.etcd.Members[1].Endpoint())
	start := time.Now()
	// Twice, the bounced member is stopped, 1,000 changes are written
	// while it is down, the history is compacted past them, and it is
	// restarted: its watcher must resume from a compacted revision.
	bounces := 0
	for done := 0; done < changes; done += perTxn {
		if done == changes/4 || done == changes*3/5 {
			bounced.Stop(t)
			bounces++
		}
		if done == changes/4+1000 || done == changes*3/5+1000 {
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := ccli.Get(cctx, "/load/\x00")
			require.NoError(t, err)
			_, err = ccli.Compact(cctx, resp.Header.Revision)
			ccancel()
			if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
				require.NoError(t, err)
			}
			bounced.Restart(t)
		}
		ops := make([]clientv3.Op, 0, perTxn)
		picked := map[int]bool{}
		for len(ops) < perTxn {
			k := rng.IntN(keys)
			if picked[k] {
				continue
			}
			picked[k] = true
			key := fmt.Sprintf("/load/k%03d", k)
			if rng.IntN(4) == 0 {
				ops = append(ops, clientv3.OpDelete(key))
			} else {
				ops = append(ops, clientv3.OpPut(key, fmt.Sprintf(`{"n":%d}`, done+len(ops))))
			}
		}
		w.retry("write", func(ctx context.Context) error {
			_, err := wcli.Txn(ctx).Then(ops...).Commit()
			return err
		})
	}
	writing := time.Since(start)
	close(stopCompacting)
	<-compacted

	resp, err := w.cli.Get(w.ctx, "/load/", clientv3.WithPrefix())
	require.NoError(t, err)
	want := map[string]int{}
	for _, kvp := range resp.Kvs {
		var c counter
		require.NoError(t, jsonUnmarshal(kvp.Value, &c))
		want[string(kvp.Key)[len("/load/"):]] = c.N
	}
	final := resp.Header.Revision
	for _, f := range []*follower{steady, moved} {
		var state, watched map[string]int
		require.Eventually(t, func() bool {
			var ok bool
			state, watched, ok = f.at(final)
			return ok
		}, waitFor, 10*time.Millisecond, "%s reaches revision %d", f.name, final)
		require.Equal(t, want, state, "%s: the state built from the events equals etcd's", f.name)
		require.Equal(t, want, watched, "%s: the watcher's state equals etcd's", f.name)
		f.mu.Lock()
		figure(t, fmt.Sprintf("watcher on %s: batches, relists (Resync batches)", f.name),
			fmt.Sprintf("%d batches, %d relists", f.batches, f.resyncs))
		f.mu.Unlock()
	}
	require.Equal(t, 2, bounces)
	moved.mu.Lock()
	relists := moved.resyncs
	moved.mu.Unlock()
	require.GreaterOrEqual(t, relists, 1, "the bounced member's watcher resumed from a compacted revision")
	require.GreaterOrEqual(t, compactions.Load(), int64(5), "compaction ran all along")
	figure(t, "10,000 changes in txns of 10 over 3 members, compacting every 100 ms", writing.Round(time.Millisecond))
	figure(t, "compactions during the writes", compactions.Load())
	figure(t, "keys at the end", len(want))
}
