package preparer_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

func signedManifest(t *testing.T, id string, version int, priv ed25519.PrivateKey) *manifest.Manifest {
	t.Helper()
	m := testManifest(id, version)
	require.NoError(t, manifest.Sign(m, priv))
	return m
}

func TestTrustedKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, foreign, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self() // unsigned: the preparer's own pod is never installed
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithTrustedKeys(pub))

	good := signedManifest(t, "good", 1, priv)
	unsigned := testManifest("unsigned", 1)
	tampered := signedManifest(t, "tampered", 1, priv)
	tampered.Launchables["app"] = manifest.Launchable{
		LaunchableType: manifest.LaunchableTypeHoist,
		Location:       "https://evil.example.com/tampered.tar.gz",
		Digest:         tampered.Launchables["app"].Digest,
	}
	stranger := signedManifest(t, "stranger", 1, foreign)
	for _, m := range []*manifest.Manifest{good, unsigned, tampered, stranger} {
		e.setIntent(m)
	}

	e.waitStatus("good", func(s status.PodStatus) bool { return s.Status == status.Launched })
	for pod, reason := range map[string]string{
		"unsigned": "refused: manifest unsigned: unsigned",
		"tampered": "refused: manifest tampered, key " + manifest.KeyID(pub) + ": signature does not verify",
		"stranger": "refused: manifest stranger, key " + manifest.KeyID(foreign.Public().(ed25519.PublicKey)) + ": signed by an untrusted key",
	} {
		st := e.waitStatus(pod, func(s status.PodStatus) bool { return s.Status == status.Failed })
		require.Contains(t, st.Error, reason, pod)
		_, running := n.Running(pod)
		require.False(t, running, pod)
	}
	pods, err := n.Pods()
	require.NoError(t, err)
	require.Equal(t, []string{"good"}, pods, "only the signed pod is installed")
	require.EqualValues(t, 1, n.Installs())
	self := digest(t, testManifest(preparer.DefaultSelfPodID, 1))
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self, "good": digest(t, good)})

	// An upgrade to a tampered version is refused; the signed version
	// keeps running and stays in reality.
	pid := n.PID("good")
	bad := signedManifest(t, "good", 2, priv)
	bad.RunAs = "root"
	e.setIntent(bad)
	st := e.waitStatus("good", func(s status.PodStatus) bool { return s.Status == status.Failed })
	require.Equal(t, digest(t, bad), st.ManifestDigest)
	require.Contains(t, st.Error, "does not verify")
	require.Equal(t, pid, n.PID("good"))
	running, _ := n.Running("good")
	require.Equal(t, digest(t, good), running)
	require.Equal(t, map[string]string{preparer.DefaultSelfPodID: self, "good": digest(t, good)}, e.realityDigests())

	// The properly signed upgrade goes through.
	v2 := signedManifest(t, "good", 2, priv)
	e.setIntent(v2)
	e.waitStatus("good", func(s status.PodStatus) bool {
		return s.Status == status.Launched && s.ManifestDigest == digest(t, v2)
	})
	e.waitReality(map[string]string{preparer.DefaultSelfPodID: self, "good": digest(t, v2)})
}

func TestLoadTrustedKeys(t *testing.T) {
	keys, err := preparer.LoadTrustedKeys("")
	require.NoError(t, err)
	require.Empty(t, keys)

	dir := t.TempDir()
	_, err = preparer.LoadTrustedKeys(dir)
	require.ErrorContains(t, err, "no *.pub file")
	_, err = preparer.LoadTrustedKeys(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "no such file")

	var want []ed25519.PublicKey
	for _, name := range []string{"a.pub", "b.pub"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		data, err := manifest.MarshalPublicKey(pub)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		// Private keys next to them are not read.
		data, err = manifest.MarshalPrivateKey(priv)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name[:1]+".key"), data, 0o600))
		want = append(want, pub)
	}
	keys, err = preparer.LoadTrustedKeys(dir)
	require.NoError(t, err)
	require.Equal(t, want, keys)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.pub"), []byte("junk"), 0o644))
	_, err = preparer.LoadTrustedKeys(dir)
	require.ErrorContains(t, err, "c.pub")
}
