package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestWatchEvents(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/w")
	a, err := s.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)

	w := s.Watch(ctx)
	select {
	case <-w.Synced():
		t.Fatal("synced before the first listing")
	default:
	}
	b := next[item](t, w)
	require.Equal(t, kv.Initial, b.Kind)
	require.Equal(t, a.ModRevision, b.Revision)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Nil(t, b.Events[0].Old)
	require.Equal(t, 1, b.Events[0].New.Value.N)
	require.Equal(t, 0, b.Before.Len())
	require.Equal(t, 1, b.After.Len())
	<-w.Synced()

	// Create.
	c, err := s.Create(ctx, "b", &item{N: 2})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Equal(t, c.ModRevision, b.Revision)
	require.Len(t, b.Events, 1)
	ev := b.Events[0]
	require.Equal(t, kv.Create, ev.Type)
	require.Equal(t, "b", ev.Name)
	require.Equal(t, "/t/w/b", ev.Key)
	require.Nil(t, ev.Old)
	require.Equal(t, 2, ev.New.Value.N)
	_, inBefore := b.Before.Get("b")
	require.False(t, inBefore)
	require.Equal(t, 1, b.Before.Len())
	require.Equal(t, 2, b.After.Len())

	// Mutate carries old and new.
	_, err = s.Update(ctx, a, &item{N: 10})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Len(t, b.Events, 1)
	ev = b.Events[0]
	require.Equal(t, kv.Mutate, ev.Type)
	require.Equal(t, 1, ev.Old.Value.N)
	require.Equal(t, 10, ev.New.Value.N)
	old, _ := b.Before.Get("a")
	require.Equal(t, 1, old.Value.N)
	cur, _ := b.After.Get("a")
	require.Equal(t, 10, cur.Value.N)

	// Delete carries the last value.
	require.NoError(t, s.Delete(ctx, "b"))
	b = next[item](t, w)
	require.Len(t, b.Events, 1)
	ev = b.Events[0]
	require.Equal(t, kv.Delete, ev.Type)
	require.Equal(t, 2, ev.Old.Value.N)
	require.Nil(t, ev.New)
	require.Equal(t, 2, b.Before.Len())
	require.Equal(t, 1, b.After.Len())
	require.Equal(t, 1, b.Deletes())

	// One transaction is one batch.
	var ops []clientv3.Op
	for i := range 5 {
		op, err := s.PutOp(fmt.Sprintf("t%d", i), &item{N: i})
		require.NoError(t, err)
		ops = append(ops, op)
	}
	del, _ := s.DeleteOp("a")
	ops = append(ops, del)
	_, err = kv.Commit(ctx, cli, nil, ops...)
	require.NoError(t, err)
	b = next[item](t, w)
	require.Len(t, b.Events, 6)
	require.Equal(t, 1, b.Before.Len())
	require.Equal(t, 5, b.After.Len())
	require.Equal(t, 1, b.Deletes())
	require.Len(t, kv.Snapshot(b.Before), 1)
	require.Len(t, kv.Snapshot(b.After), 5)
	require.Equal(t, b.Revision, w.Revision())
}

func TestWatchPrefixIsExact(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	root := kv.New[item](cli, "/t/intent")
	web1, err := root.Sub("web1")
	require.NoError(t, err)
	web10, err := root.Sub("web10")
	require.NoError(t, err)
	_, err = web10.Create(ctx, "early", &item{N: 1})
	require.NoError(t, err)

	w := web1.Watch(ctx)
	b := next[item](t, w)
	require.Empty(t, b.Events, "web1's listing must not include web10's keys")
	_, err = web10.Create(ctx, "late", &item{N: 2})
	require.NoError(t, err)
	mine, err := web1.Create(ctx, "mine", &item{N: 3})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, mine.ModRevision, b.Revision, "web10's write is not delivered to web1")
	require.Len(t, b.Events, 1)
	require.Equal(t, "mine", b.Events[0].Name)
}

