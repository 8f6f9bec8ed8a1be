package daemonset_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
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

// world is an embedded etcd with in-process preparers (memory launcher)
// and a daemon set farm.
type world struct {
	t      *testing.T
	ctx    context.Context
	cli    *clientv3.Client
	labels *labels.Store
	intent *intent.Store
	store  *daemonset.Store
	nodes  map[string]*memory.Node
	logs   *observer.ObservedLogs
	log    *zap.Logger
}

func newWorld(t *testing.T) *world {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	core, logs := observer.New(zapcore.InfoLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	return &world{
		t: t, ctx: ctx, cli: cli,
		labels: labels.New(cli),
		intent: intent.NewStore(cli),
		store:  daemonset.NewStore(cli),
		nodes:  map[string]*memory.Node{},
		logs:   logs,
		log:    log,
	}
}

// node starts a preparer for name with node labels set.
func (w *world) node(name string, set labels.Set) *memory.Node {
	w.t.Helper()
	_, err := w.labels.Put(w.ctx, labels.Node, name, set)
	require.NoError(w.t, err)
	self := storetest.Manifest(preparer.DefaultSelfPodID)
	_, err = w.intent.Set(w.ctx, name, self)
	require.NoError(w.t, err)
	n := memory.NewNode()
	w.nodes[name] = n
	p, err := preparer.New(w.cli, name, n, n, preparer.WithHealthChecker(n),
		preparer.WithHealthInterval(50*time.Millisecond), preparer.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		preparer.WithLogger(w.log.Named(name).WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))))
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	w.t.Cleanup(func() { cancel(); require.NoError(w.t, <-done) })
	return n
}

// farm starts a daemon set farm; stop stops it and waits.
func (w *world) farm(opts ...farm.Option) (stop func()) {
	w.t.Helper()
	opts = append([]farm.Option{
		farm.WithLogger(w.log.Named("ds-farm")), farm.WithTTL(2),
		farm.WithBackoff(20*time.Millisecond, 500*time.Millisecond), farm.WithResync(time.Second),
		farm.WithActor("ds-farm-test"),
	}, opts...)
	f, err := daemonset.NewFarm(w.cli, opts...)
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); require.NoError(w.t, <-done) }) }
	w.t.Cleanup(stop)
	return stop
}

func version(m *manifest.Manifest, v int) *manifest.Manifest {
	c := m.Clone()
	c.TerminationGracePeriod = v
	return c
}

func digestOf(t *testing.T, m *manifest.Manifest) string {
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}

func daemonSet(id, selector string, interval time.Duration) *daemonset.DaemonSet {
	return &daemonset.DaemonSet{
		ID:                id,
		PodID:             "hello",
		Manifest:          *version(storetest.Manifest("hello"), 1),
		NodeSelector:      selector,
		MinHealth:         50,
		Timeout:           daemonset.Duration(10 * time.Second),
		RateLimitInterval: daemonset.Duration(interval),
	}
}

