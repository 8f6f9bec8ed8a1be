package podcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

const waitFor = 30 * time.Second

// counting wraps a syncer and counts its calls per cluster; failures > 0
// makes that many SyncCluster calls fail first.
type counting struct {
	podcluster.Syncer
	mu       sync.Mutex
	syncs    map[string]int
	deletes  map[string]int
	failures int
}

func newCounting(inner podcluster.Syncer) *counting {
	return &counting{Syncer: inner, syncs: map[string]int{}, deletes: map[string]int{}}
}

func (c *counting) SyncCluster(ctx context.Context, pc *podcluster.PodCluster, pods []podcluster.Member) error {
	c.mu.Lock()
	if c.failures > 0 {
		c.failures--
		c.mu.Unlock()
		return errors.New("load balancer unavailable")
	}
	c.syncs[pc.ID]++
	c.mu.Unlock()
	return c.Syncer.SyncCluster(ctx, pc, pods)
}

func (c *counting) DeleteCluster(ctx context.Context, id string) error {
	c.mu.Lock()
	c.deletes[id]++
	c.mu.Unlock()
	return c.Syncer.DeleteCluster(ctx, id)
}

func (c *counting) counts() (syncs, deletes map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, d := map[string]int{}, map[string]int{}
	for k, v := range c.syncs {
		s[k] = v
	}
	for k, v := range c.deletes {
		d[k] = v
	}
	return s, d
}

type world struct {
	t      *testing.T
	ctx    context.Context
	cli    *clientv3.Client
	labels *labels.Store
	intent *intent.Store
	store  *podcluster.Store
	log    *zap.Logger
	logs   *observer.ObservedLogs
	dir    string
}

func newWorld(t *testing.T, nodes ...string) *world {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	w := &world{t: t, ctx: ctx, cli: cli, labels: labels.New(cli), intent: intent.NewStore(cli),
		store: podcluster.NewStore(cli), log: log, logs: logs, dir: t.TempDir()}
	for _, n := range nodes {
		w.preparer(n)
	}
	return w
}

// preparer runs a node's preparer with the memory launcher.
func (w *world) preparer(node string) {
	_, err := w.intent.Set(w.ctx, node, storetest.Manifest(preparer.DefaultSelfPodID))
	require.NoError(w.t, err)
	m := memory.NewNode()
	p, err := preparer.New(w.cli, node, m, m, preparer.WithHealthChecker(m),
		preparer.WithHealthInterval(50*time.Millisecond), preparer.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		preparer.WithLogger(w.log.Named(node).WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))))
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	w.t.Cleanup(func() { cancel(); require.NoError(w.t, <-done) })
}

// place schedules pod hello on node with pod labels, as an RC scaling up
// would; unplace removes both.
func (w *world) place(node string, set labels.Set) {
	w.t.Helper()
	_, err := w.intent.Set(w.ctx, node, storetest.Manifest("hello"))
	require.NoError(w.t, err)
	_, err = w.labels.Put(w.ctx, labels.Pod, labels.PodID(node, "hello"), set)
	require.NoError(w.t, err)
}

func (w *world) unplace(node string) {
	w.t.Helper()
	require.NoError(w.t, w.intent.Delete(w.ctx, node, "hello"))
	require.NoError(w.t, w.labels.Delete(w.ctx, labels.Pod, labels.PodID(node, "hello")))
}

func (w *world) cluster(id, selector string) {
	w.t.Helper()
	_, err := w.store.Create(w.ctx, "alice", &podcluster.PodCluster{
		ID: id, PodID: "hello", AvailabilityZone: "az1", Name: id, PodSelector: selector,
		Annotations: map[string]any{"port": 8080.0}, MinHealthPercentage: 50,
	})
	require.NoError(w.t, err)
}

func (w *world) farm(s podcluster.Syncer, name string) (stop func()) {
	w.t.Helper()
	f, err := podcluster.NewFarm(w.cli, s, farm.WithLogger(w.log.Named(name)),
		farm.WithTTL(2), farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		farm.WithResync(500*time.Millisecond), farm.WithIdentity(name))
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); require.NoError(w.t, <-done) }) }
	w.t.Cleanup(stop)
	return stop
}

