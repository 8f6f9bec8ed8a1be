package failsafe_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/internal/etcdexec"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// write commits ops in one transaction and returns its revision.
func write(t *testing.T, cli *clientv3.Client, ops ...clientv3.Op) int64 {
	t.Helper()
	resp, err := cli.Txn(ctxT(t)).Then(ops...).Commit()
	require.NoError(t, err)
	return resp.Header.Revision
}

// nothingDelivered checks that c was given nothing up to rev.
func nothingDelivered(t *testing.T, c *consumer, rev int64, what string) {
	t.Helper()
	require.Empty(t, c.until(t, rev), "%s: delivered %v", what, c.log)
}

// waitNoHolds polls until no hold is recorded under root.
func waitNoHolds(t *testing.T, cli *clientv3.Client, root string) {
	t.Helper()
	require.Eventually(t, func() bool {
		recs, err := failsafe.ListHolds(ctxT(t), cli, root)
		return err == nil && len(recs) == 0
	}, waitFor, pollEvery, "holds left under %s", root)
}

// The scenario at the guard level: a node's whole intent is
// deleted, then written back one key at a time in sorted, reverse or
// random order. Whatever the order of the preparer's guards, the consumer
// is given nothing and no hold is left.
func TestWipeRestoredKeyByKey(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	pods := []string{"api", "cron", self, "web", "worker", "zipkin"}
	seed := rand.Uint64()
	t.Logf("random order seed %d", seed)
	orders := map[string][]string{
		"sorted":  pods,
		"reverse": {"zipkin", "worker", "web", self, "cron", "api"},
		"random":  append([]string(nil), pods...),
	}
	rand.New(rand.NewPCG(seed, 1)).Shuffle(len(pods), func(i, j int) {
		orders["random"][i], orders["random"][j] = orders["random"][j], orders["random"][i]
	})
	for _, chainOrder := range [][]namedGuard{{gRequire, gMax2}, {gMax2, gRequire}} {
		for _, restore := range []string{"sorted", "reverse", "random"} {
			name := fmt.Sprintf("%s>%s/%s", chainOrder[0].name, chainOrder[1].name, restore)
			t.Run(name, func(t *testing.T) {
				root := fmt.Sprintf("/wipe%d", rand.Uint32())
				dir := root + "/items/"
				var fill []clientv3.Op
				for i, p := range pods {
					fill = append(fill, put(dir, p, i, "v"))
				}
				write(t, cli, fill...)
				h := failsafe.NewHolds(cli, "preparer/n1", failsafe.WithPrefix(root))
				cons := newConsumer(t.Context(), name, kv.New[item](cli, root+"/items"), h,
					chainOrder[0].make(h), chainOrder[1].make(h))
				rev := write(t, cli)
				require.Len(t, cons.until(t, rev), 1) // the initial listing

				nothingDelivered(t, cons, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
				require.Len(t, h.Active(), 1)
				for _, p := range orders[restore] {
					i := sort.SearchStrings(pods, p)
					nothingDelivered(t, cons, write(t, cli, put(dir, p, i, "v")), "restore "+p)
				}
				require.Empty(t, h.Active())
				waitNoHolds(t, cli, root)
				got := cons.until(t, write(t, cli, put(dir, "new", 9, "v")))
				require.Equal(t, []string{"live released=false [create new=9v]"}, cons.log[len(cons.log)-len(got):])
			})
		}
	}
}

// A release written in the same transaction as the last key's return is
// delivered exactly once: one batch with that key's change, no delete, no
// duplicate. Also on Debian's etcd 3.4.23, which answers progress requests
// ahead of the events they confirm (see kv.Watcher.RequestProgress).
func TestReleaseRacingRecovery(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { releaseRacingRecovery(t, etcdtest.New(t).Client(t), 20) })
	t.Run("etcd-3.4", func(t *testing.T) { releaseRacingRecovery(t, etcdexec.Start(t, "3.4").Client(t), 5) })
}

