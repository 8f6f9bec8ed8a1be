package failsafe_test

import (
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

const self = "p2-preparer"

// requireKeyChains stack RequireKey with MaxDeletes in both orders.
var requireKeyChains = []chain{
	{"require-key", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.RequireKey[item](h, self)}
	}, false},
	{"require-key,max-deletes", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.RequireKey[item](h, self), failsafe.MaxDeletes[item](h, 2, 0.5)}
	}, true},
	{"max-deletes,require-key", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.MaxDeletes[item](h, 2, 0.5), failsafe.RequireKey[item](h, self)}
	}, true},
}

func forRequireKeyChains(t *testing.T, fn func(t *testing.T, f *fixture, ch chain)) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	for _, ch := range requireKeyChains {
		t.Run(ch.name, func(t *testing.T) { fn(t, newFixture(t, c, cli), ch) })
	}
}

func TestRequireKeyMissingAtStartDeliversNothing(t *testing.T) {
	forRequireKeyChains(t, func(t *testing.T, f *fixture, ch chain) {
		f.fill(t, 100)
		out := consume(t, failsafe.Chain[item](f.store.Watch(ctxT(t)), ch.guards(f.h)...))
		recs := f.waitHolds(t, 1)
		require.Equal(t, "require-key", recs[0].Guard)
		none(t, out) // not even the initial listing

		_, err := f.cli.Put(ctxT(t), f.dir+self, value(7))
		require.NoError(t, err)
		s := recv(t, out)
		require.Equal(t, kv.Initial, s.Kind)
		require.Equal(t, 101, s.count(kv.Create))
		require.Len(t, s.Events, 101)
		require.Equal(t, 0, s.Before)
		require.Equal(t, 101, s.After)
		f.waitHolds(t, 0)
		f.sentinel(t, out)
	})
}

func TestRequireKeyDeletedHoldsUntilItReturns(t *testing.T) {
	forRequireKeyChains(t, func(t *testing.T, f *fixture, ch chain) {
		f.fill(t, 100)
		_, err := f.cli.Put(ctxT(t), f.dir+self, value(7))
		require.NoError(t, err)
		out := consume(t, failsafe.Chain[item](f.store.Watch(ctxT(t)), ch.guards(f.h)...))
		require.Equal(t, kv.Initial, recv(t, out).Kind)

		_, err = f.cli.Delete(ctxT(t), f.dir+self)
		require.NoError(t, err)
		f.waitHolds(t, 1)
		// Nothing further is delivered while the key is missing.
		_, err = f.cli.Put(ctxT(t), f.dir+name(1), `{"n":1,"s":"changed"}`)
		require.NoError(t, err)
		_, err = f.cli.Delete(ctxT(t), f.dir+name(2))
		require.NoError(t, err)
		none(t, out)

		// The key returns with its value, but k002, deleted while held,
		// has not: the hold goes on, whichever guard began it.
		_, err = f.cli.Put(ctxT(t), f.dir+self, value(7))
		require.NoError(t, err)
		none(t, out)
		recs := f.waitHolds(t, 1)
		require.Eventually(t, func() bool {
			recs = f.waitHolds(t, 1)
			return recs[0].Deletes == 1
		}, waitFor, pollEvery, "record keeps its counts up to date: %+v", recs)
		require.Equal(t, []string{name(2), name(1)}, recs[0].Keys, "deleted keys first")

		// An operator's release delivers the net change once: the
		// mutation and the delete.
		require.NoError(t, failsafe.Release(ctxT(t), f.cli, f.root, recs[0].ID, "tester"))
		s := recv(t, out)
		require.Equal(t, kv.Net, s.Kind)
		require.Len(t, s.Events, 2)
		require.Equal(t, name(1), s.Events[0].Name)
		require.Equal(t, kv.Mutate, s.Events[0].Type)
		require.Equal(t, "changed", s.Events[0].New.Value.S)
		require.Equal(t, name(2), s.Events[1].Name)
		require.Equal(t, kv.Delete, s.Events[1].Type)
		require.Equal(t, 101, s.Before)
		require.Equal(t, 100, s.After)
		require.True(t, s.Released)
		f.waitHolds(t, 0)
		f.sentinel(t, out)
	})
}
