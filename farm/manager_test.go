package farm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestManagerSharesOneLeaseAndRevokesItAtStop(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	m, err := farm.NewManager(cli, farm.WithTTL(30))
	require.NoError(t, err)
	noop := farm.ReconcilerFunc[Greeting](func(context.Context, string, *kv.Object[Greeting]) (farm.Result, error) {
		return farm.Result{}, nil
	})
	for _, kind := range []string{"hellos", "goodbyes"} {
		c, err := farm.For[Greeting](cli, kind, kv.New[Greeting](cli, "/"+kind+"/"), m.Options()...).Complete(noop)
		require.NoError(t, err)
		require.Same(t, m.Fleet(), c.Fleet(), "one fleet view")
		require.NoError(t, m.Add(kind, c))
		_, err = kv.New[Greeting](cli, "/"+kind+"/").Put(context.Background(), "a", &Greeting{Text: kind})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	locks := func() []int64 {
		resp, err := cli.Get(context.Background(), "/p2/locks/", clientv3.WithPrefix())
		require.NoError(t, err)
		var leases []int64
		for _, kv := range resp.Kvs {
			leases = append(leases, kv.Lease)
		}
		return leases
	}
	require.Eventually(t, func() bool { return len(locks()) == 2 }, 30*time.Second, 10*time.Millisecond)
	l := locks()
	require.Equal(t, l[0], l[1], "both farms hold their locks with one lease")
	cancel()
	require.NoError(t, <-done)
	require.Empty(t, locks(), "the lease is revoked at stop, not left to expire (TTL 30s)")
}

type failing struct{ err error }

func (f failing) Run(ctx context.Context) error { return f.err }

type waiting struct{ stopped chan struct{} }

func (w waiting) Run(ctx context.Context) error { <-ctx.Done(); close(w.stopped); return nil }

func TestManagerStopsEveryFarmWhenOneFails(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	m, err := farm.NewManager(cli)
	require.NoError(t, err)
	w := waiting{stopped: make(chan struct{})}
	boom := errors.New("boom")
	require.NoError(t, m.Add("waiter", w))
	require.NoError(t, m.Add("broken", failing{boom}))
	err = m.Run(context.Background())
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "broken: boom")
	<-w.stopped
	require.Error(t, m.Add("late", w), "no farm is added to a manager that ran")
}