// intents reads which nodes hold pod in intent, with each manifest digest.
func (w *world) intents(pod string) map[string]string {
	w.t.Helper()
	l, err := w.intent.ListAll(w.ctx)
	require.NoError(w.t, err)
	out := map[string]string{}
	for _, o := range l.Items {
		node, p, _ := strings.Cut(o.Name, "/")
		if p == pod {
			d, err := o.Value.Digest()
			require.NoError(w.t, err)
			out[node] = d
		}
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (w *world) waitNodes(pod string, want ...string) {
	w.t.Helper()
	sort.Strings(want)
	require.Eventually(w.t, func() bool {
		return fmt.Sprint(keys(w.intents(pod))) == fmt.Sprint(want)
	}, waitFor, 10*time.Millisecond, "intent of %s never became %v (last %v)", pod, want, keys(w.intents(pod)))
}

func (w *world) status(id string) *daemonset.Status {
	w.t.Helper()
	s, err := status.NewStore[daemonset.Status](w.cli, daemonset.StatusNamespace)
	require.NoError(w.t, err)
	o, err := s.Get(w.ctx, status.DaemonSets, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

func (w *world) waitStatus(id string, ok func(*daemonset.Status) bool) *daemonset.Status {
	w.t.Helper()
	var last *daemonset.Status
	require.Eventually(w.t, func() bool {
		last = w.status(id)
		return last != nil && ok(last)
	}, waitFor, 10*time.Millisecond, "status of %s never as wanted; last %+v", id, last)
	return last
}

// gaps lists the time between consecutive times, for failure messages.
func gaps(times []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(times); i++ {
		out = append(out, times[i].Sub(times[i-1]))
	}
	return out
}

// stays checks for a bounded window that cond keeps holding: a negative
// check after the positive outcomes it follows have been awaited.
func stays(t *testing.T, window time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		require.True(t, cond(), msg)
		time.Sleep(20 * time.Millisecond)
	}
}

// A daemon set on 5 labelled nodes of 8 schedules one node per
// rate_limit_interval and never a node that does not match; relabelling a
// node schedules or unschedules it; deleting the daemon set leaves every
// intent.
func TestRateLimitRelabelAndDelete(t *testing.T) {
	w := newWorld(t)
	var edge []string
	for i := 1; i <= 8; i++ {
		name := fmt.Sprintf("node%d", i)
		role := "other"
		if i <= 5 {
			role = "edge"
			edge = append(edge, name)
		}
		w.node(name, labels.Set{"role": role})
	}

	// Record when each node's intent of the pod appears, with a raw watch
	// from a revision read before the farm starts (so no intent slips
	// past it), live before the farm starts (so it times events as they
	// happen rather than replaying them).
	var mu sync.Mutex
	appeared := map[string]time.Time{}
	before, err := w.cli.Get(w.ctx, "/p2/intent/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	wctx, wcancel := context.WithCancel(w.ctx)
	defer wcancel()
	wch := w.cli.Watch(wctx, "/p2/intent/", clientv3.WithPrefix(),
		clientv3.WithRev(before.Header.Revision+1), clientv3.WithCreatedNotify())
	select {
	case resp, ok := <-wch:
		require.True(t, ok && resp.Created, "intent watch: want its created notification, got %+v (open %v)", resp, ok)
	case <-time.After(waitFor):
		t.Fatalf("waited %s for the intent watch to start", waitFor)
	}
	go func() {
		for resp := range wch {
			now := time.Now()
			for _, ev := range resp.Events {
				node, pod, _ := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), "/p2/intent/"), "/")
				if pod == "hello" && ev.Type == clientv3.EventTypePut && ev.IsCreate() {
					mu.Lock()
					if _, ok := appeared[node]; !ok {
						appeared[node] = now
					}
					mu.Unlock()
				}
			}
		}
	}()

	w.farm()
	const interval = 300 * time.Millisecond
	ds := daemonSet("edge-hello", "role=edge", interval)
	_, err = w.store.Create(w.ctx, "alice", ds)
	require.NoError(t, err)

	w.waitNodes("hello", edge...)
	mu.Lock()
	var times []time.Time
	for _, n := range edge {
		times = append(times, appeared[n])
	}
	mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// Events arrive with some jitter on a loaded machine, so one gap may
	// look short when the one before it looks long. Bound each gap by
	// half the interval (two nodes at once would show as ~0) and the
	// whole span by its intervals less half of one (no rate limit at all
	// would show as ~0).
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		require.GreaterOrEqual(t, gap, interval/2, "gap %d between schedules is %s; all: %v", i, gap, gaps(times))
	}
	span := times[len(times)-1].Sub(times[0])
	require.GreaterOrEqual(t, span, time.Duration(len(times)-1)*interval-interval/2,
		"%d schedules span %s; gaps: %v", len(times), span, gaps(times))
	// Every pod runs and is healthy; each carries the owner label.
	st := w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return s.Healthy == 5 && s.Scheduled == 5 })
	require.Equal(t, 5, st.Matched)
	for _, n := range edge {
		l, err := w.labels.Get(w.ctx, labels.Pod, labels.PodID(n, "hello"))
		require.NoError(t, err)
		require.Equal(t, ds.ID, l.Value[daemonset.OwnerLabel])
	}
	require.Equal(t, edge, keys(w.intents("hello")), "a node that does not match got the pod")

	// Relabel: node6 starts matching, node1 stops.
	_, err = w.labels.Put(w.ctx, labels.Node, "node6", labels.Set{"role": "edge"})
	require.NoError(t, err)
	w.waitNodes("hello", "node1", "node2", "node3", "node4", "node5", "node6")
	_, err = w.labels.Put(w.ctx, labels.Node, "node1", labels.Set{"role": "other"})
	require.NoError(t, err)
	w.waitNodes("hello", "node2", "node3", "node4", "node5", "node6")
	require.Eventually(t, func() bool { _, running := w.nodes["node1"].Running("hello"); return !running },
		waitFor, 10*time.Millisecond, "node1 still runs the pod")

	// Delete the daemon set: it is logged, and no intent goes, even as
	// nodes are relabelled afterwards.
	require.NoError(t, w.store.Delete(w.ctx, "alice", ds.ID))
	require.Eventually(t, func() bool {
		return w.logs.FilterMessageSnippet("removing no intent").FilterField(zap.String("daemon_set", ds.ID)).Len() > 0
	}, waitFor, 10*time.Millisecond)
	_, err = w.labels.Put(w.ctx, labels.Node, "node2", labels.Set{"role": "other"})
	require.NoError(t, err)
	_, err = w.labels.Put(w.ctx, labels.Node, "node7", labels.Set{"role": "edge"})
	require.NoError(t, err)
	want := []string{"node2", "node3", "node4", "node5", "node6"}
	stays(t, 2*time.Second, func() bool { return fmt.Sprint(keys(w.intents("hello"))) == fmt.Sprint(want) },
		"intent changed after the daemon set was deleted")
}

