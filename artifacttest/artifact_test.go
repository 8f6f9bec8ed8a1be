package artifacttest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.tar.gz")
	loc, digest, err := artifacttest.Write(path, map[string]artifacttest.File{
		"bin/launch": {Body: "#!/bin/sh\nexec sleep 1\n", Exec: true},
		"README":     {Body: "hi"},
	})
	require.NoError(t, err)
	require.Equal(t, "file://"+path, loc)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, artifacttest.Digest(data), digest)

	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	modes := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		modes[h.Name] = h.Mode
	}
	require.Equal(t, map[string]int64{"bin/": 0o755, "README": 0o644, "bin/launch": 0o755}, modes)
}

func Example() {
	data, _ := artifacttest.Tarball(map[string]artifacttest.File{"bin/launch": {Body: "#!/bin/sh\n", Exec: true}})
	fmt.Println(len(artifacttest.Digest(data)))
	// Output: 71
}
