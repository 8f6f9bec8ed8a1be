package manifest

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDigestForm(t *testing.T) {
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), mustDigest(t, validManifest()))
}

// TestCanonicalJSONIsStable pins the canonical form: changing it changes every digest in every
// store, and makes every preparer reinstall every pod.
func TestCanonicalJSONIsStable(t *testing.T) {
	m := validManifest()
	m.Config = map[string]any{"b": 1, "a": map[string]any{"y": "<&>", "x": []any{2.5, nil}}}
	m.Status = &StatusCheck{HTTP: true, Port: 8080}
	m.Signature = "ignored"
	got, err := m.CanonicalJSON()
	require.NoError(t, err)
	assert.Equal(t, `{"config":{"a":{"x":[2.5,null],"y":"\u003c\u0026\u003e"},"b":1},"id":"hello",`+
		`"launchables":{"app":{"digest":"`+testDigest+`","entry_points":["bin/launch"],"launchable_type":"hoist",`+
		`"location":"https://artifacts.example.com/hello_1.tar.gz","restart_policy":"always"}},`+
		`"status":{"http":true,"path":"/_status","port":8080}}`, string(got))
	// sha256sum of the canonical JSON above.
	assert.Equal(t, "4fe05bc6e64485b13cee8cf6fdd7623a9e84dd522cfe5baaaf2728663dcb407a", mustDigest(t, m))
}

func TestDigestIgnoresKeyOrder(t *testing.T) {
	a := mustDecode(t, `{"id": "hello", "config": {"a": 1, "b": {"c": 2, "d": 3}}, "launchables": {"app": {"launchable_type": "hoist", "location": "file:///a.tar.gz", "digest": "`+testDigest+`"}}}`)
	b := mustDecode(t, `{"launchables": {"app": {"digest": "`+testDigest+`", "location": "file:///a.tar.gz", "launchable_type": "hoist"}}, "config": {"b": {"d": 3, "c": 2}, "a": 1}, "id": "hello"}`)
	assert.Equal(t, mustDigest(t, a), mustDigest(t, b))
	assert.True(t, SameVersion(a, b))
}

func TestDigestYAMLEqualsJSON(t *testing.T) {
	assert.Equal(t, mustDigest(t, mustDecode(t, helloYAML)), mustDigest(t, mustDecode(t, helloJSON)))
}

func TestDigestExcludesSignature(t *testing.T) {
	a := validManifest()
	b := validManifest()
	b.Signature = "c2lnbmF0dXJl"
	assert.Equal(t, mustDigest(t, a), mustDigest(t, b))
	assert.True(t, SameVersion(a, b))
}

func TestDigestTreatsDefaultsAsWritten(t *testing.T) {
	implicit := validManifest()
	implicit.Status = &StatusCheck{HTTP: true, Port: 80}
	explicit := implicit.Clone()
	explicit.Status.Path = DefaultStatusPath
	app := explicit.Launchables["app"]
	app.EntryPoints = []string{DefaultEntryPoint}
	app.RestartPolicy = RestartAlways
	app.Env = map[string]string{}
	explicit.Launchables["app"] = app
	explicit.Config = map[string]any{}
	assert.Equal(t, mustDigest(t, implicit), mustDigest(t, explicit))
}

func TestDigestChangesWithContent(t *testing.T) {
	base := mustDigest(t, validManifest())
	changes := map[string]func(*Manifest){
		"id":       func(m *Manifest) { m.ID = "other" },
		"run_as":   func(m *Manifest) { m.RunAs = "root" },
		"config":   func(m *Manifest) { m.Config = map[string]any{"port": 1} },
		"status":   func(m *Manifest) { m.Status = &StatusCheck{} },
		"min ok 0": func(m *Manifest) { m.MinHealthPercentage = new(0) },
		"grace":    func(m *Manifest) { m.TerminationGracePeriod = 1 },
		"policy": func(m *Manifest) {
			app := m.Launchables["app"]
			app.RestartPolicy = RestartNever
			m.Launchables["app"] = app
		},
		"env": func(m *Manifest) {
			app := m.Launchables["app"]
			app.Env = map[string]string{"A": ""}
			m.Launchables["app"] = app
		},
		"launchable": func(m *Manifest) { m.Launchables["b"] = m.Launchables["app"] },
	}
	for name, change := range changes {
		m := validManifest()
		change(m)
		assert.NotEqual(t, base, mustDigest(t, m), name)
		assert.False(t, SameVersion(validManifest(), m), name)
	}
}

func TestDigestKeepsLargeIntegersExact(t *testing.T) {
	a := validManifest()
	a.TerminationGracePeriod = 1<<60 + 1
	b := validManifest()
	b.TerminationGracePeriod = 1 << 60
	assert.NotEqual(t, mustDigest(t, a), mustDigest(t, b))
}

func TestDigestDoesNotChangeManifest(t *testing.T) {
	m := validManifest()
	m.Signature = "sig"
	before := m.Clone()
	mustDigest(t, m)
	assert.Equal(t, before, m)
}

func TestDigestErrors(t *testing.T) {
	var m *Manifest
	_, err := m.Digest()
	require.Error(t, err)

	m = validManifest()
	m.Config = map[string]any{"f": func() {}}
	_, err = m.Digest()
	require.Error(t, err)
	assert.False(t, SameVersion(m, m))
}

func TestSameVersionNil(t *testing.T) {
	assert.True(t, SameVersion(nil, nil))
	assert.False(t, SameVersion(nil, validManifest()))
	assert.False(t, SameVersion(validManifest(), nil))
}
