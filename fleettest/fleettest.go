// Package fleettest runs a small fleet for the farms' tests: an embedded
// etcd, and real preparers on in-memory nodes (preparer/memory) that
// install, launch and report health without processes.
package fleettest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// WaitFor bounds every wait of the farms' tests.
const WaitFor = 30 * time.Second

// Fleet is an embedded etcd with in-process preparers on memory nodes.
type Fleet struct {
	T      *testing.T
	Etcd   *etcdtest.Cluster
	Cli    *clientv3.Client
	Ctx    context.Context
	Labels *labels.Store
	Intent *intent.Store
	Nodes  map[string]*memory.Node
}

// New starts the etcd of a fleet with no nodes yet.
func New(t *testing.T) *Fleet {
	c := etcdtest.New(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &Fleet{T: t, Etcd: c, Cli: cli, Ctx: ctx, Labels: labels.New(cli), Intent: intent.NewStore(cli),
		Nodes: map[string]*memory.Node{}}
}

// Quiet is a test logger that shows warnings and errors only.
func Quiet(t *testing.T) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)) }

// StartNodes labels nodes with set, gives each its preparer's own pod and
// runs a preparer on a memory node for each until the test ends. The
// memory nodes keep the digests for which unhealthy is true critical (nil:
// every version turns healthy).
func (f *Fleet) StartNodes(unhealthy func(digest string) bool, set labels.Set, names ...string) {
	f.T.Helper()
	for _, n := range names {
		_, err := f.Labels.Put(f.Ctx, labels.Node, n, set)
		require.NoError(f.T, err)
		_, err = f.Intent.Set(f.Ctx, n, Manifest(preparer.DefaultSelfPodID, 1))
		require.NoError(f.T, err)
		node := memory.NewNode()
		node.Unhealthy = unhealthy
		f.Nodes[n] = node
		p, err := preparer.New(f.Cli, n, node, node,
			preparer.WithHealthChecker(node), preparer.WithHealthInterval(50*time.Millisecond),
			preparer.WithBackoff(20*time.Millisecond, 200*time.Millisecond), preparer.WithLogger(Quiet(f.T)))
		require.NoError(f.T, err)
		f.Run(p.Run)
	}
}

// Run runs fn until the test ends, then checks it returned nil.
func (f *Fleet) Run(fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	f.T.Cleanup(func() { cancel(); require.NoError(f.T, <-done) })
}

// FarmOptions are fast farm settings for tests, then extra.
func FarmOptions(t *testing.T, extra ...farm.Option) []farm.Option {
	return append([]farm.Option{
		farm.WithLogger(Quiet(t)), farm.WithTTL(2), farm.WithResync(200 * time.Millisecond),
		farm.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
	}, extra...)
}

// Manifest is a valid manifest that memory nodes install without fetching.
func Manifest(id string, version int) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       fmt.Sprintf("file:///nonexistent/%s_%d.tar.gz", id, version),
			Digest:         "sha256:" + strings.Repeat("0", 64),
		}},
	}
}

// NodeNames is prefix1 .. prefixN.
func NodeNames(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// Scheduled lists the nodes whose intent holds pod, sorted.
func (f *Fleet) Scheduled(pod string) []string {
	f.T.Helper()
	l, err := f.Intent.ListAll(f.Ctx)
	require.NoError(f.T, err)
	var nodes []string
	for _, o := range l.Items {
		if node, p, _ := strings.Cut(o.Name, "/"); p == pod {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

// Digest is m's digest.
func Digest(t *testing.T, m *manifest.Manifest) string {
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}
