package farm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"
)

// recorder reconciles by writing its name to /t/owner/<id>, fenced.
type recorder struct {
	name string
	cli  *clientv3.Client
	mu   sync.Mutex
	seen map[string]int
}

func (r *recorder) Reconcile(ctx context.Context, id string) (farm.Result, error) {
	fence, _ := farm.FenceFrom(ctx)
	_, err := kv.Commit(ctx, r.cli, fence.Cmps(), clientv3.OpPut("/t/owner/"+id, r.name))
	if err != nil {
		return farm.Result{}, err
	}
	r.mu.Lock()
	r.seen[id]++
	r.mu.Unlock()
	return farm.Result{}, nil
}

func (r *recorder) ids() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for id := range r.seen {
		out[id] = true
	}
	return out
}

func startFarm(t *testing.T, cli *clientv3.Client, name string, ids []string) (*farm.Farm, *recorder, context.CancelFunc) {
	rec := &recorder{name: name, cli: cli, seen: map[string]int{}}
	f, err := farm.New(cli, "things", rec.Reconcile,
		farm.WithTTL(2), farm.WithIdentity(name), farm.WithLogger(zaptest.NewLogger(t)),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond), farm.WithResync(200*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		require.NoError(t, f.Run(ctx))
	}()
	t.Cleanup(func() { cancel(); <-done })
	for _, id := range ids {
		f.Enqueue(id)
	}
	return f, rec, cancel
}

func TestEachEntityHasOneOwnerAndTakeover(t *testing.T) {
	c := etcdtest.New(t)
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("e%d", i))
	}
	cliA := c.Client(t)
	fa, ra, _ := startFarm(t, cliA, "a", ids)
	fb, rb, _ := startFarm(t, c.Client(t), "b", ids)

	require.Eventually(t, func() bool { return len(fa.Owned())+len(fb.Owned()) == len(ids) },
		30*time.Second, 10*time.Millisecond)
	// Resyncs run several times; ownership does not move.
	ownedA, ownedB := fa.Owned(), fb.Owned()
	require.Eventually(t, func() bool {
		ra.mu.Lock()
		defer ra.mu.Unlock()
		for _, id := range ownedA {
			if ra.seen[id] < 3 {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, ownedA, fa.Owned())
	require.Equal(t, ownedB, fb.Owned())
	for id := range ra.ids() {
		require.NotContains(t, rb.ids(), id, "entity %s reconciled by both farms", id)
	}

	// Farm a dies without a word: its lease expires and b takes over.
	require.NoError(t, cliA.Close())
	require.Eventually(t, func() bool { return len(fb.Owned()) == len(ids) }, 30*time.Second, 20*time.Millisecond)
	check := c.Client(t)
	require.Eventually(t, func() bool {
		resp, err := check.Get(context.Background(), "/t/owner/", clientv3.WithPrefix())
		if err != nil || len(resp.Kvs) != len(ids) {
			return false
		}
		for _, kv := range resp.Kvs {
			if string(kv.Value) != "b" {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond)
}

func TestGracefulStopHandsOverAtOnce(t *testing.T) {
	c := etcdtest.New(t)
	ids := []string{"x", "y", "z"}
	fa, _, stopA := startFarm(t, c.Client(t), "a", ids)
	require.Eventually(t, func() bool { return len(fa.Owned()) == 3 }, 30*time.Second, 10*time.Millisecond)
	fb, _, _ := startFarm(t, c.Client(t), "b", ids)
	stopA()
	require.Eventually(t, func() bool { return len(fb.Owned()) == 3 }, 30*time.Second, 10*time.Millisecond)
}

func TestFenceStopsALostOwner(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	var fence farm.Fence
	got := make(chan struct{})
	var once sync.Once
	f, err := farm.New(cli, "things", func(ctx context.Context, id string) (farm.Result, error) {
		fence, _ = farm.FenceFrom(ctx)
		once.Do(func() { close(got) })
		return farm.Result{}, nil
	}, farm.WithTTL(1))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	f.Enqueue("e")
	<-got
	_, err = kv.Commit(context.Background(), cli, fence.Cmps(), clientv3.OpPut("/t/x", "1"))
	require.NoError(t, err, "the owner may write")
	// The lock is taken away (as when the lease expires).
	_, err = cli.Delete(context.Background(), "/p2/locks/things/", clientv3.WithPrefix())
	require.NoError(t, err)
	_, err = kv.Commit(context.Background(), cli, fence.Cmps(), clientv3.OpPut("/t/x", "2"))
	require.ErrorIs(t, err, kv.ErrConflict, "a lost owner cannot write")
	cancel()
	<-done
}

func TestFarmMetrics(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	reg := prometheus.NewRegistry()
	done := make(chan struct{}, 10)
	f, err := farm.New(cli, "things", func(ctx context.Context, id string) (farm.Result, error) {
		done <- struct{}{}
		return farm.Result{}, nil
	}, farm.WithRegistry(reg))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { defer close(finished); _ = f.Run(ctx) }()
	f.Enqueue("a")
	f.Enqueue("b")
	<-done
	<-done
	require.Eventually(t, func() bool {
		return gaugeValue(t, reg, "p2kit_farm_owned_entities") == 2
	}, 10*time.Second, 10*time.Millisecond)
	n, err := testutil.GatherAndCount(reg, "p2kit_farm_reconcile_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	cancel()
	<-finished
}

// gaugeValue reads the one series of a gauge in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	return -1
}

// A standby whose claim finds the lock taken deletes its own waiting key;
// that delete is not a release, and must not queue the entity again (a
// claim loop at etcd's round-trip speed for as long as the owner lives).
func TestStandbyDoesNotClaimInALoop(t *testing.T) {
	c := etcdtest.New(t)
	fa, ra, _ := startFarm(t, c.Client(t), "a", []string{"x"})
	require.Eventually(t, func() bool { return len(fa.Owned()) == 1 }, 30*time.Second, 10*time.Millisecond)

	check := c.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, err := check.Get(ctx, "/")
	require.NoError(t, err)
	var mu sync.Mutex
	deletes := 0
	wch := check.Watch(ctx, "/p2/locks/things/x/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1))
	go func() {
		for resp := range wch {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					mu.Lock()
					deletes++
					mu.Unlock()
				}
			}
		}
	}()

	// b resyncs only once an hour: nothing but a release may queue x again.
	recB := &recorder{name: "b", cli: c.Client(t), seen: map[string]int{}}
	fb, err := farm.New(c.Client(t), "things", recB.Reconcile,
		farm.WithTTL(2), farm.WithIdentity("b"), farm.WithLogger(zaptest.NewLogger(t)),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond), farm.WithResync(time.Hour))
	require.NoError(t, err)
	bctx, stopB := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); require.NoError(t, fb.Run(bctx)) }()
	t.Cleanup(func() { stopB(); <-done })
	fb.Enqueue("x")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return deletes >= 1 },
		30*time.Second, 5*time.Millisecond, "b never tried to claim x")

	// Let a reconcile x three more times (its resync is 200ms): a claim
	// loop would have deleted b's waiting key many times meanwhile.
	ra.mu.Lock()
	base := ra.seen["x"]
	ra.mu.Unlock()
	require.Eventually(t, func() bool { ra.mu.Lock(); defer ra.mu.Unlock(); return ra.seen["x"] >= base+3 },
		30*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, deletes, "b claimed x again without a release")
	require.Empty(t, fb.Owned())
}
