package kv_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/framedrop"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// TestResyncRepairsALostEvent loses the watch response that carries one
// change while the stream stays up: the proxy between the watcher's client
// and etcd drops whole HTTP/2 frames, so nothing errors and etcd's progress
// notifications carry the watcher past the lost revision. The watcher
// cannot notice; Resync, asked for by a consumer that knows it was cut
// off, brings the change in as one Resync batch.
func TestResyncRepairsALostEvent(t *testing.T) {
	c := etcdtest.New(t)
	p := c.Members[0].Proxy(t)
	drop := framedrop.New()
	p.Server().ModifyRx(drop.Modify) // from the connection's first byte
	cli := c.ClientFor(t, p.Endpoint())
	ctx := testCtx(t)
	writer := kv.New[item](c.Client(t), "/t/lost")
	w := kv.New[item](cli, "/t/lost").Watch(ctx)
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	_, err := writer.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	require.Equal(t, kv.Live, next[item](t, w).Kind, "the stream is open")

	drop.Drop()
	lost, err := writer.Create(ctx, "lost", &item{N: 2})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bytes.Contains(drop.Dropped(), []byte("/t/lost/lost")) },
		10*time.Second, 5*time.Millisecond, "the event never went through the proxy")
	drop.Pass()

	// The stream carries on as if nothing happened: the next change
	// arrives, the lost one does not.
	_, err = writer.Create(ctx, "b", &item{N: 3})
	require.NoError(t, err)
	b := next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Len(t, b.Events, 1)
	require.Equal(t, "b", b.Events[0].Name)
	_, ok := w.State().Get("lost")
	require.False(t, ok, "the event was not lost: the test proves nothing")
	require.Greater(t, w.Revision(), lost.ModRevision)

	// Resync while Next waits on the stream.
	type result struct {
		b   *kv.Batch[item]
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := w.Next(ctx)
		done <- result{b, err}
	}()
	w.Resync()
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, kv.Resync, r.b.Kind)
	require.Len(t, r.b.Events, 1, "events: %+v", r.b.Events)
	require.Equal(t, kv.Create, r.b.Events[0].Type)
	require.Equal(t, "lost", r.b.Events[0].Name)
	require.Equal(t, viewState(t, w.State()), etcdState(t, c.Client(t), "/t/lost/"))

	// A resync that finds nothing new delivers nothing, and the watch goes
	// on from the listing.
	w.Resync()
	nothingWithin[item](t, w, 300*time.Millisecond)
	_, err = writer.Put(ctx, "a", &item{N: 4})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Equal(t, 4, b.Events[0].New.Value.N)
}
