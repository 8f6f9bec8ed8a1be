package status_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var digest = strings.Repeat("0f", 32)

func valid(string) *status.PodStatus {
	return &status.PodStatus{
		Status:         status.Launched,
		ManifestDigest: digest,
		Processes: []status.Process{{
			Launchable: "app", EntryPoint: "bin/launch", PID: 4242,
			LastExit: &status.Exit{Code: 1, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		}},
		Health:    status.Passing,
		UpdatedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
	}
}

// podStatus adapts a PodStatusStore; ids are "<node>/<pod-id>".
func podStatus(s *status.PodStatusStore) storetest.Store[status.PodStatus] {
	split := func(id string) (string, string) {
		node, pod, _ := strings.Cut(id, "/")
		return node, pod
	}
	return storetest.Store[status.PodStatus]{
		Create: func(ctx context.Context, id string, v *status.PodStatus) (*kv.Object[status.PodStatus], error) {
			node, pod := split(id)
			return s.Create(ctx, node, pod, v)
		},
		Get: func(ctx context.Context, id string) (*kv.Object[status.PodStatus], error) {
			node, pod := split(id)
			return s.Get(ctx, node, pod)
		},
		List:   s.List,
		Update: s.Update,
		Delete: func(ctx context.Context, id string) error {
			node, pod := split(id)
			return s.Delete(ctx, node, pod)
		},
		Watch: func(ctx context.Context) (kv.Source[status.PodStatus], error) { return s.WatchAll(ctx) },
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[status.PodStatus]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[status.PodStatus] {
			return podStatus(status.NewPodStatusStore(cli, keyspace.WithPrefix(root)))
		},
		Key:   func(root, id string) string { return root + "/status/pods/" + id + "/preparer" },
		ID:    func(i int) string { return fmt.Sprintf("web1/pod-%d", i) },
		Valid: valid,
		Mutate: func(p *status.PodStatus) *status.PodStatus {
			c := *p
			c.Health = status.Critical
			c.UpdatedAt = c.UpdatedAt.Add(time.Second)
			return &c
		},
		InvalidIDs:   []string{"web1/Bad", "WEB/pod", "web1/", "web1/a/b"},
		MissingJSON:  func(string) string { return `{"health":"passing","updated_at":"2026-01-02T03:04:05Z"}` },
		MissingField: "status: required",
		Incomplete: func(id string) *status.PodStatus {
			p := valid(id)
			p.Health = ""
			return p
		},
		IncompleteField: "health: required",
	})
}

func setup(t *testing.T) (context.Context, *clientv3.Client) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, cli
}

func TestKeyLayout(t *testing.T) {
	ctx, cli := setup(t)
	s := status.NewPodStatusStore(cli)
	_, err := s.Set(ctx, "web1", "hello", valid(""))
	require.NoError(t, err)
	resp, err := cli.Get(ctx, "/p2/status/pods/web1/hello/preparer")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Contains(t, string(resp.Kvs[0].Value), `"status":"launched"`)
	require.Contains(t, string(resp.Kvs[0].Value), `"manifest_digest":"`+digest+`"`)
	require.Contains(t, string(resp.Kvs[0].Value), `"last_exit":{"code":1`)
	require.Contains(t, string(resp.Kvs[0].Value), `"updated_at":"2026-01-02T03:04:06Z"`)
}

// A node's watch sees its own pods only ("web1" never sees "web10"), and
// records of other namespaces never reach a namespace's watch.
func TestWatchNodeAndNamespaces(t *testing.T) {
	ctx, cli := setup(t)
	s := status.NewPodStatusStore(cli)
	_, err := s.Set(ctx, "web1", "a", valid(""))
	require.NoError(t, err)
	_, err = s.Set(ctx, "web10", "a", valid(""))
	require.NoError(t, err)
	_, err = cli.Put(ctx, "/p2/status/pods/web1/a/health-checker", `{"other":"schema"}`)
	require.NoError(t, err)

	w, err := s.WatchNode(ctx, "web1")
	require.NoError(t, err)
	b, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Initial, b.Kind)
	require.Len(t, b.Events, 1)
	require.Equal(t, "a/preparer", b.Events[0].Name)
	require.NoError(t, b.Events[0].Err)

	// Writes of web10 and of another namespace pass unseen; the next batch
	// is web1's own.
	_, err = s.Set(ctx, "web10", "b", valid(""))
	require.NoError(t, err)
	_, err = cli.Put(ctx, "/p2/status/pods/web1/b/health-checker", `{"other":"schema"}`)
	require.NoError(t, err)
	_, err = s.Set(ctx, "web1", "c", valid(""))
	require.NoError(t, err)
	b, err = w.Next(ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	require.Equal(t, "/p2/status/pods/web1/c/preparer", b.Events[0].Key)
	require.Equal(t, 2, b.After.Len())

	l, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 4)
	require.Empty(t, l.Invalid, "other namespaces are not invalid records of this one")

	_, err = s.WatchNode(ctx, "Web1")
	require.ErrorContains(t, err, `"Web1"`)
}

// NodeHealth is a record another component might keep per node.
type NodeHealth struct {
	Load float64 `json:"load"`
}

func TestGenericStore(t *testing.T) {
	ctx, cli := setup(t)
	s, err := status.NewStore[NodeHealth](cli, "monitor")
	require.NoError(t, err)
	obj, err := s.Put(ctx, status.Nodes, "web1", &NodeHealth{Load: 0.5})
	require.NoError(t, err)
	require.Equal(t, "/p2/status/nodes/web1/monitor", obj.Key)

	w, err := s.WatchID(ctx, status.Nodes, "web1")
	require.NoError(t, err)
	b, err := w.Next(ctx)
	require.NoError(t, err)
	require.Len(t, b.Events, 1)
	require.Equal(t, "monitor", b.Events[0].Name)

	// Update with an object read from the watch: compare-and-swap.
	_, err = s.Update(ctx, b.Events[0].New, &NodeHealth{Load: 0.7})
	require.NoError(t, err)
	_, err = s.Update(ctx, b.Events[0].New, &NodeHealth{Load: 0.9})
	require.ErrorIs(t, err, kv.ErrConflict)
	b, err = w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, kv.Mutate, b.Events[0].Type)
	require.Equal(t, 0.7, b.Events[0].New.Value.Load)

	_, err = s.Get(ctx, "Widgets", "web1")
	require.ErrorIs(t, err, status.ErrInvalidType)
	require.ErrorContains(t, err, `"Widgets"`)
	_, err = s.Get(ctx, status.Pods, "web1")
	require.ErrorContains(t, err, "node/pod")
	_, err = status.NewStore[NodeHealth](cli, "Bad")
	require.ErrorContains(t, err, `"Bad"`)

	require.NoError(t, s.Delete(ctx, status.Nodes, "web1"))
	_, err = s.Get(ctx, status.Nodes, "web1")
	require.ErrorIs(t, err, kv.ErrNotFound)
}

func TestPodStatusValidate(t *testing.T) {
	p := valid("")
	p.Status = "running"
	require.ErrorContains(t, p.Validate(), `status: "running"`)
	p = valid("")
	p.ManifestDigest = ""
	require.ErrorContains(t, p.Validate(), "manifest_digest: required")
	p.Status = status.Removed
	require.NoError(t, p.Validate(), "a removed pod needs no digest")
	p = valid("")
	p.Health = "fine"
	require.ErrorContains(t, p.Validate(), "health")
}