func TestWatchDecodeErrorKeepsLastGoodValue(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/d")
	_, err := s.Create(ctx, "a", &item{N: 1})
	require.NoError(t, err)
	_, err = s.Create(ctx, "other", &item{N: 9})
	require.NoError(t, err)
	w := s.Watch(ctx)
	next[item](t, w)

	_, err = cli.Put(ctx, "/t/d/a", "garbage{")
	require.NoError(t, err)
	b := next[item](t, w)
	require.Len(t, b.Events, 1)
	ev := b.Events[0]
	require.Error(t, ev.Err)
	require.ErrorIs(t, ev.Err, kv.ErrDecode)
	require.ErrorContains(t, ev.Err, "/t/d/a")
	require.Equal(t, kv.Mutate, ev.Type, "a bad value is never read as a delete")
	require.Nil(t, ev.New)
	require.Equal(t, 1, ev.Old.Value.N)
	got, ok := w.State().Get("a")
	require.True(t, ok, "the last good value stays")
	require.Equal(t, 1, got.Value.N)
	require.Equal(t, 2, b.After.Len())
	require.Equal(t, 2, b.Before.Len())

	// Garbage at a new key is an error event; the key is not in the state.
	_, err = cli.Put(ctx, "/t/d/new", "[]")
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Error(t, b.Events[0].Err)
	_, ok = w.State().Get("new")
	require.False(t, ok)

	// Other keys are unaffected and the value can be repaired.
	_, err = s.Put(ctx, "other", &item{N: 10})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, 10, b.Events[0].New.Value.N)
	_, err = s.Put(ctx, "a", &item{N: 2})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	require.Equal(t, 1, b.Events[0].Old.Value.N)
	require.Equal(t, 2, b.Events[0].New.Value.N)

	// Deleting a key that only ever held garbage yields nothing.
	_, err = cli.Delete(ctx, "/t/d/new")
	require.NoError(t, err)
	last, err := s.Put(ctx, "other", &item{N: 11})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, last.ModRevision, b.Revision)
}

// TestWatchCompactionWhileDown stops the member the watcher talks to,
// changes the prefix and compacts the history behind its back, then brings
// the member back: the watcher relists and delivers each change once, as
// net changes, and ends equal to etcd.
func TestWatchCompactionWhileDown(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	writer := c.Client(t)
	watcherCli := c.ClientFor(t, c.Members[0].Endpoint())
	ctx := testCtx(t)
	ws := kv.New[item](writer, "/t/c")
	for i := range 10 {
		_, err := ws.Create(ctx, fmt.Sprintf("k%d", i), &item{N: i})
		require.NoError(t, err)
	}
	s := kv.New[item](watcherCli, "/t/c")
	w := s.Watch(ctx)
	b := next[item](t, w)
	require.Len(t, b.Events, 10)
	// Let the watch stream start, then take its member away.
	_, err := ws.Put(ctx, "k0", &item{N: 100})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)

	c.Members[0].Stop(t)
	for i := range 3 { // k1 changes three times: one net Mutate
		_, err := ws.Put(ctx, "k1", &item{N: 200 + i})
		require.NoError(t, err)
	}
	require.NoError(t, ws.Delete(ctx, "k2"))
	_, err = ws.Create(ctx, "fresh", &item{N: 300})
	require.NoError(t, err)
	_, err = ws.Create(ctx, "gone", &item{N: 400}) // created and deleted: no event
	require.NoError(t, err)
	require.NoError(t, ws.Delete(ctx, "gone"))
	c.Compact(t, 0)
	c.Members[0].Restart(t)

	b = next[item](t, w)
	require.Equal(t, kv.Resync, b.Kind)
	byName := map[string]kv.Event[item]{}
	for _, ev := range b.Events {
		_, dup := byName[ev.Name]
		require.False(t, dup, "key %s delivered twice", ev.Name)
		byName[ev.Name] = ev
	}
	require.Len(t, byName, 3)
	require.Equal(t, kv.Mutate, byName["k1"].Type)
	require.Equal(t, 1, byName["k1"].Old.Value.N)
	require.Equal(t, 202, byName["k1"].New.Value.N)
	require.Equal(t, kv.Delete, byName["k2"].Type)
	require.Equal(t, kv.Create, byName["fresh"].Type)
	require.Equal(t, etcdState(t, writer, "/t/c/"), viewState(t, w.State()))

	// The watch goes on live after the relist.
	_, err = ws.Put(ctx, "k3", &item{N: 33})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Equal(t, 33, b.Events[0].New.Value.N)
}

