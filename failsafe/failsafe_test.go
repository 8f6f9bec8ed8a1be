package failsafe_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// chain is a stack of guards under test.
type chain struct {
	name   string
	guards func(h *failsafe.Holds) []failsafe.Guard[item]
	// holdsSixty: the chain holds deleting 60 of 100 keys.
	holdsSixty bool
}

var chains = []chain{
	{"not-empty", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.NotEmpty[item](h)}
	}, false},
	{"max-deletes", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.MaxDeletes[item](h, 2, 0.5)}
	}, true},
	{"not-empty,max-deletes", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.NotEmpty[item](h), failsafe.MaxDeletes[item](h, 2, 0.5)}
	}, true},
	{"max-deletes,not-empty", func(h *failsafe.Holds) []failsafe.Guard[item] {
		return []failsafe.Guard[item]{failsafe.MaxDeletes[item](h, 2, 0.5), failsafe.NotEmpty[item](h)}
	}, true},
}

// forChains runs fn for every chain, each with its own prefixes in one etcd.
func forChains(t *testing.T, fn func(t *testing.T, f *fixture, ch chain)) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	for _, ch := range chains {
		t.Run(ch.name, func(t *testing.T) { fn(t, newFixture(t, c, cli), ch) })
	}
}

// start fills 100 keys, starts the watch through the chain and takes the
// initial listing.
func (f *fixture) start(t *testing.T, ch chain) <-chan seen {
	t.Helper()
	f.fill(t, 100)
	src := failsafe.Chain[item](f.store.Watch(ctxT(t)), ch.guards(f.h)...)
	out := consume(t, src)
	s := recv(t, out)
	require.Equal(t, kv.Initial, s.Kind)
	require.Len(t, s.Events, 100)
	return out
}

func TestWipeThenRestoreDeliversNothing(t *testing.T) {
	forChains(t, func(t *testing.T, f *fixture, ch chain) {
		out := f.start(t, ch)
		f.wipe(t)
		recs := f.waitHolds(t, 1)
		none(t, out)
		rec := recs[0]
		require.Equal(t, "test/"+t.Name(), rec.Component)
		require.Contains(t, []string{"not-empty", "max-deletes", "max-deletes,not-empty"}, rec.Guard)
		require.Equal(t, 100, rec.Deletes)
		require.Equal(t, 100, rec.Total)
		require.NotZero(t, rec.Revision)
		require.NotEmpty(t, rec.Reason)
		require.False(t, rec.Time.IsZero())
		labels := map[string]string{"guard": rec.Guard}
		require.Equal(t, 1.0, counter(t, f.reg, "p2kit_failsafe_holds_total", labels))
		require.Equal(t, 1.0, counter(t, f.reg, "p2kit_failsafe_active_holds", labels))
		require.Equal(t, 1, f.logs.FilterMessageSnippet("failsafe hold:").FilterField(
			zapString("hold", rec.ID)).Len())

		// Key by key: no partial restore leaks the rest as deletes.
		f.restore(t, 100)
		f.waitHolds(t, 0)
		f.sentinel(t, out)
		require.Equal(t, 0.0, counter(t, f.reg, "p2kit_failsafe_active_holds", labels))
	})
}

func TestWipeThenReleaseDeliversAllDeletes(t *testing.T) {
	forChains(t, func(t *testing.T, f *fixture, ch chain) {
		out := f.start(t, ch)
		f.wipe(t)
		recs := f.waitHolds(t, 1)
		none(t, out)

		require.NoError(t, failsafe.Release(ctxT(t), f.cli, f.root, recs[0].ID, "tester"))
		s := recv(t, out)
		require.Equal(t, kv.Net, s.Kind)
		require.Len(t, s.Events, 100)
		require.Equal(t, 100, s.count(kv.Delete))
		require.Equal(t, 100, s.Before)
		require.Equal(t, 0, s.After)
		require.True(t, s.Released)
		f.waitHolds(t, 0)
		f.waitGone(t, failsafe.ReleaseKey(f.root, recs[0].ID))

		// Later batches are judged as usual.
		f.sentinel(t, out)
	})
}

