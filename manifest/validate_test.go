package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateAcceptsValid(t *testing.T) {
	require.NoError(t, validManifest().Validate())
	require.NoError(t, mustDecode(t, helloYAML).Validate())

	m := validManifest()
	m.RunAs = "svc_hello"
	m.Status = &StatusCheck{HTTP: true, Port: 65535}
	m.MinHealthPercentage = new(0)
	app := m.Launchables["app"]
	app.Location = "file://localhost/srv/a.tar.gz"
	app.EntryPoints = []string{"bin/launch", "bin/worker", ".hidden/run"}
	app.RestartPolicy = RestartNever
	m.Launchables["app"] = app
	m.Launchables["second.one"] = Launchable{LaunchableType: LaunchableTypeHoist, Location: "http://h:8080/x", Digest: testDigest}
	require.NoError(t, m.Validate())
}

func TestValidateNamesTheField(t *testing.T) {
	withApp := func(change func(*Launchable)) func(*Manifest) {
		return func(m *Manifest) {
			app := m.Launchables["app"]
			change(&app)
			m.Launchables["app"] = app
		}
	}
	tests := []struct {
		name   string
		change func(*Manifest)
		field  string
		want   string
	}{
		{"id missing", func(m *Manifest) { m.ID = "" }, "id", "id: required"},
		{"id invalid", func(m *Manifest) { m.ID = "Hello" }, "id", `id: invalid id "Hello"`},
		{"run_as with a slash", func(m *Manifest) { m.RunAs = "a/b" }, "run_as", `run_as: user name "a/b"`},
		{"no launchables", func(m *Manifest) { m.Launchables = nil }, "launchables", "launchables: at least one launchable is required"},
		{"launchable name invalid", func(m *Manifest) { m.Launchables["Bad_"] = m.Launchables["app"] }, "launchables", `launchables: invalid id "Bad_"`},
		{"launchable_type missing", withApp(func(l *Launchable) { l.LaunchableType = "" }), "launchables.app.launchable_type", "launchables.app.launchable_type: required"},
		{"launchable_type unsupported", withApp(func(l *Launchable) { l.LaunchableType = "rocket" }), "launchables.app.launchable_type", `unsupported type "rocket"`},
		{"docker without image", withApp(func(l *Launchable) { l.LaunchableType = "docker" }), "launchables.app.image.name", "required for a docker launchable"},
		{"location and version", withApp(func(l *Launchable) { l.Version = &LaunchableVersion{ID: "abc"} }), "launchables.app.location", "set together with version"},
		{"version without id", withApp(func(l *Launchable) { l.Location, l.Version = "", &LaunchableVersion{} }), "launchables.app.version.id", "required"},
		{"restart_timeout bad", withApp(func(l *Launchable) { l.RestartTimeout = "10" }), "launchables.app.restart_timeout", "want a duration"},
		{"cgroup memory bad", withApp(func(l *Launchable) { l.Cgroup = &Cgroup{Memory: "lots"} }), "launchables.app.cgroup.memory", "want a byte count"},
		{"digest_location ftp", withApp(func(l *Launchable) { l.DigestLocation = "ftp://h/a.sha256" }), "launchables.app.digest_location", `unsupported scheme "ftp"`},
		{"signature without digest_location", withApp(func(l *Launchable) { l.DigestSignatureLocation = "https://h/a.sig" }), "launchables.app.digest_signature_location", "without digest_location"},
		{"status_port out of range", func(m *Manifest) { m.StatusPort = 70000 }, "status_port", "want 1 to 65535"},
		{"status_http without port", func(m *Manifest) { m.StatusHTTP = true }, "status_http", "needs status_port"},
		{"artifact_registry without scheme", func(m *Manifest) { m.ArtifactRegistry = "registry.example" }, "artifact_registry", "has no scheme"},
		{"location missing", withApp(func(l *Launchable) { l.Location = "" }), "launchables.app.location", "launchables.app.location: required"},
		{"location ftp", withApp(func(l *Launchable) { l.Location = "ftp://h/a.tar.gz" }), "launchables.app.location", `launchables.app.location: unsupported scheme "ftp"`},
		{"location without scheme", withApp(func(l *Launchable) { l.Location = "/srv/a.tar.gz" }), "launchables.app.location", "has no scheme"},
		{"location http without host", withApp(func(l *Launchable) { l.Location = "http:///a.tar.gz" }), "launchables.app.location", "has no host"},
		{"location file relative", withApp(func(l *Launchable) { l.Location = "file:a.tar.gz" }), "launchables.app.location", "no absolute path"},
		{"location not a URL", withApp(func(l *Launchable) { l.Location = "http://[::1" }), "launchables.app.location", "not a URL"},
		{"digest without prefix", withApp(func(l *Launchable) { l.Digest = strings.Repeat("ab", 32) }), "launchables.app.digest", `want "sha256:"`},
		{"digest uppercase", withApp(func(l *Launchable) { l.Digest = "sha256:" + strings.Repeat("AB", 32) }), "launchables.app.digest", `want "sha256:"`},
		{"digest short", withApp(func(l *Launchable) { l.Digest = "sha256:" + strings.Repeat("ab", 31) }), "launchables.app.digest", `want "sha256:"`},
		{"digest md5", withApp(func(l *Launchable) { l.Digest = "md5:" + strings.Repeat("ab", 32) }), "launchables.app.digest", `want "sha256:"`},
		{"restart_policy unsupported", withApp(func(l *Launchable) { l.RestartPolicy = "sometimes" }), "launchables.app.restart_policy", `unsupported policy "sometimes"`},
		{"entry point absolute", withApp(func(l *Launchable) { l.EntryPoints = []string{"/bin/sh"} }), "launchables.app.entry_points[0]", "is absolute"},
		{"entry point dot-dot", withApp(func(l *Launchable) { l.EntryPoints = []string{"bin/launch", "../../etc/x"} }), "launchables.app.entry_points[1]", "leaves the launchable"},
		{"entry point dot-dot inside", withApp(func(l *Launchable) { l.EntryPoints = []string{"bin/../x"} }), "launchables.app.entry_points[0]", "not clean"},
		{"entry point unclean", withApp(func(l *Launchable) { l.EntryPoints = []string{"./bin/launch"} }), "launchables.app.entry_points[0]", "not clean"},
		{"entry point empty", withApp(func(l *Launchable) { l.EntryPoints = []string{""} }), "launchables.app.entry_points[0]", "empty path"},
		{"entry point duplicate", withApp(func(l *Launchable) { l.EntryPoints = []string{"bin/a", "bin/a"} }), "launchables.app.entry_points[1]", "duplicate entry point"},
		{"env name with =", withApp(func(l *Launchable) { l.Env = map[string]string{"A=B": "x"} }), "launchables.app.env", `invalid variable name "A=B"`},
		{"status port missing", func(m *Manifest) { m.Status = &StatusCheck{HTTP: true} }, "status.port", "status.port: required when http is true"},
		{"status port too big", func(m *Manifest) { m.Status = &StatusCheck{HTTP: true, Port: 65536} }, "status.port", "want 1 to 65535, got 65536"},
		{"status port negative", func(m *Manifest) { m.Status = &StatusCheck{Port: -1} }, "status.port", "got -1"},
		{"status path with space", func(m *Manifest) { m.Status = &StatusCheck{HTTP: true, Port: 80, Path: "/a b"} }, "status.path", `status.path: holds a space`},
		{"min health above 100", func(m *Manifest) { m.MinHealthPercentage = new(101) }, "min_health_percentage", "want 0 to 100, got 101"},
		{"min health negative", func(m *Manifest) { m.MinHealthPercentage = new(-1) }, "min_health_percentage", "got -1"},
		{"grace period negative", func(m *Manifest) { m.TerminationGracePeriod = -5 }, "termination_grace_period", "got -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.change(m)
			err := m.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	m := &Manifest{ID: "Bad", Launchables: map[string]Launchable{"app": {}}, TerminationGracePeriod: -1}
	err := m.Validate()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidID)
	assert.Equal(t, []string{
		`id: invalid id "Bad": character 'B' at offset 0; ids use a-z, 0-9, '.', '_' and '-'`,
		"launchables.app.launchable_type: required",
		"launchables.app.location: required (or version)",
		"termination_grace_period: want 0 or more seconds, got -1",
	}, strings.Split(err.Error(), "\n"))
}

func TestValidateNil(t *testing.T) {
	var m *Manifest
	require.ErrorIs(t, m.Validate(), ErrInvalid)
}
