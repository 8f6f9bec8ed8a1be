package failsafe_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
)

// feed is a source of hand-made batches over an in-memory state, for the
// judging rules that need no etcd. After the batches it blocks until ctx
// ends.
type feed struct {
	state   map[string]*kv.Object[item]
	rev     int64
	pending []func() *kv.Batch[item]
}

func newFeed(n int) *feed {
	f := &feed{state: map[string]*kv.Object[item]{}}
	var events []kv.Event[item]
	for i := range n {
		f.rev++
		o := &kv.Object[item]{Name: name(i), Key: "/x/" + name(i), Value: item{N: i}, ModRevision: f.rev}
		f.state[o.Name] = o
		events = append(events, kv.Event[item]{Type: kv.Create, Name: o.Name, Key: o.Key, New: o})
	}
	f.pending = append(f.pending, func() *kv.Batch[item] {
		after := kv.MapView[item](f.state)
		return &kv.Batch[item]{Kind: kv.Initial, Revision: f.rev, Events: events, Before: kv.MapView[item]{}, After: after}
	})
	return f
}

// change queues one batch that deletes the names in del and sets the
// names in put to value v.
func (f *feed) change(del []string, put []string, v int) {
	f.pending = append(f.pending, func() *kv.Batch[item] {
		f.rev++
		var events []kv.Event[item]
		if del == nil && put == nil {
			// a wipe
			for n := range f.state {
				del = append(del, n)
			}
		}
		for _, n := range del {
			old := f.state[n]
			delete(f.state, n)
			events = append(events, kv.Event[item]{Type: kv.Delete, Name: n, Key: old.Key, Old: old, Revision: f.rev})
		}
		for _, n := range put {
			old, had := f.state[n]
			o := &kv.Object[item]{Name: n, Key: "/x/" + n, Value: item{N: v}, ModRevision: f.rev}
			f.state[n] = o
			typ := kv.Create
			if had {
				typ = kv.Mutate
			}
			events = append(events, kv.Event[item]{Type: typ, Name: n, Key: o.Key, Old: old, New: o, Revision: f.rev})
		}
		after := kv.MapView[item](f.state)
		return &kv.Batch[item]{Kind: kv.Live, Revision: f.rev, Events: events, Before: kv.ViewBefore[item](after, events), After: after}
	})
}

func (f *feed) source() kv.Source[item] {
	return kv.SourceFunc[item](func(ctx context.Context) (*kv.Batch[item], error) {
		if len(f.pending) == 0 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		next := f.pending[0]
		f.pending = f.pending[1:]
		return next(), nil
	})
}

func names(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, name(i))
	}
	return out
}

// next returns the next batch, or nil when none comes within a short
// while: the feed has nothing more and the guard holds.
func next(t *testing.T, src kv.Source[item]) *kv.Batch[item] {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	b, err := src.Next(ctx)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return nil
	}
	return b
}

// The bounds of MaxDeletes(n, f) are exact: n deletes pass whatever the
// fraction, n+1 over the fraction hold; exactly the fraction passes, one
// more holds.
func TestMaxDeletesBounds(t *testing.T) {
	for _, tc := range []struct {
		total, n int
		fraction float64
		deletes  int
		held     bool
	}{
		{10, 2, 0.5, 2, false}, // n deletes pass
		{4, 2, 0.5, 3, true},   // n+1, over the fraction: held
		{10, 2, 0.5, 5, false}, // exactly the fraction passes
		{10, 2, 0.5, 6, true},  // one more than the fraction holds
		{10, 5, 0.1, 5, false}, // n passes even over the fraction
		{10, 5, 0.1, 6, true},
		{3, 0, 0, 1, true}, // MaxDeletes(0, 0) holds any delete
		{100, 2, 1, 100, false},
	} {
		t.Run(fmt.Sprintf("%d-of-%d-n%d-f%g", tc.deletes, tc.total, tc.n, tc.fraction), func(t *testing.T) {
			f := newFeed(tc.total)
			f.change(names(0, tc.deletes), nil, 0)
			h := failsafe.NewHolds(nil, "bounds")
			src := failsafe.MaxDeletes[item](h, tc.n, tc.fraction)(f.source())
			require.Equal(t, kv.Initial, next(t, src).Kind)
			b := next(t, src)
			if tc.held {
				require.Nil(t, b, "a change deleting %d of %d passed", tc.deletes, tc.total)
				require.Len(t, h.Active(), 1)
				return
			}
			require.NotNil(t, b, "a change deleting %d of %d was held", tc.deletes, tc.total)
			require.Equal(t, tc.deletes, b.Deletes())
			require.Empty(t, h.Active())
		})
	}
}

