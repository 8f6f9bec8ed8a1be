package preparer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"
)

const waitFor = 30 * time.Second

// env is one node's preparer against an embedded etcd.
type env struct {
	t        *testing.T
	cli      *clientv3.Client
	node     string
	intent   *intent.Store
	reality  *reality.Store
	statuses *status.PodStatusStore
}

func newEnv(t *testing.T, node string) *env {
	cli := etcdtest.New(t).Client(t)
	return &env{
		t:        t,
		cli:      cli,
		node:     node,
		intent:   intent.NewStore(cli),
		reality:  reality.NewStore(cli),
		statuses: status.NewPodStatusStore(cli),
	}
}

// run starts a preparer until the test ends (or stop is called) and
// returns a function that stops it and waits for it.
func (e *env) run(inst preparer.Installer, launch preparer.Launcher, opts ...preparer.Option) (stop func()) {
	e.t.Helper()
	opts = append([]preparer.Option{
		preparer.WithLogger(zaptest.NewLogger(e.t)),
		preparer.WithBackoff(50*time.Millisecond, 500*time.Millisecond),
		preparer.WithHealthInterval(100 * time.Millisecond),
	}, opts...)
	p, err := preparer.New(e.cli, e.node, inst, launch, opts...)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(e.t, <-done)
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	e.t.Cleanup(cancel)
	return ctx
}

// testManifest is a valid manifest for the in-memory launcher, which never
// fetches its artifact.
func testManifest(id string, version int) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{
			"app": {
				LaunchableType: manifest.LaunchableTypeHoist,
				Location:       fmt.Sprintf("file:///nonexistent/%s_%d.tar.gz", id, version),
				Digest:         "sha256:" + strings.Repeat("0", 64),
			},
		},
	}
}

func (e *env) setIntent(m *manifest.Manifest) {
	e.t.Helper()
	_, err := e.intent.Set(e.ctx(), e.node, m)
	require.NoError(e.t, err)
}

func (e *env) self() { e.setIntent(testManifest(preparer.DefaultSelfPodID, 1)) }

// realityDigests reads the node's reality as pod -> manifest digest.
func (e *env) realityDigests() map[string]string {
	e.t.Helper()
	l, err := e.reality.List(e.ctx(), e.node)
	require.NoError(e.t, err)
	out := map[string]string{}
	for _, o := range l.Items {
		d, err := o.Value.Digest()
		require.NoError(e.t, err)
		out[o.Value.ID] = d
	}
	return out
}

func digest(t *testing.T, m *manifest.Manifest) string {
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}

// waitReality polls until the node's reality equals want (pod -> digest).
func (e *env) waitReality(want map[string]string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		got := e.realityDigests()
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}, waitFor, 20*time.Millisecond, "reality never became %v", want)
}

// waitStatus polls until the pod's status record satisfies ok.
func (e *env) waitStatus(pod string, ok func(status.PodStatus) bool) status.PodStatus {
	e.t.Helper()
	var last status.PodStatus
	require.Eventually(e.t, func() bool {
		o, err := e.statuses.Get(e.ctx(), e.node, pod)
		if err != nil {
			return false
		}
		last = o.Value
		return ok(last)
	}, waitFor, 20*time.Millisecond, "status of %s: last %+v", pod, last)
	return last
}

// waitHolds polls until n holds are recorded and returns them.
func (e *env) waitHolds(n int) []failsafe.Record {
	e.t.Helper()
	var holds []failsafe.Record
	require.Eventually(e.t, func() bool {
		var err error
		holds, err = failsafe.ListHolds(e.ctx(), e.cli, "/p2")
		return err == nil && len(holds) == n
	}, waitFor, 20*time.Millisecond)
	return holds
}

// never asserts that cond stays false for d: a negative check, which can
// only fail, never pass by luck.
func never(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	require.Never(t, cond, d, 20*time.Millisecond, msg)
}

var _ = errors.Is
var _ = kv.ErrNotFound
