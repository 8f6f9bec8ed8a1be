package rc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/internal/etcdtest"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

const waitFor = 30 * time.Second

// fleetEnv is an embedded etcd with in-process preparers on memory nodes.
type fleetEnv struct {
	t      *testing.T
	c      *etcdtest.Cluster
	cli    *clientv3.Client
	ctx    context.Context
	rcs    *rc.Store
	labels *labels.Store
	intent *intent.Store
	nodes  map[string]*memory.Node
}

func newFleet(t *testing.T) *fleetEnv {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fleetEnv{t: t, c: c, cli: cli, ctx: ctx, rcs: rc.NewStore(cli), labels: labels.New(cli),
		intent: intent.NewStore(cli), nodes: map[string]*memory.Node{}}
}

func quiet(t *testing.T) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)) }

// startNodes labels nodes, gives each its preparer's own pod and runs a
// preparer on a memory node for each until the test ends.
func (e *fleetEnv) startNodes(set labels.Set, names ...string) {
	e.t.Helper()
	for _, n := range names {
		_, err := e.labels.Put(e.ctx, labels.Node, n, set)
		require.NoError(e.t, err)
		_, err = e.intent.Set(e.ctx, n, testManifest(preparer.DefaultSelfPodID, 1))
		require.NoError(e.t, err)
		node := memory.NewNode()
		e.nodes[n] = node
		p, err := preparer.New(e.cli, n, node, node,
			preparer.WithHealthChecker(node), preparer.WithHealthInterval(50*time.Millisecond),
			preparer.WithBackoff(20*time.Millisecond, 200*time.Millisecond), preparer.WithLogger(quiet(e.t)))
		require.NoError(e.t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		e.t.Cleanup(func() { cancel(); require.NoError(e.t, <-done) })
	}
}

// farmOpts are fast settings for tests.
func farmOpts(t *testing.T, extra ...farm.Option) []farm.Option {
	return append([]farm.Option{
		farm.WithLogger(quiet(t)), farm.WithTTL(2), farm.WithResync(200 * time.Millisecond),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
	}, extra...)
}

// runFarm starts an RC farm until the test ends or stop is called.
func (e *fleetEnv) runFarm(cli *clientv3.Client, opts ...farm.Option) (f *rc.Farm, stop func()) {
	e.t.Helper()
	f, err := rc.NewFarm(cli, farmOpts(e.t, opts...)...)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; cli.Ctx().Err() == nil {
				require.NoError(e.t, err)
			}
		})
	}
	e.t.Cleanup(stop)
	return f, stop
}

func testManifest(id string, version int) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       fmt.Sprintf("file:///nonexistent/%s_%d.tar.gz", id, version),
			Digest:         "sha256:" + strings.Repeat("0", 64),
		}},
	}
}

func nodeNames(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// scheduled lists the nodes whose intent holds pod, sorted.
func (e *fleetEnv) scheduled(pod string) []string {
	e.t.Helper()
	l, err := e.intent.ListAll(e.ctx)
	require.NoError(e.t, err)
	var nodes []string
	for _, o := range l.Items {
		if node, p, _ := strings.Cut(o.Name, "/"); p == pod {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

// podsOf lists "<node>/<pod>" labelled with the RC's id.
func (e *fleetEnv) podsOf(id string) []string {
	e.t.Helper()
	l, err := e.labels.List(e.ctx, labels.Pod)
	require.NoError(e.t, err)
	var out []string
	for _, o := range l.Items {
		if o.Value[rc.IDLabel] == id {
			out = append(out, o.Name)
		}
	}
	return out
}

// status reads the RC farm's record of id, nil when there is none.
func (e *fleetEnv) status(id string) *rc.Status {
	o, err := rc.NewStatusStore(e.cli).Get(e.ctx, status.ReplicationControllers, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// eventually waits for the nodes running pod to be want, and the RC's
// status to say so with every pod healthy.
func (e *fleetEnv) eventually(id, pod string, want []string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		got := e.scheduled(pod)
		st := e.status(id)
		return fmt.Sprint(got) == fmt.Sprint(want) && st != nil && st.Current == len(want) && st.Healthy == len(want)
	}, waitFor, 20*time.Millisecond, "want %s on %v; have %v, status %+v", pod, want, e.scheduled(pod), e.status(id))
}

func newRC(id, pod, selector string, replicas int) *rc.RC {
	return &rc.RC{ID: id, Manifest: *testManifest(pod, 1), NodeSelector: selector,
		PodLabels: map[string]string{"app": pod}, ReplicasDesired: replicas}
}