// A judge learns which keys a change deletes, creates and mutates, for a
// live batch and for the net change of a hold.
func TestChangeNamesItsKeys(t *testing.T) {
	f := newFeed(6)
	f.change([]string{name(0)}, []string{name(1), "new1"}, 7)
	f.change(nil, nil, 0)                                // wipe: held
	f.change(nil, []string{name(2), name(3), "new2"}, 9) // restores with new values, a create
	type keys struct{ deleted, created, mutated []string }
	var seen []keys
	h := failsafe.NewHolds(nil, "keys")
	src := failsafe.HoldIf(h, "spy", func(_ context.Context, c failsafe.Change[item]) failsafe.Verdict {
		var k keys
		for n := range c.Deleted() {
			k.deleted = append(k.deleted, n)
		}
		for n := range c.Created() {
			k.created = append(k.created, n)
		}
		for n := range c.Mutated() {
			k.mutated = append(k.mutated, n)
		}
		slices.Sort(k.deleted)
		slices.Sort(k.created)
		slices.Sort(k.mutated)
		require.Equal(t, len(k.deleted), c.Deletes)
		require.Equal(t, len(k.created), c.Creates)
		require.Equal(t, len(k.mutated), c.Mutates)
		seen = append(seen, k)
		if c.After.Len() == 0 {
			return failsafe.HoldFor("empty")
		}
		return failsafe.Pass
	})(f.source())
	require.NotNil(t, next(t, src))
	require.NotNil(t, next(t, src))
	require.Nil(t, next(t, src))
	require.Equal(t, []keys{
		{created: names(0, 6)},
		{deleted: []string{name(0)}, created: []string{"new1"}, mutated: []string{name(1)}},
		{deleted: []string{name(1), name(2), name(3), name(4), name(5), "new1"}},
		{deleted: []string{name(1), name(4), name(5), "new1"}, created: []string{"new2"}, mutated: []string{name(2), name(3)}},
	}, seen)
}

// A guard asks to be judged again after a while: a hold over a time
// window ends when the window has passed, with no other write.
func TestRecheckAfterEndsAHoldWithoutAWrite(t *testing.T) {
	f := newFeed(3)
	f.change(nil, []string{name(0)}, 5)
	f.change(nil, []string{name(1)}, 5)
	window := 300 * time.Millisecond
	var until time.Time
	h := failsafe.NewHolds(nil, "pace")
	src := failsafe.HoldIf(h, "pace", func(_ context.Context, c failsafe.Change[item]) failsafe.Verdict {
		if !c.Held && c.Mutates > 0 && until.IsZero() {
			until = time.Now().Add(window)
		}
		if wait := time.Until(until); wait > 0 {
			return failsafe.Verdict{Hold: "mutations paced", RecheckAfter: wait}
		}
		return failsafe.Pass
	})(f.source())
	require.Equal(t, kv.Initial, next(t, src).Kind)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := src.Next(ctx) // held, then delivered once the window passed
	require.NoError(t, err)
	require.Equal(t, kv.Net, b.Kind)
	require.Len(t, b.Events, 2)
	require.False(t, time.Now().Before(until), "delivered before the window passed")
	require.False(t, b.Released)
	require.Empty(t, h.Active())
}