func TestDeleteOneIsDelivered(t *testing.T) {
	forChains(t, func(t *testing.T, f *fixture, ch chain) {
		out := f.start(t, ch)
		f.deleteKeys(t, 1)
		s := recv(t, out)
		require.Equal(t, kv.Live, s.Kind)
		require.Len(t, s.Events, 1)
		require.Equal(t, kv.Delete, s.Events[0].Type)
		require.Equal(t, 100, s.Before)
		require.Equal(t, 99, s.After)
		f.waitHolds(t, 0)
	})
}

func TestDeleteSixtyIsHeld(t *testing.T) {
	forChains(t, func(t *testing.T, f *fixture, ch chain) {
		out := f.start(t, ch)
		f.deleteKeys(t, 60)
		if !ch.holdsSixty {
			s := recv(t, out)
			require.Equal(t, 60, s.count(kv.Delete))
			return
		}
		recs := f.waitHolds(t, 1)
		require.Equal(t, "max-deletes", recs[0].Guard)
		require.Equal(t, 60, recs[0].Deletes)
		none(t, out)
	})
}

func TestRelistAfterCompactionIsHeld(t *testing.T) {
	forChains(t, func(t *testing.T, f *fixture, ch chain) {
		f.fill(t, 100)
		ctx := ctxT(t)
		src := failsafe.Chain[item](f.store.Watch(ctx), ch.guards(f.h)...)
		// Take the listing, then change etcd behind the watch's back: it
		// opens its watch stream only on the next call to Next.
		b, err := src.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, kv.Initial, b.Kind)
		wiped := f.wipe(t)
		_, err = f.cli.Put(ctx, f.root+"/elsewhere", "x")
		require.NoError(t, err)
		f.c.Compact(t, 0)

		out := consume(t, src)
		recs := f.waitHolds(t, 1)
		require.Equal(t, 100, recs[0].Deletes)
		require.Greater(t, recs[0].Revision, wiped, "held batch is the relist, not the live wipe")
		none(t, out)

		f.restore(t, 100)
		f.waitHolds(t, 0)
		f.sentinel(t, out)
	})
}

// A hold's record is written once when the hold begins, keys included,
// and again only when what it says changes: a second, identical write per
// hold was a put per node of a fleet in a mass deletion, while etcd was at
// its busiest.
func TestHoldRecordWrittenOnceUnlessItChanges(t *testing.T) {
	c := etcdtest.New(t)
	f := newFixture(t, c, c.Client(t))
	out := f.start(t, chains[0])
	f.wipe(t)
	rec := f.waitHolds(t, 1)[0]
	require.NotEmpty(t, rec.Keys)
	key := failsafe.HoldKey(f.root, rec.ID)
	version := func() int64 {
		resp, err := f.cli.Get(ctxT(t), key)
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1)
		return resp.Kvs[0].Version
	}
	settled := func() bool { return failsafe.Settled(f.h) }
	require.Eventually(t, settled, waitFor, pollEvery)
	require.EqualValues(t, 1, version(), "the record was written again with nothing new in it")

	// One key back: the record now says 99 deletes, in one more write.
	_, err := f.cli.Put(ctxT(t), f.dir+name(0), value(0))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		recs, err := failsafe.ListHolds(ctxT(t), f.cli, f.root)
		require.NoError(t, err)
		return len(recs) == 1 && recs[0].Deletes == 99
	}, waitFor, pollEvery)
	require.Eventually(t, settled, waitFor, pollEvery)
	require.EqualValues(t, 2, version())
	none(t, out)
}

