package failsafe_test

import (
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

func TestIgnoreDeletes(t *testing.T) {
	c := etcdtest.New(t)
	f := newFixture(t, c, c.Client(t))
	f.fill(t, 3)
	ctx := ctxT(t)
	src := failsafe.Chain[item](f.store.Watch(ctx), failsafe.IgnoreDeletes[item]())
	next := func() *kv.Batch[item] {
		t.Helper()
		b, err := src.Next(ctx)
		require.NoError(t, err)
		return b
	}
	require.Equal(t, kv.Initial, next().Kind)

	// Creates and mutates pass.
	_, err := f.cli.Put(ctx, f.dir+"new", value(10))
	require.NoError(t, err)
	b := next()
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, 4, b.After.Len())
	_, err = f.cli.Put(ctx, f.dir+name(0), value(11))
	require.NoError(t, err)
	b = next()
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	require.Equal(t, 11, b.Events[0].New.Value.N)

	// Deletes are dropped, even a wipe: the next batch is the next create,
	// and the views still hold every deleted key.
	f.deleteKeys(t, 1)
	f.wipe(t)
	_, err = f.cli.Put(ctx, f.dir+"later", value(12))
	require.NoError(t, err)
	b = next()
	require.Len(t, b.Events, 1)
	require.Equal(t, "later", b.Events[0].Name)
	require.Equal(t, kv.Create, b.Events[0].Type)
	require.Equal(t, 4, b.Before.Len())
	require.Equal(t, 5, b.After.Len())
	o, ok := b.After.Get(name(1))
	require.True(t, ok)
	require.Equal(t, 1, o.Value.N)

	// A deleted key created again is a mutate of the value the consumer has.
	_, err = f.cli.Put(ctx, f.dir+name(1), value(13))
	require.NoError(t, err)
	b = next()
	require.Len(t, b.Events, 1)
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	require.Equal(t, 1, b.Events[0].Old.Value.N)
	require.Equal(t, 13, b.Events[0].New.Value.N)
	require.Equal(t, 5, b.Before.Len())
	require.Equal(t, 5, b.After.Len())
	f.waitHolds(t, 0)
}
