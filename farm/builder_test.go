package farm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// calls records what a typed reconciler was called with.
type calls struct {
	mu   sync.Mutex
	objs map[string][]*kv.Object[Greeting]
}

func (c *calls) add(id string, o *kv.Object[Greeting]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.objs[id] = append(c.objs[id], o)
}

func (c *calls) get(id string) []*kv.Object[Greeting] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*kv.Object[Greeting]{}, c.objs[id]...)
}

func runController(t *testing.T, cli *clientv3.Client, rec farm.ReconcilerFunc[Greeting], opts ...farm.Option) *farm.Controller[Greeting] {
	t.Helper()
	opts = append([]farm.Option{farm.WithTTL(2), farm.WithLogger(zaptest.NewLogger(t)),
		farm.WithBackoff(20*time.Millisecond, 100*time.Millisecond), farm.WithResync(100 * time.Millisecond)}, opts...)
	c, err := farm.For[Greeting](cli, "greetings", kv.New[Greeting](cli, "/g/"), opts...).Complete(rec)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); require.NoError(t, c.Run(ctx)) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func TestBuilderReconcilesThenForgetsADeletedEntity(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	cs := &calls{objs: map[string][]*kv.Object[Greeting]{}}
	c := runController(t, cli, func(ctx context.Context, id string, o *kv.Object[Greeting]) (farm.Result, error) {
		_, ok := farm.FenceFrom(ctx)
		require.True(t, ok, "the fence is in ctx")
		cs.add(id, o)
		return farm.Result{}, nil
	})
	store := kv.New[Greeting](cli, "/g/")
	_, err := store.Put(context.Background(), "a", &Greeting{Text: "hi"})
	require.NoError(t, err)
	// The lock is claimed before the reconcile runs: wait for the call.
	require.Eventually(t, func() bool { return len(c.Owned()) == 1 && len(cs.get("a")) > 0 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "hi", cs.get("a")[0].Value.Text)
	require.NoError(t, store.Delete(context.Background(), "a"))
	require.Eventually(t, func() bool {
		got := cs.get("a")
		return len(c.Owned()) == 0 && got[len(got)-1] == nil
	}, 10*time.Second, 10*time.Millisecond, "the last reconcile sees the entity gone")
	n := len(cs.get("a"))
	// Forgotten: resyncs (every 100ms) no longer reconcile it.
	require.Never(t, func() bool { return len(cs.get("a")) > n }, 500*time.Millisecond, 20*time.Millisecond)
}

func TestTerminalErrorIsNotRetriedAndIsCounted(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	reg := prometheus.NewRegistry()
	var n atomic.Int32
	runController(t, cli, func(ctx context.Context, id string, o *kv.Object[Greeting]) (farm.Result, error) {
		n.Add(1)
		if o != nil && o.Value.Text == "bad" {
			return farm.Result{}, farm.Terminal(errors.New("text: bad"))
		}
		return farm.Result{}, nil
	}, farm.WithRegistry(reg))
	store := kv.New[Greeting](cli, "/g/")
	_, err := store.Put(context.Background(), "a", &Greeting{Text: "bad"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return n.Load() > 1 }, 500*time.Millisecond, 20*time.Millisecond,
		"neither backoff nor resync retries a terminal error")
	require.Equal(t, 1.0, testutil.ToFloat64(counterOf(t, reg)))
	// Its next change reconciles it again.
	_, err = store.Put(context.Background(), "a", &Greeting{Text: "good"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Load() >= 2 }, 10*time.Second, 10*time.Millisecond)
}

func counterOf(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "p2kit_farm_reconcile_errors_total" {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 {
				return mf.Metric[0].GetCounter().GetValue()
			})
		}
	}
	t.Fatal("no p2kit_farm_reconcile_errors_total")
	return nil
}

func TestRequeueAfter(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	var n atomic.Int32
	runController(t, cli, func(ctx context.Context, id string, o *kv.Object[Greeting]) (farm.Result, error) {
		if n.Add(1) < 3 {
			return farm.Result{RequeueAfter: 10 * time.Millisecond}, nil
		}
		return farm.Result{}, nil
	}, farm.WithResync(time.Hour))
	_, err := kv.New[Greeting](cli, "/g/").Put(context.Background(), "a", &Greeting{Text: "hi"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Load() == 3 }, 10*time.Second, 10*time.Millisecond)
}

func TestFenceCommitSaysNotOwner(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	errs := make(chan [2]error, 1)
	f, err := farm.New(cli, "things", func(ctx context.Context, id string) (farm.Result, error) {
		fence, _ := farm.FenceFrom(ctx)
		never := clientv3.Compare(clientv3.Version("/never"), "=", 1)
		_, conflict := fence.Commit(ctx, cli, []clientv3.Cmp{never}, clientv3.OpPut("/out", "x"))
		if _, err := cli.Delete(ctx, "/p2/locks/things/", clientv3.WithPrefix()); err != nil {
			return farm.Result{}, err
		}
		_, lost := fence.Commit(ctx, cli, nil, clientv3.OpPut("/out", "x"))
		select {
		case errs <- [2]error{conflict, lost}:
		default:
		}
		return farm.Result{}, nil
	}, farm.WithResync(time.Hour))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	f.Enqueue("e")
	got := <-errs
	require.ErrorIs(t, got[0], kv.ErrConflict)
	require.NotErrorIs(t, got[0], farm.ErrNotOwner, "the owner's own compare failed, not the fence")
	require.ErrorIs(t, got[1], farm.ErrNotOwner)
	require.ErrorIs(t, got[1], kv.ErrConflict)
}

func TestFarmNamesALostLockAndTheEntity(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	core, logs := observer.New(zap.InfoLevel)
	var n atomic.Int32
	f, err := farm.New(cli, "things", func(ctx context.Context, id string) (farm.Result, error) {
		n.Add(1)
		fence, _ := farm.FenceFrom(ctx)
		// Another holder takes the lock: a lock left free would rightly
		// be claimed again, and the entity reconciled again.
		dir := fence.Key()[:strings.LastIndex(fence.Key(), "/")+1]
		if _, err := cli.Txn(ctx).Then(clientv3.OpDelete(fence.Key()),
			clientv3.OpPut(dir+"thief", "")).Commit(); err != nil {
			return farm.Result{}, err
		}
		// A plain kv.Commit: the farm finds out why it failed.
		_, err := kv.Commit(ctx, cli, fence.Cmps(), clientv3.OpPut("/out", "x"))
		return farm.Result{}, err
	}, farm.WithResync(time.Hour), farm.WithBackoff(10*time.Millisecond, 10*time.Millisecond), farm.WithLogger(zap.New(core)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	f.Enqueue("e")
	var entry observer.LoggedEntry
	require.Eventually(t, func() bool {
		es := logs.FilterMessageSnippet("lost the entity").All()
		if len(es) == 0 {
			return false
		}
		entry = es[0]
		return true
	}, 10*time.Second, 10*time.Millisecond)
	lostErr, _ := entry.ContextMap()["error"].(string)
	require.Contains(t, lostErr, "things e: "+farm.ErrNotOwner.Error())
	require.Never(t, func() bool { return n.Load() > 1 }, 300*time.Millisecond, 10*time.Millisecond,
		"a lost entity is not retried with backoff")
}
