package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// sha256sumListing is what `sha256sum` prints for files, in path order.
func sha256sumListing(files map[string]artifacttest.File) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		s := sha256.Sum256([]byte(files[n].Body))
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	return b.String()
}

// p2RC is a replication controller exactly as P2 stored it: the manifest as YAML text with a
// digest_location and no inline digest, the allocation strategy as P2 spelt it.
func p2RC(t *testing.T, id, pod, location, digestLocation string, replicas int) string {
	m := fmt.Sprintf(`id: %s
termination_grace_period: 1
launchables:
  app:
    launchable_type: hoist
    launchable_id: app
    location: %s
    digest_location: %s
    env:
      WORKERS: 2
`, pod, location, digestLocation)
	data, err := json.Marshal(map[string]any{
		"id": id, "manifest": m, "node_selector": "role=web", "pod_labels": map[string]string{},
		"replicas_desired": replicas, "disabled": false, "allocation_strategy": "dynamic_strategy",
	})
	require.NoError(t, err)
	return string(data)
}

// A P2-format RC written raw is scheduled by the controller and installed and launched by the
// preparers, its artifact verified against its digest listing; an artifact with a tampered
// file is refused and the pod's status names the file.
func TestP2RecordsOnTheBinaries(t *testing.T) {
	forServers(t, []string{Embedded, "etcd-3.4"}, testP2Records)
}

func testP2Records(t *testing.T, c *cluster) {
	root := t.TempDir()
	nodes := []string{"n1", "n2"}
	stopAppsAtCleanup(t, filepath.Join(root, nodes[0]), filepath.Join(root, nodes[1]))

	files := map[string]artifacttest.File{
		"bin/launch":   {Body: "#!/bin/sh\nexec sleep 1000\n", Exec: true},
		"lib/data.txt": {Body: "the real data\n"},
	}
	dir := t.TempDir()
	loc, _, err := artifacttest.Write(filepath.Join(dir, "web_1.tar.gz"), files)
	require.NoError(t, err)
	listing := filepath.Join(dir, "web_1.tar.gz.sha256")
	require.NoError(t, os.WriteFile(listing, []byte(sha256sumListing(files)), 0o644))

	tampered := map[string]artifacttest.File{"bin/launch": files["bin/launch"], "lib/data.txt": {Body: "evil data\n"}}
	evilLoc, _, err := artifacttest.Write(filepath.Join(dir, "evil_1.tar.gz"), tampered)
	require.NoError(t, err)

	// The preparer's own pod, P2-style: no digest, never installed.
	self := filepath.Join(t.TempDir(), "self.yaml")
	require.NoError(t, os.WriteFile(self, []byte("id: p2-preparer\nlaunchables:\n  preparer:\n    launchable_type: hoist\n    location: file:///nonexistent/p2-preparer.tar.gz\n"), 0o644))
	for _, n := range nodes {
		c.p2ctl("apply", "intent", "--node", n, "-f", self)
		c.p2ctl("labels", "set", "node", n, "role=web")
		c.start("preparer", "--node", n, "--pod-root", filepath.Join(root, n))
	}
	c.start("controller", "--lease-ttl", "2", "--resync", "1s")

	ctx := context.Background()
	const webRC = "7d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
	_, err = c.cli.Put(ctx, "/p2/replication_controllers/"+webRC, p2RC(t, webRC, "web", loc, "file://"+listing, 2))
	require.NoError(t, err)

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
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			st := podStatus(n, "web")
			if st == nil || st.Status != status.Launched || st.Health != status.Passing {
				return false
			}
		}
		return true
	}, waitFor, 100*time.Millisecond, "web launched and passing on both nodes")
	for _, n := range nodes {
		resp, err := c.cli.Get(ctx, "/p2/reality/"+n+"/web")
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1, "reality of %s", n)
		data, err := os.ReadFile(filepath.Join(root, n, "web", "current", "app", "lib", "data.txt"))
		require.NoError(t, err)
		require.Equal(t, "the real data\n", string(data))
	}
	require.Contains(t, c.p2ctl("get", "rc", webRC), webRC)

	// The same listing for an artifact whose lib/data.txt was changed: refused.
	const evilRC = "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d"
	_, err = c.cli.Put(ctx, "/p2/replication_controllers/"+evilRC, p2RC(t, evilRC, "evil", evilLoc, "file://"+listing, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			st := podStatus(n, "evil")
			if st == nil || st.Status != status.Failed || !strings.Contains(st.Error, "file lib/data.txt has sha256") {
				return false
			}
		}
		return true
	}, waitFor, 100*time.Millisecond, "evil refused on both nodes")
	for _, n := range nodes {
		resp, err := c.cli.Get(ctx, "/p2/reality/"+n+"/evil")
		require.NoError(t, err)
		require.Empty(t, resp.Kvs, "a refused pod is not in reality on %s", n)
		_, err = os.Stat(filepath.Join(root, n, "evil"))
		require.True(t, os.IsNotExist(err), "nothing of the refused pod is on disk on %s", n)
	}
}
