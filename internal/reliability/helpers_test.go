package reliability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/fleettest"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/internal/controller"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// waitFor bounds every wait for convergence.
const waitFor = 60 * time.Second

var (
	quiet     = fleettest.Quiet
	version   = fleettest.Manifest
	nodeNames = fleettest.NodeNames
)

// world is an embedded etcd cluster with preparers on in-memory nodes and
// the reference controller, each on its own etcd client.
type world struct {
	t      *testing.T
	etcd   *etcdtest.Cluster
	cli    *clientv3.Client // every endpoint: the test's own reads and writes
	ctx    context.Context
	labels *labels.Store
	intent *intent.Store
	rcs    *rc.Store
	rolls  *roll.Store
	dss    *daemonset.Store
	pcs    *podcluster.Store

	mu    sync.Mutex
	nodes map[string]*memory.Node
}

func newWorld(t *testing.T, members int) *world {
	c := etcdtest.NewCluster(t, members)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return &world{t: t, etcd: c, cli: cli, ctx: ctx, labels: labels.New(cli), intent: intent.NewStore(cli),
		rcs: rc.NewStore(cli), rolls: roll.NewStore(cli), dss: daemonset.NewStore(cli), pcs: podcluster.NewStore(cli),
		nodes: map[string]*memory.Node{}}
}

// client returns a new client for endpoints (none: every member).
func (w *world) client(endpoints ...string) *clientv3.Client {
	if len(endpoints) == 0 {
		endpoints = w.etcd.Endpoints()
	}
	return w.etcd.ClientFor(w.t, endpoints...)
}

// run runs fn until the test ends or stop is called, then checks that it
// returned nil.
func (w *world) run(fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); require.NoError(w.t, <-done) }) }
	w.t.Cleanup(stop)
	return stop
}

// node labels name with set, puts the preparer's own pod in its intent and
// runs a preparer on a memory node through cli (nil: a new client for
// every member). unhealthy, if set, keeps those digests critical.
func (w *world) node(name string, set labels.Set, cli *clientv3.Client, unhealthy func(string) bool) *memory.Node {
	w.t.Helper()
	if cli == nil {
		cli = w.client()
	}
	_, err := w.labels.Put(w.ctx, labels.Node, name, set)
	require.NoError(w.t, err)
	_, err = w.intent.Set(w.ctx, name, version(preparer.DefaultSelfPodID, 1))
	require.NoError(w.t, err)
	n := memory.NewNode()
	n.Unhealthy = unhealthy
	p, err := preparer.New(cli, name, n, n, preparer.WithHealthChecker(n),
		preparer.WithHealthInterval(50*time.Millisecond), preparer.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		preparer.WithLogger(quiet(w.t).Named(name)))
	require.NoError(w.t, err)
	w.mu.Lock()
	w.nodes[name] = n
	w.mu.Unlock()
	w.run(p.Run)
	return n
}

// controller runs the four farms (no pod cluster farm when syncer is nil)
// through cli until the test ends or stop is called.
func (w *world) controller(cli *clientv3.Client, syncer podcluster.Syncer) (stop func()) {
	opts := fleettest.FarmOptions(w.t, farm.WithLogger(quiet(w.t).Named("controller")))
	return w.run(func(ctx context.Context) error { return controller.Run(ctx, cli, syncer, opts...) })
}

// retry calls fn until it succeeds: writes through a cluster that is
// losing a member may fail and are retried, as an operator's tool would.
func (w *world) retry(what string, fn func(ctx context.Context) error) {
	w.t.Helper()
	var last error
	require.Eventually(w.t, func() bool {
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		defer cancel()
		last = fn(ctx)
		return last == nil
	}, waitFor, 50*time.Millisecond, "%s: %v", what, last)
}

