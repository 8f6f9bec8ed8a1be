package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
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

			out := f.ok("get", "intent", "web1", m.ID, "-o", "yaml")
			var env struct {
				Value json.RawMessage `json:"value"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(out), &env))
			got := genericJSON(t, env.Value)

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
			again := f.write(m.ID+"-again.json", string(env.Value))
			f.ok("apply", "intent", "--node", "web2", "-f", again)
			var env2 struct {
				Value manifest.Manifest `json:"value"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(f.ok("get", "intent", "web2", m.ID, "-o", "yaml")), &env2))
			assert.True(t, manifest.SameVersion(m, &env2.Value))
		})
	}
}
