package hoist

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

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/stretchr/testify/require"

	"github.com/p2kit/p2kit/manifest"
)

// registry is a P2 artifact registry on loopback: it answers discover requests for version
// "abc" of pod hello with the artifact, its build manifest and the manifest's signature, all
// served by itself, and keeps the last query.
type registry struct {
	*httptest.Server
	mu      sync.Mutex
	query   url.Values
	files   map[string][]byte
	answer  func(w http.ResponseWriter) // replaces the discover answer when set
	discovs int
}

func newRegistry(t *testing.T, artifact []byte, artifactSHA string) *registry {
	r := &registry{files: map[string][]byte{
		"/artifacts/hello_abc.tar.gz":          artifact,
		"/artifacts/hello_abc.tar.gz.manifest": []byte("artifact_sha: " + artifactSHA + "\nbuilt_by: ci\n"),
	}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.URL.Path == "/discover/hello" {
			r.discovs++
			r.query = req.URL.Query()
			if r.answer != nil {
				r.answer(w)
				return
			}
			if r.query.Get("version") != "abc" {
				http.NotFound(w, req)
				return
			}
			json.NewEncoder(w).Encode(RegistryResponse{
				Location:                  r.URL + "/artifacts/hello_abc.tar.gz",
				ManifestLocation:          r.URL + "/artifacts/hello_abc.tar.gz.manifest",
				ManifestSignatureLocation: r.URL + "/artifacts/hello_abc.tar.gz.manifest.sig",
			})
			return
		}
		data, ok := r.files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *registry) lastQuery() url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.query
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func versioned(id string, tags map[string]string) manifest.Launchable {
	return manifest.Launchable{LaunchableType: manifest.LaunchableTypeHoist,
		Version: &manifest.LaunchableVersion{ID: id, Tags: tags}}
}

func TestVersionLaunchableResolvesThroughTheRegistry(t *testing.T) {
	t.Parallel()
	art := targz(t, helloArtifact...)
	reg := newRegistry(t, art, strings.TrimPrefix(digestOfBytes(art), "sha256:"))
	root := t.TempDir()
	in := New(root, WithArtifactRegistry(mustURL(t, reg.URL+"/ignored/path")), WithRegistryOS("CentOS", "7.9.2009"))
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": versioned("abc", map[string]string{"env": "prod"})})

	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(inst.Launchables["app"], "README"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(data))
	require.Equal(t, url.Values{"artifact_name": {"app"}, "version": {"abc"}, "env": {"prod"},
		"os": {"CentOS"}, "os_version": {"7.9.2009"}}, reg.lastQuery())
	require.Equal(t, m, inst.Manifest, "the manifest installed is the one asked for, version and all")
	require.Equal(t, []string{strings.TrimPrefix(digestOfBytes(art), "sha256:") + ".tar.gz"}, entries(t, filepath.Join(root, ".cache")),
		"cached under the digest of the build manifest")

	// version.artifact_name overrides the launchable's name; the manifest's artifact_registry
	// wins over the installer's (which here answers nothing).
	l := versioned("abc", nil)
	l.Version.ArtifactName = "hello-server"
	m2 := podManifest(t, "hello", map[string]manifest.Launchable{"server": l})
	m2.ArtifactRegistry = reg.URL
	_, err = New(t.TempDir(), WithArtifactRegistry(mustURL(t, "http://127.0.0.1:1"))).Install(testCtx(t), m2)
	require.NoError(t, err)
	require.Equal(t, "hello-server", reg.lastQuery().Get("artifact_name"))
}

func TestBuildManifestDigestIsChecked(t *testing.T) {
	t.Parallel()
	art := targz(t, helloArtifact...)
	reg := newRegistry(t, art, strings.Repeat("ab", 32))
	root := t.TempDir()
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": versioned("abc", nil)})
	_, err := New(root, WithArtifactRegistry(mustURL(t, reg.URL))).Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrDigestMismatch)
	require.NoDirExists(t, filepath.Join(root, "hello"))

	// With trusted PGP keys the build manifest must carry a good signature.
	builder := pgpKey(t, "builder")
	good := newRegistry(t, art, strings.TrimPrefix(digestOfBytes(art), "sha256:"))
	withKeys := func() *Installer {
		return New(t.TempDir(), WithArtifactRegistry(mustURL(t, good.URL)), WithTrustedPGPKeys(openpgp.EntityList{builder}))
	}
	_, err = withKeys().Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrFetch, "no signature served")
	good.mu.Lock()
	good.files["/artifacts/hello_abc.tar.gz.manifest.sig"] = signatureOf(t, pgpKey(t, "stranger"), good.files["/artifacts/hello_abc.tar.gz.manifest"])
	good.mu.Unlock()
	_, err = withKeys().Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrSignature)
	good.mu.Lock()
	good.files["/artifacts/hello_abc.tar.gz.manifest.sig"] = signatureOf(t, builder, good.files["/artifacts/hello_abc.tar.gz.manifest"])
	good.mu.Unlock()
	_, err = withKeys().Install(testCtx(t), m)
	require.NoError(t, err)
}

