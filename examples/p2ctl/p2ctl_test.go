package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestRCLifecycle(t *testing.T) {
	f := newFleet(t)
	file := f.write("rc.yaml", rcYAML("hello-v1", 1, 2))

	require.Contains(t, f.ok("apply", "rc", "-f", file), "/p2/replication_controllers/hello-v1 created")
	require.Contains(t, f.ok("apply", "rc", "-f", file), "unchanged")
	f.write("rc.yaml", rcYAML("hello-v1", 1, 3))
	require.Contains(t, f.ok("apply", "rc", "-f", file), "configured")

	out := f.ok("get", "rc", "hello-v1")
	require.Contains(t, out, "DESIRED")
	require.Regexp(t, `hello-v1\s+hello\s+3\s+0\s+0\s+env=prod\s+false`, out)

	var env struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Key         string `json:"key"`
			ModRevision int64  `json:"mod_revision"`
		} `json:"metadata"`
		ReplicasDesired int `json:"replicas_desired"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.ok("get", "rc", "hello-v1", "-o", "json")), &env))
	require.Equal(t, "rc", env.Kind)
	require.Equal(t, "/p2/replication_controllers/hello-v1", env.Metadata.Key)
	require.Equal(t, 3, env.ReplicasDesired)
	require.Positive(t, env.Metadata.ModRevision)

	require.Contains(t, f.ok("list", "rc"), "hello-v1")
	require.Contains(t, f.ok("list", "rc", "-o", "yaml"), "replicas_desired: 3")

	require.Contains(t, f.ok("rc", "scale", "hello-v1", "4"), "rc/hello-v1 scaled to 4")
	require.NoError(t, json.Unmarshal([]byte(f.ok("get", "rc", "hello-v1", "-o", "json")), &env))
	require.Equal(t, 4, env.ReplicasDesired)
	f.fails(`replicas "many"`, "rc", "scale", "hello-v1", "many")

	f.fails("not scaled down", "delete", "rc", "hello-v1")
	f.ok("get", "rc", "hello-v1")
	require.Contains(t, f.ok("delete", "rc", "hello-v1", "--force"), "rc/hello-v1 deleted")
	f.fails("not found", "get", "rc", "hello-v1")

	audit := f.ok("audit", "list")
	require.Regexp(t, `create\s+replication_controllers\s+hello-v1\s+alice`, audit)
	require.Regexp(t, `update\s+replication_controllers\s+hello-v1\s+alice`, audit)
	require.Regexp(t, `delete\s+replication_controllers\s+hello-v1\s+alice`, audit)
	var recs []struct {
		Value struct {
			EventType string `json:"event_type"`
		} `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.ok("audit", "list", "--limit", "1", "-o", "json")), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, "delete", recs[0].Value.EventType, "newest first")
	require.NotContains(t, f.ok("audit", "list", "--since", "1ns"), "hello-v1")
}

func TestOtherEntities(t *testing.T) {
	f := newFleet(t)
	ds := f.write("ds.json", `{"id":"edge","pod_id":"hello","manifest":`+manifestJSON(t)+`,"node_selector":"role=edge",`+
		`"min_health":1,"timeout":"30s","rate_limit_interval":"1s"}`)
	require.Contains(t, f.ok("apply", "ds", "-f", ds), "daemon_sets/edge created")
	require.Regexp(t, `edge\s+hello\s+0\s+0\s+0\s+role=edge\s+false\s+1\s+30s`, f.ok("list", "daemonset"))

	pc := f.write("pc.yaml", "id: web-az1\npod_id: hello\navailability_zone: az1\nname: web\npod_selector: app=hello\nmin_health_percentage: 50\n")
	require.Contains(t, f.ok("apply", "pc", "-f", pc), "pod_clusters/web-az1 created")
	require.Contains(t, f.ok("get", "podcluster", "web-az1"), "az1")
	require.Contains(t, f.ok("delete", "pc", "web-az1"), "podcluster/web-az1 deleted")
	f.fails("--force", "delete", "pc", "web-az1", "--force")
}

func manifestJSON(t *testing.T) string {
	js, err := yaml.YAMLToJSON([]byte(manifestYAML("hello", 1, 0)))
	require.NoError(t, err)
	return string(js)
}

