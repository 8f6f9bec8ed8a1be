package roll_test

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/p2kit/p2kit/roll"
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
	rolls  *roll.Store
	labels *labels.Store
	intent *intent.Store
	nodes  map[string]*memory.Node
}

func newFleet(t *testing.T) *fleetEnv {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fleetEnv{t: t, c: c, cli: cli, ctx: ctx, rcs: rc.NewStore(cli), rolls: roll.NewStore(cli), labels: labels.New(cli),
		intent: intent.NewStore(cli), nodes: map[string]*memory.Node{}}
}

func quiet(t *testing.T) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)) }

// startNodes labels nodes, gives each its preparer's own pod and runs a
// preparer on a memory node for each until the test ends.
func (e *fleetEnv) startNodes(set labels.Set, names ...string) {
	e.startNodesWith(nil, set, names...)
}

// startNodesWith is startNodes whose memory nodes keep the digests for
// which unhealthy is true critical.
func (e *fleetEnv) startNodesWith(unhealthy func(digest string) bool, set labels.Set, names ...string) {
	e.t.Helper()
	for _, n := range names {
		_, err := e.labels.Put(e.ctx, labels.Node, n, set)
		require.NoError(e.t, err)
		_, err = e.intent.Set(e.ctx, n, testManifest(preparer.DefaultSelfPodID, 1))
		require.NoError(e.t, err)
		node := memory.NewNode()
		node.Unhealthy = unhealthy
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

// runRCFarm starts an RC farm with fast settings until the test ends.
func (e *fleetEnv) runRCFarm(opts ...farm.Option) *rc.Farm {
	e.t.Helper()
	f, err := rc.NewFarm(e.cli, append([]farm.Option{
		farm.WithLogger(quiet(e.t)), farm.WithTTL(2), farm.WithResync(200 * time.Millisecond),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
	}, opts...)...)
	require.NoError(e.t, err)
	e.run(f.Run)
	return f
}

// runRollFarm starts a roll farm with fast settings until the test ends.
func (e *fleetEnv) runRollFarm(opts ...farm.Option) *roll.Farm {
	e.t.Helper()
	f, err := roll.NewFarm(e.cli, append([]farm.Option{
		farm.WithLogger(quiet(e.t)), farm.WithTTL(2), farm.WithResync(200 * time.Millisecond),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
	}, opts...)...)
	require.NoError(e.t, err)
	e.run(f.Run)
	return f
}

// run runs fn until the test ends.
func (e *fleetEnv) run(fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	e.t.Cleanup(func() { cancel(); require.NoError(e.t, <-done) })
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

// rcStatus reads the RC farm's record of id, nil when there is none.
func (e *fleetEnv) rcStatus(id string) *rc.Status {
	o, err := rc.NewStatusStore(e.cli).Get(e.ctx, status.ReplicationControllers, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// rollStatus reads the roll farm's record of id, nil when there is none.
func (e *fleetEnv) rollStatus(id string) *roll.Status {
	o, err := roll.NewStatusStore(e.cli).Get(e.ctx, status.Rolls, id)
	if err != nil {
		return nil
	}
	return &o.Value
}

// replicas reads an RC's replicas_desired, -1 when it is gone.
func (e *fleetEnv) replicas(id string) int {
	o, err := e.rcs.Get(e.ctx, id)
	if err != nil {
		return -1
	}
	return o.Value.ReplicasDesired
}

func versionRC(id string, m *manifest.Manifest, replicas int) *rc.RC {
	return &rc.RC{ID: id, Manifest: *m, NodeSelector: "env=prod",
		PodLabels: map[string]string{"app": m.ID}, ReplicasDesired: replicas}
}

func digest(t *testing.T, m *manifest.Manifest) string {
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}
