package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/p2import"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// p2FleetExport is the P2 fleet export of the p2import package's testdata: 3 nodes, 2 RCs,
// a daemon set, a roll and a pod cluster, with labels, intent and reality.
var p2FleetExport = filepath.Join("..", "..", "p2import", "testdata", "p2fleet.json")

func (f *fleet) keys(prefix string) []string {
	f.t.Helper()
	resp, err := f.cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(f.t, err)
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// brokenExport is the fleet export with a corrupt RC and an ambiguous intent entry.
func brokenExport(t *testing.T, f *fleet) string {
	data, err := os.ReadFile(p2FleetExport)
	require.NoError(t, err)
	entries, err := p2import.ReadExport(strings.NewReader(string(data)))
	require.NoError(t, err)
	entries = append(entries,
		p2import.NewEntry("replication_controllers/0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e", []byte(`{"id":"0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e","manifest":"id: x\n","replicas_desired":"two"}`)),
		p2import.NewEntry("intent/node3/api", []byte("id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: file:///srv/a.tar.gz\n")))
	out, err := json.Marshal(entries)
	require.NoError(t, err)
	return f.write("broken.json", string(out))
}

func TestImportP2DryRun(t *testing.T) {
	f := newFleet(t)
	out := f.ok("import", "p2", p2FleetExport, "--dry-run")
	require.Contains(t, out, "ACTION")
	require.Contains(t, out, "create  replication_controllers  6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
	require.Contains(t, out, "/p2/intent/node1/web")
	require.Contains(t, out, "/p2/labels/pod_cluster/3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f")
	require.Contains(t, out, "/p2/rolls/a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d")
	require.Contains(t, out, "plan: 33 to create (12 labels, 8 intent, 8 reality, 2 replication_controllers, 1 daemon_sets, 1 pod_clusters, 1 rolls), 0 already in place, 1 not imported (0 blocking)")
	require.Contains(t, out, "skipped  lock/replication_controllers/")
	require.Empty(t, f.keys("/p2/"), "a dry run writes nothing")

	// -o json is the plan with the records' values in p2kit's form.
	var doc struct {
		Records []struct {
			Kind, ID, Key, Action string
			Value                 json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(f.ok("import", "p2", p2FleetExport, "--dry-run", "-o", "json")), &doc))
	require.Len(t, doc.Records, 33)
	for _, r := range doc.Records {
		if r.Kind == "replication_controllers" {
			require.Contains(t, string(r.Value), `"allocation_strategy": "dynamic"`)
		}
	}
	require.Empty(t, f.keys("/p2/"))
}

func TestImportP2BlockedAndPartial(t *testing.T) {
	f := newFleet(t)
	broken := brokenExport(t, f)

	r := f.run("import", "p2", broken, "--dry-run")
	requireFailure(t, r, "dry run: 2 entries cannot be imported")
	require.Contains(t, r.stdout, "unconvertible  replication_controllers/0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e")
	require.Contains(t, r.stdout, "replicas_desired")
	require.Contains(t, r.stdout, `ambiguous      intent/node3/api`)
	require.Empty(t, f.keys("/p2/"))

	r = f.run("import", "p2", broken)
	requireFailure(t, r, "2 entries cannot be imported (see the report); nothing written; --partial writes the rest")
	require.Contains(t, r.stdout, `manifest id "web" is not the pod id "api"`)
	require.Empty(t, f.keys("/p2/"), "nothing written while anything is blocked")

	out := f.ok("import", "p2", broken, "--partial")
	require.Contains(t, out, "imported 33 records")
	require.Contains(t, out, "unconvertible  replication_controllers/0b1c2d3e")
	require.Len(t, f.keys("/p2/replication_controllers/"), 2)
	require.Len(t, f.keys("/p2/intent/"), 8)
}

func TestImportP2(t *testing.T) {
	f := newFleet(t)
	out := f.ok("import", "p2", p2FleetExport, "--chunk-size", "8")
	require.Contains(t, out, "imported 33 records: 12 labels, 8 intent, 8 reality, 2 replication_controllers, 1 daemon_sets, 1 pod_clusters, 1 rolls")
	require.Len(t, f.keys("/p2/audit/"), 33)
	require.Contains(t, f.ok("audit", "list"), "alice")
	require.Contains(t, f.ok("get", "rc", "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "-o", "yaml"), "allocation_strategy: dynamic")

	// Again: everything is in place, nothing is written.
	out = f.ok("import", "p2", p2FleetExport)
	require.Contains(t, out, "33 records already in place")
	require.NotContains(t, out, "imported 33")
	require.Len(t, f.keys("/p2/audit/"), 33)

	f.fails("--chunk-size 65: want 1 to 64", "import", "p2", p2FleetExport, "--chunk-size", "65")
	f.fails("import p2 "+f.write("bad.json", `[{"key":"a","value":"!"}]`)+": bad Consul KV export: entry 0 (a): value is not base64",
		"import", "p2", filepath.Join(f.dir, "bad.json"))
	f.fails("no such file", "import", "p2", filepath.Join(f.dir, "missing.json"))
}