func TestBadFiles(t *testing.T) {
	f := newFleet(t)
	f.c.Members[0].Stop(t) // decoding fails before p2ctl dials

	missing := f.dir + "/missing.yaml"
	line := f.fails("no such file or directory", "apply", "rc", "-f", missing)
	require.Equal(t, "p2ctl: apply rc -f "+missing+": no such file or directory", line)

	bad := f.write("bad.yaml", "id: hello-v1\nmanifest: [unclosed\n")
	line = f.fails("invalid YAML", "apply", "rc", "-f", bad)
	require.Contains(t, line, "apply rc: "+bad+": ")

	noReplicas := f.write("noreplicas.yaml", "id: hello-v1\nmanifest:\n"+manifestYAML("hello", 1, 2))
	line = f.fails("replicas_desired: required", "apply", "rc", "-f", noReplicas)
	require.Equal(t, "p2ctl: apply rc: "+noReplicas+":1: replicas_desired: required", line)

	misspelt := f.write("misspelt.yaml", rcYAML("hello-v1", 1, 2)+"replica_desired: 3\n")
	f.fails(`unknown field "replica_desired"`, "apply", "rc", "-f", misspelt)

	twoDocs := f.write("two.yaml", rcYAML("a", 1, 1)+"---\n"+rcYAML("b", 1, 1)+"replica_desired: 1\n")
	f.fails(twoDocs+`:22: unknown field "replica_desired" (did you mean "replicas_desired"?)`, "apply", "rc", "-f", twoDocs)

	invalid := f.write("invalid.yaml", strings.Replace(rcYAML("hello-v1", 1, 2), "env=prod", "env in (prod", 1))
	f.fails("node_selector", "apply", "rc", "-f", invalid)

	badManifest := f.write("m.yaml", "id: hello\nlaunchables: {}\n")
	f.fails("apply intent: "+badManifest+":2: launchables", "apply", "intent", "--node", "web1", "-f", badManifest)
	f.fails("--node: required", "apply", "intent", "-f", badManifest)

	f.fails(`unknown entity "pods"`, "get", "pods", "x")
	f.fails(`unknown entity "foo"`, "apply", "foo", "-f", bad)
	f.fails("name an entity", "list")
	f.fails("--output", "list", "rc", "-o", "xml")
}

func TestIntentAndLabels(t *testing.T) {
	f := newFleet(t)
	m := f.write("hello.yaml", manifestYAML("hello", 1, 0))
	require.Contains(t, f.ok("apply", "intent", "--node", "web1", "-f", m), "/p2/intent/web1/hello created")
	require.Contains(t, f.ok("apply", "intent", "--node", "web2", "-f", m), "created")
	require.Regexp(t, `web1\s+hello\s+[0-9a-f]{12}\s+app`, f.ok("get", "intent", "web1", "hello"))
	out := f.ok("list", "intent", "--node", "web1")
	require.Contains(t, out, "web1")
	require.NotContains(t, out, "web2")
	require.Contains(t, f.ok("list", "intent"), "web2")
	f.fails("not found", "get", "reality", "web1", "hello")

	out = f.ok("labels", "set", "node", "web1", "env=prod", "tier=web")
	require.Regexp(t, `env\s+prod`, out)
	require.Regexp(t, `tier\s+web`, out)
	out = f.ok("labels", "set", "node", "web1", "-k", "tier")
	require.NotContains(t, out, "tier")
	var env struct {
		Value map[string]string `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.ok("labels", "get", "node", "web1", "-o", "json")), &env))
	require.Equal(t, map[string]string{"env": "prod"}, env.Value)
	require.Contains(t, f.ok("labels", "list", "node"), "env=prod")
	f.ok("labels", "set", "rc", "hello-v1", "team=core")
	require.Contains(t, f.ok("labels", "get", "replication_controller", "hello-v1"), "core")
	f.fails("not found", "labels", "get", "node", "web9")
	f.fails("want key=value", "labels", "set", "node", "web1", "oops")
	f.fails(`invalid label type: invalid id "Planet"`, "labels", "get", "Planet", "x")
	f.fails("/p2/labels/planet/x: not found", "labels", "get", "planet", "x") // any valid name is a type

	require.Contains(t, f.ok("delete", "intent", "web1", "hello"), "intent/web1/hello deleted")
	f.fails("not found", "get", "intent", "web1", "hello")
}

func TestStatus(t *testing.T) {
	f := newFleet(t)
	digest := strings.Repeat("ab", 32)
	_, err := status.NewPodStatusStore(f.cli).Set(f.ctx(), "web1", "hello", &status.PodStatus{
		Status: status.Launched, Health: status.Passing, ManifestDigest: digest,
		Processes: []status.Process{{Launchable: "app", EntryPoint: "bin/launch", PID: 4242}},
		UpdatedAt: time.Now(),
	})
	require.NoError(t, err)
	// No preparer keeps a node record for web1: the row is stale.
	require.Regexp(t, `web1\s+hello\s+stale\(launched\)\s+stale\(passing\)\s+0\s+-\s+abababababab\s+4242`, f.ok("status", "pods", "--node", "web1"))
	require.NotContains(t, f.ok("status", "pods", "--node", "web2"), "hello")
	require.Regexp(t, `health\s+passing`, f.ok("status", "get", "pods", "web1/hello"))
	require.Contains(t, f.ok("status", "get", "pods", "web1/hello", "-o", "json"), `"/p2/status/pods/web1/hello/preparer"`)
	f.fails("not found", "status", "get", "pods", "web1/hello", "--namespace", "other")
	f.fails(`invalid status type: invalid id "Planets"`, "status", "get", "Planets", "x")
	f.fails("/p2/status/planets/x/preparer: not found", "status", "get", "planets", "x") // any valid name is a type
}

func TestUnreachableEtcd(t *testing.T) {
	addr := closedPort(t)
	r := runP2ctl("--etcd", addr, "--dial-timeout", "1s", "list", "rc")
	line := requireFailure(t, r, "unreachable")
	require.Contains(t, line, addr)
}