// revision is etcd's current revision.
func (w *world) revision() int64 {
	w.t.Helper()
	var rev int64
	w.retry("read revision", func(ctx context.Context) error {
		resp, err := w.cli.Get(ctx, "/p2/\x00revision-probe")
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	return rev
}

// placed maps each node whose intent holds pod to the manifest digest.
func (w *world) placed(pod string) map[string]string {
	w.t.Helper()
	l, err := w.intent.ListAll(w.ctx)
	require.NoError(w.t, err)
	out := map[string]string{}
	for _, o := range l.Items {
		if node, p, _ := strings.Cut(o.Name, "/"); p == pod {
			out[node] = digest(w.t, &o.Value)
		}
	}
	return out
}

// snapshot reads every key under prefix as key -> mod revision.
func (w *world) snapshot(prefix string) map[string]int64 {
	w.t.Helper()
	resp, err := w.cli.Get(w.ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(w.t, err)
	out := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out
}

func (w *world) rcStatus(id string) *rc.Status {
	o, err := rc.NewStatusStore(w.cli).Get(w.ctx, status.ReplicationControllers, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

func (w *world) rollStatus(id string) *roll.Status {
	o, err := roll.NewStatusStore(w.cli).Get(w.ctx, status.Rolls, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// holds lists the recorded failsafe holds.
func (w *world) holds() []failsafe.Record {
	w.t.Helper()
	hs, err := failsafe.ListHolds(w.ctx, w.cli, "/p2")
	require.NoError(w.t, err)
	return hs
}

// components lists the components of holds, sorted and deduplicated.
func components(hs []failsafe.Record) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		if !seen[h.Component] {
			seen[h.Component] = true
			out = append(out, h.Component)
		}
	}
	sort.Strings(out)
	return out
}

func digest(t *testing.T, m *manifest.Manifest) string {
	t.Helper()
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}

// history replays every event under prefix from revision from to to, read
// back from etcd's history with a raw watch.
func (w *world) history(prefix string, from, to int64) []*clientv3.Event {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, waitFor)
	defer cancel()
	wch := w.cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithPrevKV(),
		clientv3.WithProgressNotify())
	var events []*clientv3.Event
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case resp, ok := <-wch:
			require.True(w.t, ok, "history watch of %s ended: %v", prefix, ctx.Err())
			require.NoError(w.t, resp.Err())
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision <= to {
					events = append(events, ev)
				}
			}
			if n := len(resp.Events); (n > 0 && resp.Events[n-1].Kv.ModRevision >= to) ||
				(resp.IsProgressNotify() && resp.Header.Revision >= to) {
				return events
			}
		case <-tick.C:
			_ = w.cli.RequestProgress(ctx)
		}
	}
}

// podLabelRC is the RC id a stored pod label set names.
func podLabelRC(kv *mvccpb.KeyValue) string {
	var set map[string]string
	if kv == nil || json.Unmarshal(kv.Value, &set) != nil {
		return ""
	}
	return set[rc.IDLabel]
}

// countingSyncer wraps a pod cluster syncer and counts its calls.
type countingSyncer struct {
	podcluster.Syncer
	mu      sync.Mutex
	syncs   int
	deletes map[string]int
	last    map[string][]podcluster.Member
}

func newCountingSyncer(inner podcluster.Syncer) *countingSyncer {
	return &countingSyncer{Syncer: inner, deletes: map[string]int{}, last: map[string][]podcluster.Member{}}
}

func (c *countingSyncer) SyncCluster(ctx context.Context, pc *podcluster.PodCluster, pods []podcluster.Member) error {
	c.mu.Lock()
	c.syncs++
	c.last[pc.ID] = append([]podcluster.Member(nil), pods...)
	c.mu.Unlock()
	return c.Syncer.SyncCluster(ctx, pc, pods)
}

func (c *countingSyncer) DeleteCluster(ctx context.Context, id string) error {
	c.mu.Lock()
	c.deletes[id]++
	c.mu.Unlock()
	return c.Syncer.DeleteCluster(ctx, id)
}

// members is the last member list synced for id, as "node:healthy".
func (c *countingSyncer) members(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.last[id] {
		out = append(out, fmt.Sprintf("%s:%t", m.Node, m.Healthy))
	}
	return strings.Join(out, ",")
}

func (c *countingSyncer) deleted() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.deletes {
		out[k] = v
	}
	return out
}

// figure logs a measured figure in the form docs/RELIABILITY.md quotes.
func figure(t *testing.T, name string, value any) {
	t.Helper()
	t.Logf("FIGURE %s: %v", name, value)
	if path := os.Getenv("P2KIT_FIGURES"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s\t%s\t%v\n", t.Name(), name, value)
			f.Close()
		}
	}
}

var errorsIs = errors.Is

func newIntentStore(cli *clientv3.Client) *intent.Store { return intent.NewStore(cli) }

var jsonUnmarshal = json.Unmarshal