func releaseRacingRecovery(t *testing.T, cli *clientv3.Client, rounds int) {
	for i := range rounds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			root := fmt.Sprintf("/race%d", i)
			dir := root + "/items/"
			write(t, cli, put(dir, "a", 1, "v"), put(dir, "b", 2, "v"), put(dir, "c", 3, "v"), put(dir, "d", 4, "v"))
			h := failsafe.NewHolds(cli, "race", failsafe.WithPrefix(root))
			cons := newConsumer(t.Context(), "race", kv.New[item](cli, root+"/items"), h,
				failsafe.MaxDeletes[item](h, 2, 0.5), failsafe.NotEmpty[item](h))
			cons.until(t, write(t, cli))
			nothingDelivered(t, cons, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
			nothingDelivered(t, cons, write(t, cli, put(dir, "a", 1, "v"), put(dir, "b", 2, "v")), "restore a, b")
			nothingDelivered(t, cons, write(t, cli, put(dir, "c", 3, "v")), "restore c")
			active := h.Active()
			require.Len(t, active, 1)
			require.Eventually(t, func() bool { // the record is in etcd
				recs, err := failsafe.ListHolds(ctxT(t), cli, root)
				return err == nil && len(recs) == 1
			}, waitFor, pollEvery)

			cmp, rel, err := failsafe.ReleaseOp(root, active[0].ID, "tester")
			require.NoError(t, err)
			resp, err := cli.Txn(ctxT(t)).If(cmp).Then(put(dir, "d", 44, "v"), rel).Commit()
			require.NoError(t, err)
			require.True(t, resp.Succeeded)
			cons.pull(t, "hold ended", func() bool { return len(h.Active()) == 0 && cons.w.Revision() >= resp.Header.Revision })
			cons.until(t, write(t, cli, put(dir, "zz", 0, "v")))
			require.Len(t, cons.log, 3, "%v", cons.log)
			require.Regexp(t, `^net released=(true|false) \[mutate d=44v\]$`, cons.log[1])
			require.Equal(t, "live released=false [create zz=0v]", cons.log[2])
			waitNoHolds(t, cli, root)
			require.Eventually(t, func() bool {
				r, err := cli.Get(ctxT(t), failsafe.ReleaseKey(root, active[0].ID))
				return err == nil && len(r.Kvs) == 0
			}, waitFor, pollEvery, "release key left")
		})
	}
}

