package kv_test

import (
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// TestRelistAfterCompactionKeepsLastGoodValue makes the watcher miss an
// undecodable write and the compaction of its history: the relist keeps
// the last good value of that key and never emits a Delete for it, while
// the other changes it missed are delivered.
func TestRelistAfterCompactionKeepsLastGoodValue(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := testCtx(t)
	s := kv.New[item](cli, "/t/r")
	for _, name := range []string{"a", "gone", "other"} {
		_, err := s.Create(ctx, name, &item{N: 1})
		require.NoError(t, err)
	}
	w := s.Watch(ctx)
	// Take the listing; the watch stream opens only on the next call to
	// Next, so what follows happens behind the watcher's back.
	b := next[item](t, w)
	require.Equal(t, kv.Initial, b.Kind)

	_, err := cli.Put(ctx, "/t/r/a", "garbage{")
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "gone"))
	_, err = s.Put(ctx, "other", &item{N: 2})
	require.NoError(t, err)
	c.Compact(t, 0)

	b = next[item](t, w)
	require.Equal(t, kv.Resync, b.Kind, "the watcher relisted")
	byName := map[string]kv.Event[item]{}
	for _, ev := range b.Events {
		_, dup := byName[ev.Name]
		require.False(t, dup, "key %s delivered twice", ev.Name)
		byName[ev.Name] = ev
	}
	require.Len(t, byName, 3, "events: %+v", b.Events)
	ev := byName["a"]
	require.ErrorIs(t, ev.Err, kv.ErrDecode)
	require.ErrorContains(t, ev.Err, "/t/r/a")
	require.Equal(t, kv.Mutate, ev.Type, "a bad value is never read as a delete")
	require.Nil(t, ev.New)
	require.Equal(t, 1, ev.Old.Value.N)
	require.Equal(t, kv.Delete, byName["gone"].Type)
	require.Equal(t, 2, byName["other"].New.Value.N)
	for _, v := range []kv.View[item]{b.After, w.State()} {
		got, ok := v.Get("a")
		require.True(t, ok, "the last good value stays")
		require.Equal(t, 1, got.Value.N)
		require.Equal(t, 2, v.Len())
	}
	before, ok := b.Before.Get("a")
	require.True(t, ok)
	require.Equal(t, 1, before.Value.N)

	// A second relist that meets the same bad value reports nothing new
	// for it and still keeps the last good value.
	_, err = s.Put(ctx, "other", &item{N: 3})
	require.NoError(t, err)
	_, err = cli.Put(ctx, "/t/elsewhere", "y")
	require.NoError(t, err)
	c.Compact(t, 0)
	b = next[item](t, w)
	require.Equal(t, kv.Resync, b.Kind)
	require.Len(t, b.Events, 1, "events: %+v", b.Events)
	require.Equal(t, "other", b.Events[0].Name)
	got, ok := w.State().Get("a")
	require.True(t, ok, "the last good value stays")
	require.Equal(t, 1, got.Value.N)

	// The value is repaired: a mutation from the last good value.
	_, err = s.Put(ctx, "a", &item{N: 4})
	require.NoError(t, err)
	b = next[item](t, w)
	require.Equal(t, kv.Live, b.Kind)
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	require.Equal(t, 1, b.Events[0].Old.Value.N)
	require.Equal(t, 4, b.Events[0].New.Value.N)
}
