package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// tableRow returns the table row of out that starts with the given cells.
func tableRow(t *testing.T, out string, first ...string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(first) && strings.Join(f[:len(first)], " ") == strings.Join(first, " ") {
			return f
		}
	}
	t.Fatalf("no row %v in\n%s", first, out)
	return nil
}

// aliveNode writes node's preparer record under a fresh lease and returns
// the lease.
func (f *fleet) aliveNode(node string, pods int) clientv3.LeaseID {
	f.t.Helper()
	g, err := f.cli.Grant(f.ctx(), 60)
	require.NoError(f.t, err)
	now := time.Now().UTC()
	rec := &status.NodeRecord{Version: "v9", StartedAt: now.Add(-time.Minute), Pods: pods, LastSeen: now, TTLSeconds: 60}
	require.NoError(f.t, status.NewNodeStore(f.cli).Put(f.ctx(), node, rec, g.ID))
	return g.ID
}

func TestListNodes(t *testing.T) {
	f := newFleet(t)
	f.ok("labels", "set", "node", "n1", "role=web", "--force")
	_, err := f.cli.Put(f.ctx(), "/p2/intent/n2/hello", `{"id":"hello","launchables":{}}`)
	require.NoError(t, err)
	lease := f.aliveNode("n1", 3)
	f.aliveNode("n3", 0)

	out := f.ok("list", "nodes")
	require.Equal(t, []string{"n1", "ALIVE", "v9", "3", "0"}, tableRow(t, out, "n1")[:5], out)
	require.Equal(t, []string{"n2", "GONE", "-", "-", "1"}, tableRow(t, out, "n2")[:5], out)
	require.Equal(t, "ALIVE", tableRow(t, out, "n3")[1], out)
	require.Contains(t, tableRow(t, out, "n1"), "role=web")

	var views []nodeView
	require.NoError(t, json.Unmarshal([]byte(f.ok("list", "nodes", "-o", "json")), &views))
	require.Len(t, views, 3)
	require.True(t, views[0].Alive)
	require.Equal(t, 3, views[0].Record.Pods)
	require.False(t, views[1].Alive)
	require.Nil(t, views[1].Record)
	require.Contains(t, f.ok("list", "nodes", "-o", "yaml"), "alive: true")

	// The lease ends (the preparer died): the node is gone.
	_, err = f.cli.Revoke(f.ctx(), lease)
	require.NoError(t, err)
	require.Equal(t, "GONE", tableRow(t, f.ok("list", "nodes"), "n1")[1])
}

func TestStatusPodsRestartsAndStale(t *testing.T) {
	f := newFleet(t)
	lease := f.aliveNode("n1", 1)
	exit := time.Now().UTC().Add(-90 * time.Second)
	rec := &status.PodStatus{
		Status: status.Launched, ManifestDigest: strings.Repeat("ab", 32), Health: status.Warning, UpdatedAt: time.Now().UTC(),
		Processes: []status.Process{{Launchable: "app", EntryPoint: "bin/launch", PID: 42, Restarts: 2,
			LastExit: &status.Exit{Code: 3, At: exit}}},
	}
	_, err := status.NewPodStatusStore(f.cli).Set(f.ctx(), "n1", "hello", rec)
	require.NoError(t, err)

	out := f.ok("status", "pods")
	require.Contains(t, out, "RESTARTS")
	r := tableRow(t, out, "n1", "hello")
	require.Equal(t, []string{"launched", "warning", "2", "code", "3,"}, r[2:7], out)
	require.Regexp(t, `^1m3\ds$`, r[7], out)
	require.NotContains(t, out, "stale")

	_, err = f.cli.Revoke(f.ctx(), lease)
	require.NoError(t, err)
	out = f.ok("status", "pods")
	r = tableRow(t, out, "n1", "hello")
	require.Equal(t, []string{"stale(launched)", "stale(warning)"}, r[2:4], out)
	var envs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(f.ok("status", "pods", "-o", "json")), &envs))
	require.Len(t, envs, 1)
	require.Equal(t, true, envs[0]["stale"])
}