func TestRegistryErrorsNameTheLaunchable(t *testing.T) {
	t.Parallel()
	art := targz(t, helloArtifact...)
	reg := newRegistry(t, art, strings.TrimPrefix(digestOfBytes(art), "sha256:"))
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": versioned("abc", nil)})
	for want, answer := range map[string]func(w http.ResponseWriter){
		`GET /discover/hello: 500 Internal Server Error: "registry down`: func(w http.ResponseWriter) {
			http.Error(w, "registry down", http.StatusInternalServerError)
		},
		`GET /discover/hello: bad response: `:               func(w http.ResponseWriter) { w.Write([]byte("<html>")) },
		`GET /discover/hello: the response has no location`: func(w http.ResponseWriter) { w.Write([]byte(`{"manifest_location": "x"}`)) },
		`location "hello_abc.tar.gz" is not a file, http or https URL`: func(w http.ResponseWriter) {
			w.Write([]byte(`{"location": "hello_abc.tar.gz"}`))
		},
	} {
		reg.mu.Lock()
		reg.answer = answer
		reg.mu.Unlock()
		root := t.TempDir()
		_, err := New(root, WithArtifactRegistry(mustURL(t, reg.URL))).Install(testCtx(t), m)
		require.ErrorIs(t, err, ErrRegistry, want)
		require.ErrorContains(t, err, "install pod hello: launchable app: artifact registry "+reg.URL+`, version "abc": `+want)
		require.NoDirExists(t, filepath.Join(root, "hello"))
	}
}

func TestRelativeLocationResolvesAgainstTheRegistry(t *testing.T) {
	t.Parallel()
	art := targz(t, helloArtifact...)
	reg := newRegistry(t, art, "")
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable("hello_abc.tar.gz", digestOfBytes(art))})
	_, err := New(t.TempDir(), WithArtifactRegistry(mustURL(t, reg.URL+"/artifacts/"))).Install(testCtx(t), m)
	require.NoError(t, err)
}

func TestDetectCentOS(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string][2]string{
		"CentOS Linux release 7.9.2009 (Core)\n": {"CentOS", "7.9.2009"},
		"CentOS release 6.6 (Final)\n":           {"CentOS", "6.6"},
		"Fedora release 39 (Thirty Nine)\n":      {"", ""},
	} {
		p := filepath.Join(dir, "release")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		os, ver := detectCentOS(p)
		require.Equal(t, want, [2]string{os, ver}, content)
	}
	os, ver := detectCentOS(filepath.Join(dir, "missing"))
	require.Empty(t, os+ver)
}

// signatureOf is an armored detached signature of data by e.
func signatureOf(t *testing.T, e *openpgp.Entity, data []byte) []byte {
	sig, err := os.ReadFile(strings.TrimPrefix(detachSign(t, e, string(data)), "file://"))
	require.NoError(t, err)
	return sig
}