// TestWatchSurvivesMemberStops stops each member of a three-member cluster
// in turn, so that whichever the watcher is connected to goes away once,
// while writes go on: every revision arrives exactly once, in order.
func TestWatchSurvivesMemberStops(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	writer := c.Client(t)
	ctx := testCtx(t)
	s := kv.New[item](c.Client(t), "/t/m")
	ws := kv.New[item](writer, "/t/m")
	w := s.Watch(ctx)
	next[item](t, w)

	var wantRevs []int64
	n := 0
	write := func() {
		o, err := ws.Put(ctx, fmt.Sprintf("k%02d", n%7), &item{N: n})
		require.NoError(t, err)
		wantRevs = append(wantRevs, o.ModRevision)
		n++
	}
	var gotRevs []int64
	read := func() {
		for len(gotRevs) < len(wantRevs) {
			b := next[item](t, w)
			require.Equal(t, kv.Live, b.Kind)
			require.Len(t, b.Events, 1)
			gotRevs = append(gotRevs, b.Revision)
		}
	}
	for _, m := range c.Members {
		write()
		read()
		m.Stop(t)
		for range 5 {
			write()
		}
		read()
		m.Restart(t)
		write()
	}
	read()
	require.Equal(t, wantRevs, gotRevs, "every revision once, in order")
	require.Equal(t, etcdState(t, writer, "/t/m/"), viewState(t, w.State()))
}

func TestWatchProgressKeepsRevisionFresh(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/quiet")
	w := s.Watch(ctx)
	next[item](t, w)
	start := w.Revision()

	var rev int64
	for i := range 5 {
		resp, err := cli.Put(ctx, fmt.Sprintf("/t/busy/%d", i), "x")
		require.NoError(t, err)
		rev = resp.Header.Revision
	}
	require.Greater(t, rev, start)

	// Next blocks on the quiet prefix; meanwhile progress notifications
	// (every second in etcdtest) advance the resume revision.
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := w.Next(nctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return w.Revision() >= rev }, 20*time.Second, 20*time.Millisecond)
	require.Zero(t, w.Lag(), "caught up: no lag")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestWatchNextIsCancelSafe(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/cs")
	w := s.Watch(ctx)
	next[item](t, w)
	var want []int64
	for i := range 20 {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := w.Next(cctx)
		require.ErrorIs(t, err, context.Canceled)
		o, err := s.Put(ctx, "k", &item{N: i})
		require.NoError(t, err)
		want = append(want, o.ModRevision)
	}
	for _, rev := range want {
		require.Equal(t, rev, next[item](t, w).Revision)
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	w := kv.New[item](cli, "/t/stop").Watch(ctx)
	next[item](t, w)
	cancel()
	_, err := w.Next(context.Background())
	require.ErrorIs(t, err, context.Canceled)

	w2 := kv.New[item](cli, "/t/stop").Watch(testCtx(t))
	next[item](t, w2)
	w2.Close()
	_, err = w2.Next(context.Background())
	require.ErrorIs(t, err, context.Canceled)

	// Close from another goroutine ends a Next that waits on a quiet
	// stream, and a Close after that does nothing.
	w3 := kv.New[item](cli, "/t/stop").Watch(testCtx(t))
	next[item](t, w3)
	errc := make(chan error, 1)
	go func() {
		_, err := w3.Next(context.Background())
		errc <- err
	}()
	require.Eventually(t, func() bool { return kv.StreamMembers(cli) == 1 }, 10*time.Second, time.Millisecond,
		"Next opens its watch") // the closed watchers gave theirs back
	w3.Close()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Next still waits after Close")
	}
	w3.Close()
}

// Once a watcher has handed out every event it received, it keeps none of
// etcd's: a watcher of a quiet prefix kept the last response's events, with
// their values, for as long as the prefix stayed quiet (at 100,000 simulated
// nodes, 1 KB per node).
func TestWatchKeepsNoEventHandedOut(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/w")
	w := s.Watch(ctx)
	defer w.Close()
	require.Equal(t, kv.Initial, next[item](t, w).Kind)
	for i := range 3 {
		_, err := s.Put(ctx, fmt.Sprintf("k%d", i), &item{N: i})
		require.NoError(t, err)
	}
	seen := 0
	for seen < 3 {
		b := next[item](t, w)
		seen += len(b.Events)
	}
	require.False(t, kv.HoldsPending(w), "events handed out are let go")
}
