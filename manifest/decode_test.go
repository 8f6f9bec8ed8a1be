package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeYAMLAndJSONAgree(t *testing.T) {
	fromYAML := mustDecode(t, helloYAML)
	fromJSON := mustDecode(t, helloJSON)
	assert.Equal(t, fromYAML, fromJSON)
	assert.Equal(t, mustDigest(t, fromYAML), mustDigest(t, fromJSON))

	assert.Equal(t, "hello", fromYAML.ID)
	assert.Equal(t, "hello", fromYAML.RunAs)
	assert.Equal(t, 50, *fromYAML.MinHealthPercentage)
	assert.Equal(t, 10, fromYAML.TerminationGracePeriod)
	assert.Equal(t, &StatusCheck{HTTP: true, Port: 8080, Path: "/_status"}, fromYAML.Status)
	assert.Equal(t, map[string]any{
		"port":   float64(8080),
		"tags":   []any{"a", "b"},
		"nested": map[string]any{"z": float64(1), "a": true},
	}, fromYAML.Config)
	assert.Equal(t, Launchable{
		LaunchableType: LaunchableTypeHoist,
		Location:       "file:///srv/artifacts/hello_1.tar.gz",
		Digest:         testDigest,
		EntryPoints:    []string{"bin/launch"},
		RestartPolicy:  RestartAlways,
		Env:            map[string]string{"GREETING": "hi"},
	}, fromYAML.Launchables["app"])
}

func TestDecodeYAMLFlowStyle(t *testing.T) {
	// Not JSON (unquoted keys), so it is read as YAML.
	m := mustDecode(t, `{id: hello, launchables: {app: {launchable_type: hoist, location: "file:///a.tar.gz", digest: "`+testDigest+`"}}}`)
	assert.Equal(t, "hello", m.ID)
}

func TestDecodeLeavesDefaultsUnwritten(t *testing.T) {
	m := mustDecode(t, `
id: hello
launchables:
  app: {launchable_type: hoist, location: "file:///a.tar.gz", digest: "`+testDigest+`"}
status: {http: true, port: 80}
`)
	app := m.Launchables["app"]
	assert.Nil(t, app.EntryPoints)
	assert.Equal(t, []string{DefaultEntryPoint}, app.EntryPointsOrDefault())
	assert.Empty(t, app.RestartPolicy)
	assert.Equal(t, RestartAlways, app.RestartPolicyOrDefault())
	assert.Equal(t, DefaultStatusPath, m.Status.PathOrDefault())
	assert.Nil(t, m.MinHealthPercentage)
}

func TestDecodeNullIsAbsent(t *testing.T) {
	m := mustDecode(t, `
id: hello
run_as: null
launchables:
  app: {launchable_type: hoist, location: "file:///a.tar.gz", digest: "`+testDigest+`", env: null, entry_points: ~}
config:
status: null
min_health_percentage: null
`)
	assert.Equal(t, mustDigest(t, validManifestAt("file:///a.tar.gz")), mustDigest(t, m))
	assert.Nil(t, m.Status)
	assert.Nil(t, m.MinHealthPercentage)
}

func validManifestAt(location string) *Manifest {
	m := validManifest()
	app := m.Launchables["app"]
	app.Location = location
	m.Launchables["app"] = app
	return m
}

