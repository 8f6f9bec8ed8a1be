package kv_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// watchBytes counts the bytes a client receives on etcd's Watch stream.
type watchBytes struct{ n atomic.Int64 }

type methodKey struct{}

func (h *watchBytes) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (h *watchBytes) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok && ctx.Value(methodKey{}) == "/etcdserverpb.Watch/Watch" {
		h.n.Add(int64(in.WireLength))
	}
}

func (h *watchBytes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h *watchBytes) HandleConn(context.Context, stats.ConnStats)                       {}

// TestWatchBytesWithoutPrevValues checks that the watch does not ask etcd
// for previous values: a mutation costs about one value on the wire, not
// two, and a delete about its key, not its last value. Old values come
// from the watcher's state.
func TestWatchBytesWithoutPrevValues(t *testing.T) {
	const n = 100
	valueSize := 1024
	c := etcdtest.New(t)
	writer := kv.New[item](c.Client(t), "/bytes/")
	counter := &watchBytes{}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithStatsHandler(counter)},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	ctx := testCtx(t)

	value := func(v int) *item { return &item{N: v, S: strings.Repeat(fmt.Sprint(v%10), valueSize)} }
	for i := range n {
		_, err := writer.Create(ctx, fmt.Sprintf("k%03d", i), value(0))
		require.NoError(t, err)
	}
	w := kv.New[item](cli, "/bytes/").Watch(ctx)
	defer w.Close()
	first := next[item](t, w)
	require.Equal(t, kv.Initial, first.Kind)
	require.Equal(t, n, first.After.Len())

	// Mutations: each event's Old is the value the watcher knew.
	counter.n.Store(0)
	for i := range n {
		_, err := writer.Put(ctx, fmt.Sprintf("k%03d", i), value(1))
		require.NoError(t, err)
	}
	mutated := 0
	for mutated < n {
		b := next[item](t, w)
		for _, ev := range b.Events {
			require.Equal(t, kv.Mutate, ev.Type, ev.Name)
			require.NotNil(t, ev.Old, ev.Name)
			require.Equal(t, 0, ev.Old.Value.N, ev.Name)
			require.Equal(t, 1, ev.New.Value.N, ev.Name)
			mutated++
		}
	}
	mutBytes := counter.n.Load()

	// Deletes: each carries the last value the watcher knew.
	counter.n.Store(0)
	for i := range n {
		require.NoError(t, writer.Delete(ctx, fmt.Sprintf("k%03d", i)))
	}
	deleted := 0
	for deleted < n {
		b := next[item](t, w)
		for _, ev := range b.Events {
			require.Equal(t, kv.Delete, ev.Type, ev.Name)
			require.NotNil(t, ev.Old, ev.Name)
			require.Equal(t, 1, ev.Old.Value.N, ev.Name)
			require.Equal(t, strings.Repeat("1", valueSize), ev.Old.Value.S, ev.Name)
			deleted++
		}
	}
	delBytes := counter.n.Load()

	t.Logf("watch bytes received: %d mutations of %d-byte values: %d (%d per mutation); %d deletes: %d (%d per delete)",
		n, valueSize, mutBytes, mutBytes/n, n, delBytes, delBytes/n)
	require.Less(t, mutBytes, int64(n*valueSize*3/2), "mutations carry previous values")
	require.Less(t, delBytes, int64(n*valueSize/4), "deletes carry previous values")
}
