package failsafe_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// stableGoroutines polls until runtime.NumGoroutine gives the same figure
// ten times in a row, 20ms apart, and returns it.
func stableGoroutines(t *testing.T) int {
	t.Helper()
	last, same := -1, 0
	deadline := time.Now().Add(waitFor)
	for same < 10 {
		require.True(t, time.Now().Before(deadline), "goroutine count never settled (last %d)", last)
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			same++
			continue
		}
		last, same = n, 0
	}
	return last
}

// waitGoroutines polls until runtime.NumGoroutine is at most atMost.
// Counted from the test's goroutine: require.Eventually would count the
// goroutine it runs its condition in.
func waitGoroutines(t *testing.T, atMost int, when string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	poll := time.NewTicker(pollEvery) // a timer: no goroutine to count
	defer poll.Stop()
	for {
		n := runtime.NumGoroutine()
		if n <= atMost {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d goroutines %s, want at most %d", n, when, atMost)
		<-poll.C
	}
}

// beginHolds begins one hold on each of n Holds of fleet-like names
// under root, closed when the test ends, and waits until records (the
// root holds records in all) are written and every release watch is up.
func beginHolds(t *testing.T, cli *clientv3.Client, root string, n, records int, opts ...failsafe.Option) ([]*failsafe.Holds, []*failsafe.Hold) {
	t.Helper()
	hs := make([]*failsafe.Holds, n)
	holds := make([]*failsafe.Hold, n)
	for i := range hs {
		hs[i] = failsafe.NewHolds(cli, fmt.Sprintf("preparer/node%05d", i), append(opts, failsafe.WithPrefix(root))...)
		t.Cleanup(hs[i].Close)
		holds[i] = beginHold(t, hs[i])
	}
	require.Eventually(t, func() bool {
		recs, err := failsafe.ListHolds(ctxT(t), cli, root)
		return err == nil && len(recs) == records
	}, waitFor, pollEvery, "hold records")
	require.Eventually(t, watching(hs, true), waitFor, pollEvery, "release watches")
	return hs, holds
}

// watching says whether the release watch of every one of hs is up
// (want) or down (!want).
func watching(hs []*failsafe.Holds, want bool) func() bool {
	return func() bool {
		for _, h := range hs {
			if failsafe.Watching(h) != want {
				return false
			}
		}
		return true
	}
}

// beginHold begins a hold of h the way a guard built from scratch does.
func beginHold(t *testing.T, h *failsafe.Holds) *failsafe.Hold {
	t.Helper()
	return h.Begin(failsafe.Record{Guard: "test", Reason: "held by the test", Deletes: 1, Total: 1})
}

// A held node costs no goroutine: the bookkeeping (record writes, the
// lease keep-alive) runs only while it works, and the release watches of
// a client's Holds run on one stream of the client's release hub, whose
// responses one goroutine receives (a held node cost two goroutines, then
// one, the etcd client's for its release watch). Measured against a
// baseline with one Holds already holding, so that the client's lease
// stream and its release hub are up.
func TestHeldHoldsCostNoGoroutine(t *testing.T) {
	const n = 200
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/cost"
	// A long TTL: no keep-alive request (and its short-lived goroutines)
	// while the goroutines are counted.
	ttl := failsafe.WithRecordTTL(10 * time.Minute)
	warm := failsafe.NewHolds(cli, "warm-up", failsafe.WithPrefix(root), ttl)
	t.Cleanup(warm.Close)
	beginHold(t, warm)
	require.Eventually(t, func() bool { return failsafe.Watching(warm) }, waitFor, pollEvery)
	base := stableGoroutines(t)

	_, holds := beginHolds(t, cli, root, n, n+1, ttl)
	held := stableGoroutines(t)
	t.Logf("%d held Holds: %d goroutines over the baseline of %d, %.2f per held Holds",
		n, held-base, base, float64(held-base)/n)
	require.LessOrEqual(t, held-base, 5, "goroutines added by %d held Holds", n)

	// Every one of them stops: the holds end, their records go, and the
	// goroutines with them.
	for _, hd := range holds {
		hd.End(false)
	}
	require.Eventually(t, func() bool {
		recs, err := failsafe.ListHolds(ctxT(t), cli, root)
		return err == nil && len(recs) == 1
	}, waitFor, pollEvery, "hold records removed")
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base+2 }, waitFor, pollEvery,
		"goroutines left after every hold ended")
}

