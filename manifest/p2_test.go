package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// p2Fixtures returns the P2-style manifests of testdata/p2 by file name.
func p2Fixtures(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "p2", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		out[filepath.Base(f)] = data
	}
	return out
}

func generic(t *testing.T, js []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return v
}

// Every P2 fixture decodes, and every field it holds comes back unchanged from the stored form.
func TestP2ManifestsKeepEveryField(t *testing.T) {
	for name, data := range p2Fixtures(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Decode(data)
			require.NoError(t, err)
			js, err := yamlToJSON(data)
			require.NoError(t, err)
			stored, err := m.Marshal()
			require.NoError(t, err)
			assertSubset(t, "", generic(t, js), generic(t, stored))

			again, err := Decode(stored)
			require.NoError(t, err)
			assert.Equal(t, mustDigest(t, m), mustDigest(t, again))
			assert.Equal(t, m, m.Clone())
		})
	}
}

// The digest covers the P2-only fields: changing one changes the version.
func TestP2FieldsAreInTheDigest(t *testing.T) {
	base := mustDecode(t, string(p2Fixtures(t)["verified_web.yaml"]))
	d := mustDigest(t, base)
	for name, change := range map[string]func(m *Manifest){
		"no_halt_on_update": func(m *Manifest) { l := m.Launchables["server"]; l.NoHaltOnUpdate = false; m.Launchables["server"] = l },
		"digest_location": func(m *Manifest) {
			l := m.Launchables["server"]
			l.DigestLocation = "https://x.example/d"
			m.Launchables["server"] = l
		},
		"cgroup.memory":     func(m *Manifest) { l := m.Launchables["server"]; l.Cgroup.Memory = "5G"; m.Launchables["server"] = l },
		"localhost_only":    func(m *Manifest) { m.Status.LocalhostOnly = false },
		"node_requirements": func(m *Manifest) { m.NodeRequirements = map[string]string{"rack": "r1"} },
		"status_port":       func(m *Manifest) { m.StatusPort = 1 },
	} {
		c := base.Clone()
		change(c)
		assert.NotEqual(t, d, mustDigest(t, c), name)
	}
}

func TestP2EnvScalarsReadAsWritten(t *testing.T) {
	m := mustDecode(t, string(p2Fixtures(t)["verified_web.yaml"]))
	assert.Equal(t, map[string]string{
		"ENABLED_BLAMS": "5", "DEBUG": "yes", "RATIO": "1.50", "MODE": "quoted", "EMPTY": "",
	}, m.Launchables["server"].Env)
}

func TestP2StatusPortIsTheHealthCheck(t *testing.T) {
	m := mustDecode(t, string(p2Fixtures(t)["legacy_hello.yaml"]))
	assert.Nil(t, m.Status)
	assert.Equal(t, &StatusCheck{HTTP: true, Port: 43770}, m.HealthCheck())
	assert.Equal(t, "/_status", m.HealthCheck().PathOrDefault())

	m = mustDecode(t, string(p2Fixtures(t)["verified_web.yaml"]))
	assert.Equal(t, "/healthz", m.HealthCheck().PathOrDefault())
	m.StatusPort = 9000
	assert.Equal(t, 9000, m.HealthCheck().Port, "status_port wins over status.port, as in P2")
	assert.Nil(t, validManifest().HealthCheck())
}

// A typo of a P2 field is still an unknown field.
func TestP2TyposAreRefused(t *testing.T) {
	for _, doc := range []string{
		"id: a\nstatus_prot: 80\nlaunchables: {app: {launchable_type: hoist, location: 'https://h/a.tar.gz'}}",
		"id: a\nlaunchables: {app: {launchable_type: hoist, location: 'https://h/a.tar.gz', digest_locaton: 'https://h/d'}}",
		"id: a\nlaunchables: {app: {launchable_type: hoist, location: 'https://h/a.tar.gz', cgroup: {mem: 1}}}",
	} {
		_, err := Decode([]byte(doc))
		require.ErrorIs(t, err, ErrInvalid, doc)
		assert.Contains(t, err.Error(), "unknown field")
	}
}

// assertSubset checks that every value of want is in got, unchanged; got may hold more (fields
// written out with their zero value).
func assertSubset(t *testing.T, path string, want, got any) {
	t.Helper()
	w, ok := want.(map[string]any)
	if !ok {
		assert.Equal(t, want, got, "field %s", path)
		return
	}
	g, ok := got.(map[string]any)
	if !assert.True(t, ok, "field %s: want an object, got %v", path, got) {
		return
	}
	for k, v := range w {
		if assert.Contains(t, g, k, "field %s.%s lost", path, k) {
			assertSubset(t, path+"."+k, v, g[k])
		}
	}
}