func TestReleaseOfUnknownHold(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	f := newFixture(t, c, cli)
	err := failsafe.Release(ctxT(t), cli, f.root, "no-such-hold", "tester")
	require.True(t, errors.Is(err, kv.ErrNotFound), "got %v", err)
	require.ErrorContains(t, err, "no-such-hold")

	// A release written by hand for a hold of the component that nobody
	// has is removed when the release watch of a hold in effect sees it.
	// One for a hold of another component, whose name begins with this
	// one's, is left to that component.
	const unknown = "20000101-000000.000-000000"
	bogus := failsafe.ReleaseKey(f.root, failsafe.IDPrefix(f.h.Component())+unknown)
	others := failsafe.ReleaseKey(f.root, failsafe.IDPrefix(f.h.Component()+"-1")+unknown)
	out := f.start(t, chains[0])
	f.wipe(t)
	f.waitHolds(t, 1)
	require.Eventually(t, func() bool { return failsafe.Watching(f.h) }, waitFor, pollEvery)
	for _, key := range []string{bogus, others} {
		_, err = cli.Put(ctxT(t), key, `{"released_by":"tester"}`)
		require.NoError(t, err)
	}
	f.waitGone(t, bogus)
	// The holder logs once its delete transaction returns, which may be
	// after the test saw the key go.
	require.Eventually(t, func() bool {
		return f.logs.FilterMessage("release of an unknown hold removed").Len() == 1
	}, waitFor, pollEvery)
	resp, err := cli.Get(ctxT(t), others)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "another component's release was removed")
	none(t, out)
}

// A hold record is written under a lease the holder keeps alive: when the
// holder dies, the record goes away instead of lingering in
// `p2ctl failsafe list`.
func TestHoldRecordGoesWithItsHolder(t *testing.T) {
	c := etcdtest.New(t)
	holderCli := c.Client(t)
	check := c.Client(t)
	ctx := context.Background()
	s := kv.New[item](holderCli, "/lease/items")
	for i := range 4 {
		_, err := s.Put(ctx, fmt.Sprint(i), &item{N: i})
		require.NoError(t, err)
	}
	h := failsafe.NewHolds(holderCli, "dies", failsafe.WithPrefix("/lease"), failsafe.WithRecordTTL(time.Second))
	src := failsafe.Chain[item](s.Watch(ctx), failsafe.NotEmpty[item](h))
	_, err := src.Next(ctx)
	require.NoError(t, err)
	_, err = check.Delete(ctx, "/lease/items/", clientv3.WithPrefix())
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = src.Next(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	holds, err := failsafe.ListHolds(ctx, check, "/lease")
	require.NoError(t, err)
	require.Len(t, holds, 1)

	// The holder's process dies: its client goes, the lease expires.
	require.NoError(t, holderCli.Close())
	require.Eventually(t, func() bool {
		holds, err := failsafe.ListHolds(ctx, check, "/lease")
		return err == nil && len(holds) == 0
	}, waitFor, 50*time.Millisecond)
}

// When its last hold ends, a Holds gives its record lease back: nothing is
// kept alive for holds that no longer exist.
func TestLeaseGivenBackWhenHoldsEnd(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx := context.Background()
	s := kv.New[item](cli, "/back/items")
	for i := range 4 {
		_, err := s.Put(ctx, fmt.Sprint(i), &item{N: i})
		require.NoError(t, err)
	}
	h := failsafe.NewHolds(cli, "back", failsafe.WithPrefix("/back"))
	src := failsafe.Chain[item](s.Watch(ctx), failsafe.NotEmpty[item](h))
	_, err := src.Next(ctx)
	require.NoError(t, err)
	_, err = cli.Delete(ctx, "/back/items/", clientv3.WithPrefix())
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = src.Next(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	leases, err := cli.Leases(ctx)
	require.NoError(t, err)
	require.Len(t, leases.Leases, 1, "the hold record's lease")

	holds, err := failsafe.ListHolds(ctx, cli, "/back")
	require.NoError(t, err)
	require.Len(t, holds, 1)
	require.NoError(t, failsafe.Release(ctx, cli, "/back", holds[0].ID, "test"))
	b, err := src.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, b.Deletes())
	require.Eventually(t, func() bool {
		leases, err := cli.Leases(ctx)
		return err == nil && len(leases.Leases) == 0
	}, waitFor, 20*time.Millisecond, "the lease was not given back")
}

// A hold record put whose answer was lost (a timeout while etcd was
// behind) may have been applied all the same: the bookkeeping reads the
// record before writing it again, and writes it only if it is not there.
func TestLostRecordPutIsReadBeforeItIsSentAgain(t *testing.T) {
	c := etcdtest.New(t)
	for _, applied := range []bool{true, false} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			var puts, lost atomic.Int64
			cli := holdPutsClient(t, c,
				func(ctx context.Context, put func(context.Context) error) error {
					puts.Add(1)
					if lost.Add(1) > 1 {
						return put(ctx)
					}
					// The first put's answer is lost, after etcd
					// applied it or before it reached etcd: the
					// caller's time runs out.
					if applied {
						if err := put(ctx); err != nil {
							return err
						}
					}
					<-ctx.Done()
					return status.FromContextError(ctx.Err()).Err()
				})
			root := "/lost-" + fmt.Sprint(applied)
			h := failsafe.NewHolds(cli, "lost", failsafe.WithPrefix(root))
			t.Cleanup(h.Close)
			hd := beginHold(t, h)
			key := failsafe.HoldKey(root, hd.ID())
			require.Eventually(t, func() bool {
				resp, err := cli.Get(ctxT(t), key)
				require.NoError(t, err)
				return len(resp.Kvs) == 1 && failsafe.Settled(h)
			}, waitFor, pollEvery, "hold record written")
			resp, err := cli.Get(ctxT(t), key)
			require.NoError(t, err)
			want := int64(2) // the lost one, and the one that wrote it
			if applied {
				want = 1
			}
			require.Equal(t, want, puts.Load(), "puts of the hold record")
			require.EqualValues(t, 1, resp.Kvs[0].Version)
		})
	}
}