// Releasing many holds one by one costs each holder only the events of its
// own releases: at most 3 release-watch events per hold in all, for a
// fleet's names and where one component's name begins with another's
// (tier, tier-x, tier-x-x...).
func TestReleaseEventsLinearInHolds(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	for _, tc := range []struct {
		name string
		comp func(i int) string
	}{
		{"fleet", func(i int) string { return fmt.Sprintf("preparer/node%05d", i) }},
		{"nested", func(i int) string { return "tier" + strings.Repeat("-x", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) { releaseOneByOne(t, cli, "/"+tc.name, tc.comp) })
	}
}

func releaseOneByOne(t *testing.T, cli *clientv3.Client, root string, comp func(int) string) {
	const n = 100
	hs := make([]*failsafe.Holds, n)
	holds := make([]*failsafe.Hold, n)
	for i := range hs {
		hs[i] = failsafe.NewHolds(cli, comp(i), failsafe.WithPrefix(root))
		t.Cleanup(hs[i].Close)
		holds[i] = beginHold(t, hs[i])
	}
	require.Eventually(t, watching(hs, true), waitFor, pollEvery, "release watches")
	// The longest name first: on the way, every shorter name's holder
	// still holds and watches.
	for i := n - 1; i >= 0; i-- {
		hd := holds[i]
		require.NoError(t, failsafe.Release(ctxT(t), cli, root, hd.ID(), "tester"))
		select {
		case <-hd.Released():
		case <-time.After(waitFor):
			t.Fatalf("hold %d of %s not released", i, hs[i].Component())
		}
		hd.End(true)
	}
	waitNoHolds(t, cli, root)
	require.Eventually(t, func() bool {
		resp, err := cli.Get(ctxT(t), failsafe.ReleaseKey(root, ""), clientv3.WithPrefix())
		return err == nil && resp.Count == 0
	}, waitFor, pollEvery, "releases removed")
	total, last, same := int64(0), int64(-1), 0
	deadline := time.Now().Add(waitFor)
	for same < 10 {
		require.True(t, time.Now().Before(deadline), "release event count never settled (last %d)", last)
		time.Sleep(20 * time.Millisecond)
		total = 0
		for _, h := range hs {
			total += failsafe.ReleaseEvents(h)
		}
		if total != last {
			last, same = total, 0
			continue
		}
		same++
	}
	t.Logf("%d holds released one by one: %d release-watch events, %.2f per hold", n, total, float64(total)/n)
	require.LessOrEqual(t, total, int64(3*n), "release-watch events for %d holds", n)
}

// Holds that share an etcd client have no goroutine of their own while
// they hold, nor one per release watch: 40 of them add a few goroutines
// for them all, the client's release hub's stream and the one that
// receives from it (one each, 41 in all, while the etcd client's Watch
// ran the release watches). Every hold is still released by an operator,
// and once the holds end the goroutines go.
func TestHoldsSharingAClientAddNoGoroutineEach(t *testing.T) {
	const n, slack = 40, 5
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/shared"
	// The client's watch stream, which the release watches share, is up
	// before counting: a watch of the same kind, not a hold's.
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(t.Context()))
	defer stop()
	cli.Watch(wctx, root+"/warm-up")
	// A long TTL: no keep-alive (and its short pass) while counting.
	ttl := failsafe.WithRecordTTL(10 * time.Minute)
	base := stableGoroutines(t)

	hs, holds := beginHolds(t, cli, root, n, n, ttl)
	waitGoroutines(t, base+slack, fmt.Sprintf("while %d Holds sharing a client hold", n))
	held := stableGoroutines(t)
	t.Logf("%d held Holds sharing a client: %d goroutines over the baseline of %d", n, held-base, base)

	// An operator releases every hold, all at once: each release reaches
	// its hold.
	for _, hd := range holds {
		require.NoError(t, failsafe.Release(ctxT(t), cli, root, hd.ID(), "tester"))
	}
	for i, hd := range holds {
		select {
		case <-hd.Released():
		case <-time.After(waitFor):
			t.Fatalf("hold %d of %s not released", i, hs[i].Component())
		}
		require.Equal(t, "tester", hd.ReleasedBy())
		hd.End(true)
	}
	waitNoHolds(t, cli, root)
	require.Eventually(t, func() bool { return !failsafe.ReleaseHubRunning(cli) }, waitFor, pollEvery,
		"the client's release hub runs with no release watch")
	waitGoroutines(t, base, "after every hold ended")
}

// Closing Holds, or the client they share, stops their work while holds
// are in effect: no goroutine of theirs is left.
func TestClosedHoldsLeaveNoGoroutine(t *testing.T) {
	const n = 10
	c := etcdtest.New(t)
	base := stableGoroutines(t)
	cli, err := c.NewClient()
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	root := "/closed"
	hs := make([]*failsafe.Holds, 2*n)
	for i := range hs {
		hs[i] = failsafe.NewHolds(cli, fmt.Sprintf("preparer/node%05d", i), failsafe.WithPrefix(root))
		beginHold(t, hs[i])
	}
	require.Eventually(t, watching(hs, true), waitFor, pollEvery, "release watches")
	// Half are closed: their watches stop, the others' go on.
	for _, h := range hs[:n] {
		h.Close()
	}
	require.Eventually(t, watching(hs[:n], false), waitFor, pollEvery, "release watches of closed Holds")
	require.True(t, failsafe.ReleaseHubRunning(cli))
	require.True(t, watching(hs[n:], true)(), "the watches of the Holds not closed")
	// The process stops without closing the others.
	require.NoError(t, cli.Close())
	require.Eventually(t, func() bool { return !failsafe.ReleaseHubRunning(cli) }, waitFor, pollEvery,
		"the release hub of a closed client")
	require.Eventually(t, watching(hs, false), waitFor, pollEvery, "release watches after the client was closed")
	waitGoroutines(t, base, "after the client was closed")
}