// members reads the file syncer's file of id as "node:healthy" strings.
func (w *world) members(id string) []string {
	fc, err := podcluster.ReadFile(podcluster.NewFileSyncer(w.dir).Path(id))
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range fc.Members {
		out = append(out, fmt.Sprintf("%s:%t", m.Node, m.Healthy))
	}
	return out
}

func (w *world) waitMembers(id string, want ...string) {
	w.t.Helper()
	require.Eventually(w.t, func() bool { return fmt.Sprint(w.members(id)) == fmt.Sprint(want) },
		waitFor, 10*time.Millisecond, "members of %s never became %v (last %v)", id, want, w.members(id))
}

func stays(t *testing.T, window time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		require.True(t, cond(), msg)
		time.Sleep(20 * time.Millisecond)
	}
}

// The file syncer's content follows scaling, with health; a failing sync
// is retried.
func TestFileSyncerFollowsScaling(t *testing.T) {
	w := newWorld(t, "n1", "n2", "n3")
	sy := newCounting(podcluster.NewFileSyncer(w.dir))
	sy.failures = 2
	w.farm(sy, "farm")
	w.place("n1", labels.Set{"app": "hello"})
	w.place("n2", labels.Set{"app": "hello"})
	w.place("n3", labels.Set{"app": "other"})
	w.cluster("web", "app=hello")
	w.waitMembers("web", "n1:true", "n2:true")

	fc, err := podcluster.ReadFile(podcluster.NewFileSyncer(w.dir).Path("web"))
	require.NoError(t, err)
	require.Equal(t, "hello", fc.PodID)
	require.Equal(t, "az1", fc.AvailabilityZone)
	require.Equal(t, 8080.0, fc.Annotations["port"])

	// Scale up, then down.
	_, err = w.labels.Put(w.ctx, labels.Pod, "n3/hello", labels.Set{"app": "hello"})
	require.NoError(t, err)
	w.waitMembers("web", "n1:true", "n2:true", "n3:true")
	w.unplace("n1")
	w.unplace("n2")
	w.waitMembers("web", "n3:true")

	// Every pod label vanishes: the fleet view holds the wipe and the
	// members stay. (Its MaxDeletes(10, 0.5) guard lets controllers remove
	// up to ten pods at once, so the wipe here takes more.)
	for _, n := range []string{"n1", "n2", "n3"} {
		for i := range 4 {
			_, err = w.labels.Put(w.ctx, labels.Pod, labels.PodID(n, fmt.Sprintf("other%d", i)), labels.Set{"app": "other"})
			require.NoError(t, err)
		}
	}
	_, err = w.cli.Delete(w.ctx, "/p2/labels/pod/", clientv3.WithPrefix())
	require.NoError(t, err)
	stays(t, time.Second, func() bool { return fmt.Sprint(w.members("web")) == "[n3:true]" },
		"a pod label wipe emptied the cluster")

	rec, err := status.NewStore[podcluster.SyncRecord](w.cli, "file")
	require.NoError(t, err)
	o, err := rec.Get(w.ctx, status.PodClusters, "web")
	require.NoError(t, err)
	require.Equal(t, 1, o.Value.Members)
}