// The Holds that share a client write their records PassWorkers at a time,
// the others queued without a goroutine each: at a mass deletion a process
// running many preparers on one client does not send etcd every record at
// once (at 100,000 simulated nodes that kept etcd's apply seconds behind
// and let the node leases lapse).
func TestHoldsSharingAClientWriteFewRecordsAtOnce(t *testing.T) {
	const n = 20
	c := etcdtest.New(t)
	gate := make(chan struct{})
	var inFlight, most atomic.Int64
	cli := holdPutsClient(t, c,
		func(ctx context.Context, put func(context.Context) error) error {
			now := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			select {
			case <-gate: // the test lets the puts through
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
			return put(ctx)
		})
	root := "/few-at-once"
	var begun sync.WaitGroup
	for i := range n {
		h := failsafe.NewHolds(cli, fmt.Sprintf("preparer/node%02d", i), failsafe.WithPrefix(root))
		t.Cleanup(h.Close)
		// Begin waits a while for its record: the holds begin together,
		// as at a mass deletion.
		begun.Go(func() { beginHold(t, h) })
	}
	defer begun.Wait()
	// Two passes wait at the gate with a put each; the others wait for them.
	require.Eventually(t, func() bool {
		return inFlight.Load() == failsafe.PassWorkers && failsafe.PassesQueued(cli) == n-failsafe.PassWorkers
	}, waitFor, pollEvery, "two record puts in flight, the other passes queued")
	close(gate)
	require.Eventually(t, func() bool {
		recs, err := failsafe.ListHolds(ctxT(t), cli, root)
		return err == nil && len(recs) == n
	}, waitFor, pollEvery, "every hold's record written")
	require.EqualValues(t, failsafe.PassWorkers, most.Load(), "hold record puts in flight at most")
}

// holdPutsClient is a client of c whose puts of hold records go through
// onPut, which sends one with put; its other requests go through as they
// are.
func holdPutsClient(t *testing.T, c *etcdtest.Cluster, onPut func(ctx context.Context, put func(context.Context) error) error) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				put, ok := req.(*etcdserverpb.PutRequest)
				if !ok || !strings.Contains(string(put.Key), "/failsafe/holds/") {
					return invoker(ctx, method, req, reply, cc, opts...)
				}
				return onPut(ctx, func(ctx context.Context) error { return invoker(ctx, method, req, reply, cc, opts...) })
			})},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}
