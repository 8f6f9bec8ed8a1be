package fleet_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/fleet"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func pod(id string) *manifest.Manifest {
	return &manifest.Manifest{ID: id, Launchables: map[string]manifest.Launchable{"app": {
		LaunchableType: manifest.LaunchableTypeHoist, Location: "file:///a.tar.gz",
		Digest: "sha256:" + strings.Repeat("1", 64)}}}
}

func TestView(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ls := labels.New(cli)
	for _, n := range []string{"a", "b", "c"} {
		_, err := ls.Put(ctx, labels.Node, n, labels.Set{"env": map[string]string{"a": "prod", "b": "prod", "c": "dev"}[n]})
		require.NoError(t, err)
	}
	m := pod("web")
	_, err := intent.NewStore(cli).Set(ctx, "a", m)
	require.NoError(t, err)
	_, err = reality.NewStore(cli).Set(ctx, "a", m)
	require.NoError(t, err)
	d, _ := m.Digest()
	_, err = status.NewPodStatusStore(cli).Set(ctx, "a", "web", &status.PodStatus{
		Status: status.Launched, ManifestDigest: d, Health: status.Passing, UpdatedAt: time.Now()})
	require.NoError(t, err)

	v := fleet.New(cli, "/p2", failsafe.NewHolds(cli, "test"), nil)
	var mu sync.Mutex
	var changes []fleet.Change
	v.Subscribe(func(c fleet.Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() })
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(rctx) }()
	require.NoError(t, v.WaitSynced(ctx))
	require.Equal(t, []string{"a", "b"}, v.NodesMatching(labels.MustParse("env=prod")))
	require.Equal(t, []string{"a"}, v.NodesWithIntent("web"))
	require.True(t, v.Healthy("a", "web", d))
	require.False(t, v.Healthy("b", "web", d))
	require.Equal(t, d, v.RealityDigest("a", "web"))

	// A wipe of the node labels is held: the view keeps the old labels.
	_, err = cli.Delete(ctx, "/p2/labels/node/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h, err := failsafe.ListHolds(ctx, cli, "/p2")
		return err == nil && len(h) == 1
	}, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"a", "b"}, v.NodesMatching(labels.MustParse("env=prod")))

	_, err = ls.Put(ctx, labels.Node, "a", labels.Set{"env": "dev"})
	require.NoError(t, err)
	_, err = ls.Put(ctx, labels.Node, "b", labels.Set{"env": "prod"})
	require.NoError(t, err)
	_, err = ls.Put(ctx, labels.Node, "c", labels.Set{"env": "dev"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(v.NodesMatching(labels.MustParse("env=prod"))) == 1
	}, 30*time.Second, 10*time.Millisecond, "the relabel arrives once the labels are back")
	mu.Lock()
	require.NotEmpty(t, changes)
	mu.Unlock()
	stop()
	require.NoError(t, <-done)
}