// A selector that matches no node unschedules nothing, nor does an emptied
// node label tree; disabled pauses the daemon set.
func TestNoMatchUnschedulesNothing(t *testing.T) {
	w := newWorld(t)
	for _, n := range []string{"a1", "a2", "a3"} {
		w.node(n, labels.Set{"role": "edge"})
	}
	w.farm()
	ds := daemonSet("edge", "role=edge", 0)
	_, err := w.store.Create(w.ctx, "alice", ds)
	require.NoError(t, err)
	w.waitNodes("hello", "a1", "a2", "a3")

	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.NodeSelector = "role=nothing"
		return nil
	})
	require.NoError(t, err)
	w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return strings.Contains(s.Message, "matches no node") })
	stays(t, time.Second, func() bool { return len(w.intents("hello")) == 3 }, "a selector matching nothing unscheduled nodes")

	// Every node label vanishes: the fleet view holds the wipe.
	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.NodeSelector = "role=edge"
		return nil
	})
	require.NoError(t, err)
	w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return s.Message == "" && s.Scheduled == 3 })
	_, err = w.cli.Delete(w.ctx, "/p2/labels/node/", clientv3.WithPrefix())
	require.NoError(t, err)
	stays(t, time.Second, func() bool { return len(w.intents("hello")) == 3 }, "a label wipe unscheduled nodes")

	// Disabled: a node that starts matching is not scheduled.
	for _, n := range []string{"a1", "a2", "a3"} {
		_, err = w.labels.Put(w.ctx, labels.Node, n, labels.Set{"role": "edge"})
		require.NoError(t, err)
	}
	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.Disabled = true
		return nil
	})
	require.NoError(t, err)
	w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return s.Disabled })
	w.node("a4", labels.Set{"role": "edge"})
	stays(t, time.Second, func() bool { return len(w.intents("hello")) == 3 }, "a disabled daemon set scheduled a node")
	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.Disabled = false
		return nil
	})
	require.NoError(t, err)
	w.waitNodes("hello", "a1", "a2", "a3", "a4")
}

