package p2import_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2kit/p2kit/p2import"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/p2fleet.json from fleetEntries")

// The ids of the fleet fixture: P2 made controller ids as UUIDs.
const (
	oldRC   = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	newRC   = "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d"
	dsID    = "d5e6f7a8-b9c0-4d1e-8f3a-4b5c6d7e8f90"
	pcID    = "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	fixture = "testdata/p2fleet.json"
)

// webManifest is the pod manifest of web, version v, as P2 kept it: YAML text, verified by
// a digest listing (no inline digest), env values P2 read as strings.
func webManifest(v string) string {
	return `id: web
launchables:
  app:
    launchable_type: hoist
    launchable_id: app
    location: file:///srv/p2-artifacts/web_` + v + `.tar.gz
    digest_location: file:///srv/p2-artifacts/web_` + v + `.tar.gz.sha256
    restart_timeout: 10s
    env:
      WORKERS: 4
      VERSION: ` + v + `
config:
  greeting: hello
termination_grace_period: 1
`
}

const logdManifest = `id: logd
launchables:
  logd:
    launchable_type: hoist
    location: file:///srv/p2-artifacts/logd_1.tar.gz
    digest_location: file:///srv/p2-artifacts/logd_1.tar.gz.sha256
    cgroup:
      cpus: 1
      memory: 256M
termination_grace_period: 1
`

// The preparer's own pod, which P2's bootstrap put in intent: never installed by p2kit.
const preparerManifest = `id: p2-preparer
launchables:
  p2-preparer:
    launchable_type: hoist
    launchable_id: p2-preparer
    location: file:///srv/p2-artifacts/p2-preparer_1.tar.gz
`

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

// fleetEntries is a P2 tree of 3 nodes as P2's own code wrote it to Consul: two RCs of web
// (the old one running on the two web nodes, the new one at 0) with a roll between them, a
// daemon set of logd on every node, a pod cluster of web, labels, intent and reality, and a
// lock.
func fleetEntries(t *testing.T) []p2import.Entry {
	t.Helper()
	var out []p2import.Entry
	add := func(key string, value []byte) { out = append(out, p2import.NewEntry(key, value)) }
	nodes := []string{"node1", "node2", "node3"}
	web := []string{"node1", "node2"}

	rc := func(id, version string, replicas int) []byte {
		return jsonOf(t, map[string]any{
			"id": id, "manifest": webManifest(version), "node_selector": "role=web",
			"pod_labels": map[string]string{"team": "edge"}, "replicas_desired": replicas,
			"disabled": false, "allocation_strategy": "dynamic_strategy",
		})
	}
	add("replication_controllers/"+oldRC, rc(oldRC, "1", 2))
	add("replication_controllers/"+newRC, rc(newRC, "2", 0))
	add("rolls/"+newRC, jsonOf(t, map[string]any{
		"OldRC": oldRC, "NewRC": newRC, "DesiredReplicas": 2, "MinimumReplicas": 1,
		"LeaveOld": false, "RollDelay": 1000000000,
	}))
	add("daemon_sets/"+dsID, jsonOf(t, map[string]any{
		"id": dsID, "disabled": false, "manifest": logdManifest, "min_health": 1,
		"cluster_name": "logging", "node_selector": "", "pod_id": "logd", "timeout": 300000000000,
	}))
	add("pod_clusters/"+pcID, jsonOf(t, map[string]any{
		"id": pcID, "pod_id": "web", "availability_zone": "us-east-1", "name": "web-prod",
		"pod_selector": "pod_id=web", "annotations": map[string]any{"load_balancer": map[string]any{"port": 443}},
		"allocation_strategy": "dynamic_strategy", "min_health_percentage": 50,
	}))

	for i, n := range nodes {
		role := "web"
		if i == 2 {
			role = "worker"
		}
		add("labels/node/"+n, jsonOf(t, map[string]string{"role": role, "zone": "us-east-1a"}))
		add("intent/"+n+"/p2-preparer", []byte(preparerManifest))
		add("reality/"+n+"/p2-preparer", []byte(preparerManifest))
		add("intent/"+n+"/logd", []byte(logdManifest))
		add("reality/"+n+"/logd", []byte(logdManifest))
		add("labels/pod/"+n+"/logd", jsonOf(t, map[string]string{"pod_id": "logd", "daemon_set_id": dsID}))
	}
	for _, n := range web {
		add("intent/"+n+"/web", []byte(webManifest("1")))
		add("reality/"+n+"/web", []byte(webManifest("1")))
		add("labels/pod/"+n+"/web", jsonOf(t, map[string]string{"pod_id": "web", "replication_controller_id": oldRC, "team": "edge"}))
	}
	add("labels/replication_controller/"+oldRC, jsonOf(t, map[string]string{"app": "web", "version": "1"}))
	add("labels/replication_controller/"+newRC, jsonOf(t, map[string]string{"app": "web", "version": "2"}))
	add("labels/pod_clusters/"+pcID, jsonOf(t, map[string]string{"pod_id": "web", "availability_zone": "us-east-1", "cluster_name": "web-prod"}))
	add("labels/rolls/"+newRC, jsonOf(t, map[string]string{"app": "web"}))
	add("lock/replication_controllers/"+oldRC, []byte("rc-farm-session"))
	return out
}

// The committed export is what fleetEntries writes, in `consul kv export`'s form.
func TestFleetExportFixture(t *testing.T) {
	data, err := json.MarshalIndent(fleetEntries(t), "", "\t")
	require.NoError(t, err)
	data = append(data, '\n')
	if *update {
		require.NoError(t, os.WriteFile(filepath.FromSlash(fixture), data, 0o644))
	}
	committed, err := os.ReadFile(filepath.FromSlash(fixture))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, committed), "%s is stale: go test ./p2import -run TestFleetExportFixture -update", fixture)

	entries, err := p2import.ReadExport(bytes.NewReader(committed))
	require.NoError(t, err)
	require.Equal(t, fleetEntries(t), entries)
}
