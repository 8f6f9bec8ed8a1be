package failsafe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// consumer pulls a guarded source from the test's own goroutine, so that
// the test knows exactly what it has been given up to a revision.
type consumer struct {
	name string
	w    *kv.Watcher[item]
	src  kv.Source[item]
	h    *failsafe.Holds
	view map[string]item
	log  []string
}

func newConsumer(ctx context.Context, name string, s *kv.Store[item], h *failsafe.Holds, guards ...failsafe.Guard[item]) *consumer {
	w := s.Watch(ctx)
	return &consumer{name: name, w: w, h: h, src: failsafe.Chain[item](w, guards...), view: map[string]item{}}
}

// take applies a delivered batch to the consumer's view and logs it.
func (c *consumer) take(t *testing.T, b *kv.Batch[item]) {
	t.Helper()
	var evs []string
	for _, ev := range b.Events {
		switch {
		case ev.Err != nil:
			evs = append(evs, "bad "+ev.Name)
		case ev.Type == kv.Delete:
			delete(c.view, ev.Name)
			evs = append(evs, "delete "+ev.Name)
		default:
			c.view[ev.Name] = ev.New.Value
			evs = append(evs, fmt.Sprintf("%s %s=%d%s", ev.Type, ev.Name, ev.New.Value.N, ev.New.Value.S))
		}
	}
	sort.Strings(evs)
	c.log = append(c.log, fmt.Sprintf("%s released=%v [%s]", b.Kind, b.Released, strings.Join(evs, ", ")))
}

// until pulls batches until the consumer's watch has read etcd up to rev
// and the guards have nothing more to give. It returns what was delivered.
// The watch's revision moves only once a batch was handed to the guards,
// and they judge it before asking for the next one, so when Next gives up
// after the revision reached rev every batch up to rev has been judged.
func (c *consumer) until(t *testing.T, rev int64) []*kv.Batch[item] {
	t.Helper()
	return c.pull(t, fmt.Sprintf("watch at revision %d", rev), func() bool { return c.w.Revision() >= rev })
}

// pull calls Next until it gives up once done holds, and returns what was
// delivered meanwhile.
func (c *consumer) pull(t *testing.T, what string, done func() bool) []*kv.Batch[item] {
	t.Helper()
	got, err := c.tryPull(t.Context(), what, done)
	require.NoError(t, err)
	for _, b := range got {
		c.take(t, b)
	}
	return got
}

// tryPull is pull without the test's assertions, for any goroutine.
func (c *consumer) tryPull(ctx context.Context, what string, done func() bool) ([]*kv.Batch[item], error) {
	var got []*kv.Batch[item]
	deadline := time.Now().Add(waitFor)
	for {
		nctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-nctx.Done():
					return
				case <-tick.C:
					if done() || time.Now().After(deadline) {
						cancel()
						return
					}
				}
			}
		}()
		b, err := c.src.Next(nctx)
		cancel()
		<-stopped
		if err == nil {
			got = append(got, b)
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return got, fmt.Errorf("%s: %w", c.name, err)
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%s: never reached: %s (watch at %d)", c.name, what, c.w.Revision())
		}
		return got, nil
	}
}

// releaseAll releases every hold of h, which all of cons share, and pulls
// each of them until no hold of h is left.
func releaseAll(t *testing.T, cli *clientv3.Client, root string, h *failsafe.Holds, cons []*consumer) bool {
	t.Helper()
	active := h.Active()
	if len(active) == 0 {
		return false
	}
	for _, r := range active {
		require.NoError(t, failsafe.Release(ctxT(t), cli, root, r.ID, "tester"))
	}
	type result struct {
		got []*kv.Batch[item]
		err error
	}
	results := make([]result, len(cons))
	var wg sync.WaitGroup
	for i, c := range cons {
		wg.Go(func() {
			got, err := c.tryPull(t.Context(), "holds released", func() bool { return len(h.Active()) == 0 })
			results[i] = result{got, err}
		})
	}
	wg.Wait()
	for i, c := range cons {
		require.NoError(t, results[i].err)
		for _, b := range results[i].got {
			c.take(t, b)
		}
		c.log = append(c.log, "released")
	}
	return true
}

// released releases every hold of the consumer's Holds and pulls until
// the released net change is delivered. It returns false when nothing was
// held.
func (c *consumer) released(t *testing.T, cli *clientv3.Client, root string) bool {
	t.Helper()
	return releaseAll(t, cli, root, c.h, []*consumer{c})
}

// holds describes the consumer's hold for the log: what holds, not when.
func (c *consumer) holdState() string {
	active := c.h.Active()
	if len(active) == 0 {
		return "no hold"
	}
	return fmt.Sprintf("%d hold(s): %s deletes=%d", len(active), active[0].Guard, active[0].Deletes)
}

// etcdState reads what etcd holds under dir, decoded; undecodable values
// are left out.
func etcdState(t *testing.T, cli *clientv3.Client, dir string) map[string]item {
	t.Helper()
	resp, err := cli.Get(ctxT(t), dir, clientv3.WithPrefix())
	require.NoError(t, err)
	m := map[string]item{}
	for _, kvp := range resp.Kvs {
		var it item
		if json.Unmarshal(kvp.Value, &it) == nil {
			m[strings.TrimPrefix(string(kvp.Key), dir)] = it
		}
	}
	return m
}
