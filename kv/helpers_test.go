package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type item struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next reads one batch with a deadline.
func next[T any](t *testing.T, src kv.Source[T]) *kv.Batch[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := src.Next(ctx)
	require.NoError(t, err)
	return b
}

// nothingWithin asserts that src delivers no batch within d. It is a
// negative check: it can only fail if a batch arrives.
func nothingWithin[T any](t *testing.T, src kv.Source[T], d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	b, err := src.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "unexpected batch %+v", b)
}

// collect reads batches until the watcher's state satisfies done.
func collect[T any](t *testing.T, w *kv.Watcher[T], done func(kv.View[T]) bool) []*kv.Batch[T] {
	t.Helper()
	var out []*kv.Batch[T]
	for !done(w.State()) {
		out = append(out, next[T](t, w))
	}
	return out
}

// etcdState reads every key under prefix with a raw client.
func etcdState(t *testing.T, cli *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := cli.Get(testCtx(t), prefix, clientv3.WithPrefix())
	require.NoError(t, err)
	m := map[string]string{}
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = string(kv.Value)
	}
	return m
}

// viewState renders a view the way etcdState renders etcd.
func viewState(t *testing.T, v kv.View[item]) map[string]string {
	t.Helper()
	m := map[string]string{}
	v.Range(func(o *kv.Object[item]) bool {
		m[o.Key] = fmt.Sprintf(`{"n":%d}`, o.Value.N)
		return true
	})
	return m
}