// Wiping every pod cluster never calls DeleteCluster: the guard holds the
// wipe, restoring the clusters ends the hold with nothing to do, and a
// single delete afterwards is passed and deleted once.
func TestWipeNeverDeletes(t *testing.T) {
	w := newWorld(t, "n1", "n2")
	sy := newCounting(podcluster.NewFileSyncer(w.dir))
	w.farm(sy, "farm")
	w.place("n1", labels.Set{"app": "hello", "tier": "web"})
	w.place("n2", labels.Set{"app": "hello", "tier": "api"})
	ids := []string{"web", "api", "all"}
	w.cluster("web", "tier=web")
	w.cluster("api", "tier=api")
	w.cluster("all", "app=hello")
	w.waitMembers("web", "n1:true")
	w.waitMembers("api", "n2:true")
	w.waitMembers("all", "n1:true", "n2:true")

	saved, err := w.cli.Get(w.ctx, "/p2/pod_clusters/", clientv3.WithPrefix())
	require.NoError(t, err)
	_, err = w.cli.Delete(w.ctx, "/p2/pod_clusters/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/failsafe/holds/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count > 0
	}, waitFor, 10*time.Millisecond, "the wipe was not held")
	noDeletes := func() bool {
		_, d := sy.counts()
		for _, id := range ids {
			if w.members(id) == nil {
				return false
			}
		}
		return len(d) == 0
	}
	stays(t, time.Second, noDeletes, "a wipe reached DeleteCluster")

	// The clusters come back as they were: the hold ends, nothing happens.
	for _, kv := range saved.Kvs {
		_, err := w.cli.Put(w.ctx, string(kv.Key), string(kv.Value))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/failsafe/holds/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	}, waitFor, 10*time.Millisecond, "the hold did not end")
	stays(t, 500*time.Millisecond, noDeletes, "a restored wipe reached DeleteCluster")

	// One delete of three is not a mass delete.
	require.NoError(t, w.store.Delete(w.ctx, "alice", "api"))
	require.Eventually(t, func() bool { _, d := sy.counts(); return d["api"] == 1 }, waitFor, 10*time.Millisecond)
	_, err = os.Stat(podcluster.NewFileSyncer(w.dir).Path("api"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/status/pod_clusters/api/file")
		return err == nil && len(resp.Kvs) == 0
	}, waitFor, 10*time.Millisecond, "the sync record of a deleted cluster stayed")
	stays(t, 500*time.Millisecond, func() bool { _, d := sy.counts(); return len(d) == 1 && d["api"] == 1 },
		"DeleteCluster called again")
}

// A farm restart makes no sync call for unchanged clusters; a change after
// it makes exactly one; a cluster deleted while no farm ran is deleted
// when one starts, but a wipe made while none ran is held.
func TestRestartDoesNotResync(t *testing.T) {
	w := newWorld(t, "n1", "n2", "n3")
	sy := newCounting(podcluster.NewFileSyncer(w.dir))
	stopA := w.farm(sy, "farm-a")
	w.place("n1", labels.Set{"app": "hello", "tier": "web"})
	w.place("n2", labels.Set{"app": "hello", "tier": "api"})
	w.cluster("web", "tier=web")
	w.cluster("api", "tier=api")
	w.cluster("old", "tier=old")
	w.waitMembers("web", "n1:true")
	w.waitMembers("api", "n2:true")
	require.Eventually(t, func() bool { s, _ := sy.counts(); return s["old"] == 1 }, waitFor, 10*time.Millisecond)
	// Wait until farm A has synced the healthy members, so that nothing
	// changes between the two farms.
	records, err := status.NewStore[podcluster.SyncRecord](w.cli, "file")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, id := range []string{"web", "api"} {
			o, err := records.Get(w.ctx, status.PodClusters, id)
			if err != nil || o.Value.Healthy != 1 {
				return false
			}
		}
		return true
	}, waitFor, 10*time.Millisecond)
	stopA()
	require.NoError(t, w.store.Delete(w.ctx, "alice", "old"))
	before, _ := sy.counts()

	w.farm(sy, "farm-b")
	inSync := func(id string) bool {
		return w.logs.FilterLoggerName("farm-b").FilterMessage("pod cluster in sync; not syncing").
			FilterField(zap.String("pod_cluster", id)).Len() > 0
	}
	require.Eventually(t, func() bool { return inSync("web") && inSync("api") }, waitFor, 10*time.Millisecond)
	require.Eventually(t, func() bool { _, d := sy.counts(); return d["old"] == 1 }, waitFor, 10*time.Millisecond,
		"a cluster deleted while no farm ran was not deleted")
	unchanged := func() bool { s, _ := sy.counts(); return fmt.Sprint(s) == fmt.Sprint(before) }
	stays(t, time.Second, unchanged, "a restart synced an unchanged cluster")

	// A pod that is already healthy joins: one change, one sync.
	w.place("n3", labels.Set{"app": "hello", "tier": "spare"})
	ps := status.NewPodStatusStore(w.cli)
	require.Eventually(t, func() bool {
		o, err := ps.Get(w.ctx, "n3", "hello")
		return err == nil && o.Value.Health == status.Passing
	}, waitFor, 10*time.Millisecond)
	_, err = w.labels.Put(w.ctx, labels.Pod, "n3/hello", labels.Set{"app": "hello", "tier": "web"})
	require.NoError(t, err)
	w.waitMembers("web", "n1:true", "n3:true")
	stays(t, 500*time.Millisecond, func() bool {
		s, _ := sy.counts()
		return s["web"] == before["web"]+1 && s["api"] == before["api"]
	}, "a membership change made other than one sync")
}

