package kv_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// TestStalledStreamRestarted makes a watch stream go silent while it stays
// open: the watcher's client reaches the one member through a proxy that is
// then paused, so neither events nor progress notifications arrive and no
// error is seen. The client is pointed at a second proxy meanwhile, as a
// client whose path to etcd changed. The changes written behind the
// watcher's back arrive once the stall probe has restarted the stream;
// without the probe the watcher would wait on the paused stream forever.
func TestStalledStreamRestarted(t *testing.T) {
	c := etcdtest.New(t)
	m := c.Members[0]
	silent, other := m.Proxy(t), m.Proxy(t)
	cli := c.ClientFor(t, silent.Endpoint())
	ctx := testCtx(t)
	writer := kv.New[item](c.Client(t), "/t/stall")
	const timeout = 200 * time.Millisecond
	w := kv.New[item](cli, "/t/stall").Watch(ctx, kv.StallTimeout(timeout))
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	_, err := writer.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	b := next[item](t, w)
	require.Equal(t, kv.Live, b.Kind, "the stream is open")

	silent.Pause()
	cli.SetEndpoints(other.Endpoint())
	paused := time.Now()
	_, err = writer.Put(ctx, "a", &item{N: 2})
	require.NoError(t, err)
	_, err = writer.Create(ctx, "b", &item{N: 3})
	require.NoError(t, err)

	// Four times the probe's whole cycle (probe, then restart) is plenty;
	// the probe disabled, nothing arrives however long one waits.
	wctx, cancel := context.WithTimeout(ctx, 8*timeout+5*time.Second)
	defer cancel()
	var got []kv.Event[item]
	for len(got) < 2 {
		b, err := w.Next(wctx)
		require.NoError(t, err, "the watcher never caught up after its stream went silent; got %+v", got)
		require.Equal(t, kv.Live, b.Kind, "resumed from the last revision applied, not relisted")
		got = append(got, b.Events...)
	}
	t.Logf("caught up %s after the stream went silent (stall timeout %s)", time.Since(paused).Round(time.Millisecond), timeout)
	require.Len(t, got, 2)
	require.Equal(t, kv.Mutate, got[0].Type)
	require.Equal(t, 2, got[0].New.Value.N)
	require.Equal(t, kv.Create, got[1].Type)
	require.Equal(t, "b", got[1].Name)
	require.Equal(t, viewState(t, w.State()), etcdState(t, c.Client(t), "/t/stall/"))
}
