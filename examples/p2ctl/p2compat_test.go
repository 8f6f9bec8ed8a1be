package main

import (
	"bytes"
	"encoding/json"
	yamlv3 "go.yaml.in/yaml/v3"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// p2Fixtures are the P2-style pod manifests of the manifest package's testdata.
func p2Fixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "manifest", "testdata", "p2", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	return files
}

// fieldPaths lists the paths of every field of a JSON object, "launchables.app.cgroup.memory".
func fieldPaths(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, e := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		*out = append(*out, p)
		fieldPaths(p, e, out)
	}
}

// documentValue is the value of a document `get -o yaml` printed: its
// fields without kind and metadata, as YAML with the scalars as written
// (P2 reads env scalars as strings, so `DEBUG: true` must stay as it is).
func documentValue(t *testing.T, doc string) []byte {
	t.Helper()
	var n yamlv3.Node
	require.NoError(t, yamlv3.Unmarshal([]byte(doc), &n))
	require.Equal(t, yamlv3.DocumentNode, n.Kind)
	m := n.Content[0]
	var kept []*yamlv3.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		seen[k] = true
		if k != "kind" && k != "metadata" {
			kept = append(kept, m.Content[i], m.Content[i+1])
		}
	}
	require.True(t, seen["kind"] && seen["metadata"], "a document: %s", doc)
	m.Content = kept
	out, err := yamlv3.Marshal(m)
	require.NoError(t, err)
	return out
}

func genericJSON(t *testing.T, js []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v map[string]any
	require.NoError(t, dec.Decode(&v))
	return v
}

// Every P2-style manifest applies as intent, and `get -o yaml` gives every field back,
// the P2-only ones among them, with the values the manifest decodes to.
func TestP2ManifestsApplyAndComeBack(t *testing.T) {
	fl := newFleet(t)
	for _, file := range p2Fixtures(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f := *fl
			f.t = t
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			m, err := manifest.Decode(data)
			require.NoError(t, err)
			require.Contains(t, f.ok("apply", "intent", "--node", "web1", "-f", file), "/p2/intent/web1/"+m.ID)

			value := documentValue(t, f.ok("get", "intent", "web1", m.ID, "-o", "yaml"))
			printed, err := manifest.Decode(value)
			require.NoError(t, err)
			printedJSON, err := printed.Marshal()
			require.NoError(t, err)
			got := genericJSON(t, printedJSON)

			stored, err := m.Marshal()
			require.NoError(t, err)
			assert.Equal(t, genericJSON(t, stored), got, "get -o yaml differs from the decoded manifest")

			raw, err := yaml.YAMLToJSON(data)
			require.NoError(t, err)
			var want, have []string
			fieldPaths("", genericJSON(t, raw), &want)
			fieldPaths("", got, &have)
			sort.Strings(have)
			for _, p := range want {
				assert.Contains(t, have, p, "field %s of %s lost", p, filepath.Base(file))
			}

			// The value get prints applies again as the same version.
			again := f.write(m.ID+"-again.yaml", string(value))
			f.ok("apply", "intent", "--node", "web2", "-f", again)
			back, err := manifest.Decode(documentValue(t, f.ok("get", "intent", "web2", m.ID, "-o", "yaml")))
			require.NoError(t, err)
			assert.True(t, manifest.SameVersion(m, back))
		})
	}
}

// apply takes P2's record forms as well as p2kit's, and stores p2kit's.
func TestApplyTakesP2Records(t *testing.T) {
	f := newFleet(t)
	rcFile := f.write("rc.json", `{"id": "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b",
		"manifest": "id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.example.com/web_1.tar.gz\n    digest_location: https://artifacts.example.com/web_1.tar.gz.sha256\n    env: {WORKERS: 4}\nstatus_port: 8080\n",
		"node_selector": "env=prod", "pod_labels": null, "replicas_desired": 2, "disabled": false,
		"allocation_strategy": "dynamic_strategy"}`)
	f.ok("apply", "rc", "-f", rcFile)
	oldRC := strings.Replace(f.read(rcFile), "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b", "1a2b3c4d-0000-4000-8000-000000000001", 1)
	f.ok("apply", "rc", "-f", f.write("old.json", oldRC))
	out := f.ok("get", "rc", "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b", "-o", "yaml")
	assert.Contains(t, out, "allocation_strategy: dynamic\n")
	assert.Contains(t, out, "status_port: 8080\n")
	assert.Contains(t, out, `WORKERS: "4"`)

	rollFile := f.write("roll.json", `{"OldRC": "1a2b3c4d-0000-4000-8000-000000000001",
		"NewRC": "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b", "DesiredReplicas": 2, "MinimumReplicas": 1,
		"LeaveOld": false, "RollDelay": 30000000000}`)
	f.ok("apply", "roll", "-f", rollFile)
	out = f.ok("get", "roll", "9b2f6a4e-1c3d-4e5f-8a7b-0c1d2e3f4a5b", "-o", "yaml")
	assert.Contains(t, out, "roll_delay: 30s\n")
	assert.Contains(t, out, "old_rc: 1a2b3c4d-0000-4000-8000-000000000001\n")
}

func (f *fleet) read(path string) string {
	f.t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(f.t, err)
	return string(data)
}