// A farm that starts while every cluster is missing holds, and deletes
// nothing.
func TestStartOnEmptyAnswerDeletesNothing(t *testing.T) {
	w := newWorld(t, "n1")
	sy := newCounting(podcluster.NewFileSyncer(w.dir))
	stopA := w.farm(sy, "farm-a")
	w.place("n1", labels.Set{"app": "hello"})
	w.cluster("a", "app=hello")
	w.cluster("b", "app=hello")
	w.waitMembers("a", "n1:true")
	w.waitMembers("b", "n1:true")
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/status/pod_clusters/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	}, waitFor, 10*time.Millisecond)
	stopA()
	_, err := w.cli.Delete(w.ctx, "/p2/pod_clusters/", clientv3.WithPrefix())
	require.NoError(t, err)
	w.farm(sy, "farm-b")
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/failsafe/holds/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count > 0
	}, waitFor, 10*time.Millisecond, "the empty answer was not held")
	stays(t, time.Second, func() bool {
		_, d := sy.counts()
		return len(d) == 0 && w.members("a") != nil && w.members("b") != nil
	}, "an empty answer at start reached DeleteCluster")
}

// Deleting one cluster's sync record re-syncs that cluster only; creating
// a record has no side effect.
func TestDeletedRecordResyncs(t *testing.T) {
	w := newWorld(t, "n1")
	sy := newCounting(podcluster.NewFileSyncer(w.dir))
	w.farm(sy, "farm")
	w.place("n1", labels.Set{"app": "hello"})
	w.cluster("a", "app=hello")
	w.cluster("b", "app=hello")
	w.waitMembers("a", "n1:true")
	w.waitMembers("b", "n1:true")
	// Wait until both clusters are synced with their healthy member, so
	// that no sync is still to come when the record goes.
	rec, err := status.NewStore[podcluster.SyncRecord](w.cli, "file")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, id := range []string{"a", "b"} {
			o, err := rec.Get(w.ctx, status.PodClusters, id)
			if err != nil || o.Value.Healthy != 1 {
				return false
			}
		}
		return true
	}, waitFor, 10*time.Millisecond)
	before, _ := sy.counts()

	_, err = w.cli.Delete(w.ctx, "/p2/status/pod_clusters/a/file")
	require.NoError(t, err)
	require.Eventually(t, func() bool { s, _ := sy.counts(); return s["a"] > before["a"] }, waitFor, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		resp, err := w.cli.Get(w.ctx, "/p2/status/pod_clusters/a/file")
		return err == nil && len(resp.Kvs) == 1
	}, waitFor, 10*time.Millisecond)
	after, _ := sy.counts()
	require.Equal(t, before["a"]+1, after["a"], "one re-sync of the cluster whose record went")
	require.Equal(t, before["b"], after["b"], "no sync of the other cluster")

	_, err = rec.Put(w.ctx, status.PodClusters, "ghost", &podcluster.SyncRecord{Digest: "x", SyncedAt: time.Now()})
	require.NoError(t, err)
	stays(t, time.Second, func() bool {
		s, d := sy.counts()
		return s["a"] == after["a"] && s["b"] == after["b"] && len(s) == 2 && len(d) == 0
	}, "a record change made a sync or delete call")
}
