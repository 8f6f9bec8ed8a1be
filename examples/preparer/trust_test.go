package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrustedKeysFlag(t *testing.T) {
	var stderr bytes.Buffer
	// A directory without keys is refused before etcd is dialled, so a
	// mistyped path never turns verification off.
	code := run([]string{"--trusted-keys", t.TempDir(), "--etcd", "127.0.0.1:1", "--node", "n1"}, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "--trusted-keys")
	require.Contains(t, stderr.String(), "no *.pub file")
}

func TestArtifactRegistryFlag(t *testing.T) {
	for _, bad := range []string{"artifacts.example.com", "ftp://artifacts.example.com", "https://"} {
		var stderr bytes.Buffer
		code := run([]string{"--artifact-registry", bad, "--etcd", "127.0.0.1:1", "--node", "n1"}, &stderr)
		require.Equal(t, 1, code, bad)
		require.Contains(t, stderr.String(), `--artifact-registry "`+bad+`": want an http or https URL`)
	}
	var stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"--help"}, &stderr))
	require.Contains(t, stderr.String(), "--artifact-registry string")
}
