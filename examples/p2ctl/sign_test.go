package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/stretchr/testify/require"
)

func TestKeygenAndSign(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	r := runP2ctl("keygen", "--out", keys)
	require.Equal(t, 0, r.code, r.stderr)
	trusted, err := preparer.LoadTrustedKeys(keys)
	require.NoError(t, err)
	require.Len(t, trusted, 1)
	require.Equal(t, "key "+manifest.KeyID(trusted[0])+": private "+filepath.Join(keys, "p2.key")+", public "+filepath.Join(keys, "p2.pub")+"\n", r.stdout)
	st, err := os.Stat(filepath.Join(keys, "p2.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// An existing key is never overwritten.
	requireFailure(t, runP2ctl("keygen", "--out", keys), "p2.key: file exists")

	src := filepath.Join(dir, "hello.yaml")
	require.NoError(t, os.WriteFile(src, []byte(manifestYAML("hello", 1, 0)), 0o644))
	r = runP2ctl("sign", "-k", filepath.Join(keys, "p2.key"), "-f", src)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "signature: ed25519:"+manifest.KeyID(trusted[0])+":")
	m, err := manifest.Decode([]byte(r.stdout))
	require.NoError(t, err)
	require.NoError(t, manifest.Verify(m, trusted))
	unsigned, err := manifest.Decode([]byte(manifestYAML("hello", 1, 0)))
	require.NoError(t, err)
	require.True(t, manifest.SameVersion(m, unsigned), "signing changes no field")

	// JSON to a file, from standard input; a change after signing breaks it.
	out := filepath.Join(dir, "hello.signed.json")
	var res result
	func() {
		stdin, err := os.Open(src)
		require.NoError(t, err)
		defer stdin.Close()
		old := os.Stdin
		os.Stdin = stdin
		defer func() { os.Stdin = old }()
		res = runP2ctl("sign", "-o", "json", "-k", filepath.Join(keys, "p2.key"), "-f", "-", "--out", out)
	}()
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stdout)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "{\n"), string(data))
	m, err = manifest.Decode(data)
	require.NoError(t, err)
	require.NoError(t, manifest.Verify(m, trusted))
	tampered, err := manifest.Decode([]byte(strings.Replace(string(data), "hello_1", "hello_666", 1)))
	require.NoError(t, err)
	require.ErrorIs(t, manifest.Verify(tampered, trusted), manifest.ErrBadSignature)

	// Refusals.
	requireFailure(t, runP2ctl("keygen"), "--out: required")
	requireFailure(t, runP2ctl("sign", "-f", src), "-k and -f: required")
	requireFailure(t, runP2ctl("sign", "-k", filepath.Join(keys, "p2.pub"), "-f", src), `PEM block is "PUBLIC KEY"`)
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("id: hello\n"), 0o644))
	requireFailure(t, runP2ctl("sign", "-k", filepath.Join(keys, "p2.key"), "-f", bad), "bad.yaml")
}
