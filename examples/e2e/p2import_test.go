package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/p2import"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The ids of the P2 fleet fixture (p2import/testdata/p2fleet.json).
const (
	fleetOldRC = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	fleetNewRC = "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d"
)

// p2FleetExport writes the P2 fleet fixture with its artifact locations
// (file:///srv/p2-artifacts/...) pointing at sleeper artifacts and their sha256sum listings
// made in a directory of the test's, and returns the export's path.
func p2FleetExport(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{"web_1", "web_2", "logd_1"} {
		files := map[string]artifacttest.File{
			"bin/launch":  {Body: "#!/bin/sh\nexec sleep 1000\n", Exec: true},
			"VERSION.txt": {Body: name + "\n"},
		}
		_, _, err := artifacttest.Write(filepath.Join(dir, name+".tar.gz"), files)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".tar.gz.sha256"), []byte(sha256sumListing(files)), 0o644))
	}
	f, err := os.Open(filepath.Join("..", "..", "p2import", "testdata", "p2fleet.json"))
	require.NoError(t, err)
	defer f.Close()
	entries, err := p2import.ReadExport(f)
	require.NoError(t, err)
	for i, e := range entries {
		v, err := e.Bytes()
		require.NoError(t, err)
		entries[i] = p2import.NewEntry(e.Key, []byte(strings.ReplaceAll(string(v), "file:///srv/p2-artifacts/", "file://"+dir+"/")))
	}
	data, err := json.Marshal(entries)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "p2fleet.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

// A P2 fleet exported from Consul is imported with p2ctl: the dry run prints the plan and
// writes nothing; the import brings the fleet up on the reference binaries: the preparers see
// their own pods, the daemon set's pod runs on every node, web runs on the two web nodes, and
// the imported roll moves it to its new RC.
func TestP2ImportOnTheBinaries(t *testing.T) {
	forServers(t, []string{Embedded}, testP2Import)
}

func testP2Import(t *testing.T, c *cluster) {
	ctx := context.Background()
	export := p2FleetExport(t)
	root := t.TempDir()
	nodes := []string{"node1", "node2", "node3"}
	var roots []string
	for _, n := range nodes {
		roots = append(roots, filepath.Join(root, n))
	}
	stopAppsAtCleanup(t, roots...)
	for i, n := range nodes {
		c.start("preparer", "--node", n, "--pod-root", roots[i])
	}
	c.start("controller", "--lease-ttl", "2", "--resync", "1s")

	count := func(prefix string) int64 {
		resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		return resp.Count
	}
	out := c.p2ctl("import", "p2", export, "--dry-run")
	require.Contains(t, out, "plan: 33 to create")
	require.Contains(t, out, "/p2/daemon_sets/d5e6f7a8-b9c0-4d1e-8f3a-4b5c6d7e8f90")
	for _, dir := range []string{"intent", "reality", "labels", "replication_controllers", "daemon_sets", "rolls", "pod_clusters", "audit"} {
		require.Zero(t, count("/p2/"+dir+"/"), "the dry run wrote under /p2/%s/", dir)
	}

	out = c.p2ctl("import", "p2", export, "--actor", "migrator")
	require.Contains(t, out, "imported 33 records")

	podStatus := func(node, pod string) *status.PodStatus {
		resp, err := c.cli.Get(ctx, "/p2/status/pods/"+node+"/"+pod+"/preparer")
		if err != nil || len(resp.Kvs) == 0 {
			return nil
		}
		var st status.PodStatus
		if json.Unmarshal(resp.Kvs[0].Value, &st) != nil {
			return nil
		}
		return &st
	}
	realityVersion := func(node, pod string) string {
		resp, err := c.cli.Get(ctx, "/p2/reality/"+node+"/"+pod)
		if err != nil || len(resp.Kvs) == 0 {
			return ""
		}
		m, err := manifest.Decode(resp.Kvs[0].Value)
		if err != nil {
			return ""
		}
		for _, l := range m.Launchables {
			return l.Env["VERSION"]
		}
		return ""
	}
	launched := func(node, pod string) bool {
		st := podStatus(node, pod)
		return st != nil && st.Status == status.Launched
	}
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if !launched(n, "logd") {
				return false
			}
		}
		for _, n := range nodes[:2] {
			if !launched(n, "web") || realityVersion(n, "web") != "2" {
				return false
			}
		}
		return true
	}, waitFor, 200*time.Millisecond, "logd on every node and web version 2 on the web nodes")
	for i, n := range nodes[:2] {
		data, err := os.ReadFile(filepath.Join(roots[i], "web", "current", "app", "VERSION.txt"))
		require.NoError(t, err)
		require.Equal(t, "web_2\n", string(data), "installed artifact on %s", n)
	}
	require.Nil(t, podStatus("node3", "web"), "web is not on the worker node")
	require.Contains(t, c.p2ctl("get", "rc", fleetNewRC), fleetNewRC)
	require.Contains(t, c.p2ctl("audit", "list"), "migrator")
}