// Of two daemon sets of one pod whose selectors overlap, the newer is
// disabled and says why in its status.
func TestOverlapDisablesTheNewer(t *testing.T) {
	w := newWorld(t)
	w.node("n1", labels.Set{"role": "edge", "zone": "a"})
	w.node("n2", labels.Set{"role": "edge", "zone": "b"})
	w.node("n3", labels.Set{"role": "db", "zone": "b"})
	w.farm()
	older := daemonSet("older", "role=edge", 0)
	_, err := w.store.Create(w.ctx, "alice", older)
	require.NoError(t, err)
	w.waitNodes("hello", "n1", "n2")
	newer := daemonSet("newer", "zone=b", 0)
	_, err = w.store.Create(w.ctx, "alice", newer)
	require.NoError(t, err)

	st := w.waitStatus(newer.ID, func(s *daemonset.Status) bool { return s.Disabled })
	require.Contains(t, st.DisabledReason, `older daemon set "older"`)
	require.Contains(t, st.DisabledReason, "n2")
	got, err := w.store.Get(w.ctx, newer.ID)
	require.NoError(t, err)
	require.True(t, got.Value.Disabled)
	stays(t, time.Second, func() bool { return fmt.Sprint(keys(w.intents("hello"))) == "[n1 n2]" },
		"the disabled daemon set scheduled")
	l, err := w.labels.Get(w.ctx, labels.Pod, "n2/hello")
	require.NoError(t, err)
	require.Equal(t, "older", l.Value[daemonset.OwnerLabel])
	o, err := w.store.Get(w.ctx, older.ID)
	require.NoError(t, err)
	require.False(t, o.Value.Disabled)
}

// A manifest change rolls across the nodes keeping min_health percent
// healthy: a version that never becomes healthy stops after the budget
// (here 2 of 4 nodes), with the nodes that timed out in the status; a good
// version then rolls to every node.
func TestRollKeepsMinHealth(t *testing.T) {
	w := newWorld(t)
	bad := version(storetest.Manifest("hello"), 2)
	badDigest := digestOf(t, bad)
	nodes := []string{"r1", "r2", "r3", "r4"}
	for _, n := range nodes {
		w.node(n, labels.Set{"role": "edge"}).Unhealthy = func(d string) bool { return d == badDigest }
	}
	w.farm()
	ds := daemonSet("roller", "role=edge", 0)
	ds.Timeout = daemonset.Duration(time.Second)
	_, err := w.store.Create(w.ctx, "alice", ds)
	require.NoError(t, err)
	w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return s.Healthy == 4 })

	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.Manifest = *bad
		return nil
	})
	require.NoError(t, err)
	st := w.waitStatus(ds.ID, func(s *daemonset.Status) bool {
		return s.ManifestDigest == badDigest && len(s.TimedOut) == 2
	})
	require.Equal(t, 2, st.Current)
	count := func(d string) int {
		n := 0
		for _, got := range w.intents("hello") {
			if got == d {
				n++
			}
		}
		return n
	}
	stays(t, time.Second, func() bool { return count(badDigest) == 2 }, "the roll went past min_health")

	good := version(storetest.Manifest("hello"), 3)
	_, err = w.store.Modify(w.ctx, "alice", ds.ID, func(v *daemonset.DaemonSet) error {
		v.Manifest = *good
		return nil
	})
	require.NoError(t, err)
	st = w.waitStatus(ds.ID, func(s *daemonset.Status) bool { return s.Current == 4 && s.Healthy == 4 })
	require.Empty(t, st.TimedOut)
	require.Equal(t, 4, count(digestOf(t, good)))
}

// The farm's writes are fenced: a farm that lost its lock writes nothing
// and another takes over.
func TestTakeover(t *testing.T) {
	w := newWorld(t)
	w.node("t1", labels.Set{"role": "edge"})
	stopA := w.farm(farm.WithIdentity("a"))
	ds := daemonSet("edge", "role=edge", 0)
	_, err := w.store.Create(w.ctx, "alice", ds)
	require.NoError(t, err)
	w.waitNodes("hello", "t1")
	w.farm(farm.WithIdentity("b"))
	stopA()
	w.node("t2", labels.Set{"role": "edge"})
	w.waitNodes("hello", "t1", "t2")
}