// A hold survives a compaction that happens while the watcher's member
// is down: the watcher relists, and the restored state ends the hold with
// no delete delivered.
func TestCompactionWhileHeld(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	writer := c.Client(t)
	m := c.Members[2]
	cli := c.ClientFor(t, m.Endpoint())
	root := "/compact"
	dir := root + "/items/"
	var fill []clientv3.Op
	for i := range 10 {
		fill = append(fill, put(dir, name(i), i, "v"))
	}
	write(t, writer, fill...)
	h := failsafe.NewHolds(cli, "compact", failsafe.WithPrefix(root))
	cons := newConsumer(t.Context(), "compact", kv.New[item](cli, root+"/items"), h,
		failsafe.NotEmpty[item](h), failsafe.MaxDeletes[item](h, 2, 0.5))
	cons.until(t, write(t, writer))
	nothingDelivered(t, cons, write(t, writer, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
	require.Len(t, h.Active(), 1)

	m.Stop(t)
	fill[3] = put(dir, name(3), 33, "v")
	rev := write(t, writer, fill...)
	c.Compact(t, 0)
	m.Restart(t)

	cons.pull(t, "hold ended after the relist", func() bool { return len(h.Active()) == 0 && cons.w.Revision() >= rev })
	require.Equal(t, []string{"net released=false [mutate k003=33v]"}, cons.log[1:], "no delete delivered")
	waitNoHolds(t, writer, root)
}

// A release watch that fails (its member was down while the history it
// would resume from was compacted) is opened again, and a release written
// meanwhile still reaches its hold.
func TestReleaseReachesAHoldAfterItsWatchFailed(t *testing.T) {
	c := etcdtest.NewCluster(t, 3)
	writer := c.Client(t)
	m := c.Members[2]
	cli := c.ClientFor(t, m.Endpoint())
	root := "/rewatch"
	core, logs := observer.New(zap.WarnLevel)
	h := failsafe.NewHolds(cli, "rewatch", failsafe.WithPrefix(root), failsafe.WithLogger(zap.New(core)))
	t.Cleanup(h.Close)
	hd := beginHold(t, h)
	require.Eventually(t, func() bool { return failsafe.Watching(h) }, waitFor, pollEvery)

	m.Stop(t)
	require.NoError(t, failsafe.Release(ctxT(t), writer, root, hd.ID(), "alice"))
	c.Compact(t, 0)
	m.Restart(t)
	select {
	case <-hd.Released():
	case <-time.After(waitFor):
		t.Fatal("the release written while the watch was down did not reach the hold")
	}
	require.Equal(t, "alice", hd.ReleasedBy())
	require.NotZero(t, logs.FilterMessage("watch of failsafe releases failed; retrying").Len(),
		"the watch did not fail: %v", logs.All())
	hd.End(true)
	waitNoHolds(t, writer, root)
	require.Eventually(t, func() bool { return !failsafe.ReleaseHubRunning(cli) }, waitFor, pollEvery)
}

// An undecodable value written back while held does not count as the key
// coming back: the hold goes on until a good value is written.
func TestUndecodableValueWhileHeld(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/bad"
	dir := root + "/items/"
	write(t, cli, put(dir, "a", 1, "v"), put(dir, "b", 2, "v"), put(dir, "c", 3, "v"), put(dir, "d", 4, "v"))
	h := failsafe.NewHolds(cli, "bad", failsafe.WithPrefix(root))
	cons := newConsumer(t.Context(), "bad", kv.New[item](cli, root+"/items"), h, failsafe.MaxDeletes[item](h, 2, 0.5))
	cons.until(t, write(t, cli))
	nothingDelivered(t, cons, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
	nothingDelivered(t, cons, write(t, cli, put(dir, "a", 1, "v"), put(dir, "b", 2, "v"), put(dir, "c", 3, "v")), "restore three")
	nothingDelivered(t, cons, write(t, cli, clientv3.OpPut(dir+"d", "{not json")), "undecodable d")
	active := h.Active()
	require.Len(t, active, 1, "held while d is undecodable")
	require.Equal(t, 1, active[0].Deletes)
	require.Equal(t, []string{"d"}, active[0].Keys)

	nothingDelivered(t, cons, write(t, cli, put(dir, "d", 4, "v")), "good d")
	require.Empty(t, h.Active())
	waitNoHolds(t, cli, root)
}

// A holder whose process restarts while held takes its hold up again
// (StartFrom, with what it had acted on): a restore half done when it
// starts is not read as "delete the rest".
func TestHolderRestartedWhileHeld(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/restart"
	dir := root + "/items/"
	store := kv.New[item](cli, root+"/items")
	var fill []clientv3.Op
	for i := range 6 {
		fill = append(fill, put(dir, name(i), i, "v"))
	}
	write(t, cli, fill...)

	// First run.
	ctx1, stop1 := context.WithCancel(t.Context())
	h1 := failsafe.NewHolds(cli, "restarts", failsafe.WithPrefix(root))
	first := newConsumer(ctx1, "first", store, h1, failsafe.RequireKey[item](h1, name(0)), failsafe.MaxDeletes[item](h1, 2, 0.5))
	got := first.until(t, write(t, cli))
	acted := kv.MapView[item](kv.Snapshot(got[0].After))
	nothingDelivered(t, first, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
	held := h1.Active()
	require.Len(t, held, 1)
	stop1()
	h1.Close()

	// Half restored while nobody runs: 3 of 6 back, which alone would
	// pass MaxDeletes(2, 0.5).
	write(t, cli, fill[:3]...)

	// Second run, from what the first acted on.
	h2 := failsafe.NewHolds(cli, "restarts", failsafe.WithPrefix(root))
	w := store.Watch(t.Context())
	second := &consumer{name: "second", w: w, h: h2, view: map[string]item{},
		src: failsafe.Chain[item](failsafe.StartFrom[item](w, acted),
			failsafe.RequireKey[item](h2, name(0)), failsafe.MaxDeletes[item](h2, 2, 0.5))}
	nothingDelivered(t, second, write(t, cli), "restart half restored")
	taken := h2.Active()
	require.Len(t, taken, 1, "the earlier hold is taken up")
	require.Equal(t, held[0].ID, taken[0].ID)
	require.Equal(t, 3, taken[0].Deletes)

	for _, op := range fill[3:5] {
		nothingDelivered(t, second, write(t, cli, op), "restore")
	}
	// The last key back ends the hold: the consumer is given its first
	// listing, which changes nothing of what it acted on.
	require.Len(t, second.until(t, write(t, cli, fill[5])), 1)
	require.Empty(t, h2.Active())
	waitNoHolds(t, cli, root)
	second.until(t, write(t, cli, put(dir, "new", 1, "v")))
	require.Equal(t, []string{"initial released=false []", "live released=false [create new=1v]"}, second.log)
}

// A hold that lasts longer than its record's TTL keeps its record (the
// lease is kept alive) and can still be released.
func TestHoldOutlivesRecordTTL(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/ttl"
	dir := root + "/items/"
	write(t, cli, put(dir, "a", 1, "v"), put(dir, "b", 2, "v"))
	h := failsafe.NewHolds(cli, "ttl", failsafe.WithPrefix(root), failsafe.WithRecordTTL(time.Second))
	cons := newConsumer(t.Context(), "ttl", kv.New[item](cli, root+"/items"), h, failsafe.NotEmpty[item](h))
	cons.until(t, write(t, cli))
	nothingDelivered(t, cons, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
	id := h.Active()[0].ID
	// Three TTLs: the record must be there at every look.
	require.Never(t, func() bool {
		resp, err := cli.Get(ctxT(t), failsafe.HoldKey(root, id))
		return err != nil || len(resp.Kvs) != 1
	}, 3*time.Second, 100*time.Millisecond, "hold record expired while the hold lasts")
	require.True(t, cons.released(t, cli, root))
	require.Equal(t, "net released=true [delete a, delete b]", cons.log[1])
	waitNoHolds(t, cli, root)
}

// One component never deletes another component's release, even when
// their hold ids share a beginning.
func TestOtherComponentsRelease(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	root := "/others"
	var cons []*consumer
	var hs []*failsafe.Holds
	for _, comp := range []string{"x", "x-y"} {
		dir := root + "/" + comp + "/"
		write(t, cli, put(dir, "a", 1, "v"))
		h := failsafe.NewHolds(cli, comp, failsafe.WithPrefix(root))
		cn := newConsumer(t.Context(), comp, kv.New[item](cli, root+"/"+comp), h, failsafe.NotEmpty[item](h))
		cn.until(t, write(t, cli))
		nothingDelivered(t, cn, write(t, cli, clientv3.OpDelete(dir, clientv3.WithPrefix())), "wipe")
		cons, hs = append(cons, cn), append(hs, h)
	}
	xy := hs[1].Active()[0].ID
	require.True(t, strings.HasPrefix(xy, failsafe.IDPrefix("x")), "x watches x-y's releases too: %s", xy)
	require.NoError(t, failsafe.Release(ctxT(t), cli, root, xy, "tester"))
	// x sees the release, which is not its own, and leaves it alone.
	require.Never(t, func() bool {
		resp, err := cli.Get(ctxT(t), failsafe.ReleaseKey(root, xy))
		return err != nil || len(resp.Kvs) != 1
	}, quiet, 20*time.Millisecond, "another component removed x-y's release")
	cons[1].pull(t, "x-y released", func() bool { return len(hs[1].Active()) == 0 })
	require.Equal(t, "net released=true [delete a]", cons[1].log[1])
	require.Len(t, hs[0].Active(), 1, "x is still held")
}
