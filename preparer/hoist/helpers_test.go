package hoist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/p2kit/p2kit/manifest"
)

// entry is one entry of a test archive.
type entry struct {
	name string
	typ  byte
	body string
	mode int64
	link string
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func exe(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o755}
}
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry  { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

// targz builds a gzip-compressed tar archive of the entries, in order.
func targz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Mode:     e.mode,
			Linkname: e.link,
			Size:     int64(len(e.body)),
			ModTime:  time.Unix(1700000000, 0),
			Format:   tar.FormatPAX,
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		require.NoError(t, tw.WriteHeader(hdr), e.name)
		if e.typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func digestOfBytes(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// artifactFile writes data to a file in a fresh directory and returns its file:// location and
// digest.
func artifactFile(t testing.TB, data []byte) (location, digest string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifact.tar.gz")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return "file://" + p, digestOfBytes(data)
}

// server serves artifacts by path on loopback and counts the requests.
type server struct {
	*httptest.Server
	hits  atomic.Int64
	files map[string][]byte
}

func newServer(t testing.TB, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		data, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

// launchable is a hoist launchable of the artifact at location.
func launchable(location, digest string) manifest.Launchable {
	return manifest.Launchable{LaunchableType: manifest.LaunchableTypeHoist, Location: location, Digest: digest}
}

// podManifest is a valid manifest of the pod with the given launchables.
func podManifest(t testing.TB, id string, launchables map[string]manifest.Launchable) *manifest.Manifest {
	t.Helper()
	m := &manifest.Manifest{ID: id, Launchables: launchables, Config: map[string]any{"port": 8080.0}}
	require.NoError(t, m.Validate())
	return m
}

func manifestDigest(t testing.TB, m *manifest.Manifest) string {
	t.Helper()
	d, err := m.Digest()
	require.NoError(t, err)
	return d
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entries lists the names in dir, or none if dir does not exist.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}