func TestDecodeRefuses(t *testing.T) {
	launchable := `{launchable_type: hoist, location: "file:///a.tar.gz", digest: "` + testDigest + `"}`
	tests := []struct {
		name  string
		doc   string
		field string // the FieldError's field, if the error is one
		want  string // a substring of the message
	}{
		{"unknown top-level field YAML", "id: hello\nbogus: 1\nlaunchables: {app: " + launchable + "}", "bogus", "bogus: unknown field"},
		{"unknown top-level field JSON", `{"id": "hello", "bogus": 1}`, "bogus", "bogus: unknown field"},
		{"unknown launchable field", "id: hello\nlaunchables: {app: {extra: x}}", "launchables.app.extra", "launchables.app.extra: unknown field"},
		{"unknown status field", `{"id": "hello", "status": {"https": true}}`, "status.https", "unknown field"},
		{"field name in the wrong case", `{"ID": "hello"}`, "ID", "ID: unknown field"},
		{"duplicate field JSON", `{"id": "a", "id": "b"}`, "id", "id: duplicate field"},
		{"duplicate config key JSON", `{"id": "a", "config": {"x": 1, "x": 2}}`, "config.x", "duplicate field"},
		{"duplicate field YAML", "id: a\nid: b\n", "", "already set"},
		{"number for a string", "id: 123\n", "id", "id: want a string, got number 123"},
		{"YAML boolean for a string", "id: hello\nrun_as: no\n", "run_as", "run_as: want a string, got boolean false"},
		{"number in env in JSON", `{"id": "hello", "launchables": {"app": {"env": {"PORT": 8080}}}}`, "launchables.app.env.PORT", "want a string, got number 8080"},
		{"list in env", "id: hello\nlaunchables: {app: {env: {PORT: [1]}}}", "launchables.app.env.PORT", "want a string, got a list"},
		{"string for an integer", `{"id": "a", "status": {"port": "80"}}`, "status.port", `want an integer, got string "80"`},
		{"fraction for an integer", `{"id": "a", "termination_grace_period": 1.5}`, "termination_grace_period", "want an integer, got number 1.5"},
		{"integer out of range", `{"id": "a", "termination_grace_period": 99999999999999999999}`, "termination_grace_period", "out of range"},
		{"config number out of range", `{"id": "a", "config": {"x": 1e400}}`, "config.x", "number 1e400 out of range"},
		{"string for a list", `{"id": "a", "launchables": {"app": {"entry_points": "bin/launch"}}}`, "launchables.app.entry_points", "want a list"},
		{"list for an object", `{"id": "a", "launchables": []}`, "launchables", "want an object, got a list"},
		{"number in a list of strings", `{"id": "a", "launchables": {"app": {"entry_points": ["bin/a", 2]}}}`, "launchables.app.entry_points[1]", "want a string"},
		{"too deep", `{"id": "a", "config": ` + strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200) + "}", "", "nested deeper than 100 levels"},
		{"two YAML documents", "id: a\n---\nid: b\n", "", "more than one YAML document"},
		{"empty", "", "", "empty document"},
		{"only a comment", "# nothing\n", "", "empty document"},
		{"null", "null", "", "want an object, got null"},
		{"a list", "- a\n- b\n", "", "want an object, got a list"},
		{"a string", `"hello"`, "", "want an object, got string"},
		{"garbage", "\x00\x01{{{", "", "invalid manifest"},
		{"bad YAML", "id: [\n", "", "invalid manifest"},
		{"valid shape, invalid manifest", `{"id": "Hello"}`, "id", `invalid id "Hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.doc))
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
			if tt.field != "" {
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tt.field, fe.Field)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := mustDecode(t, helloYAML)
	m.Signature = "sig"
	out, err := m.Marshal()
	require.NoError(t, err)
	back := mustDecode(t, string(out))
	assert.Equal(t, m, back)
	assert.Equal(t, mustDigest(t, m), mustDigest(t, back))
}

func TestMarshalOmitsUnsetFields(t *testing.T) {
	out, err := validManifest().Marshal()
	require.NoError(t, err)
	assert.JSONEq(t, `{"id": "hello", "launchables": {"app": {
		"launchable_type": "hoist",
		"location": "https://artifacts.example.com/hello_1.tar.gz",
		"digest": "`+testDigest+`"}}}`, string(out))
}

func TestUnmarshalJSONEmbedded(t *testing.T) {
	type rc struct {
		ID       string   `json:"id"`
		Manifest Manifest `json:"manifest"`
	}

	var r rc
	require.NoError(t, json.Unmarshal([]byte(`{"id": "rc1", "manifest": {"id": "Not Valid"}}`), &r),
		"embedded decoding is strict about shape but does not validate")
	assert.Equal(t, "Not Valid", r.Manifest.ID)
	require.ErrorIs(t, r.Manifest.Validate(), ErrInvalid)

	err := json.Unmarshal([]byte(`{"id": "rc1", "manifest": {"id": "a", "launchabels": {}}}`), &r)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "launchabels: unknown field")

	r = rc{}
	require.NoError(t, json.Unmarshal([]byte(`{"id": "rc1", "manifest": null}`), &r))
	assert.Equal(t, Manifest{}, r.Manifest)
}

func TestUnmarshalJSONReplacesPreviousContents(t *testing.T) {
	m := mustDecode(t, helloYAML)
	require.NoError(t, json.Unmarshal([]byte(`{"id": "other", "config": {"x": 1}}`), m))
	assert.Equal(t, &Manifest{ID: "other", Config: map[string]any{"x": float64(1)}}, m)
}

func TestDecodeErrorsAreFieldErrors(t *testing.T) {
	_, err := Decode([]byte(`{"id": "a", "launchables": {"app": {"launchable_type": "rocket"}}}`))
	require.Error(t, err)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		require.True(t, errors.As(e, &fe), "%v is not a FieldError", e)
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"launchables.app.launchable_type", "launchables.app.location"}, fields)
}
