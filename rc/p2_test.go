package rc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/require"
)

// p2RCID is an id as P2 made them: a UUID.
const p2RCID = "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b"

// p2RCJSON is a replication controller as P2 stored it: the manifest as YAML text (verified
// by digest_location, no inline digest, env values P2 reads as strings) and the allocation
// strategy as P2 spelt it.
func p2RCJSON(t *testing.T, replicas int) string {
	t.Helper()
	m := `id: web
launchables:
  app:
    launchable_type: hoist
    launchable_id: app
    location: file:///nonexistent/web_1.tar.gz
    digest_location: file:///nonexistent/web_1.tar.gz.sha256
    env:
      WORKERS: 4
status_port: 8080
`
	data, err := json.Marshal(map[string]any{
		"id": p2RCID, "manifest": m, "node_selector": "env=prod", "pod_labels": map[string]string{"team": "edge"},
		"replicas_desired": replicas, "disabled": false, "allocation_strategy": "dynamic_strategy",
	})
	require.NoError(t, err)
	return string(data)
}

func TestP2RCDecodes(t *testing.T) {
	var r rc.RC
	require.NoError(t, json.Unmarshal([]byte(p2RCJSON(t, 2)), &r))
	require.NoError(t, r.Validate())
	require.Equal(t, rc.Dynamic, r.AllocationStrategy)
	require.Equal(t, "web", r.Manifest.ID)
	require.Equal(t, "4", r.Manifest.Launchables["app"].Env["WORKERS"])
	require.Equal(t, 8080, r.Manifest.StatusPort)

	// Written back in p2kit's form, which reads back equal.
	out, err := json.Marshal(&r)
	require.NoError(t, err)
	require.Contains(t, string(out), `"manifest":{`)
	require.Contains(t, string(out), `"allocation_strategy":"dynamic"`)
	var again rc.RC
	require.NoError(t, json.Unmarshal(out, &again))
	require.Equal(t, r, again)

	// p2kit's form takes P2's strategy names too.
	var canon rc.RC
	require.NoError(t, json.Unmarshal([]byte(strings.Replace(string(out), `"dynamic"`, `"static_strategy"`, 1)), &canon))
	require.Equal(t, rc.Static, canon.AllocationStrategy)

	for _, tc := range []struct{ doc, want string }{
		{`{"id": "a", "manifest": "id: a\n", "node_selector": ""}`, "replicas_desired: required"},
		{`{"id": "a", "manifest": "", "replicas_desired": 1}`, "manifest: required"},
		{`{"id": "a", "manifest": "id: a\nlaunchabels: {}\n", "replicas_desired": 1}`, "manifest: launchabels: unknown field"},
		{`{"id": "a", "manifest": "id: a\n", "replicas_desired": 1, "replica_desired": 1}`, `unknown field "replica_desired"`},
	} {
		var bad rc.RC
		require.ErrorContains(t, json.Unmarshal([]byte(tc.doc), &bad), tc.want, tc.doc)
	}
}

// A P2 RC written raw is scheduled by the farm, its pods carry pod_id as P2's did, and a P2
// pod cluster selecting pod_id=web finds them.
func TestP2RCWrittenRawIsScheduled(t *testing.T) {
	e := newFleet(t)
	e.startNodes(labels.Set{"env": "prod"}, nodeNames("node", 3)...)
	e.runFarm(e.cli)

	_, err := e.cli.Put(e.ctx, "/p2/replication_controllers/"+p2RCID, p2RCJSON(t, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(e.scheduled("web")) == 2 }, waitFor, 20*time.Millisecond,
		"scheduled on %v", e.scheduled("web"))
	lbl, err := e.labels.Get(e.ctx, labels.Pod, e.scheduled("web")[0]+"/web")
	require.NoError(t, err)
	require.Equal(t, labels.Set{"team": "edge", rc.IDLabel: p2RCID, rc.PodIDLabel: "web"}, lbl.Value)

	// A pod cluster as P2 stored it.
	dir := t.TempDir()
	_, err = e.cli.Put(e.ctx, "/p2/pod_clusters/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", `{"id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
		"pod_id": "web", "availability_zone": "us-west-2a", "name": "web", "pod_selector": "pod_id=web",
		"annotations": {"port": 8080}, "allocation_strategy": "dynamic_strategy", "min_health_percentage": 50}`)
	require.NoError(t, err)
	pc, err := podcluster.NewStore(e.cli).Get(e.ctx, "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f")
	require.NoError(t, err)
	require.Equal(t, "dynamic", pc.Value.AllocationStrategy)

	sy := podcluster.NewFileSyncer(dir)
	f, err := podcluster.NewFarm(e.cli, sy, farmOpts(t)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	members := func() []string {
		fc, err := podcluster.ReadFile(sy.Path("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"))
		if err != nil {
			return nil
		}
		var out []string
		for _, m := range fc.Members {
			out = append(out, m.Node)
		}
		slices.Sort(out)
		return out
	}
	require.Eventually(t, func() bool { return fmt.Sprint(members()) == fmt.Sprint(e.scheduled("web")) },
		waitFor, 20*time.Millisecond, "members %v, scheduled %v", members(), e.scheduled("web"))

	// The store writes p2kit's form back.
	_, err = e.rcs.Scale(e.ctx, "alice", p2RCID, 3)
	require.NoError(t, err)
	raw, err := e.cli.Get(e.ctx, "/p2/replication_controllers/"+p2RCID)
	require.NoError(t, err)
	require.Contains(t, string(raw.Kvs[0].Value), `"manifest":{`)
	e.eventually(p2RCID, "web", nodeNames("node", 3))
}
