// Package artifacttest builds hoist artifacts (tar.gz files) from in-memory
// files, for tests, examples and the quickstart. It returns the digest a
// manifest's launchable needs.
package artifacttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// File is one file of an artifact.
type File struct {
	Body string
	// Exec makes the file executable.
	Exec bool
}

// Tarball returns the tar.gz bytes of files, in name order, with the
// directories they need.
func Tarball(files map[string]File) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, name := range names {
		for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		f := files[name]
		mode := int64(0o644)
		if f.Exec {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(f.Body))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.Body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Digest is the "sha256:<hex>" digest of data, as a launchable names it.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Write builds the artifact at path and returns its file:// location and
// digest.
func Write(path string, files map[string]File) (location, digest string, err error) {
	data, err := Tarball(files)
	if err != nil {
		return "", "", fmt.Errorf("artifact %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(abs, data, 0o644); err != nil {
		return "", "", fmt.Errorf("artifact %s: %w", path, err)
	}
	return "file://" + abs, Digest(data), nil
}
