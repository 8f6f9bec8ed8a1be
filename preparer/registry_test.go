package preparer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// A launchable named by version is resolved through P2's artifact registry (an httptest
// server answering discover requests) and installed and launched, verified by the build
// manifest the registry names; a registry that fails leaves the pod failed with a status that
// names the pod, the launchable and the registry's answer.
func TestVersionLaunchableThroughTheArtifactRegistry(t *testing.T) {
	n := newRealNode(t)
	path := filepath.Join(t.TempDir(), "web_2.tar.gz")
	loc, digest, err := artifacttest.Write(path, map[string]artifacttest.File{
		"bin/launch": {Body: launchScript, Exec: true},
		"VERSION":    {Body: "web 2"},
	})
	require.NoError(t, err)
	buildManifest := "artifact_sha: " + strings.TrimPrefix(digest, "sha256:") + "\n"
	var mu sync.Mutex
	var asked url.Values
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/discover/web":
			mu.Lock()
			asked = r.URL.Query()
			mu.Unlock()
			json.NewEncoder(w).Encode(hoist.RegistryResponse{Location: loc, ManifestLocation: "http://" + r.Host + "/web_2.manifest"})
		case "/web_2.manifest":
			w.Write([]byte(buildManifest))
		default:
			http.Error(w, "no such artifact in this registry", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(reg.Close)
	u, err := url.Parse(reg.URL)
	require.NoError(t, err)

	n.self()
	n.run(preparer.Hoist(hoist.New(n.root, hoist.WithArtifactRegistry(u), hoist.WithRegistryOS("", ""))), process.New(n.root))
	versioned := func(id string) *manifest.Manifest {
		return &manifest.Manifest{ID: id, TerminationGracePeriod: 1, Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist, Version: &manifest.LaunchableVersion{ID: "2"}}}}
	}
	web := versioned("web")
	n.setIntent(web)
	n.launched("web", web)
	n.appPID("web")
	data, err := os.ReadFile(filepath.Join(n.root, "web", "current", "app", "VERSION"))
	require.NoError(t, err)
	require.Equal(t, "web 2", string(data))
	mu.Lock()
	require.Equal(t, url.Values{"artifact_name": {"app"}, "version": {"2"}}, asked)
	mu.Unlock()

	api := versioned("api")
	n.setIntent(api)
	st := n.waitStatus("api", func(s status.PodStatus) bool { return s.Status == status.Failed })
	require.Contains(t, st.Error, `install pod api: launchable app: artifact registry `+reg.URL+`, version "2": GET /discover/api: 503 Service Unavailable: "no such artifact in this registry`)
	require.NotContains(t, n.realityDigests(), "api")
}
