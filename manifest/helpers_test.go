package manifest

import (
	"strings"
	"testing"
)

var testDigest = "sha256:" + strings.Repeat("ab", 32)

// helloYAML is the manifest of DESIGN.md, written as YAML.
var helloYAML = `
id: hello
run_as: hello
launchables:
  app:
    launchable_type: hoist
    location: file:///srv/artifacts/hello_1.tar.gz
    digest: ` + testDigest + `
    entry_points: [bin/launch]
    restart_policy: always
    env: {GREETING: hi}
config: {port: 8080, tags: [a, b], nested: {z: 1, a: true}}
status:
  http: true
  port: 8080
  path: /_status
min_health_percentage: 50
termination_grace_period: 10
`

// helloJSON is helloYAML written as JSON, with keys in another order.
var helloJSON = `{
  "termination_grace_period": 10,
  "min_health_percentage": 50,
  "status": {"path": "/_status", "port": 8080, "http": true},
  "config": {"nested": {"a": true, "z": 1}, "tags": ["a", "b"], "port": 8080},
  "launchables": {
    "app": {
      "env": {"GREETING": "hi"},
      "restart_policy": "always",
      "entry_points": ["bin/launch"],
      "digest": "` + testDigest + `",
      "location": "file:///srv/artifacts/hello_1.tar.gz",
      "launchable_type": "hoist"
    }
  },
  "run_as": "hello",
  "id": "hello"
}`

// validManifest returns a small valid manifest built in code.
func validManifest() *Manifest {
	return &Manifest{
		ID: "hello",
		Launchables: map[string]Launchable{
			"app": {
				LaunchableType: LaunchableTypeHoist,
				Location:       "https://artifacts.example.com/hello_1.tar.gz",
				Digest:         testDigest,
			},
		},
	}
}

func mustDecode(t *testing.T, doc string) *Manifest {
	t.Helper()
	m, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func mustDigest(t *testing.T, m *Manifest) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}
